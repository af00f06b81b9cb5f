/**
 * The closest peers this node knows to a key, from its routing table, with their
 * addresses: what it answers every FIND_NODE and GET_PROVIDERS with (kad-dht's
 * `peerRouting.getClosestPeersOffline`, replaced by {@link OfflineClosest.closest}), and
 * where NSN's lookups start (`closestInTable`).
 *
 * kad-dht picks the k closest by adding every table peer to a sorted list that it scans
 * for duplicates at each insert (k x table comparisons of peer ids) and copies, then reads
 * each of the k peers from the peer store: a read lock (which allocates an `AbortError`
 * per call), a datastore read and a protobuf decode of the peer's whole record. On 100
 * idle nodes in one process (`bench/idle-probe.mjs`) that answer was 17 % of the CPU time
 * of a refresh burst. Here the k closest are kept in a small array by XOR distance, and
 * each peer's addresses come from a bounded cache filled from the peer store, dropped
 * when libp2p says the peer changed (`peer:update`) and after a short TTL (the peer
 * store forgets addresses not seen for an hour; the cache never serves them much longer).
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { LruMap } from './lru-map.js'
import { kadId } from './peer-addresses.js'

/** A routing-table entry: a peer and its Kademlia id. */
export interface TableEntry {
  peerId: PeerId
  kadId?: Uint8Array
}

/** Whether `a` is strictly nearer to `target` than `b` by XOR distance. */
function nearer(a: Uint8Array, b: Uint8Array, target: Uint8Array): boolean {
  for (let i = 0; i < target.length; i++) {
    const t = target[i] as number
    const da = ((a[i] as number) ^ t) & 0xff
    const db = ((b[i] as number) ^ t) & 0xff
    if (da !== db) return da < db
  }
  return false
}

/**
 * The `count` entries nearest to `target` (a Kademlia id) by XOR distance, nearest
 * first, leaving out the peers of `exclude` and entries without a Kademlia id.
 */
export function closestEntries(
  entries: Iterable<TableEntry>,
  target: Uint8Array,
  count: number,
  exclude: readonly PeerId[] = [],
): PeerId[] {
  const best: { peerId: PeerId; kadId: Uint8Array }[] = []
  if (count <= 0) return []
  for (const { peerId, kadId: id } of entries) {
    if (id == null) continue
    const last = best[best.length - 1]
    if (best.length === count && last != null && !nearer(id, last.kadId, target)) continue
    if (exclude.some((p) => p.equals(peerId))) continue
    let at = best.length
    while (at > 0 && nearer(id, (best[at - 1] as { kadId: Uint8Array }).kadId, target)) at--
    best.splice(at, 0, { peerId, kadId: id })
    if (best.length > count) best.pop()
  }
  return best.map((e) => e.peerId)
}

/** The peer id a DHT key names (a FIND_NODE for a peer), or undefined for any other key. */
function peerIdOfKey(key: Uint8Array): PeerId | undefined {
  // identity (Ed25519, secp256k1) or sha2-256 (RSA) multihashes only: anything else
  // cannot be a peer id, and needs no decode attempt
  if (key[0] !== 0x00 && !(key[0] === 0x12 && key[1] === 0x20 && key.length === 34)) return undefined
  try {
    return peerIdFromMultihash(Digest.decode(key))
  } catch {
    return undefined // a key of that shape that is no peer id: there is no peer to name
  }
}

/** Options of {@link OfflineClosest}. */
export interface OfflineClosestInit {
  /** Peers whose addresses are cached at most. */
  capacity: number
  /** How long a cached peer's addresses are served, in ms. */
  ttl: number
  /** The clock (tests). Default `Date.now`. */
  now?: () => number
}

/** What {@link OfflineClosest} reads. */
export interface OfflineClosestComponents {
  /** libp2p's peer store (its `get`). */
  peerStore: {
    get(peer: PeerId, options?: AbortOptions): Promise<{ addresses: readonly { multiaddr: Multiaddr }[] }>
  }
  /** The routing table's entries and k. */
  table: { kBucketSize: number; kb: { toIterable(): Iterable<TableEntry> } }
  /** libp2p's event bus: its `peer:update` events drop a peer's cached addresses. */
  events?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>
}

interface CachedInfo {
  /** Undefined: the peer store does not know the peer. */
  info?: PeerInfo
  at: number
}

/** The closest known peers to a key, with their addresses (see the module comment). */
export class OfflineClosest {
  private readonly components: OfflineClosestComponents
  private readonly cache: LruMap<CachedInfo>
  private readonly ttl: number
  private readonly now: () => number
  /**
   * Counts libp2p's `peer:update` events: a peer-store read that an update overtook (the
   * read took its lock first, the write and its event came before the read's answer)
   * holds the old record, and is not cached. Measured: under the wide-area emulation, a
   * joining node's record read before its identify ended (no addresses yet) was cached
   * past the update, the node was left out of every answer, and 3 of 100 nodes stayed
   * with one peer.
   */
  private updates = 0
  private readonly onPeerUpdate = (event: Event): void => {
    this.updates++
    const peer = (event as CustomEvent<{ peer?: { id?: PeerId } }>).detail?.peer?.id
    if (peer != null) this.cache.delete(peer.toString())
  }

  constructor(components: OfflineClosestComponents, init: OfflineClosestInit) {
    this.components = components
    this.cache = new LruMap(init.capacity)
    this.ttl = init.ttl
    this.now = init.now ?? Date.now
  }

  /** Listens to libp2p's `peer:update` events (with the DHT's start). */
  start(): void {
    this.components.events?.addEventListener('peer:update', this.onPeerUpdate)
  }

  /** Stops listening, and forgets every cached peer. */
  stop(): void {
    this.components.events?.removeEventListener('peer:update', this.onPeerUpdate)
    this.cache.clear()
  }

  /** A peer's id and addresses from the cache or the peer store; undefined for a peer it does not know. */
  async info(peer: PeerId, options?: AbortOptions): Promise<PeerInfo | undefined> {
    const key = peer.toString()
    const cached = this.cache.get(key)
    const now = this.now()
    if (cached != null && now - cached.at < this.ttl) return cached.info
    const updates = this.updates
    let info: PeerInfo | undefined
    try {
      const stored = await this.components.peerStore.get(peer, options)
      info = { id: peer, multiaddrs: stored.addresses.map((a) => a.multiaddr) }
    } catch (err) {
      if ((err as Error).name !== 'NotFoundError') throw err
    }
    // a peer without addresses yet (identify still running) is read again next time
    if (updates === this.updates && (info == null || info.multiaddrs.length > 0)) {
      this.cache.set(key, info == null ? { at: now } : { info, at: now })
    }
    return info
  }

  /**
   * kad-dht's `getClosestPeersOffline`: the peer the key names when it is a known peer's
   * id, then the `count` (default k) table peers closest to the key, each with its
   * addresses, leaving out `exclude`.
   */
  async closest(
    key: Uint8Array,
    options: AbortOptions & { count?: number; exclude?: PeerId[] } = {},
  ): Promise<PeerInfo[]> {
    const output: PeerInfo[] = []
    const named = peerIdOfKey(key)
    if (named != null) {
      const info = await this.info(named, options)
      if (info != null) output.push(info)
    }
    const { table } = this.components
    const ids = closestEntries(
      table.kb.toIterable(),
      await kadId(key),
      options.count ?? table.kBucketSize,
      options.exclude,
    )
    for (const id of ids) {
      const info = await this.info(id, options)
      if (info != null) output.push(info)
    }
    return output
  }
}
