/**
 * The republish timing of provider records, computed in one place from the
 * provider-record TTL: the node, the demo and the benchmarks use it, and pass its
 * intervals to the shard registry (which keeps only its own defaults) and to kad-dht.
 *
 * @packageDocumentation
 */

import {
  PROVIDER_CLEANUP_INTERVAL,
  PROVIDER_RECORD_TTL,
  REPUBLISH_JITTER,
  REPUBLISH_MARGIN,
  second,
} from './constants.js'
import { InvalidOptionError } from './errors.js'

/** Republish timing derived from a provider-record TTL (see {@link republishTiming}). */
export interface RepublishTiming {
  /**
   * Time from a publication to the next, in ms: the TTL minus a margin. The shard
   * registry's `republishInterval`.
   */
  republishInterval: number
  /**
   * Upper bound of the random amount subtracted from each scheduled republish, in ms. The
   * shard registry's `republishJitter`.
   */
  republishJitter: number
  /** How often receivers purge expired records, in ms. kad-dht's `providerCleanupInterval`. */
  providerCleanupInterval: number
}

/**
 * Republish timing for a provider-record TTL: republish at TTL minus a margin
 * ({@link REPUBLISH_MARGIN}, 1 h, or a twelfth of the TTL when that is shorter), minus a
 * random jitter (up to {@link REPUBLISH_JITTER}, 10 min, or a tenth of the interval), so a
 * fresh copy of a record is on the network before the previous one lapses and republishes
 * do not burst; receivers purge expired records every {@link PROVIDER_CLEANUP_INTERVAL}
 * (10 min, or a quarter of the TTL, at least 1 s). With the 12 h default TTL: every 11 h
 * minus up to 10 min, purged every 10 min.
 *
 * @param providerTtl - how long receivers keep a record, in ms (default {@link PROVIDER_RECORD_TTL})
 * @throws {InvalidOptionError} when `providerTtl` is not a positive integer
 */
export function republishTiming(providerTtl: number = PROVIDER_RECORD_TTL): RepublishTiming {
  if (!Number.isSafeInteger(providerTtl) || providerTtl <= 0) {
    throw new InvalidOptionError('providerTtl', `must be a positive integer (ms), got ${String(providerTtl)}`)
  }
  const margin = Math.min(REPUBLISH_MARGIN, Math.floor(providerTtl / 12))
  const republishInterval = providerTtl - margin
  return {
    republishInterval,
    republishJitter: Math.min(REPUBLISH_JITTER, Math.floor(republishInterval / 10)),
    providerCleanupInterval: Math.min(
      PROVIDER_CLEANUP_INTERVAL,
      Math.max(second, Math.floor(providerTtl / 4)),
    ),
  }
}
