/**
 * Keyspace math of the sweep: bit prefixes of 256-bit Kademlia ids, the regions of the
 * prefix trie of known peers, XOR ordering, and the region schedule's offsets. Pure
 * functions, no I/O.
 *
 * A Kademlia id is the sha2-256 of a DHT key (a shard's multihash, a peer id's
 * multihash); a region is the set of ids under a bit prefix (`bits`: a string of `0` and
 * `1`, `''` for the whole keyspace).
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto'

/** A region of the keyspace: the ids under a bit prefix. */
export interface Region {
  /** The prefix as a string of `0`/`1` characters; `''` is the whole keyspace. */
  readonly bits: string
}

/** The Kademlia id of a DHT key (sha2-256 of its bytes), synchronously. */
export function kadKeyOf(dhtKey: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(dhtKey).digest())
}

/** Bit `i` (0 = most significant bit of byte 0) of `key`. */
export function bitAt(key: Uint8Array, i: number): 0 | 1 {
  return (((key[i >> 3] ?? 0) >> (7 - (i & 7))) & 1) as 0 | 1
}

/** The first `n` bits of `key` as a `0`/`1` string. */
export function bitsOf(key: Uint8Array, n: number): string {
  let out = ''
  for (let i = 0; i < n; i++) out += bitAt(key, i)
  return out
}

/** True when `key` starts with the prefix `bits`. */
export function hasPrefix(key: Uint8Array, bits: string): boolean {
  for (let i = 0; i < bits.length; i++) if (String(bitAt(key, i)) !== bits[i]) return false
  return true
}

/** The prefix `bits` as bytes (bits past its length zero), with its bit length: a range-read argument. */
export function prefixBytes(bits: string): { prefix: Uint8Array; bitLength: number } {
  const prefix = new Uint8Array(Math.ceil(bits.length / 8))
  for (let i = 0; i < bits.length; i++) {
    if (bits[i] === '1') prefix[i >> 3] = (prefix[i >> 3] ?? 0) | (1 << (7 - (i & 7)))
  }
  return { prefix, bitLength: bits.length }
}

/** Number of leading bits `a` and `b` share. */
export function commonPrefixBits(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) {
    const x = ((a[i] ?? 0) ^ (b[i] ?? 0)) & 0xff
    if (x !== 0) return i * 8 + Math.clz32(x) - 24
  }
  return n * 8
}

/** Compares the XOR distances of `a` and `b` to `target`: negative when `a` is closer. */
export function compareXor(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = ((a[i] ?? 0) ^ (target[i] ?? 0)) & 0xff
    const db = ((b[i] ?? 0) ^ (target[i] ?? 0)) & 0xff
    if (da !== db) return da - db
  }
  return 0
}

/** The `k` items closest to `target` by the XOR distance of `keyOf(item)`, nearest first. */
export function closestTo<T>(
  target: Uint8Array,
  items: Iterable<T>,
  k: number,
  keyOf: (item: T) => Uint8Array,
): T[] {
  const sorted = [...items].sort((a, b) => compareXor(target, keyOf(a), keyOf(b)))
  return sorted.slice(0, k)
}

/**
 * The regions of the prefix trie of `peers` (their Kademlia ids): starting from the whole
 * keyspace, a region is split in two while BOTH halves keep at least `k` peers (and the
 * prefix is shorter than `maxDepth`). The regions partition the keyspace, and each holds
 * at least `k` peers unless the whole set has fewer: then the one region is the whole
 * keyspace (a small network: every shard goes to every peer; none is dropped).
 * Sorted by prefix.
 */
export function regionsFromPeers(peers: readonly Uint8Array[], k: number, maxDepth = 64): Region[] {
  const out: Region[] = []
  const split = (bits: string, members: readonly Uint8Array[]): void => {
    if (bits.length < maxDepth) {
      const zero: Uint8Array[] = []
      const one: Uint8Array[] = []
      for (const id of members) (bitAt(id, bits.length) === 0 ? zero : one).push(id)
      if (zero.length >= k && one.length >= k) {
        split(`${bits}0`, zero)
        split(`${bits}1`, one)
        return
      }
    }
    out.push({ bits })
  }
  split('', peers)
  return out
}

/**
 * `regions` with every region shorter than `depth` bits split into its sub-prefixes of
 * `depth` bits: the trie of the peers this node knows is coarse far from its own id (a
 * routing table knows few peers there), and L, estimated from lookups, says how deep
 * regions of about k peers lie. `depth` is capped at {@link MAX_SPLIT_DEPTH}.
 *
 * With `peers` (the Kademlia ids the regions came from) and `k`, only a region this node
 * knows sparsely is split by L: one of `n` bits where it knows fewer than half the
 * `k x 2^(L-n)` peers L implies (far from its own id, a routing table knows about k
 * peers of a region of thousands). Where it knows the region well (a small network, its
 * own neighbourhood), the trie of known peers is trusted: it left the region whole
 * because a half holds fewer than k of them, and a region of fewer than k peers would
 * have to be widened again by every pass. L is an average: on a network of a few times
 * k peers it says 1 where one half of the keyspace holds fewer than k peers.
 */
export function splitToDepth(
  regions: readonly Region[],
  depth: number,
  known?: { peers: readonly Uint8Array[]; k: number },
): Region[] {
  const target = Math.min(Math.max(0, Math.floor(depth)), MAX_SPLIT_DEPTH)
  const out: Region[] = []
  const expand = (bits: string, members: readonly Uint8Array[]): void => {
    const implied = known == null ? 0 : known.k * 2 ** (target - bits.length)
    if (bits.length >= target || (known != null && 2 * members.length >= implied)) {
      out.push({ bits })
      return
    }
    const zero: Uint8Array[] = []
    const one: Uint8Array[] = []
    for (const id of members) (bitAt(id, bits.length) === 0 ? zero : one).push(id)
    expand(`${bits}0`, zero)
    expand(`${bits}1`, one)
  }
  for (const region of regions) {
    expand(region.bits, known == null ? [] : known.peers.filter((id) => hasPrefix(id, region.bits)))
  }
  return out
}

/** The deepest {@link splitToDepth} goes: 2^12 regions at most. */
export const MAX_SPLIT_DEPTH = 12

/** `int(bits XOR self[:n]) / 2^n`: the region's place in the cycle, in [0, 1). */
export function regionPhase(bits: string, self: Uint8Array): number {
  let phase = 0
  let scale = 0.5
  for (let i = 0; i < bits.length; i++) {
    if (Number(bits[i]) !== bitAt(self, i)) phase += scale
    scale /= 2
  }
  return phase
}

/**
 * The prefix length L a network of peers suggests: for each lookup's closest peers
 * (sorted, the closest first), the smallest common prefix between the closest and the
 * others, averaged over the lookups and rounded down. 0 without samples.
 *
 * With `k` given, a lookup that found fewer than `k` peers counts 0: it met every peer
 * there is near its target, so one region there must hold them all. Without this, two
 * peers of a 3-node network that happen to share 4 leading bits made 16 regions, each
 * explored with its own lookup.
 */
export function estimatePrefixLength(lookups: readonly (readonly Uint8Array[])[], k?: number): number {
  const samples: number[] = []
  for (const peers of lookups) {
    const [first, ...rest] = peers
    if (first == null || rest.length === 0) continue
    if (k != null && peers.length < k) {
      samples.push(0)
      continue
    }
    samples.push(Math.min(...rest.map((id) => commonPrefixBits(first, id))))
  }
  if (samples.length === 0) return 0
  return Math.floor(samples.reduce((a, b) => a + b, 0) / samples.length)
}
