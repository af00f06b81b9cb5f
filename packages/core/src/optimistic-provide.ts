/**
 * Optimistic provide (DESIGN: "Optimistic provide"; ProbeLab, go-libp2p-kad-dht's
 * `OptimisticProvide`): the provider record of a single fresh provide goes out while
 * the lookup of the key's closest peers still runs.
 *
 * - A peer whose normalised XOR distance to the key is below
 *   {@link OPTIMISTIC_SEND_THRESHOLD} / N (N: the network-size estimate,
 *   `network-size.ts`) is almost surely among the k closest: it gets the record at once.
 * - A node whose routing table holds nearly the whole estimated network
 *   ({@link OPTIMISTIC_COMPLETE_TABLE}) knows the k closest peers already: the table's k
 *   closest all get the record at once.
 * - The lookup stops once k records are out, or once the mean distance of the k closest
 *   peers it knows is below {@link OPTIMISTIC_STOP_THRESHOLD} / N; then the k closest
 *   known peers not yet sent to get the record.
 * - The call returns once {@link OPTIMISTIC_RETURN_CONFIRMATIONS} stores are confirmed
 *   (`confirmed-provide.ts`: ADD_PROVIDER then GET_PROVIDERS on one stream); the other
 *   sends finish in the background, a bounded number of them ({@link BackgroundSends}),
 *   their failures counted and logged.
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import type { RecordSend } from './confirmed-provide.js'
import {
  K_BUCKET_SIZE,
  OPTIMISTIC_BACKGROUND_SENDS,
  type OPTIMISTIC_COMPLETE_TABLE,
  OPTIMISTIC_RETURN_CONFIRMATIONS,
  OPTIMISTIC_SEND_THRESHOLD,
  OPTIMISTIC_STOP_THRESHOLD,
  PROVIDE_QUORUM,
} from './constants.js'

/** Options of optimistic provide (`ShardRoutingInit.optimisticProvide`). */
export interface OptimisticProvideOptions {
  /** Send threshold, times 1/N. Default {@link OPTIMISTIC_SEND_THRESHOLD}. */
  sendThreshold?: number
  /** Stop threshold of the mean distance of the k closest, times 1/N. Default {@link OPTIMISTIC_STOP_THRESHOLD}. */
  stopThreshold?: number
  /** Confirmed stores after which the call returns. Default {@link OPTIMISTIC_RETURN_CONFIRMATIONS}. */
  returnConfirmations?: number
  /** Record sends left running in the background at most. Default {@link OPTIMISTIC_BACKGROUND_SENDS}. */
  maxBackgroundSends?: number
}

/** What one optimistic walk needs. */
export interface OptimisticWalkComponents {
  /** This node: never a candidate. */
  self: PeerId
  /** kad-dht's lookup of the key's closest peers, under `signal` (aborted to stop it). */
  walk(signal: AbortSignal): AsyncIterable<QueryEvent>
  /** A peer's normalised XOR distance to the key. */
  distanceTo(peer: PeerId): Promise<number>
  /** Sends the record to `peer` and confirms it (never throws: `RecordSend`). */
  send(peer: PeerId): Promise<RecordSend>
  /**
   * Peers known before the walk (the routing table's closest to the key): those below
   * the send threshold get the record at once, before the lookup's first answer.
   */
  seeds?: readonly PeerId[]
  /**
   * The seeds are the network's closest peers: this node knows nearly the whole network
   * (its routing table holds at least {@link OPTIMISTIC_COMPLETE_TABLE} of the estimated
   * size), so every seed gets the record at once, whatever the send threshold.
   */
  seedsComplete?: boolean
}

/** Parameters of one walk. */
export interface OptimisticWalkInit {
  /** The network-size estimate N. */
  networkSize: number
  /** k. Default {@link K_BUCKET_SIZE}. */
  k?: number
  sendThreshold?: number
  stopThreshold?: number
  returnConfirmations?: number
  /** Share of the closest found that must confirm on a network smaller than k. Default {@link PROVIDE_QUORUM}. */
  quorumShare?: number
}

