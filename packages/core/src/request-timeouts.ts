/**
 * Per-peer request timeouts: each DHT request this node sends (FIND_NODE, GET_PROVIDERS,
 * PING, through kad-dht's `network.sendRequest`) is bounded by the addressed peer's own
 * timeout, derived from its measured response times as TCP's retransmission timeout
 * (RFC 6298): `clamp(srtt + 4 * rttvar, min, max)`, with `unknownPeer` for a peer not yet
 * measured. A silent peer then holds one of the query's alpha parallel slots for one
 * short timeout, not the whole query deadline, and the other slots keep the query moving.
 * A peer whose requests time out `evictAfter` times in a row (no answer between them) is
 * removed from the routing table and reported, its estimate forgotten, and it is
 * quarantined (`eviction-quarantine.ts`): kept out of the table and of answers' closer
 * peers for `quarantine` ms, where kad-dht would re-add it at its next connection.
 *
 * A request's timer restarts while the peer answers other requests (RFC 6298, 5.3), and
 * the requests that time out in one silence of the peer count as one timeout: with many
 * operations at once (64 lookups from the API), their requests queue at the peer and in
 * this node's event loop, and 3 concurrent timeouts of one stall evicted a healthy,
 * answering peer, after which every operation failed with "no known peers" (503).
 *
 * A timer that fires more than {@link REQUEST_TIMER_LATE} ms late says this node's own
 * event loop was stalled, not that the peer was silent: it restarts (at most
 * {@link REQUEST_TIMER_LATE_RESTARTS} times) instead of failing the request. Under the
 * wide-area emulation, 50 nodes of one loaded host evicted 5 to 36 healthy peers a
 * minute after joining.
 *
 * The estimates are kept for at most `trackedPeers` peers (least recently used forgotten).
 * A timed-out request gives no sample (Karn's rule: its response time is unknown).
 *
 * @packageDocumentation
 */

import type { AbortOptions, Logger, PeerId } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import {
  REQUEST_TIMEOUT_DIAL,
  REQUEST_TIMEOUT_MAX,
  REQUEST_TIMEOUT_MIN,
  REQUEST_TIMEOUT_TRACKED_PEERS,
  REQUEST_TIMEOUT_UNKNOWN_PEER,
  REQUEST_TIMEOUTS_BEFORE_EVICTION,
  REQUEST_TIMER_LATE,
  REQUEST_TIMER_LATE_RESTARTS,
} from './constants.js'
import { InvalidOptionError } from './errors.js'
import { resolveEvictionQuarantineOptions } from './eviction-quarantine.js'
import type { PeerEvictionReason } from './observer.js'
import { positiveInteger, positiveNumber } from './option-checks.js'

/** Options of the per-peer request timeouts (`nsnKadDHT({ requestTimeouts })`). */
export interface RequestTimeoutsInit {
  /** Shortest per-request timeout in ms. Default {@link REQUEST_TIMEOUT_MIN} (1 s). */
  min?: number
  /** Longest per-request timeout in ms. Default {@link REQUEST_TIMEOUT_MAX} (5 s). */
  max?: number
  /** Timeout of a peer not measured yet, in ms. Default {@link REQUEST_TIMEOUT_UNKNOWN_PEER} (2 s). */
  unknownPeer?: number
  /**
   * Added to the timeout of a request to a peer this node has no open connection to (the
   * dial), in ms. Default {@link REQUEST_TIMEOUT_DIAL} (3 s). Applies when the components
   * say whether a peer is connected.
   */
  dial?: number
  /** Timeouts in a row that remove a peer from the routing table. Default {@link REQUEST_TIMEOUTS_BEFORE_EVICTION} (3). */
  evictAfter?: number
  /** Peers whose estimates are kept. Default {@link REQUEST_TIMEOUT_TRACKED_PEERS}. */
  trackedPeers?: number
  /**
   * How long an evicted peer is kept out of the routing table and out of answers' closer
   * peers, in ms (`eviction-quarantine.ts`). Default `EVICTION_QUARANTINE` (10 min).
   */
  quarantine?: number
  /** Quarantined peers remembered at most. Default `EVICTION_QUARANTINE_MAX_PEERS`. */
  quarantinedPeers?: number
}

export type ResolvedRequestTimeoutsOptions = Required<RequestTimeoutsInit>

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not positive, or `min` above `max`
 */
