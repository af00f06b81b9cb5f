/**
 * Round-trip times between emulated hosts: one RTT per unordered pair of node names
 * (peer ids in the bench), drawn from a seeded hash of the pair, so the same pair gets
 * the same RTT in every run, on either side of the connection, and in every network
 * built with the same identities (NSN and plain kad-dht in the bench).
 *
 * The default distribution, `wan`, places each node in one of eight cloud regions and
 * takes the RTT between two regions from published inter-region measurements (see
 * {@link WAN_REGIONS}), with a per-pair jitter and a per-node access delay on top.
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto'
import { InvalidLatencyOptionError } from './errors.js'

/** One region of the `wan` model: its share of the nodes. */
export interface WanRegion {
  readonly name: string
  readonly weight: number
}

/**
 * The `wan` model's regions, in the order of {@link WAN_RTT_MS}. Weights follow where
 * public DHT servers are (the US largest, then Europe and East Asia, a tail elsewhere:
 * Trautwein et al., "Design and Evaluation of IPFS", SIGCOMM 2022, peers in 152
 * countries), rounded; the regions are the AWS regions nearest to those places.
 */
export const WAN_REGIONS: readonly WanRegion[] = [
  { name: 'us-east (N. Virginia)', weight: 0.2 },
  { name: 'us-west (Oregon)', weight: 0.15 },
  { name: 'eu-central (Frankfurt)', weight: 0.15 },
  { name: 'eu-west (Ireland)', weight: 0.1 },
  { name: 'ap-northeast (Tokyo)', weight: 0.2 },
  { name: 'ap-southeast (Singapore)', weight: 0.1 },
  { name: 'ap-southeast (Sydney)', weight: 0.05 },
  { name: 'sa-east (Sao Paulo)', weight: 0.05 },
]

/**
 * Average RTT in ms between the {@link WAN_REGIONS}, from the "Latency Between AWS Global
 * Regions" measurements (cloudping), as tabulated in
 * https://acomputerscientistlearnsaws.blogspot.com/2017/04/aws-regions.html (rounded to
 * 0.1 ms; the table is symmetric within 1 ms, the mean of both directions is used). The
 * diagonal is two hosts of one region on different networks: {@link WAN_SAME_REGION_MS}.
 */
export const WAN_RTT_MS: readonly (readonly number[])[] = [
  // us-e   us-w   eu-c   eu-w   tokyo  sing   sydney sao-p
  [0, 87.8, 88.6, 80.5, 145.3, 216.7, 229.9, 119.5],
  [87.8, 0, 159.5, 137.0, 89.1, 161.4, 162.1, 182.7],
  [88.6, 159.5, 0, 19.6, 236.5, 325.9, 323.4, 194.9],
  [80.5, 137.0, 19.6, 0, 212.4, 238.6, 309.6, 191.3],
  [145.3, 89.1, 236.5, 212.4, 0, 73.8, 103.9, 256.8],
  [216.7, 161.4, 325.9, 238.6, 73.8, 0, 175.4, 328.1],
  [229.9, 162.1, 323.4, 309.6, 103.9, 175.4, 0, 322.5],
  [119.5, 182.7, 194.9, 191.3, 256.8, 328.1, 322.5, 0],
]

/**
 * RTT in ms between two hosts of the same region on different networks (two ISPs of one
 * continent): the intra-region AWS figures (0.3-3.4 ms between availability zones) are
 * one provider's backbone, far below what two independent hosts see.
 */
export const WAN_SAME_REGION_MS = 15

/** Spread of the per-pair jitter of the `wan` model: RTT x exp(N(0, sigma)). */
export const WAN_JITTER_SIGMA = 0.15

/** Per-node access delay of the `wan` model (last mile, both ends add theirs), ms. */
export const WAN_ACCESS_MS = { min: 1, max: 10 } as const

/** How RTTs are drawn. */
export type RttDistribution =
  /** Region-based wide-area model (the default): see the module docs. */
  | { kind: 'wan' }
  /** Uniform between `minMs` and `maxMs`, per pair. */
  | { kind: 'uniform'; minMs: number; maxMs: number }
  /** The same RTT for every pair (tests). */
  | { kind: 'fixed'; rttMs: number }

/** The default distribution of the emulation. */
export const DEFAULT_RTT_DISTRIBUTION: RttDistribution = { kind: 'wan' }

/** Two uniform numbers in [0, 1) from a seeded hash of `parts`. */
function uniforms(parts: readonly (string | number)[]): [number, number] {
  const digest = createHash('sha256').update(parts.join('\u0000')).digest()
  // 48 bits each: plenty for a distribution, exact in a double
  return [digest.readUIntBE(0, 6) / 2 ** 48, digest.readUIntBE(6, 6) / 2 ** 48]
}

function standardNormal(u1: number, u2: number): number {
  // Box-Muller; 1 - u1 is in (0, 1]
  return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2)
}

/** Index into {@link WAN_REGIONS} of a node, by its seeded hash. */
export function wanRegionOf(seed: string | number, node: string): number {
  const [u] = uniforms([seed, 'region', node])
  let acc = 0
  for (const [i, region] of WAN_REGIONS.entries()) {
    acc += region.weight
    if (u < acc) return i
  }
  return WAN_REGIONS.length - 1
}

function accessMs(seed: string | number, node: string): number {
  const [u] = uniforms([seed, 'access', node])
  return WAN_ACCESS_MS.min + u * (WAN_ACCESS_MS.max - WAN_ACCESS_MS.min)
}

/**
 * Checks a distribution's fields.
 *
 * @throws {InvalidLatencyOptionError} for an unknown kind or a negative, non-finite or inverted range
 */
export function checkRttDistribution(distribution: RttDistribution): RttDistribution {
  const finite = (name: string, v: unknown): void => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new InvalidLatencyOptionError(
        `distribution.${name}`,
        `must be a finite number >= 0, got ${String(v)}`,
      )
    }
  }
  switch (distribution?.kind) {
    case 'wan':
      return distribution
    case 'fixed':
      finite('rttMs', distribution.rttMs)
      return distribution
    case 'uniform':
      finite('minMs', distribution.minMs)
      finite('maxMs', distribution.maxMs)
      if (distribution.maxMs < distribution.minMs) {
        throw new InvalidLatencyOptionError('distribution.maxMs', 'must be >= minMs')
      }
      return distribution
    default:
      throw new InvalidLatencyOptionError(
        'distribution.kind',
        `must be "wan", "uniform" or "fixed", got ${JSON.stringify((distribution as { kind?: unknown })?.kind)}`,
      )
  }
}

/**
 * The RTT in ms between nodes `a` and `b` (names: peer ids in the bench): the same for
 * (a, b) and (b, a), and for the same seed and distribution in every run.
 */
export function pairRtt(seed: string | number, distribution: RttDistribution, a: string, b: string): number {
  const [lo, hi] = a <= b ? [a, b] : [b, a]
  const [u1, u2] = uniforms([seed, 'pair', lo, hi])
  switch (distribution.kind) {
    case 'fixed':
      return distribution.rttMs
    case 'uniform':
      return distribution.minMs + u1 * (distribution.maxMs - distribution.minMs)
    case 'wan': {
      const ra = wanRegionOf(seed, lo)
      const rb = wanRegionOf(seed, hi)
      const base = ra === rb ? WAN_SAME_REGION_MS : (WAN_RTT_MS[ra]?.[rb] ?? WAN_SAME_REGION_MS)
      const jitter = Math.exp(WAN_JITTER_SIGMA * standardNormal(u1, u2))
      return base * jitter + accessMs(seed, lo) + accessMs(seed, hi)
    }
  }
}