/** What an optimistic walk did by the time it returned. */
export interface OptimisticWalkResult {
  /** Sends settled by the return, in the order they settled. */
  settled: RecordSend[]
  /** Sends still running at the return (handed to the background by the caller). */
  pending: Array<Promise<RecordSend>>
  /** Peers the record went to (settled and pending). */
  sentTo: number
  /** Of them, sent while the lookup still ran (below the send threshold). */
  early: number
  /** Confirmed stores at the return. */
  confirmed: number
  /** The closest peers the record went to after the walk (at most k). */
  closest: number
  /** Confirmations the return waited for. */
  quorum: number
  /** True when the lookup was stopped by the thresholds, not run to its end. */
  stoppedEarly: boolean
  /** Peers contacted by the lookup, and peers that answered. */
  contacted: number
  answered: number
  /** The lookup's events, for the caller's tally (errors, local refusals). */
  events: QueryEvent[]
}

interface Candidate {
  peer: PeerId
  distance: number
}

/**
 * Runs one optimistic walk: the lookup with early sends, the sends to the k closest
 * after it, and the wait for the confirmations. Resolves with what was settled and what
 * is still pending; never leaves a send unobserved (the caller adopts `pending`).
 */
export async function optimisticWalk(
  components: OptimisticWalkComponents,
  init: OptimisticWalkInit,
  signal: AbortSignal,
): Promise<OptimisticWalkResult> {
  const k = init.k ?? K_BUCKET_SIZE
  const n = init.networkSize
  const sendBelow = (init.sendThreshold ?? OPTIMISTIC_SEND_THRESHOLD) / n
  const stopBelow = (init.stopThreshold ?? OPTIMISTIC_STOP_THRESHOLD) / n
  const candidates = new Map<string, Candidate>()
  const sends = new Map<string, Promise<RecordSend>>()
  const settled: RecordSend[] = []
  const returnAt = init.returnConfirmations ?? OPTIMISTIC_RETURN_CONFIRMATIONS
  let confirmed = 0
  let early = 0
  let onSettle: (() => void) | undefined
  // set while the lookup runs: the early sends' confirmations may end it (see below)
  let onConfirmedDuringWalk: (() => void) | undefined
  const send = (peer: PeerId): void => {
    const id = peer.toString()
    if (sends.has(id)) return
    const sending = components.send(peer).then((result) => {
      settled.push(result)
      if (result.confirmed) {
        confirmed++
        onConfirmedDuringWalk?.()
      }
      onSettle?.()
      return result
    })
    sends.set(id, sending)
  }
  const consider = async (peer: PeerId): Promise<Candidate | undefined> => {
    if (peer.equals(components.self)) return undefined
    const id = peer.toString()
    let candidate = candidates.get(id)
    if (candidate == null) {
      candidate = { peer, distance: await components.distanceTo(peer) }
      candidates.set(id, candidate)
    }
    return candidate
  }
  const closestK = (): Candidate[] =>
    [...candidates.values()].sort((a, b) => a.distance - b.distance).slice(0, k)

  const walk = new AbortController()
  const stopWalk = (): void => walk.abort()
  signal.addEventListener('abort', stopWalk, { once: true })
  const events: QueryEvent[] = []
  const finals: Candidate[] = []
  let stoppedEarly = false
  // the early sends (peers almost surely among the k closest) reaching the return quorum
  // end the lookup there: the call returns then, as it would after the lookup, and the k
  // closest known get the rest. Without this the return waited for the lookup's end,
  // its follow-up included (the slowest of the k closest): 771 ms p50 under the
  // wide-area emulation at N = 100, where 15 early sends confirm in about one RTT
  onConfirmedDuringWalk = () => {
    if (confirmed >= returnAt && !walk.signal.aborted) {
      stoppedEarly = true
      walk.abort()
    }
  }
  let contacted = 0
  let answered = 0
  const considerForSend = async (peer: PeerId, certain = false): Promise<void> => {
    const candidate = await consider(peer)
    if (
      candidate != null &&
      (certain || candidate.distance < sendBelow) &&
      sends.size < k &&
      !sends.has(candidate.peer.toString())
    ) {
      send(candidate.peer)
      early++
    }
  }
  try {
    for (const peer of components.seeds ?? []) await considerForSend(peer, components.seedsComplete === true)
    for await (const event of components.walk(walk.signal)) {
      events.push(event)
      if (event.name === 'SEND_QUERY') contacted++
      let fresh: PeerId[] = []
      if (event.name === 'PEER_RESPONSE') {
        answered++
        fresh = [event.from, ...(event.closer ?? []).map((info) => info.id)]
      } else if (event.name === 'FINAL_PEER') {
        const final = await consider(event.peer.id)
        if (final != null) finals.push(final)
        continue
      }
      for (const peer of fresh) await considerForSend(peer)
      const known = closestK()
      const mean = known.reduce((sum, c) => sum + c.distance, 0) / Math.max(1, known.length)
      if (sends.size >= k || (known.length >= k && mean < stopBelow)) {
        stoppedEarly = true
        break
      }
    }
  } catch (err) {
    // the walk's own abort (stopped early) is no error; the operation's is
    if (!walk.signal.aborted || signal.aborted) throw err
  } finally {
    onConfirmedDuringWalk = undefined
    signal.removeEventListener('abort', stopWalk)
    walk.abort()
  }
  signal.throwIfAborted()

  // the k closest: kad-dht's answer when the lookup ran to its end, else the closest known
  const closest = stoppedEarly ? closestK() : finals.sort((a, b) => a.distance - b.distance).slice(0, k)
  for (const candidate of closest) send(candidate.peer)
  const quorum = Math.min(
    init.returnConfirmations ?? OPTIMISTIC_RETURN_CONFIRMATIONS,
    Math.max(1, Math.ceil((init.quorumShare ?? PROVIDE_QUORUM) * Math.min(k, sends.size))),
  )
  if (sends.size > 0 && confirmed < quorum && settled.length < sends.size) {
    await new Promise<void>((resolve, reject) => {
      const fail = (): void => reject(signal.reason)
      onSettle = () => {
        if (confirmed >= quorum || settled.length === sends.size) {
          signal.removeEventListener('abort', fail)
          resolve()
        }
      }
      signal.addEventListener('abort', fail, { once: true })
    })
  }
  onSettle = undefined
  const done = new Set(settled.map((s) => s.peer.toString()))
  const pending = [...sends.entries()].filter(([id]) => !done.has(id)).map(([, p]) => p)
  return {
    settled: [...settled],
    pending,
    sentTo: sends.size,
    early,
    confirmed,
    closest: closest.length,
    quorum,
    stoppedEarly,
    contacted,
    answered,
    events,
  }
}

