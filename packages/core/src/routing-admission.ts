/**
 * Who enters the routing table, and which peers of answers a lookup follows: the
 * diversity filter (`routing-diversity.ts`) and the eviction quarantine
 * (`eviction-quarantine.ts`) applied where kad-dht takes peers in.
 *
 * - {@link RoutingAdmission.add} stands in for kad-dht's `routingTable.add`, which every
 *   way into the table goes through (a connection, an answer, the peer store at start):
 *   a quarantined peer, or one whose IP group is full in its bucket or in the table, is
 *   refused and never reaches kad-dht's table (nor its ping of new contacts).
 * - {@link RoutingAdmission.sendRequest} wraps kad-dht's `network.sendRequest` (outside
 *   every other wrapper, so it sees the per-query `signal`) and drops from each answer's
 *   closer peers the quarantined peers and the peers of an IP group that already gave
 *   this lookup `perTable` peers. With the table filter alone, 50 Sybils from one IP that
 *   answer each other's FIND_NODE with more Sybils still make a provide's lookup end with
 *   20 Sybils as its closest peers, and the record is stored nowhere honest.
 *
 * The groups of a closer peer are those of the addresses the answer gives for it and of
 * its open connections (no peer-store read per closer peer: a closer peer without any
 * address is not dialled by kad-dht anyway). Every refusal is reported; a warn line is
 * logged at most once per `warnInterval` per refused IP group (per peer for quarantine).
 *
 * @packageDocumentation
 */

import type { AbortOptions, Logger, PeerId, PeerInfo } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { ROUTING_DIVERSITY_WARN_INTERVAL, ROUTING_DIVERSITY_WARN_KEYS } from './constants.js'
import { EvictionQuarantine, type EvictionQuarantineInit } from './eviction-quarantine.js'
import { ipGroupsOf } from './ip-groups.js'
import { IntervalGate } from './lru-map.js'
import type { RoutingRefusalReason } from './observer.js'
import { positiveNumber } from './option-checks.js'
import { kadId } from './peer-addresses.js'
import type { SendRequest } from './request-timeouts.js'
import {
  commonPrefixLength,
  LookupDiversity,
  type LookupGroups,
  type Placement,
  RoutingDiversity,
  type RoutingDiversityInit,
} from './routing-diversity.js'

/** What the admission reports (the observer `ShardRouting` attaches). */
export interface RoutingAdmissionReporter {
  refused(reason: RoutingRefusalReason, peer: PeerId, group?: string): void
}

/** What the admission uses. */
export interface RoutingAdmissionComponents {
  /** This node's peer id: buckets are common prefix lengths with its Kademlia id. */
  peerId: PeerId
  connectionManager: { getConnections(peer?: PeerId): Array<{ remoteAddr: Multiaddr }> }
  peerStore: {
    get(peer: PeerId, options?: AbortOptions): Promise<{ addresses: Array<{ multiaddr: Multiaddr }> }>
  }
  /** kad-dht's own `routingTable.add`. */
  add(peer: PeerId, options?: AbortOptions): Promise<void>
  /** Whether `peer` is in the routing table. */
  contains(peer: PeerId): Promise<boolean>
  /**
   * The peers in the routing table, as strings (read only when the counts are found
   * stale: kad-dht's table empties on stop without a `peer:remove` per peer).
   */
  tablePeers(): Iterable<string>
  /** How many peers the routing table holds. */
  tableSize(): number
  /** The `sendRequest` this one wraps. */
  sendRequest: SendRequest
  reporter(): RoutingAdmissionReporter | undefined
  log?: Logger
  /** The clock of the quarantine and of the warn log (ms). Default `Date.now`. */
  now?: () => number
}

/** Options of {@link RoutingAdmission}. */
export interface RoutingAdmissionInit {
  /** The diversity bounds, or false for none. */
  diversity?: RoutingDiversityInit | false
  /** The eviction quarantine's options, or false for none. */
  quarantine?: EvictionQuarantineInit | false
  /** A refused IP group is logged at most this often, in ms. Default {@link ROUTING_DIVERSITY_WARN_INTERVAL}. */
  warnInterval?: number
}

/** The admission of one DHT's routing table and lookups: see the module docs. */
export class RoutingAdmission {
  /** The table's diversity counts, unless the filter is off. */
  readonly diversity?: RoutingDiversity
  /** The per-lookup bound, unless the filter is off. */
  readonly lookups?: LookupDiversity
  /** The eviction quarantine, unless it is off. */
  readonly quarantine?: EvictionQuarantine
  private readonly warned: IntervalGate
  private selfKadId?: Promise<Uint8Array>
  /** Peers counted by the filter while kad-dht decides whether they enter. */
  private readonly pending = new Set<string>()

  constructor(
    private readonly components: RoutingAdmissionComponents,
    init: RoutingAdmissionInit = {},
  ) {
    const now = components.now ?? Date.now
    if (init.diversity !== false) {
      this.diversity = new RoutingDiversity(init.diversity)
      this.lookups = new LookupDiversity(this.diversity.options.perTable)
    }
    if (init.quarantine !== false) this.quarantine = new EvictionQuarantine(init.quarantine, now)
    const interval = positiveNumber(
      'routingDiversity.warnInterval',
      init.warnInterval ?? ROUTING_DIVERSITY_WARN_INTERVAL,
      ' of ms',
    )
    this.warned = new IntervalGate(interval, ROUTING_DIVERSITY_WARN_KEYS, now)
  }

