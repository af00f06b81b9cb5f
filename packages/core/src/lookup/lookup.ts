/**
 * NSN's iterative lookup, in place of kad-dht's query manager for the lookups a user
 * waits on (`findProviders`, `getClosestPeers`): the same requests on the same wire
 * (through kad-dht's hooked `network.sendRequest`, so the request timeouts, stream
 * slots, answer guard and routing admission all apply), scheduled for latency:
 *
 * - one candidate set per lookup (`candidates.ts`), at most `concurrency` requests in
 *   flight, the cheapest peer of the k-closest window asked first (open connection, then
 *   measured response time, then distance): slow peers after fast ones;
 * - the lookup ends when the `beta` closest peers known have answered
 *   (go-libp2p-kad-dht's termination), where kad-dht's 20 disjoint paths each run until
 *   their own queue drains, every path dialling the peers it alone has heard of;
 * - a provider lookup yields each provider as its answer arrives and stops at `limit`;
 * - a closest-peers lookup follows up (go's `runLookupWithFollowup`): after the end, the
 *   k closest peers known that were not asked yet are asked, so its result is the k
 *   closest that answered.
 *
 * Events are kad-dht's own `QueryEvent`s (`SEND_QUERY`, `PEER_RESPONSE`, `QUERY_ERROR`,
 * `PROVIDER`, `FINAL_PEER`), so every consumer of kad-dht's lookups reads them unchanged.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import { MessageType, type QueryEvent } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { CID } from 'multiformats/cid'
import { K_BUCKET_SIZE, LOOKUP_BETA, LOOKUP_CONCURRENCY } from '../constants.js'
import { startDeadline } from '../deadline.js'
import { positiveInteger } from '../option-checks.js'
import { kadId } from '../peer-addresses.js'
import type { SendRequest } from '../request-timeouts.js'
import { LookupCandidates } from './candidates.js'

/** Options of NSN's lookups (`nsnKadDHT({ lookups })`). */
export interface LookupInit {
  /** Requests in flight at most per lookup. Default {@link LOOKUP_CONCURRENCY}. */
  concurrency?: number
  /** Closest peers that must have answered for a lookup to end. Default {@link LOOKUP_BETA}. */
  beta?: number
  /** k: the window of closest peers and a closest-peers lookup's result. Default {@link K_BUCKET_SIZE}. */
  k?: number
}

export type ResolvedLookupOptions = Required<LookupInit>

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not an integer >= 1, or `beta` above `k`
 */
export function resolveLookupOptions(init: LookupInit = {}): ResolvedLookupOptions {
  const k = positiveInteger('lookups.k', init.k ?? K_BUCKET_SIZE)
  return {
    k,
    concurrency: positiveInteger('lookups.concurrency', init.concurrency ?? LOOKUP_CONCURRENCY),
    beta: Math.min(k, positiveInteger('lookups.beta', init.beta ?? LOOKUP_BETA)),
  }
}

/** What the lookups use of kad-dht and libp2p. */
export interface LookupComponents {
  readonly self: PeerId
  /** kad-dht's `network.sendRequest`, with NSN's wrappers. */
  sendRequest: SendRequest
  /** The routing table's `count` closest peers to a Kademlia id. */
  closestInTable(target: Uint8Array, count: number): PeerId[]
  /** Whether this node has an open connection to `peer`. */
  connected(peer: PeerId): boolean
  /** `peer`'s measured response time in ms, when known. */
  responseTime(peer: PeerId): number | undefined
  /** Whether any of `addrs` can be dialled (libp2p's connection manager). */
  isDialable(addrs: Multiaddr[], options?: AbortOptions): Promise<boolean>
  /** Told of each peer that answered (kad-dht's routing-table update). */
  answered?(peer: PeerId): void
  /** This node's own provider records of `cid`, with the providers' addresses. */
  localProviders(cid: CID, options?: AbortOptions): Promise<PeerInfo[]>
  /** Told of each closest-peers lookup that ran to its end (the network-size estimate). */
  completed?(key: Uint8Array, closest: PeerId[]): void
  /** The deadline of every lookup, in ms. */
  readonly queryTimeout: number
}