/** What {@link BackgroundSends} reports of each record send that settled in the background. */
export type BackgroundSendReporter = (send: RecordSend) => void

/**
 * The background record sends of optimistic provides, bounded in number: a walk's
 * pending sends are adopted only while the bound allows (else the caller waits for
 * them). Every settled send is reported (its failure logged and counted by the caller);
 * none is dropped unobserved.
 */
export class BackgroundSends {
  private running = 0
  /** Sends that settled in the background, confirmed or not. */
  completed = 0
  /** Of them, sends that failed or were not confirmed. */
  failed = 0
  private readonly idle = new Set<() => void>()

  constructor(
    private readonly max: number = OPTIMISTIC_BACKGROUND_SENDS,
    private readonly report: BackgroundSendReporter = () => {},
  ) {}

  /** Sends running in the background now. */
  get pending(): number {
    return this.running
  }

  /** Adopts `sends` when the bound allows all of them; false (nothing adopted) otherwise. */
  adopt(sends: ReadonlyArray<Promise<RecordSend>>): boolean {
    if (this.running + sends.length > this.max) return false
    this.running += sends.length
    for (const sending of sends) {
      void sending.then((result) => {
        this.running--
        this.completed++
        if (!result.confirmed) this.failed++
        this.report(result)
        if (this.running === 0) for (const resolve of this.idle) resolve()
      })
    }
    return true
  }

  /** Resolves once no send runs in the background (stop, tests). */
  async drain(): Promise<void> {
    if (this.running === 0) return
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.idle.delete(done)
        resolve()
      }
      this.idle.add(done)
    })
  }
}
