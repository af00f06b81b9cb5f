/**
 * `ShardRouting`: the NSN facade over a started libp2p node whose `dht` service was
 * built by `nsnKadDHT`. Every operation runs under the node's deadline combined with
 * the caller's signal, reports to the observer, and fails with a typed error.
 *
 * @packageDocumentation
 */

import type { AbortOptions, Libp2p, Logger, PeerId } from '@libp2p/interface'
import type { KadDHT, QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { Key } from 'interface-datastore'
import { sha256 } from 'multiformats/hashes/sha2'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import {
  FIND_PROVIDERS_LIMIT,
  REFRESH_INTERVAL,
  REFRESH_PING_CONCURRENCY,
  REPUBLISH_CHECK_INTERVAL,
  REPUBLISH_CONCURRENCY,
  REPUBLISH_RETRY_DELAY,
} from './constants.js'
import { startDeadline } from './deadline.js'
import {
  InvalidOptionError,
  InvalidShardKeyError,
  NoKnownPeersError,
  NoPeerAnsweredError,
  NotStartedError,
  PeerNotFoundError,
  QueryTimeoutError,
  ShardEvictedError,
} from './errors.js'
import { hooksOf, type KadHooks } from './kad-internals.js'
import type { DhtObserver, QueryResult, QueryType } from './observer.js'
import type { ProvidedShardEntry, ProvidedShards, ShardRemovedEvent } from './provided-shards.js'
import { type RefreshResult, refreshRoutingTable } from './refresher.js'
import { Republisher, type RepublishRun } from './republisher.js'
import { parseShardKey, ShardKey, type ShardKeyInput } from './shard-key.js'

/** A peer and the addresses it can be dialled on. */
export interface ShardPeer {
  peerId: PeerId
  multiaddrs: Multiaddr[]
}

/** A peer with its XOR distance to a lookup target. */
export interface ClosestPeer extends ShardPeer {
  /** XOR distance between the peer's and the target's Kademlia ids, as 64 hex. */
  distance: string
}

/** Options of every operation. */
export interface OperationOptions extends AbortOptions {}

export interface FindProvidersOptions extends OperationOptions {
  /** Stop once this many providers are known. Default {@link FIND_PROVIDERS_LIMIT}. */
  limit?: number
}

export interface FindProvidersResult {
  providers: ShardPeer[]
  /** True when the deadline cut the lookup short after some providers were found. */
  partial: boolean
  durationMs: number
}

export interface ProvideResult {
  shard: ShardKey
  /**
   * Peers the ADD_PROVIDER message was written to. ADD_PROVIDER has no reply in the
   * protocol, so this counts messages sent, not records stored: a peer that drops every
   * record still counts. It is named for what it is until stores are confirmed.
   */
  sentTo: number
  durationMs: number
}

/** A provider record as this node stores it. Times are epoch ms. */
export interface StoredProviderRecord {
  storedAt: number
  /** When this node drops it (at the latest one cleanup interval later). */
  expiresAt: number
}

export interface BootstrapResult {
  connected: number
  failed: number
  routingTableSize: number
  durationMs: number
}

/** The libp2p node ShardRouting drives: its `dht` service must come from `nsnKadDHT`. */
export type ShardRoutingLibp2p = Libp2p<{
  dht: KadDHT
  ping: { ping(peer: PeerId | Multiaddr, options?: AbortOptions): Promise<number> }
}>

export interface ShardRoutingInit {
  /**
   * The set of provided shards (`@nsn/shard-registry`'s `ShardRegistry`). With it,
   * provide adds to it, its removals withdraw records, and the Republisher runs.
   */
  registry?: ProvidedShards
  observer?: DhtObserver
  /** Routing-table refresh interval in ms; 0 turns the schedule off. Default 5 min. */
  refreshInterval?: number
  /** Peers pinged at once during a refresh. */
  refreshPingConcurrency?: number
  /** How often the republisher wakes at the latest, in ms. */
  republishCheckInterval?: number
  republishConcurrency?: number
  /** Retry delay of a failed republish, in ms. */
  republishRetryDelay?: number
  /** Default `findProviders` limit. */
  findProvidersLimit?: number
  logger?: Logger
}

function xorHex(a: Uint8Array, b: Uint8Array): string {
  let out = ''
  for (let i = 0; i < a.length; i++) out += (((a[i] ?? 0) ^ (b[i] ?? 0)) & 0xff).toString(16).padStart(2, '0')
  return out
}

/** The addresses once each, without a trailing `/p2p/<id>` (it names the peer already). */
function uniqueAddrs(addrs: Iterable<Multiaddr>): Multiaddr[] {
  const seen = new Map<string, Multiaddr>()
  for (const addr of addrs) {
    const bare = addr.getComponents().at(-1)?.name === 'p2p' ? addr.decapsulateCode(P2P_CODE) : addr
    seen.set(bare.toString(), bare)
  }
  return [...seen.values()]
}

const P2P_CODE = 421

async function kadId(bytes: Uint8Array): Promise<Uint8Array> {
  return (await sha256.digest(bytes)).digest
}

/** The NSN DHT facade. */
export class ShardRouting {
  readonly libp2p: ShardRoutingLibp2p
  private readonly dht: KadDHT
  private readonly hooks: KadHooks
  private readonly registry?: ProvidedShards
  private readonly observer: DhtObserver
  private readonly log?: Logger
  private readonly refreshInterval: number
  private readonly refreshPingConcurrency: number
  private readonly findProvidersLimit: number
  private readonly republishRetryDelay: number
  private readonly republisher?: Republisher
  private readonly withdrawals = new Map<string, Promise<void>>()
  /** Shards a provide call is publishing now; the republisher leaves them alone. */
  private readonly providing = new Map<string, number>()
  private shutdown = new AbortController()
  private refreshTimer?: ReturnType<typeof setTimeout>
  private refreshing?: Promise<RefreshResult>
  private started = false
  private readonly onTableChange = (): void =>
    this.notify('routingTableSizeChanged', this.hooks.routingTable.size)
  private readonly onRemoved = (event: ShardRemovedEvent): void => {
    this.republisher?.cancel(event.entry.hex)
    this.trackWithdrawal(event.entry)
  }

  constructor(libp2p: ShardRoutingLibp2p, init: ShardRoutingInit = {}) {
    this.libp2p = libp2p
    this.dht = libp2p.services.dht
    this.hooks = hooksOf(this.dht)
    this.registry = init.registry
    this.observer = init.observer ?? {}
    this.log = init.logger
    this.refreshInterval = init.refreshInterval ?? REFRESH_INTERVAL
    if (!(this.refreshInterval >= 0)) throw new InvalidOptionError('refreshInterval', 'must be >= 0')
    this.refreshPingConcurrency = init.refreshPingConcurrency ?? REFRESH_PING_CONCURRENCY
    this.findProvidersLimit = init.findProvidersLimit ?? FIND_PROVIDERS_LIMIT
    this.republishRetryDelay = init.republishRetryDelay ?? REPUBLISH_RETRY_DELAY
    if (this.registry != null) {
      this.republisher = new Republisher(
        this.registry,
        (entry, signal) => this.publish(entry, 'republish', { signal }),
        {
          checkInterval: init.republishCheckInterval ?? REPUBLISH_CHECK_INTERVAL,
          concurrency: init.republishConcurrency ?? REPUBLISH_CONCURRENCY,
          retryDelay: this.republishRetryDelay,
          isBusy: (entry) => this.providing.has(entry.hex),
          onRun: (run) => this.notify('republishRunEnded', run),
          onError: (err) => this.log?.error('republish run failed - %e', err),
        },
      )
    }
  }

  /** The deadline of every query, in ms. */
  get queryTimeout(): number {
    return this.hooks.queryTimeout
  }

  /** Starts the schedules (refresh, republish) and the registry wiring. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.shutdown = new AbortController()
    const table = this.hooks.routingTable
    table.addEventListener('peer:add', this.onTableChange)
    table.addEventListener('peer:remove', this.onTableChange)
    this.onTableChange()
    if (this.registry != null) {
      this.registry.on('removed', this.onRemoved)
      await this.reconcileSelfRecords()
      this.republisher?.start()
    }
    this.scheduleRefresh()
  }

  /** Stops schedules and aborts every running operation. Idempotent. */
  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    clearTimeout(this.refreshTimer)
    this.refreshTimer = undefined
    this.shutdown.abort(new NotStartedError())
    const table = this.hooks.routingTable
    table.removeEventListener('peer:add', this.onTableChange)
    table.removeEventListener('peer:remove', this.onTableChange)
    this.registry?.off('removed', this.onRemoved)
    await this.republisher?.stop()
    await this.refreshing?.catch(() => undefined)
    await Promise.allSettled(this.withdrawals.values())
  }

  /** Number of peers in the routing table. */
  routingTableSize(): number {
    return this.hooks.routingTable.size
  }

  /** The routing-table peers with their known addresses. */
  async routingTablePeers(): Promise<ShardPeer[]> {
    const peers: ShardPeer[] = []
    for (const { peerId } of this.hooks.routingTable.kb.toIterable()) {
      peers.push({ peerId, multiaddrs: await this.addressesOf(peerId) })
    }
    return peers
  }

  /**
   * Provides a shard: adds it to the registry (evicting the least recently used one
   * past capacity), then publishes its provider record to the k closest peers.
   *
   * @throws {NoKnownPeersError} with an empty routing table (the shard stays registered and is retried)
   * @throws {NoPeerAnsweredError} when no peer stored the record
   * @throws {QueryTimeoutError} past the deadline
   */
  async provide(shard: ShardKeyInput, options: OperationOptions = {}): Promise<ProvideResult> {
    const key = parseShardKey(shard)
    this.assertStarted()
    this.providing.set(key.hex, (this.providing.get(key.hex) ?? 0) + 1)
    try {
      let entry: ProvidedShardEntry | undefined
      if (this.registry != null) entry = await this.registry.add(key.bytes)
      // answer lookups for it at once, even when publication has to wait for peers
      await this.hooks.addSelfRecord(key.cid)
      if (this.registry != null && !this.registry.has(key.bytes)) {
        // evicted by a concurrent provide meanwhile: leave no orphan self-record behind
        await this.dht.cancelReprovide(key.cid)
        throw new ShardEvictedError(key.hex)
      }
      const start = performance.now()
      try {
        const sentTo = await this.publish(entry ?? key, 'provide', options)
        if (this.registry?.has(key.bytes) === true) await this.registry.markPublished(key.bytes)
        return { shard: key, sentTo, durationMs: performance.now() - start }
      } catch (err) {
        if (this.registry?.has(key.bytes) === true) {
          // keep the intent; the republisher retries soon
          await this.registry.markPublished(key.bytes, {
            now: entry?.publishedAt ?? 0,
            republishAt: Date.now() + this.republishRetryDelay,
          })
        }
        throw err
      }
    } finally {
      const left = (this.providing.get(key.hex) ?? 1) - 1
      if (left === 0) this.providing.delete(key.hex)
      else this.providing.set(key.hex, left)
      this.republisher?.schedule()
    }
  }

  /**
   * Stops providing a shard: removes it from the registry and this node's own
   * provider record from the DHT store (copies on other peers lapse at their TTL).
   * Resolves false when the shard was not provided.
   */
  async stopProviding(shard: ShardKeyInput): Promise<boolean> {
    const key = parseShardKey(shard)
    if (this.registry == null) {
      await this.dht.cancelReprovide(key.cid)
      return true
    }
    if (!this.registry.has(key.bytes)) return false
    await this.registry.delete(key.bytes)
    await this.withdrawals.get(key.hex)
    return true
  }

  /** True when this node holds its own provider record for the shard in the DHT store. */
  async hasSelfRecord(shard: ShardKeyInput): Promise<boolean> {
    const key = parseShardKey(shard)
    return this.hooks.datastore.has(this.providerRecordKey(key, this.libp2p.peerId))
  }

  /**
   * The provider record this node holds for `shard` from `provider` (another peer, or
   * itself): when it was stored, and when it lapses here. Undefined when it holds none.
   */
  async storedProviderRecord(
    shard: ShardKeyInput,
    provider: PeerId,
  ): Promise<StoredProviderRecord | undefined> {
    const key = parseShardKey(shard)
    let value: Uint8Array
    try {
      value = await this.hooks.datastore.get(this.providerRecordKey(key, provider))
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
    const storedAt = decodeVarint(value)
    return { storedAt, expiresAt: storedAt + this.hooks.providerRecordTtl }
  }

  /** How many provider records this node stores for other peers. */
  async storedProviderRecords(options: AbortOptions = {}): Promise<number> {
    let count = 0
    const self = `/${this.libp2p.peerId.toString()}`
    for await (const key of this.hooks.datastore.queryKeys({ prefix: this.hooks.providerPrefix }, options)) {
      if (!key.toString().endsWith(self)) count++
    }
    return count
  }

  /**
   * Finds providers of a shard; ends as soon as `limit` are known or the query
   * completes. Past the deadline, providers found so far are returned with
   * `partial: true`; with none, it fails with {@link QueryTimeoutError}.
   */
  async findProviders(
    shard: ShardKeyInput,
    options: FindProvidersOptions = {},
  ): Promise<FindProvidersResult> {
    const key = parseShardKey(shard)
    const limit = options.limit ?? this.findProvidersLimit
    if (!Number.isInteger(limit) || limit < 1) {
      throw new InvalidOptionError('limit', `must be an integer >= 1, got ${String(limit)}`)
    }
    const start = performance.now()
    const found = new Map<string, ShardPeer>()
    return this.operation('find_providers', options, async (signal, deadline) => {
      const tally = new AnswerTally()
      try {
        for await (const event of this.dht.findProviders(key.cid, { signal })) {
          tally.add(event)
          if (event.name !== 'PROVIDER') continue
          for (const info of event.providers) {
            const id = info.id.toString()
            const known = found.get(id)
            if (known == null) found.set(id, { peerId: info.id, multiaddrs: uniqueAddrs(info.multiaddrs) })
            else if (known.multiaddrs.length === 0) known.multiaddrs = uniqueAddrs(info.multiaddrs)
          }
          if (found.size >= limit) break
        }
      } catch (err) {
        if (deadline.timedOut && found.size > 0) {
          return {
            providers: await this.withAddresses([...found.values()]),
            partial: true,
            durationMs: performance.now() - start,
          }
        }
        throw err
      }
      if (found.size === 0) tally.assertAnswered()
      return {
        providers: await this.withAddresses([...found.values()].slice(0, limit)),
        partial: false,
        durationMs: performance.now() - start,
      }
    })
  }

  /**
   * The k peers closest to a key (a shard or a peer id), sorted by XOR distance.
   */
  async closestPeers(key: ShardKeyInput | PeerId, options: OperationOptions = {}): Promise<ClosestPeer[]> {
    const target = this.dhtKey(key)
    return this.operation('closest_peers', options, async (signal) => {
      const tally = new AnswerTally()
      const peers = new Map<string, ShardPeer>()
      for await (const event of this.dht.getClosestPeers(target, { signal })) {
        tally.add(event)
        if (event.name === 'FINAL_PEER') {
          peers.set(event.peer.id.toString(), {
            peerId: event.peer.id,
            multiaddrs: [...event.peer.multiaddrs],
          })
        }
      }
      if (peers.size === 0) tally.assertAnswered()
      const targetId = await kadId(target)
      const withDistance = await Promise.all(
        [...peers.values()].map(async (peer) => ({
          ...peer,
          multiaddrs: peer.multiaddrs.length > 0 ? peer.multiaddrs : await this.addressesOf(peer.peerId),
          distance: xorHex(await kadId(peer.peerId.toMultihash().bytes), targetId),
        })),
      )
      return withDistance.sort((a, b) => (a.distance < b.distance ? -1 : a.distance > b.distance ? 1 : 0))
    })
  }

  /**
   * Finds a peer's addresses through the DHT.
   *
   * @throws {PeerNotFoundError} when the lookup completes without it
   */
  async findPeer(peer: PeerId | string, options: OperationOptions = {}): Promise<ShardPeer> {
    const peerId = typeof peer === 'string' ? parsePeerId(peer) : peer
    return this.operation('find_peer', options, async (signal) => {
      const tally = new AnswerTally()
      for await (const event of this.dht.findPeer(peerId, { signal })) {
        tally.add(event)
        if (event.name === 'FINAL_PEER' && event.peer.id.equals(peerId)) {
          return { peerId, multiaddrs: uniqueAddrs(event.peer.multiaddrs) }
        }
      }
      tally.assertAnswered()
      throw new PeerNotFoundError(peerId.toString())
    })
  }

  /**
   * Dials the given peers, waits for the routing table to hold one, then looks up
   * this node's own id to fill the table.
   *
   * @throws {NoPeerAnsweredError} when no bootstrap peer could be dialled
   */
  async bootstrap(
    addrs: Array<Multiaddr | string>,
    options: OperationOptions = {},
  ): Promise<BootstrapResult> {
    const targets = addrs.map((addr) => (typeof addr === 'string' ? multiaddr(addr) : addr))
    const start = performance.now()
    let connected = 0
    let failed = 0
    try {
      const result = await this.operation('bootstrap', options, async (signal) => {
        const dials = await Promise.allSettled(targets.map((addr) => this.libp2p.dial(addr, { signal })))
        for (const dial of dials) {
          if (dial.status === 'fulfilled') connected++
          else failed++
        }
        signal.throwIfAborted()
        if (connected === 0 && targets.length > 0) throw new NoPeerAnsweredError(targets.length)
        await this.waitForTablePeer(signal)
        await drain(this.dht.getClosestPeers(this.libp2p.peerId.toMultihash().bytes, { signal }))
        return {
          connected,
          failed,
          routingTableSize: this.routingTableSize(),
          durationMs: performance.now() - start,
        }
      })
      this.notify('bootstrapSucceeded', result)
      return result
    } catch (err) {
      this.notify('bootstrapFailed', {
        connected,
        failed,
        routingTableSize: this.routingTableSize(),
        error: err as Error,
      })
      throw err
    }
  }

  /** Refreshes the routing table now (joins a running refresh). */
  async refresh(options: OperationOptions = {}): Promise<RefreshResult> {
    this.assertStarted()
    if (this.refreshing != null) return this.refreshing
    this.refreshing = this.operation('refresh', options, (signal) =>
      refreshRoutingTable(
        {
          hooks: this.hooks,
          connectionsTo: (peer) => this.libp2p.getConnections(peer).length,
          ping: (peer, abort) => this.libp2p.services.ping.ping(peer, abort),
        },
        { pingConcurrency: this.refreshPingConcurrency },
        { signal },
      ),
    ).finally(() => {
      this.refreshing = undefined
    })
    return this.refreshing
  }

  /** Republishes due shards now, or every shard with `all` (as after a restart). */
  async republish(options: { all?: boolean } = {}): Promise<RepublishRun> {
    this.assertStarted()
    if (this.republisher == null) throw new InvalidOptionError('registry', 'republishing needs a registry')
    return this.republisher.runNow(options)
  }

  // ---- internals

  private async publish(
    shard: ShardKey | ProvidedShardEntry,
    type: QueryType,
    options: OperationOptions,
  ): Promise<number> {
    const key = shard instanceof ShardKey ? shard : parseShardKey(shard.hash)
    const sentTo = await this.operation(type, options, async (signal) => {
      const tally = new AnswerTally()
      let stored = 0
      for await (const event of this.dht.provide(key.cid, { signal })) {
        tally.add(event)
        if (event.name === 'PEER_RESPONSE' && event.messageName === 'ADD_PROVIDER') stored++
      }
      // kad-dht turns aborted ADD_PROVIDER sends into error events and ends normally
      signal.throwIfAborted()
      if (stored === 0) {
        tally.assertAnswered()
        throw new NoPeerAnsweredError(tally.contacted)
      }
      return stored
    })
    this.notify('providerRecordPublished', { shard: key.hex, sentTo, republish: type === 'republish' })
    return sentTo
  }

  private async operation<T>(
    type: QueryType,
    options: OperationOptions,
    fn: (signal: AbortSignal, deadline: ReturnType<typeof startDeadline>) => Promise<T>,
  ): Promise<T> {
    this.assertStarted()
    if (type !== 'bootstrap' && this.routingTableSize() === 0) {
      const err = new NoKnownPeersError()
      this.notify('queryEnded', { type, result: 'error', durationMs: 0, error: err })
      throw err
    }
    const deadline = startDeadline(this.hooks.queryTimeout, options.signal, this.shutdown.signal)
    const start = performance.now()
    this.notify('queryStarted', { type })
    let result: QueryResult = 'ok'
    let error: Error | undefined
    try {
      return await fn(deadline.signal, deadline)
    } catch (err) {
      const translated = deadline.translate(err) as Error
      result = translated instanceof QueryTimeoutError ? 'timeout' : 'error'
      error = translated
      throw translated
    } finally {
      deadline.clear()
      this.notify('queryEnded', { type, result, durationMs: performance.now() - start, error })
    }
  }

  private scheduleRefresh(): void {
    if (!this.started || this.refreshInterval === 0) return
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined
      if (this.routingTableSize() === 0) return this.scheduleRefresh()
      this.refresh()
        .catch((err: unknown) => this.log?.error('routing table refresh failed - %e', err))
        .finally(() => this.scheduleRefresh())
    }, this.refreshInterval)
    this.refreshTimer.unref?.()
  }

  private async waitForTablePeer(signal: AbortSignal): Promise<void> {
    const table = this.hooks.routingTable
    if (table.size > 0) return
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        table.removeEventListener('peer:add', done)
        signal.removeEventListener('abort', fail)
        resolve()
      }
      const fail = (): void => {
        table.removeEventListener('peer:add', done)
        reject(signal.reason)
      }
      table.addEventListener('peer:add', done)
      signal.addEventListener('abort', fail, { once: true })
    })
  }

  private trackWithdrawal(entry: ProvidedShardEntry): void {
    const key = parseShardKey(entry.hash)
    const withdrawal = this.dht
      .cancelReprovide(key.cid)
      .catch((err: unknown) => this.log?.error('could not withdraw %s - %e', key.hex, err))
      .finally(() => {
        if (this.withdrawals.get(key.hex) === withdrawal) this.withdrawals.delete(key.hex)
      })
    this.withdrawals.set(key.hex, withdrawal)
  }

  /** Drops self-records the registry does not hold: the registry is the source of truth. */
  private async reconcileSelfRecords(): Promise<void> {
    const registry = this.registry
    if (registry == null) return
    const self = `/${this.libp2p.peerId.toString()}`
    const datastore = this.hooks.datastore
    const stale: string[] = []
    for await (const key of datastore.queryKeys({ prefix: this.hooks.providerPrefix })) {
      const text = key.toString()
      if (!text.endsWith(self)) continue
      const encoded = text.slice(this.hooks.providerPrefix.length + 1, text.length - self.length)
      const hash = selfRecordHash(encoded)
      if (hash == null || !registry.has(hash)) stale.push(text)
    }
    for (const text of stale) await datastore.delete(new Key(text))
  }

  /** kad-dht's datastore key of `provider`'s record for `key`. */
  private providerRecordKey(key: ShardKey, provider: PeerId): Key {
    return new Key(`${this.hooks.providerPrefix}/${uint8ArrayToString(key.multihash, 'base32')}/${provider}`)
  }

  private dhtKey(key: ShardKeyInput | PeerId): Uint8Array {
    if (typeof key === 'object' && key != null && 'toMultihash' in key) return key.toMultihash().bytes
    if (typeof key === 'string' && !/^(0x)?[0-9a-fA-F]{64}$/.test(key)) {
      try {
        return peerIdFromString(key).toMultihash().bytes
      } catch {
        // not a peer id either: let the shard parser name the rule
      }
    }
    return parseShardKey(key as ShardKeyInput).multihash
  }

  private async addressesOf(peerId: PeerId): Promise<Multiaddr[]> {
    try {
      const peer = await this.libp2p.peerStore.get(peerId)
      return uniqueAddrs(peer.addresses.map((a) => a.multiaddr))
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return []
      throw err
    }
  }

  private async withAddresses(peers: ShardPeer[]): Promise<ShardPeer[]> {
    return Promise.all(
      peers.map(async (peer) =>
        peer.multiaddrs.length > 0 ? peer : { ...peer, multiaddrs: await this.addressesOf(peer.peerId) },
      ),
    )
  }

  private assertStarted(): void {
    if (!this.started) throw new NotStartedError()
  }

  private notify<K extends keyof DhtObserver>(
    method: K,
    arg: Parameters<NonNullable<DhtObserver[K]>>[0],
  ): void {
    const fn = this.observer[method] as ((a: typeof arg) => void) | undefined
    if (fn == null) return
    try {
      fn.call(this.observer, arg)
    } catch (err) {
      this.log?.error('observer %s threw - %e', method, err)
    }
  }
}