const NO_PATH = { index: -1, queued: 0, running: 0, total: 0 }

/** A minimal async queue of events, ended once. */
class EventQueue<T> {
  private readonly items: T[] = []
  private wake: (() => void) | undefined
  private done = false
  private failure: unknown

  push(item: T): void {
    this.items.push(item)
    this.wake?.()
  }

  end(err?: unknown): void {
    if (this.done) return
    this.done = true
    this.failure = err
    this.wake?.()
  }

  async *drain(): AsyncGenerator<T> {
    while (true) {
      const item = this.items.shift()
      if (item !== undefined) {
        yield item
        continue
      }
      if (this.done) {
        if (this.failure != null) throw this.failure
        return
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve
      })
      this.wake = undefined
    }
  }
}

/** One lookup's request and how it ends. */
interface LookupRequest {
  type: MessageType.FIND_NODE | MessageType.GET_PROVIDERS
  key: Uint8Array
  followup: boolean
  /** Told of each answer; true ends the lookup at once. */
  onAnswer?(event: Extract<QueryEvent, { name: 'PEER_RESPONSE' }>): QueryEvent[] | undefined
  /** True once the lookup has what it wanted. */
  satisfied?(): boolean
}

/** NSN's lookups of one DHT: see the module docs. */
export class Lookups {
  readonly options: ResolvedLookupOptions

  constructor(
    private readonly components: LookupComponents,
    init: LookupInit = {},
  ) {
    this.options = resolveLookupOptions(init)
  }

  /**
   * kad-dht's `getClosestPeers`: the k closest peers to `key` that answered, as
   * `FINAL_PEER` events after the lookup's own events.
   */
  async *getClosestPeers(key: Uint8Array, options: AbortOptions = {}): AsyncGenerator<QueryEvent> {
    const candidates = yield* this.run({ type: MessageType.FIND_NODE, key, followup: true }, options)
    const closest = candidates.closestQueried(this.options.k)
    for (const candidate of closest) {
      yield {
        name: 'FINAL_PEER',
        type: 2,
        from: this.components.self,
        peer: candidate.info,
        path: NO_PATH,
      } as QueryEvent
    }
    this.components.completed?.(
      key,
      closest.map((candidate) => candidate.info.id),
    )
  }

  /**
   * kad-dht's `findProviders`: this node's own records first, then the network; each new
   * provider as a `PROVIDER` event as its answer arrives; ends at k providers or when the
   * lookup ends.
   */
  async *findProviders(cid: CID, options: AbortOptions = {}): AsyncGenerator<QueryEvent> {
    const toFind = this.options.k
    const seen = new Set<string>()
    const local = await this.components.localProviders(cid, options)
    if (local.length > 0) {
      const providers = local.slice(0, toFind)
      for (const provider of providers) seen.add(provider.id.toString())
      const from = this.components.self
      yield {
        name: 'PEER_RESPONSE',
        type: 1,
        from,
        messageName: 'GET_PROVIDERS',
        messageType: MessageType.GET_PROVIDERS,
        closer: [],
        providers,
        path: NO_PATH,
      } as QueryEvent
      yield { name: 'PROVIDER', type: 4, from, providers, path: NO_PATH } as QueryEvent
      if (seen.size >= toFind) return
    }
    yield* this.run(
      {
        type: MessageType.GET_PROVIDERS,
        key: cid.multihash.bytes,
        followup: false,
        onAnswer: (event) => {
          const fresh = event.providers.filter((info) => {
            const id = info.id.toString()
            if (seen.has(id)) return false
            seen.add(id)
            return true
          })
          if (fresh.length === 0) return undefined
          return [
            { name: 'PROVIDER', type: 4, from: event.from, providers: fresh, path: NO_PATH } as QueryEvent,
          ]
        },
        satisfied: () => seen.size >= toFind,
      },
      options,
    )
  }

