/**
 * Routing-table diversity, as go-libp2p-kad-dht applies it to its public DHT: at most
 * `perBucket` peers of one IP group (IPv4 /16, IPv6 /32: `ip-groups.ts`) in one k-bucket,
 * and at most `perTable` in the whole table. Without it, 50 Sybil ids ground close to a
 * shard key from one IP fill the buckets near that key and eclipse it.
 *
 * - The bucket of a peer is the common prefix length (CPL) of its Kademlia id with this
 *   node's, as in go-libp2p-kad-dht (its buckets are CPL buckets). kad-dht 16's table is
 *   a trie whose leaves split as it fills, so "the leaf a peer sits in" changes under the
 *   filter's feet; the CPL is a fixed function of the two ids, so the counts stay exact.
 * - A peer belongs to every IP group of its addresses (the remote addresses of its open
 *   connections, else the addresses the peer store holds) and is refused when any of
 *   them is full; a peer with no IP address (dns, circuit relay only) has no group and
 *   is admitted, as nothing here says where it is.
 * - The groups and bucket of a member are fixed when it is admitted, and given back
 *   when it leaves the table.
 *
 * {@link RoutingDiversity} keeps the counts of one table; {@link LookupDiversity} applies
 * the table bound to the peers one lookup takes from answers. Both are synchronous and
 * know nothing of libp2p: `routing-admission.ts` feeds them.
 *
 * @packageDocumentation
 */

import { ROUTING_DIVERSITY_PER_BUCKET, ROUTING_DIVERSITY_PER_TABLE } from './constants.js'
import { InvalidOptionError } from './errors.js'
import { positiveInteger } from './option-checks.js'

/** Options of the diversity filter (`nsnKadDHT({ routingDiversity })`); every one has a default. */
export interface RoutingDiversityInit {
  /** Peers of one IP group per k-bucket. Default {@link ROUTING_DIVERSITY_PER_BUCKET} (2). */
  perBucket?: number
  /** Peers of one IP group in the whole table, and per lookup. Default {@link ROUTING_DIVERSITY_PER_TABLE} (3). */
  perTable?: number
}

export type ResolvedRoutingDiversityOptions = Required<RoutingDiversityInit>

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for an `init` that is not an object, a bound that is not
 *   an integer >= 1, or `perBucket` above `perTable`
 */
export function resolveRoutingDiversityOptions(
  init: RoutingDiversityInit = {},
): ResolvedRoutingDiversityOptions {
  if (typeof init !== 'object' || init === null || Array.isArray(init)) {
    throw new InvalidOptionError(
      'routingDiversity',
      `must be false or an object { perBucket?, perTable? }, got ${JSON.stringify(init)}`,
    )
  }
  const perBucket = positiveInteger(
    'routingDiversity.perBucket',
    init.perBucket ?? ROUTING_DIVERSITY_PER_BUCKET,
  )
  const perTable = positiveInteger(
    'routingDiversity.perTable',
    init.perTable ?? Math.max(ROUTING_DIVERSITY_PER_TABLE, perBucket),
  )
  if (perBucket > perTable) {
    throw new InvalidOptionError(
      'routingDiversity.perBucket',
      `must be <= perTable (${perTable}), got ${perBucket}`,
    )
  }
  return { perBucket, perTable }
}

/** The number of leading bits `a` and `b` share (their length in bits when equal). */
export function commonPrefixLength(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length)
  for (let i = 0; i < length; i++) {
    const diff = (a[i] ?? 0) ^ (b[i] ?? 0)
    if (diff !== 0) return i * 8 + Math.clz32(diff) - 24
  }
  return length * 8
}

/** Where a peer would sit: its k-bucket (common prefix length with this node) and its IP groups. */
export interface Placement {
  bucket: number
  groups: readonly string[]
}

/** Which bound refuses a peer, and the IP group that is full. */
export interface DiversityRefusal {
  reason: 'bucket' | 'table'
  group: string
}

/** The diversity counts of one routing table: see the module docs. */
export class RoutingDiversity {
  readonly options: ResolvedRoutingDiversityOptions
  private readonly members = new Map<string, Placement>()
  private readonly inTable = new Map<string, number>()
  private readonly inBucket = new Map<string, number>()

