/**
 * One region's exploration and allocation (as go-libp2p-kad-dht's sweep explores a
 * prefix): find every peer of the region with a few `getClosestPeers` lookups aimed at
 * the parts of the region not yet covered, then give each shard to its k closest
 * explored peers.
 *
 * Coverage: a lookup for target `t` that returns the k closest peers knows every peer
 * nearer to `t` than the k-th, so it knows ALL the peers under `t`'s prefix of
 * `cpl(t, kth) + 1` bits (fewer than k answers while this node knows fewer than k peers in
 * all: every peer there is; else a lookup cut short, which proves nothing). The region is
 * covered when the covered prefixes tile it; then its peers are all known, and when it
 * holds at least k of them, every shard's k closest are among them (a peer outside
 * shares a shorter prefix with the shard than any peer inside). A region found to hold
 * fewer than k peers is widened to its parent prefix, and so on, so a small network
 * (fewer than k peers: the whole keyspace) still places every shard on every peer.
 * Exploration stops once covered, after {@link SweepRegionOptions.noNewPeerLimit}
 * lookups in a row found no new peer and covered nothing new, or at
 * {@link SweepRegionOptions.maxExplorations}.
 *
 * A lookup's target is a DHT key, which peers hash (sha2-256) into the keyspace: a part
 * of the region is aimed at with one of its shards' keys when it holds one, else with a
 * random key whose hash falls in it ({@link keyUnderPrefix}). The peers this node already
 * knows (its routing table) are candidates from the start.
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import { SWEEP_MAX_AIM_BITS } from '../constants.js'
import { bitsOf, closestTo, commonPrefixBits, hasPrefix, kadKeyOf } from './keyspace.js'

/** A peer found by an exploration, with its Kademlia id. */
export interface ExploredPeer {
  readonly peerId: PeerId
  readonly key: Uint8Array
}

/** A shard to place: its DHT key (multihash) and its Kademlia id. */
export interface PlaceableShard {
  /** The DHT key (the shard's multihash): a lookup target. */
  readonly target: Uint8Array
  /** Its Kademlia id (sha2-256 of `target`). */
  readonly key: Uint8Array
}

/** Runs one `getClosestPeers` lookup for a DHT key; resolves with the peers it returned. */
export type ExploreFn = (target: Uint8Array, signal: AbortSignal) => Promise<ExploredPeer[]>

export interface SweepRegionOptions {
  k: number
  /** Lookups per region at most. */
  maxExplorations: number
  /** Stop after this many lookups in a row that found no new peer. */
  noNewPeerLimit: number
}

/** The explored peers of a region and what the lookups proved complete. */
export interface Exploration {
  peers: Map<string, ExploredPeer>
  /** Prefixes (`0`/`1` strings) all of whose peers are known. */
  covered: string[]
  /** The prefix explored in the end (the region, or an ancestor when it held fewer than k peers). */
  explored: string
  /** True when the explored prefix was covered (every peer in it known). */
  complete: boolean
  lookups: number
  /** Lookups that failed. */
  failedLookups: number
}

/** True when `bits` lies under a covered prefix, or both its halves are covered. */
export function isCovered(bits: string, covered: readonly string[], depth = 0): boolean {
  if (covered.some((c) => bits.startsWith(c))) return true
  if (depth > 24 || !covered.some((c) => c.startsWith(bits))) return false
  return isCovered(`${bits}0`, covered, depth + 1) && isCovered(`${bits}1`, covered, depth + 1)
}

/** The first (in key order) part of `bits` that is not covered; undefined when covered. */
export function firstUncovered(bits: string, covered: readonly string[], depth = 0): string | undefined {
  if (covered.some((c) => bits.startsWith(c))) return undefined
  if (depth > 24 || !covered.some((c) => c.startsWith(bits))) return bits
  return firstUncovered(`${bits}0`, covered, depth + 1) ?? firstUncovered(`${bits}1`, covered, depth + 1)
}

/**
 * A random DHT key whose Kademlia id starts with `bits` (2^|bits| hashes on average; the
 * prefixes the sweep aims at are a few bits past the network's L). The key is a sha2-256
 * multihash of 32 random bytes, the form of a shard key: a peer's inbound guard refuses a
 * FIND_NODE for any other key but a peer id (random bytes made every such lookup fail
 * with "no peer answered").
 */
