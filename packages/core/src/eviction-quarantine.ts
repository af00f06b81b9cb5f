/**
 * The eviction quarantine: a peer that request timeouts evicted (`request-timeouts.ts`:
 * `evictAfter` timeouts in a row) is kept out of the routing table, and out of the
 * closer peers of answers, for `duration` ms. Without it kad-dht re-adds the peer at its
 * next connection or its next mention in an answer, and a silent peer costs every
 * lookup a timeout again. Bounded: at most `maxPeers` quarantines are remembered (the
 * least recently seen forgotten past it).
 *
 * @packageDocumentation
 */

import { EVICTION_QUARANTINE, EVICTION_QUARANTINE_MAX_PEERS } from './constants.js'
import { LruMap } from './lru-map.js'
import { positiveInteger, positiveNumber } from './option-checks.js'

/** Options of the quarantine (`nsnKadDHT({ requestTimeouts: { quarantine, quarantinedPeers } })`). */
export interface EvictionQuarantineInit {
  /** How long an evicted peer is kept out, in ms. Default {@link EVICTION_QUARANTINE} (10 min). */
  duration?: number
  /** Quarantines remembered at most. Default {@link EVICTION_QUARANTINE_MAX_PEERS}. */
  maxPeers?: number
}

export type ResolvedEvictionQuarantineOptions = Required<EvictionQuarantineInit>

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a duration that is not positive, or a bound that is not an integer >= 1
 */
export function resolveEvictionQuarantineOptions(
  init: EvictionQuarantineInit = {},
): ResolvedEvictionQuarantineOptions {
  return {
    duration: positiveNumber('requestTimeouts.quarantine', init.duration ?? EVICTION_QUARANTINE, ' of ms'),
    maxPeers: positiveInteger(
      'requestTimeouts.quarantinedPeers',
      init.maxPeers ?? EVICTION_QUARANTINE_MAX_PEERS,
    ),
  }
}

/** The quarantine of one DHT: see the module docs. */
export class EvictionQuarantine {
  readonly options: ResolvedEvictionQuarantineOptions
  /** Peer -> when its quarantine ends (ms of `now`). */
  private readonly until: LruMap<number>

  constructor(
    init: EvictionQuarantineInit = {},
    /** The clock (ms). Default `Date.now`. */
    private readonly now: () => number = Date.now,
  ) {
    this.options = resolveEvictionQuarantineOptions(init)
    this.until = new LruMap(this.options.maxPeers)
  }

  /** Quarantines remembered (ended ones included until they are looked at). */
  get size(): number {
    return this.until.size
  }

  /** Quarantines `peer` from now for the configured duration (again from now if it already was). */
  add(peer: string): void {
    this.until.set(peer, this.now() + this.options.duration)
  }

  /** True while `peer`'s quarantine runs; an ended one is forgotten. */
  has(peer: string): boolean {
    const end = this.until.get(peer)
    if (end == null) return false
    if (this.now() < end) return true
    this.until.delete(peer)
    return false
  }
}