export function resolveRequestTimeoutsOptions(
  init: RequestTimeoutsInit = {},
): ResolvedRequestTimeoutsOptions {
  const resolved = resolveEvictionQuarantineOptions({
    duration: init.quarantine,
    maxPeers: init.quarantinedPeers,
  })
  const quarantine = { quarantine: resolved.duration, quarantinedPeers: resolved.maxPeers }
  const ms = (name: keyof RequestTimeoutsInit, value: number): number =>
    positiveNumber(`requestTimeouts.${name}`, value, ' of ms')
  const min = ms('min', init.min ?? REQUEST_TIMEOUT_MIN)
  const max = ms('max', init.max ?? Math.max(REQUEST_TIMEOUT_MAX, min))
  if (min > max) throw new InvalidOptionError('requestTimeouts.min', `must be <= max (${max} ms), got ${min}`)
  const unknownPeer = ms(
    'unknownPeer',
    init.unknownPeer ?? Math.min(Math.max(REQUEST_TIMEOUT_UNKNOWN_PEER, min), max),
  )
  return {
    min,
    max,
    unknownPeer,
    dial: ms('dial', init.dial ?? REQUEST_TIMEOUT_DIAL),
    evictAfter: positiveInteger(
      'requestTimeouts.evictAfter',
      init.evictAfter ?? REQUEST_TIMEOUTS_BEFORE_EVICTION,
    ),
    trackedPeers: positiveInteger(
      'requestTimeouts.trackedPeers',
      init.trackedPeers ?? REQUEST_TIMEOUT_TRACKED_PEERS,
    ),
    ...quarantine,
  }
}

interface PeerEstimate {
  /** Smoothed response time, ms (undefined until the first answer). */
  srtt?: number
  /** Response-time variation, ms. */
  rttvar: number
  /** Requests timed out since the last answer. */
  timeouts: number
  /** Answers ever recorded (a request's timer restarts when it changed). */
  answers: number
  /** Timeouts ever recorded (concurrent requests of one stall count once). */
  strikes: number
}

/** RFC 6298's gains: 1/8 for the mean, 1/4 for the deviation. */
const ALPHA = 1 / 8
const BETA = 1 / 4

/** The response-time estimates of at most `trackedPeers` peers (an LRU). */
export class ResponseTimes {
  private readonly peers = new Map<string, PeerEstimate>()

  constructor(readonly options: ResolvedRequestTimeoutsOptions) {}

  /** Peers with an estimate or a timeout count. */
  get size(): number {
    return this.peers.size
  }

  /** The timeout of the next request to `peer`, in ms. */
  timeoutOf(peer: string): number {
    const estimate = this.touch(peer, false)
    if (estimate?.srtt == null) return this.options.unknownPeer
    const rto = estimate.srtt + 4 * estimate.rttvar
    return Math.min(this.options.max, Math.max(this.options.min, rto))
  }

  /** Records an answer of `peer` after `ms`; its timeouts in a row start again from 0. */
  answered(peer: string, ms: number): void {
    const estimate = this.touch(peer, true) as PeerEstimate
    const sample = Math.max(0, ms)
    if (estimate.srtt == null) {
      estimate.srtt = sample
      estimate.rttvar = sample / 2
    } else {
      estimate.rttvar = (1 - BETA) * estimate.rttvar + BETA * Math.abs(estimate.srtt - sample)
      estimate.srtt = (1 - ALPHA) * estimate.srtt + ALPHA * sample
    }
    estimate.timeouts = 0
    estimate.answers++
  }

  /**
   * Records an answer of `peer` whose response time is unknown (the request dialled
   * first): its timeouts in a row start again from 0, no sample is taken.
   */
  alive(peer: string): void {
    const estimate = this.touch(peer, true) as PeerEstimate
    estimate.timeouts = 0
    estimate.answers++
  }

  /** `peer`'s smoothed response time in ms, undefined before its first measured answer. */
  responseTimeOf(peer: string): number | undefined {
    return this.peers.get(peer)?.srtt
  }

  /** Answers of `peer` recorded so far (0 for an unknown peer). */
  answersOf(peer: string): number {
    return this.peers.get(peer)?.answers ?? 0
  }

  /** Timeouts of `peer` recorded so far (0 for an unknown peer). */
  strikesOf(peer: string): number {
    return this.peers.get(peer)?.strikes ?? 0
  }

  /** Records a timed-out request to `peer`; returns its timeouts in a row. */
  timedOut(peer: string): number {
    const estimate = this.touch(peer, true) as PeerEstimate
    estimate.timeouts++
    estimate.strikes++
    return estimate.timeouts
  }

  /** Forgets `peer` (after an eviction: if it comes back it starts as unknown). */
  forget(peer: string): void {
    this.peers.delete(peer)
  }

  private touch(peer: string, create: boolean): PeerEstimate | undefined {
    let estimate = this.peers.get(peer)
    if (estimate != null) {
      // most recently used last
      this.peers.delete(peer)
      this.peers.set(peer, estimate)
      return estimate
    }
    if (!create) return undefined
    estimate = { rttvar: 0, timeouts: 0, answers: 0, strikes: 0 }
    this.peers.set(peer, estimate)
    while (this.peers.size > this.options.trackedPeers) {
      const oldest = this.peers.keys().next().value as string
      this.peers.delete(oldest)
    }
    return estimate
  }
}