/** Counts answers and failures of one query, to tell "nobody answered" from "not found". */
class AnswerTally {
  answered = 0
  failed = 0
  contacted = 0

  add(event: QueryEvent): void {
    if (event.name === 'SEND_QUERY') this.contacted++
    else if (event.name === 'PEER_RESPONSE') this.answered++
    else if (event.name === 'QUERY_ERROR') this.failed++
  }

  /** @throws {NoPeerAnsweredError} when peers were asked and none answered */
  assertAnswered(): void {
    if (this.answered === 0 && this.failed > 0)
      throw new NoPeerAnsweredError(Math.max(this.contacted, this.failed))
  }
}

/** kad-dht stores a record's time as an unsigned varint of epoch ms. */
function decodeVarint(bytes: Uint8Array): number {
  let value = 0
  let scale = 1
  for (const byte of bytes) {
    value += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) break
    scale *= 128
  }
  return value
}

async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // consume
  }
}

function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (err) {
    throw new InvalidShardKeyError(text, `must be a peer id (${(err as Error).message})`)
  }
}

function selfRecordHash(encoded: string): Uint8Array | undefined {
  let bytes: Uint8Array
  try {
    bytes = uint8ArrayFromString(encoded, 'base32')
  } catch {
    return undefined // not a multihash key: not one of ours
  }
  // a sha2-256 multihash: 0x12 0x20 + 32 bytes
  if (bytes.length !== 34 || bytes[0] !== 0x12 || bytes[1] !== 0x20) return undefined
  return bytes.slice(2)
}