export function keyUnderPrefix(bits: string): Uint8Array {
  const key = new Uint8Array(34)
  key[0] = 0x12
  key[1] = 0x20
  for (;;) {
    crypto.getRandomValues(key.subarray(2))
    if (hasPrefix(kadKeyOf(key), bits)) return key
  }
}

function targetFor(part: string, shards: readonly PlaceableShard[]): Uint8Array {
  const shard = shards.find((s) => hasPrefix(s.key, part))
  // a part deeper than SWEEP_MAX_AIM_BITS without a shard is aimed at through its first
  // bits: 2^16 hashes at most, whatever the answers (peers answering with ids right next to
  // each target make the uncovered parts ever deeper)
  return shard?.target ?? keyUnderPrefix(part.slice(0, SWEEP_MAX_AIM_BITS))
}

/**
 * Explores the region `bits` for its shards: see the module docs. A failing lookup
 * counts toward the cap and the no-new-peer limit.
 */
export async function exploreRegion(
  bits: string,
  shards: readonly PlaceableShard[],
  explore: ExploreFn,
  options: SweepRegionOptions,
  signal: AbortSignal,
  known: readonly ExploredPeer[] = [],
): Promise<Exploration> {
  const exploration: Exploration = {
    // the peers this node already knows are candidates too: a lookup cut short (peers
    // that did not answer in time) cannot leave a shard with fewer than k of them
    peers: new Map(known.map((peer) => [peer.peerId.toString(), peer])),
    covered: [],
    explored: bits,
    complete: false,
    lookups: 0,
    failedLookups: 0,
  }
  let idle = 0
  let prefix = bits
  while (exploration.lookups < options.maxExplorations && idle < options.noNewPeerLimit) {
    const part = firstUncovered(prefix, exploration.covered)
    if (part == null) {
      const inside = [...exploration.peers.values()].filter((p) => hasPrefix(p.key, prefix)).length
      if (inside >= options.k || prefix === '') {
        exploration.complete = true
        break
      }
      prefix = prefix.slice(0, -1) // fewer than k peers here: widen to the parent
      exploration.explored = prefix
      continue
    }
    signal.throwIfAborted()
    exploration.lookups++
    const target = targetFor(part, shards)
    const key = kadKeyOf(target)
    let found: ExploredPeer[]
    try {
      found = await explore(target, signal)
    } catch {
      signal.throwIfAborted()
      exploration.failedLookups++
      idle++
      continue
    }
    let added = 0
    for (const peer of found) {
      const id = peer.peerId.toString()
      if (!exploration.peers.has(id)) {
        exploration.peers.set(id, peer)
        added++
      }
    }
    const kth = closestTo(key, found, options.k, (p) => p.key)[options.k - 1]
    // fewer than k answers: every peer there is, but only when this node knows fewer than
    // k peers in all; else the lookup was cut short (peers that did not answer) and proves
    // nothing
    const proved =
      kth != null
        ? bitsOf(key, commonPrefixBits(key, kth.key) + 1)
        : exploration.peers.size < options.k
          ? ''
          : undefined
    const progress = proved != null && !isCovered(proved, exploration.covered)
    if (proved != null) exploration.covered.push(proved)
    // idle: neither a new peer nor a newly covered part (the routing table's peers are
    // known from the start, so a lookup that only covers is progress too)
    idle = added === 0 && !progress ? idle + 1 : 0
  }
  return exploration
}

/** Each peer's shards: every shard allocated to its `k` closest explored peers. */
export function allocate<S extends PlaceableShard>(
  shards: readonly S[],
  peers: Iterable<ExploredPeer>,
  k: number,
): Map<string, { peer: ExploredPeer; shards: S[] }> {
  const list = [...peers]
  const out = new Map<string, { peer: ExploredPeer; shards: S[] }>()
  for (const shard of shards) {
    for (const peer of closestTo(shard.key, list, k, (p) => p.key)) {
      const id = peer.peerId.toString()
      let slot = out.get(id)
      if (slot == null) {
        slot = { peer, shards: [] }
        out.set(id, slot)
      }
      slot.shards.push(shard)
    }
  }
  return out
}
