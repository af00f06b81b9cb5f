/**
 * The network-size estimate of optimistic provide (DESIGN: "Optimistic provide";
 * ProbeLab's method, go-libp2p-kad-dht's `netsize` package). In a network of N peers
 * with uniformly random ids, the i-th closest peer to a random key is expected at the
 * normalised XOR distance i / (N + 1). Every lookup that found k peers adds one sample
 * per rank; the estimate fits a line through the origin to the mean distance of each
 * rank (least squares) and answers N = 1 / slope - 1.
 *
 * Bounded: at most {@link NETWORK_SIZE_MAX_SAMPLES} samples per rank (the newest), none
 * older than {@link NETWORK_SIZE_MAX_AGE}; no estimate below
 * {@link NETWORK_SIZE_MIN_SAMPLES} samples per rank.
 *
 * Unlike go, which weights each rank by its standard deviation, the fit here is
 * unweighted; go also weights a lookup by how full the routing table's bucket of the key
 * is, which matters on the IPFS network's partly filled tables, not for the estimate's
 * use here (a threshold, compared with distances of the same lookups).
 *
 * @packageDocumentation
 */

import {
  K_BUCKET_SIZE,
  NETWORK_SIZE_MAX_AGE,
  NETWORK_SIZE_MAX_SAMPLES,
  NETWORK_SIZE_MIN_SAMPLES,
} from './constants.js'
import { InvalidOptionError } from './errors.js'

/** Options of {@link NetworkSizeEstimator}. */
export interface NetworkSizeOptions {
  /** Ranks per lookup (k). Default {@link K_BUCKET_SIZE}. */
  k?: number
  /** Samples per rank needed for an estimate. Default {@link NETWORK_SIZE_MIN_SAMPLES}. */
  minSamples?: number
  /** Samples per rank kept at most. Default {@link NETWORK_SIZE_MAX_SAMPLES}. */
  maxSamples?: number
  /** Oldest sample used, in ms. Default {@link NETWORK_SIZE_MAX_AGE}. */
  maxAge?: number
  /** The clock (tests). Default `Date.now`. */
  now?: () => number
}

/** Bytes of a kad id read into a normalised distance: 2^-48 is far below any use, and the sum stays below 1 in a double. */
const DISTANCE_BYTES = 6

/**
 * The XOR distance of two kad ids (sha256 of keys, as kad-dht uses them) as a fraction
 * of the key space, from 0 (equal) to just below 1.
 */
export function normalisedDistance(a: Uint8Array, b: Uint8Array): number {
  let distance = 0
  let scale = 1
  for (let i = 0; i < DISTANCE_BYTES; i++) {
    scale /= 256
    distance += (((a[i] ?? 0) ^ (b[i] ?? 0)) & 0xff) * scale
  }
  return distance
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(name, `must be an integer >= 1, got ${String(value)}`)
  }
  return value
}

/** Estimates the number of peers in the network from the k closest peers of lookups. */
export class NetworkSizeEstimator {
  /** Ranks per lookup (k). */
  readonly k: number
  private readonly minSamples: number
  private readonly maxSamples: number
  private readonly maxAge: number
  private readonly now: () => number
  /** Per lookup, oldest first: its time and the sorted distances of its k closest. */
  private readonly samples: Array<{ at: number; distances: readonly number[] }> = []
  private cached: number | undefined | null = null

  constructor(options: NetworkSizeOptions = {}) {
    this.k = positiveInteger('networkSize.k', options.k ?? K_BUCKET_SIZE)
    this.minSamples = positiveInteger(
      'networkSize.minSamples',
      options.minSamples ?? NETWORK_SIZE_MIN_SAMPLES,
    )
    this.maxSamples = positiveInteger(
      'networkSize.maxSamples',
      options.maxSamples ?? NETWORK_SIZE_MAX_SAMPLES,
    )
    if (this.maxSamples < this.minSamples) {
      throw new InvalidOptionError('networkSize.maxSamples', `must be >= minSamples (${this.minSamples})`)
    }
    this.maxAge = options.maxAge ?? NETWORK_SIZE_MAX_AGE
    if (!(this.maxAge > 0)) {
      throw new InvalidOptionError('networkSize.maxAge', `must be > 0, got ${String(this.maxAge)}`)
    }
    this.now = options.now ?? Date.now
  }

  /**
   * Adds one lookup: the normalised distances (any order) of the peers it found closest
   * to its key. Fewer than k distances say nothing about the ranks (a network smaller
   * than k, or a lookup cut short) and are ignored: returns false then.
   */
  track(distances: readonly number[]): boolean {
    if (distances.length < this.k) return false
    if (!distances.every((d) => Number.isFinite(d) && d >= 0 && d < 1)) return false
    const sorted = [...distances].sort((a, b) => a - b).slice(0, this.k)
    this.samples.push({ at: this.now(), distances: sorted })
    if (this.samples.length > this.maxSamples) this.samples.splice(0, this.samples.length - this.maxSamples)
    this.cached = null
    return true
  }

  /** Lookups in the estimate now (none older than the maximum age). */
  get sampleCount(): number {
    this.prune()
    return this.samples.length
  }

  /**
   * The estimated number of peers, or undefined while fewer than the minimum number of
   * lookups (younger than the maximum age) were tracked.
   */
  estimate(): number | undefined {
    if (this.prune() || this.cached === null) this.cached = this.fit()
    return this.cached
  }

  /** Drops samples past the maximum age; true when it dropped any. */
  private prune(): boolean {
    const oldest = this.now() - this.maxAge
    let drop = 0
    while (drop < this.samples.length && (this.samples[drop]?.at ?? 0) < oldest) drop++
    if (drop === 0) return false
    this.samples.splice(0, drop)
    return true
  }

  private fit(): number | undefined {
    if (this.samples.length < this.minSamples) return undefined
    let xy = 0
    let xx = 0
    for (let rank = 0; rank < this.k; rank++) {
      let sum = 0
      for (const sample of this.samples) sum += sample.distances[rank] ?? 0
      const mean = sum / this.samples.length
      const x = rank + 1
      xy += x * mean
      xx += x * x
    }
    if (!(xy > 0)) return undefined
    const size = 1 / (xy / xx) - 1
    return Math.max(1, Math.round(size))
  }
}