  /** Runs one lookup; yields its events, returns its candidates. */
  private async *run(
    request: LookupRequest,
    options: AbortOptions,
  ): AsyncGenerator<QueryEvent, LookupCandidates, undefined> {
    const { components } = this
    const { k, beta, concurrency } = this.options
    const deadline = startDeadline(components.queryTimeout, options.signal)
    // one signal for every request of this lookup (the routing admission keys its
    // per-lookup state by it); aborted when the lookup ends, cancelling what is in flight
    const stop = new AbortController()
    const signal = AbortSignal.any([deadline.signal, stop.signal])
    const target = await kadId(request.key)
    const candidates = new LookupCandidates(target, k, beta)
    const events = new EventQueue<QueryEvent>()
    const message = { type: request.type, key: request.key }
    let following = false
    let ended = false

    const cost = (peer: PeerId) => {
      const rtt = components.responseTime(peer)
      return { connected: components.connected(peer), ...(rtt == null ? {} : { rtt }) }
    }
    const finish = (err?: unknown): void => {
      if (ended) return
      ended = true
      stop.abort()
      events.end(err)
    }
    const pump = (): void => {
      if (ended) return
      if (request.satisfied?.() === true) return finish()
      if (!following && candidates.terminated()) {
        if (!request.followup) return finish()
        following = true
      }
      if (following) {
        // ask every one of the k closest not asked yet, then end when none is waiting
        for (const candidate of candidates.window(k)) {
          if (candidate.state === 'heard') ask(candidate.info)
        }
        if (candidates.waiting() === 0) finish()
        return
      }
      while (candidates.waiting() < concurrency) {
        const next = candidates.next()
        if (next == null) break
        ask(next.info)
      }
      if (candidates.waiting() === 0) finish()
    }
    const learn = async (closer: PeerInfo[]): Promise<void> => {
      for (const info of closer) {
        if (info.id.equals(components.self) || candidates.get(info.id) != null) continue
        const connected = components.connected(info.id)
        if (!connected && !(await components.isDialable(info.multiaddrs, { signal }))) continue
        candidates.add(info, await kadId(info.id.toMultihash().bytes), cost(info.id))
      }
    }
    const ask = (info: PeerInfo): void => {
      candidates.mark(info.id, 'waiting')
      void (async () => {
        let answered = false
        try {
          for await (const event of components.sendRequest(info.id, message, { signal })) {
            if (ended) return
            if (event.name === 'PEER_RESPONSE') {
              answered = true
              components.answered?.(info.id)
              events.push(event)
              const extra = request.onAnswer?.(event)
              for (const more of extra ?? []) events.push(more)
              await learn(event.closer)
            } else {
              events.push(event)
            }
          }
        } catch (err) {
          if (!ended)
            events.push({
              name: 'QUERY_ERROR',
              type: 3,
              from: info.id,
              error: err,
              path: NO_PATH,
            } as QueryEvent)
        } finally {
          if (!ended) {
            candidates.mark(info.id, answered ? 'queried' : 'unreachable')
            pump()
          }
        }
      })()
    }

    const onDeadline = (): void => finish(deadline.translate(deadline.signal.reason))
    deadline.signal.addEventListener('abort', onDeadline, { once: true })
    try {
      for (const peer of components.closestInTable(target, k)) {
        if (peer.equals(components.self)) continue
        candidates.add({ id: peer, multiaddrs: [] }, await kadId(peer.toMultihash().bytes), cost(peer))
      }
      if (deadline.signal.aborted) onDeadline()
      pump()
      yield* events.drain()
    } catch (err) {
      throw deadline.translate(err)
    } finally {
      ended = true
      stop.abort()
      deadline.signal.removeEventListener('abort', onDeadline)
      deadline.clear()
    }
    return candidates
  }
}