  constructor(init: RoutingDiversityInit = {}) {
    this.options = resolveRoutingDiversityOptions(init)
  }

  /** Peers counted (members of the table, and peers being admitted). */
  get size(): number {
    return this.members.size
  }

  /** The peers counted (a copy). */
  peers(): string[] {
    return [...this.members.keys()]
  }

  /** True when `peer` is counted. */
  has(peer: string): boolean {
    return this.members.has(peer)
  }

  /** The bound that refuses a peer placed at `placement`, or undefined when it may enter. */
  check(placement: Placement): DiversityRefusal | undefined {
    for (const group of placement.groups) {
      if ((this.inTable.get(group) ?? 0) >= this.options.perTable) return { reason: 'table', group }
    }
    for (const group of placement.groups) {
      const n = this.inBucket.get(bucketKey(placement.bucket, group)) ?? 0
      if (n >= this.options.perBucket) return { reason: 'bucket', group }
    }
    return undefined
  }

  /**
   * Counts `peer` at `placement` unless a bound refuses it (then returns the refusal and
   * counts nothing). A peer already counted is admitted as it is.
   */
  admit(peer: string, placement: Placement): DiversityRefusal | undefined {
    if (this.members.has(peer)) return undefined
    const refusal = this.check(placement)
    if (refusal != null) return refusal
    const groups = [...new Set(placement.groups)]
    this.members.set(peer, { bucket: placement.bucket, groups })
    for (const group of groups) {
      this.inTable.set(group, (this.inTable.get(group) ?? 0) + 1)
      const key = bucketKey(placement.bucket, group)
      this.inBucket.set(key, (this.inBucket.get(key) ?? 0) + 1)
    }
    return undefined
  }

  /** Gives back the slots of `peer` (it left the table, or never entered). */
  remove(peer: string): void {
    const placement = this.members.get(peer)
    if (placement == null) return
    this.members.delete(peer)
    for (const group of placement.groups) {
      decrement(this.inTable, group)
      decrement(this.inBucket, bucketKey(placement.bucket, group))
    }
  }

  /** Peers of `group` counted in the table. */
  countOf(group: string): number {
    return this.inTable.get(group) ?? 0
  }
}

function bucketKey(bucket: number, group: string): string {
  return `${bucket} ${group}`
}

function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 0) - 1
  if (n > 0) counts.set(key, n)
  else counts.delete(key)
}

/** The IP groups of the peers one lookup took from answers so far: group -> peers. */
export class LookupGroups {
  private readonly groups = new Map<string, Set<string>>()

  constructor(readonly perTable: number) {}

  /**
   * Takes `peer` (of IP groups `groups`) into the lookup, or returns the group that
   * already gave the lookup `perTable` other peers (then nothing is counted). A peer
   * taken before is taken again; a peer without a group always is.
   */
  take(peer: string, groups: readonly string[]): string | undefined {
    for (const group of groups) {
      const peers = this.groups.get(group)
      if (peers != null && !peers.has(peer) && peers.size >= this.perTable) return group
    }
    for (const group of groups) {
      let peers = this.groups.get(group)
      if (peers == null) {
        peers = new Set()
        this.groups.set(group, peers)
      }
      peers.add(peer)
    }
    return undefined
  }
}

/**
 * The per-lookup diversity bound: the peers taken from answers during one lookup hold
 * at most `perTable` peers of one IP group. kad-dht's query manager gives every request
 * of one query (all its disjoint paths) the same `signal`, so the state of a lookup is
 * keyed by that signal (weakly: it goes with the query); a request without a signal is a
 * lookup of its own.
 */
export class LookupDiversity {
  private readonly lookups = new WeakMap<AbortSignal, LookupGroups>()

  constructor(readonly perTable: number) {}

  /** The state of the lookup `signal` belongs to (a fresh one without a signal). */
  of(signal: AbortSignal | undefined): LookupGroups {
    if (signal == null) return new LookupGroups(this.perTable)
    let lookup = this.lookups.get(signal)
    if (lookup == null) {
      lookup = new LookupGroups(this.perTable)
      this.lookups.set(signal, lookup)
    }
    return lookup
  }
}