  /** Where `peer` would sit in the table: its bucket and IP groups. */
  async placementOf(peer: PeerId, options?: AbortOptions): Promise<Placement> {
    this.selfKadId ??= kadId(this.components.peerId.toMultihash().bytes)
    const [self, id] = await Promise.all([this.selfKadId, kadId(peer.toMultihash().bytes)])
    return { bucket: commonPrefixLength(self, id), groups: await this.groupsOf(peer, options) }
  }

  /**
   * The IP groups of `peer`: of the remote addresses of its open connections if it has
   * any, else of the addresses the peer store holds for it.
   */
  async groupsOf(peer: PeerId, options?: AbortOptions): Promise<string[]> {
    const connections = this.components.connectionManager.getConnections(peer)
    if (connections.length > 0) return ipGroupsOf(connections.map((c) => c.remoteAddr))
    try {
      const stored = await this.components.peerStore.get(peer, options)
      return ipGroupsOf(stored.addresses.map((a) => a.multiaddr))
    } catch {
      return [] // not in the peer store: no address, no group
    }
  }

  /**
   * kad-dht's `routingTable.add`, for the peers the quarantine and the diversity filter
   * let in; a refused peer is reported and the call resolves (kad-dht logs a rejected
   * add as an error, and a refusal is not one).
   */
  async add(peer: PeerId, options?: AbortOptions): Promise<void> {
    const key = peer.toString()
    if (this.quarantine?.has(key) === true) {
      this.refuse('quarantine', peer)
      return
    }
    const diversity = this.diversity
    if (diversity == null || diversity.has(key)) {
      await this.components.add(peer, options)
      return
    }
    const placement = await this.placementOf(peer, options)
    if (diversity.has(key)) {
      // another add of this peer was admitted meanwhile
      await this.components.add(peer, options)
      return
    }
    this.pruneIfStale(diversity)
    const refusal = diversity.admit(key, placement)
    if (refusal != null) {
      this.refuse(refusal.reason, peer, refusal.group)
      return
    }
    // the slots are held while kad-dht pings the new contact, so that concurrent adds of
    // one group cannot all pass; they are given back when the peer did not enter
    this.pending.add(key)
    try {
      await this.components.add(peer, options)
    } finally {
      this.pending.delete(key)
      let entered = false
      try {
        entered = await this.components.contains(peer)
      } catch {
        // the table is stopping: nothing entered
      }
      if (!entered) diversity.remove(key)
    }
  }

  /**
   * Forgets counted peers that are no longer in the table, when there are some: kad-dht's
   * table empties on stop without a `peer:remove` per peer, and re-adds peers from the
   * peer store at the next start.
   */
  private pruneIfStale(diversity: RoutingDiversity): void {
    if (diversity.size - this.pending.size <= this.components.tableSize()) return
    const inTable = new Set(this.components.tablePeers())
    for (const peer of diversity.peers()) {
      if (!inTable.has(peer) && !this.pending.has(peer)) diversity.remove(peer)
    }
  }

  /** `peer` left the routing table (kad-dht's `peer:remove`): its slots are free again. */
  removed(peer: PeerId): void {
    this.diversity?.remove(peer.toString())
  }

  /** Quarantines `peer` (evicted by request timeouts). */
  evicted(peer: PeerId): void {
    this.quarantine?.add(peer.toString())
  }

  /** kad-dht's `sendRequest`, its answers' closer peers filtered (see the module docs). */
  async *sendRequest(to: PeerId, msg: unknown, options: AbortOptions = {}): AsyncGenerator<QueryEvent> {
    const lookup = this.lookups?.of(options.signal)
    for await (const event of this.components.sendRequest(to, msg, options)) {
      if (event.name === 'PEER_RESPONSE' && event.closer.length > 0) {
        yield { ...event, closer: this.filterCloser(event.closer, lookup) }
      } else {
        yield event
      }
    }
  }

  /** The closer peers of one answer that the quarantine and the lookup's bound keep. */
  filterCloser(closer: PeerInfo[], lookup: LookupGroups | undefined): PeerInfo[] {
    const kept: PeerInfo[] = []
    for (const peer of closer) {
      if (this.quarantine?.has(peer.id.toString()) === true) {
        this.refuse('quarantine', peer.id)
        continue
      }
      if (lookup != null) {
        const connected = this.components.connectionManager.getConnections(peer.id).map((c) => c.remoteAddr)
        const full = lookup.take(peer.id.toString(), ipGroupsOf([...peer.multiaddrs, ...connected]))
        if (full != null) {
          this.refuse('answer', peer.id, full)
          continue
        }
      }
      kept.push(peer)
    }
    return kept
  }

  private refuse(reason: RoutingRefusalReason, peer: PeerId, group?: string): void {
    this.components.reporter()?.refused(reason, peer, group)
    const key = group ?? `peer ${peer}`
    if (this.components.log != null && this.warned.pass(key)) {
      // libp2p's logger has no warn level: its error level is the one shown by default
      // filters (`DEBUG=*:error`), and this is logged at most once per interval per group
      this.components.log.error(
        group == null
          ? 'kept %p out of the routing table and answers: %s; its next refusals are not logged for %d ms'
          : `kept %p out of the routing table or a lookup: %s, IP group ${group} full; the group's next refusals are not logged for %d ms`,
        peer,
        reason,
        this.warned.interval,
      )
    }
  }
}