/** What the request timeouts report (the observer `ShardRouting` attaches). */
export interface RequestTimeoutsReporter {
  evicted(reason: PeerEvictionReason, peer: PeerId): void
}

/** kad-dht's `network.sendRequest`. */
export type SendRequest = (to: PeerId, msg: unknown, options: AbortOptions) => AsyncGenerator<QueryEvent>

/** What the request timeouts use. */
export interface RequestTimeoutsComponents {
  /** kad-dht's own `sendRequest`. */
  sendRequest: SendRequest
  /** Removes `peer` from the routing table; resolves to whether it was there. */
  evict(peer: PeerId): Promise<boolean>
  reporter(): RequestTimeoutsReporter | undefined
  /**
   * Whether this node has an open connection to `peer`: a request to a peer without one
   * dials first and gets the `dial` allowance on top of its timeout, and its response
   * time is not sampled. Without it every request is timed as if connected.
   */
  connected?(peer: PeerId): boolean
  log?: Logger
  /** The clock response times are measured with (ms). Default `performance.now`. */
  now?: () => number
}

/** The error a request that ran past its peer's timeout is aborted with. */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError'
  constructor(peer: string, ms: number) {
    super(`no answer from ${peer} within ${Math.round(ms)} ms`)
  }
}

/** The per-peer request timeouts of one DHT: see the module docs. */
export class RequestTimeouts {
  readonly times: ResponseTimes
  private readonly now: () => number

  constructor(
    private readonly components: RequestTimeoutsComponents,
    init: RequestTimeoutsInit = {},
  ) {
    this.times = new ResponseTimes(resolveRequestTimeoutsOptions(init))
    this.now = components.now ?? (() => performance.now())
  }

  /** kad-dht's `sendRequest` under `to`'s own timeout (see the module docs). */
  async *sendRequest(to: PeerId, msg: unknown, options: AbortOptions = {}): AsyncGenerator<QueryEvent> {
    const peer = to.toString()
    const dials = this.components.connected?.(to) === false
    const timeout = this.times.timeoutOf(peer) + (dials ? this.times.options.dial : 0)
    const controller = new AbortController()
    // as TCP restarts its retransmission timer on each ACK (RFC 6298, 5.3): a peer that
    // answered another request within the last `timeout` is alive and busy (many
    // concurrent requests queue at the peer and in this node's event loop), so the timer
    // restarts; only a peer silent for a whole `timeout` fails the request
    let seen = this.times.answersOf(peer)
    let lateRestarts = 0
    const arm = (): ReturnType<typeof setTimeout> => {
      const due = this.now() + timeout
      return setTimeout(() => {
        const answers = this.times.answersOf(peer)
        if (answers !== seen) {
          seen = answers
          timer = arm()
          return
        }
        // the timer fired late: this node's own event loop was stalled (a loaded host),
        // and the answer may be waiting unread; blame the peer only after a timely wait
        if (this.now() - due > REQUEST_TIMER_LATE && lateRestarts < REQUEST_TIMER_LATE_RESTARTS) {
          lateRestarts++
          timer = arm()
          return
        }
        controller.abort(new RequestTimeoutError(peer, timeout))
      }, timeout)
    }
    let timer = arm()
    // concurrent requests that time out in one silence of the peer are one strike
    const strikes = this.times.strikesOf(peer)
    const signal =
      options.signal == null ? controller.signal : AbortSignal.any([options.signal, controller.signal])
    const start = this.now()
    try {
      for await (const event of this.components.sendRequest(to, msg, { ...options, signal })) {
        if (event.name === 'PEER_RESPONSE') {
          if (dials) this.times.alive(peer)
          else this.times.answered(peer, this.now() - start)
        } else if (
          event.name === 'QUERY_ERROR' &&
          controller.signal.aborted &&
          options.signal?.aborted !== true
        ) {
          if (this.times.strikesOf(peer) === strikes) await this.timedOut(to)
        }
        yield event
      }
    } finally {
      clearTimeout(timer)
    }
  }

  private async timedOut(to: PeerId): Promise<void> {
    const peer = to.toString()
    const inARow = this.times.timedOut(peer)
    if (inARow < this.times.options.evictAfter) return
    this.times.forget(peer)
    try {
      if (await this.components.evict(to)) {
        this.components.log?.('evicted %p after %d timed-out requests in a row', to, inARow)
        this.components.reporter()?.evicted('timeouts', to)
      }
    } catch (err) {
      this.components.log?.error('could not evict %p - %e', to, err)
    }
  }
}
