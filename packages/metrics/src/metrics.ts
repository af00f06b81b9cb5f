/**
 * The one factory that declares every NSN metric (Lodestar style): names, types, help,
 * labels and buckets live here and nowhere else; {@link NsnMetrics} is derived from it.
 *
 * @packageDocumentation
 */

import {
  ANNOUNCEMENT_REJECT_REASONS,
  ANSWER_DROP_REASONS,
  ANSWER_REJECT_REASONS,
  INBOUND_REJECT_REASONS,
  INBOUND_REQUEST_TYPES,
  PEER_EVICTION_REASONS,
  PROVIDER_CACHE_EVICTION_REASONS,
  QUERY_RESULTS,
  QUERY_TYPES,
  ROUTING_REFUSAL_REASONS,
} from '@nsn/core'
import { Counter, collectDefaultMetrics, Histogram, type Registry } from 'prom-client'
import {
  AUTONAT_RESULTS,
  CONNECTION_DIRECTIONS,
  CONNECTION_DURATION_BUCKETS,
  EVICTION_REASONS,
  HOLE_PUNCH_RESULTS,
  METRIC_PREFIX,
  QUERY_DURATION_BUCKETS,
  REPUBLISH_DURATION_BUCKETS,
  ROUTING_DIVERSITY_REFUSALS_METRIC,
} from './constants.js'
import { createCollectableGauge } from './gauge.js'

/** Options of {@link createNsnMetrics}. */
export interface NsnMetricsOptions {
  /**
   * Also collect prom-client's default process and Node.js metrics (`process_*`,
   * `nodejs_*`) into the same registry, through {@link collectProcessMetrics} (which leaves
   * out the three that fail `promtool check metrics`). Skipped when the registry already has
   * them. With `@libp2p/prometheus-metrics` on the same registry, give it
   * `collectDefaultMetrics: false` and let this option add them. Default: false.
   */
  processMetrics?: boolean
}

/** The name prom-client's default metrics register first; its presence means they are there. */
const DEFAULT_METRICS_SENTINEL = 'process_cpu_user_seconds_total'

/**
 * prom-client default metrics that `promtool check metrics` rejects (gauges named `_total`).
 * Each is the sum over the `type` label of its unsuffixed twin (`nodejs_active_handles`...),
 * so dropping them loses nothing.
 */
export const NONCOMPLIANT_DEFAULT_METRICS: readonly string[] = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]

/**
 * Adds prom-client's default process and Node.js metrics to `register`, without the ones
 * `promtool check metrics` rejects ({@link NONCOMPLIANT_DEFAULT_METRICS}). Does nothing
 * when the registry already has them.
 */
export function collectProcessMetrics(register: Registry): void {
  if (register.getSingleMetric(DEFAULT_METRICS_SENTINEL) != null) {
    return
  }
  collectDefaultMetrics({ register })
  for (const name of NONCOMPLIANT_DEFAULT_METRICS) {
    register.removeSingleMetric(name)
  }
}

/**
 * Declares every NSN metric (all named `nsn_p2p_...`) on `register` and returns them grouped by subsystem.
 * Label combinations that are known in advance (query type × result, eviction reason,
 * connection direction) are created at 0 so their series exist before the first event.
 *
 * Each node must pass its own `Registry` (never prom-client's global one): metric names are
 * unique per registry, so a second call on the same registry throws, while several nodes in
 * one process, each with its own registry, never collide.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client'
 * const register = new Registry()
 * const metrics = createNsnMetrics(register)
 * metrics.kademlia.routingTableSize.set(12)
 * ```
 */
export function createNsnMetrics(register: Registry, opts: NsnMetricsOptions = {}) {
  const registers = [register]
  const name = (suffix: string): string => `${METRIC_PREFIX}${suffix}`

  if (opts.processMetrics === true) {
    collectProcessMetrics(register)
  }

  const sweep = {
    /** Share of the republish interval elapsed in the sweep's current cycle. */
    cycleProgress: createCollectableGauge({
      name: name('sweep_cycle_progress_ratio'),
      help: "Share of the republish interval elapsed in the sweep's current cycle (0 to 1)",
      registers,
    }),
    /** Regions of the keyspace the sweep uses. */
    regions: createCollectableGauge({
      name: name('sweep_regions'),
      help: 'Keyspace regions the sweep republishes, one turn each per cycle',
      registers,
    }),
    /** Regions queued: their turn passed, or they wait for a retry. */
    pendingRegions: createCollectableGauge({
      name: name('sweep_pending_regions'),
      help: 'Regions whose turn passed and that wait to be done, or wait for a retry (too few peers reachable)',
      registers,
    }),
    /** Lookups in the current cycle so far. */
    cycleLookups: createCollectableGauge({
      name: name('sweep_cycle_lookups'),
      help: "Lookups (explorations and prefix-length estimates) in the sweep's current cycle so far",
      registers,
    }),
    /** Lookups of region passes. */
    lookups: new Counter<'origin'>({
      name: name('sweep_lookups_total'),
      help: 'Lookups run by sweep region passes, by origin (republish: the schedule or a whole cycle; provide: batch provides)',
      labelNames: ['origin'],
      registers,
    }),
    /** Shards republished by the sweep. */
    republished: new Counter({
      name: name('sweep_shards_republished_total'),
      help: 'Shards the sweep republished (at least one peer confirmed the record)',
      registers,
    }),
    /** Shards found overdue: last published more than an interval before their region's pass. */
    overdue: new Counter({
      name: name('sweep_overdue_shards_total'),
      help: "Shards whose last publication was more than a republish interval old when their region's pass began",
      registers,
    }),
    /** Placements (a shard's record on one peer), confirmed or failed. */
    placements: new Counter<'result'>({
      name: name('sweep_placements_total'),
      help: "Placements of provider records by sweep region passes (one shard on one of its k closest peers), by result: confirmed (a GET_PROVIDERS at the end of the peer's stream listed this node) or failed",
      labelNames: ['result'],
      registers,
    }),
    /** Region passes that found too few reachable peers (retried later). */
    retries: new Counter({
      name: name('sweep_region_retries_total'),
      help: 'Region passes with fewer than 20 % of their peers reachable: the region is retried later',
      registers,
    }),
    /** Duration of region passes. */
    regionDuration: new Histogram({
      name: name('sweep_region_duration_seconds'),
      help: 'Duration of sweep region passes in seconds (explorations, record sends, confirmations)',
      buckets: [...REPUBLISH_DURATION_BUCKETS],
      registers,
    }),
  }
  const metrics = {
    kademlia: {
      /** Peers in the Kademlia routing table. */
      routingTableSize: createCollectableGauge({
        name: name('kademlia_routing_table_size'),
        help: 'Number of peers in the Kademlia routing table',
        registers,
      }),
      /** Duration of DHT queries, by query type and how they ended. */
      queryDuration: new Histogram<'type' | 'result'>({
        name: name('kademlia_query_duration_seconds'),
        help: 'Duration of DHT queries in seconds, by query type and result (ok, timeout, error)',
        labelNames: ['type', 'result'],
        buckets: [...QUERY_DURATION_BUCKETS],
        registers,
      }),
      /** Queries cut by the query deadline, by query type. */
      queryTimeouts: new Counter<'type'>({
        name: name('kademlia_query_timeouts_total'),
        help: 'DHT queries that ran into the query deadline and were cancelled, by query type',
        labelNames: ['type'],
        registers,
      }),
      /**
       * Provide and republish operations that stored the shard's provider record on at least
       * one peer: one per operation, however many peers accepted the record.
       */
      providerRecordsPublished: new Counter({
        name: name('kademlia_provider_records_published_total'),
        help: 'Provider records published (provide or republish operations that stored the record on at least one peer)',
        registers,
      }),
      /** Bootstrap runs that reached at least one peer. */
      bootstrapSuccess: new Counter({
        name: name('kademlia_bootstrap_success_total'),
        help: 'Bootstrap runs that succeeded',
        registers,
      }),
      /** Bootstrap runs that failed. */
      bootstrapFailure: new Counter({
        name: name('kademlia_bootstrap_failure_total'),
        help: 'Bootstrap runs that failed',
        registers,
      }),
      /** Inbound DHT requests the inbound guard let through to kad-dht, by message type. */
      inboundRequests: new Counter<'type'>({
        name: name('kademlia_inbound_requests_total'),
        help: 'Inbound DHT requests handled (passed the inbound guard), by type (ping, find_node, get_providers, add_provider)',
        labelNames: ['type'],
        registers,
      }),
      /** Inbound DHT messages the inbound guard rejected (their stream reset), by reason. */
      inboundRejected: new Counter<'reason'>({
        name: name('kademlia_inbound_rejected_total'),
        help: 'Inbound DHT messages rejected by the inbound guard (stream reset; nothing stored), by reason',
        labelNames: ['reason'],
        registers,
      }),
      /** Answers to this node's own DHT requests that the answer guard rejected (the request failed), by reason. */
      answersRejected: new Counter<'reason'>({
        name: name('kademlia_answers_rejected_total'),
        help: "Answers of other peers to this node's DHT requests rejected by the answer guard (the request failed, the query moved on), by reason (too_large, malformed)",
        labelNames: ['reason'],
        registers,
      }),
      /** Peers or addresses the answer guard dropped from accepted answers, by reason. */
      answerEntriesDropped: new Counter<'reason'>({
        name: name('kademlia_answer_entries_dropped_total'),
        help: 'Peers (too_many_closer_peers, too_many_providers, bad_peer_id, provider_without_address) or addresses (too_many_addresses, bad_address) dropped from answers by the answer guard before the peer store or a result, by reason',
        labelNames: ['reason'],
        registers,
      }),
      /** Peers NSN removed from the routing table, by reason. */
      peersEvicted: new Counter<'reason'>({
        name: name('kademlia_peers_evicted_total'),
        help: 'Peers removed from the routing table by NSN, by reason (timeouts: their requests timed out several times in a row)',
        labelNames: ['reason'],
        registers,
      }),
      /**
       * Peers kept out of the routing table, or dropped from the closer peers of answers,
       * by the diversity filter or the eviction quarantine, by reason
       * ({@link ROUTING_DIVERSITY_REFUSALS_METRIC}).
       */
      routingDiversityRefusals: new Counter<'reason'>({
        name: ROUTING_DIVERSITY_REFUSALS_METRIC,
        help: 'Peers refused by the routing-table diversity filter or the eviction quarantine, by reason: bucket and table (their IP group has perBucket peers in their k-bucket, or perTable in the table), quarantine (evicted by request timeouts, kept out of the table and of answers), answer (dropped from an answer: perTable peers of their IP group already taken in the same lookup). Counts refused attempts',
        labelNames: ['reason'],
        registers,
      }),
      /** The network size estimated from this node's lookups (optimistic provide). */
      networkSizeEstimate: createCollectableGauge({
        name: name('kademlia_network_size_estimate'),
        help: "Peers in the network as estimated from the k closest peers of this node's lookups (used by optimistic provide; absent until enough lookups were made)",
        registers,
      }),
      /** Optimistic provides that returned (records sent while the lookup ran). */
      optimisticProvides: new Counter({
        name: name('kademlia_optimistic_provides_total'),
        help: 'Provides run optimistically (records sent while the lookup ran, the call returning at the confirmation quorum)',
        registers,
      }),
      /** Record sends of optimistic provides that finished in the background, by result. */
      optimisticBackgroundSends: new Counter<'result'>({
        name: name('kademlia_optimistic_background_sends_total'),
        help: 'Record sends of optimistic provides finished in the background after the call returned, by result (confirmed, failed: not sent or not confirmed)',
        labelNames: ['result'],
        registers,
      }),
      /** Provider records this node stores on behalf of other peers. */
      providerRecordsStored: createCollectableGauge({
        name: name('kademlia_provider_records_stored'),
        help: 'Provider records this node stores for other peers',
        registers,
      }),
    },
    connections: {
      /** Open libp2p connections. */
      active: createCollectableGauge({
        name: name('active_connections'),
        help: 'Number of open libp2p connections',
        registers,
      }),
      /** Peers with at least one open connection. */
      peers: createCollectableGauge({
        name: name('connected_peers'),
        help: 'Number of peers with at least one open connection',
        registers,
      }),
      /** Connections established (upgraded: encrypted and multiplexed), by direction. */
      established: new Counter<'direction'>({
        name: name('connections_established_total'),
        help: 'libp2p connections established (encrypted and multiplexed), by direction',
        labelNames: ['direction'],
        registers,
      }),
      /** Connections closed, by direction. */
      closed: new Counter<'direction'>({
        name: name('connections_closed_total'),
        help: 'libp2p connections closed, by direction',
        labelNames: ['direction'],
        registers,
      }),
      /**
       * Connection attempts that did not produce a connection, by direction: outbound, a dial
       * of one address that failed or was aborted; inbound, an incoming connection refused or
       * whose upgrade failed.
       */
      failed: new Counter<'direction'>({
        name: name('connections_failed_total'),
        help: 'Connection attempts that failed: outbound dials of one address that failed or were aborted, inbound connections refused or whose upgrade failed',
        labelNames: ['direction'],
        registers,
      }),
      /** How long connections stayed open, from open to close. */
      duration: new Histogram({
        name: name('connection_duration_seconds'),
        help: 'How long libp2p connections stayed open, from open to close, in seconds',
        buckets: [...CONNECTION_DURATION_BUCKETS],
        registers,
      }),
    },
    shardRegistry: {
      /** Shards this node provides. */
      size: createCollectableGauge({
        name: name('shard_registry_size'),
        help: 'Number of shards this node provides',
        registers,
      }),
      /** Maximum number of shards the registry holds before it evicts. */
      capacity: createCollectableGauge({
        name: name('shard_registry_capacity'),
        help: 'Maximum number of shards this node provides before least recently used ones are evicted',
        registers,
      }),
      /** Shards removed from the registry, by reason. */
      evictions: new Counter<'reason'>({
        name: name('shard_registry_evictions_total'),
        help: 'Shards removed from the registry, by reason: capacity (LRU eviction), expired, stopped (no longer provided)',
        labelNames: ['reason'],
        registers,
      }),
    },
    providerCache: {
      /** Provider lookups answered from the hot-shard provider cache (no DHT query ran). */
      hits: new Counter({
        name: name('provider_cache_hits_total'),
        help: 'Provider lookups answered from the hot-shard provider cache (no DHT query ran)',
        registers,
      }),
      /** Provider lookups that consulted the cache and asked the network. */
      misses: new Counter({
        name: name('provider_cache_misses_total'),
        help: 'Provider lookups the hot-shard provider cache could not answer (no unexpired entry with enough providers): the network was asked',
        registers,
      }),
      /** Shards with a cached answer. */
      entries: createCollectableGauge({
        name: name('provider_cache_entries'),
        help: 'Shards with an answer in the hot-shard provider cache',
        registers,
      }),
      /** Estimated bytes the cached answers hold. */
      bytes: createCollectableGauge({
        name: name('provider_cache_bytes'),
        help: 'Estimated bytes held by the hot-shard provider cache (ids, addresses, per-entry overhead)',
        registers,
      }),
      /** Entries removed from the cache, by reason. */
      evictions: new Counter<'reason'>({
        name: name('provider_cache_evictions_total'),
        help: 'Entries removed from the hot-shard provider cache, by reason: capacity (least recently used, past the entry or byte bound), expired (TTL), invalidated (last provider gone, or this node started or stopped providing the shard)',
        labelNames: ['reason'],
        registers,
      }),
    },
    gossipsub: {
      /** Shard announcements this node published, by topic. */
      published: new Counter<'topic'>({
        name: name('gossipsub_messages_published_total'),
        help: 'Shard announcements this node published over gossipsub, by topic (one per topic a batch went to)',
        labelNames: ['topic'],
        registers,
      }),
      /** Announcements received (new messages that reached validation), by topic. */
      received: new Counter<'topic'>({
        name: name('gossipsub_messages_received_total'),
        help: 'Shard announcements received over gossipsub (new messages that reached validation, duplicates not counted), by topic',
        labelNames: ['topic'],
        registers,
      }),
      /** Announcements refused by validation or the local rate limit, by reason. */
      rejected: new Counter<'reason'>({
        name: name('gossipsub_messages_rejected_total'),
        help: 'Shard announcements refused (not cached, not forwarded), by reason: unsigned, oversized, malformed, too_many_shards, too_many_addresses, no_shards, bad_shard, wrong_provider (provider is not the signing author), bad_address, expired, expiry_too_far, rate_limited',
        labelNames: ['reason'],
        registers,
      }),
      /** Peers in this node's gossipsub mesh, by topic. */
      meshPeers: createCollectableGauge<'topic'>({
        name: name('gossipsub_mesh_peers'),
        help: "Peers in this node's gossipsub mesh of each subscribed announcement topic",
        labelNames: ['topic'],
        registers,
      }),
    },
    nat: {
      /** 1 when the node announces a public address it is reachable at directly, else 0. */
      reachability: createCollectableGauge({
        name: name('nat_reachability'),
        help: 'Whether this node is publicly reachable: 1 when it announces a public, directly dialable address (AutoNAT-confirmed, UPnP-mapped or announced by the operator), 0 otherwise',
        registers,
      }),
      /** AutoNAT verdicts on this node's addresses, by result. */
      autonatChecks: new Counter<'result'>({
        name: name('autonat_checks_total'),
        help: "AutoNAT verdicts on this node's addresses, by result: reachable (peers dialled it back) or unreachable (they could not)",
        labelNames: ['result'],
        registers,
      }),
      /** UPnP port mappings this node holds on its gateway. */
      portMappings: createCollectableGauge({
        name: name('nat_port_mappings'),
        help: 'UPnP port mappings this node holds on its gateway',
        registers,
      }),
      /** Relay reservations this node holds (it is reachable through those relays). */
      relayReservations: createCollectableGauge({
        name: name('relay_reservations'),
        help: 'Circuit-relay reservations this node holds: relays it can be reached through',
        registers,
      }),
      /** Open connections that run through a relay. */
      relayedConnections: createCollectableGauge({
        name: name('relayed_connections'),
        help: 'Open libp2p connections that run through a circuit relay',
        registers,
      }),
      /** Hole-punch (DCUtR) dials, by result. */
      holePunches: new Counter<'result'>({
        name: name('hole_punches_total'),
        help: 'Hole-punch (DCUtR) dials over relayed connections, by result: ok (a direct connection replaced the relayed one) or error',
        labelNames: ['result'],
        registers,
      }),
      /** Public addresses this node announces. */
      announcedPublicAddresses: createCollectableGauge({
        name: name('announced_public_addresses'),
        help: 'Public addresses this node announces to peers (relayed addresses through a public relay included)',
        registers,
      }),
    },
    republish: {
      /** Republish runs of the scheduler. */
      runs: new Counter({
        name: name('republish_runs_total'),
        help: 'Republish runs of the scheduler',
        registers,
      }),
      /** Duration of republish runs. */
      duration: new Histogram({
        name: name('republish_duration_seconds'),
        help: 'Duration of republish runs in seconds',
        buckets: [...REPUBLISH_DURATION_BUCKETS],
        registers,
      }),
      /** Shards republished successfully by the scheduler. */
      republished: new Counter({
        name: name('republished_shards_total'),
        help: 'Shards whose provider record the scheduler republished successfully',
        registers,
      }),
      /** Shards whose republish failed (they are retried). */
      failures: new Counter({
        name: name('republish_failures_total'),
        help: 'Shards whose republish failed (they are retried)',
        registers,
      }),
    },
    /** The sweeping republisher (`@nsn/core`'s `sweep/`). */
    sweep,
  }

  for (const origin of ['republish', 'provide']) sweep.lookups.inc({ origin }, 0)
  for (const result of ['confirmed', 'failed']) sweep.placements.inc({ result }, 0)

  for (const type of QUERY_TYPES) {
    metrics.kademlia.queryTimeouts.inc({ type }, 0)
    for (const result of QUERY_RESULTS) {
      metrics.kademlia.queryDuration.zero({ type, result })
    }
  }
  for (const type of INBOUND_REQUEST_TYPES) {
    metrics.kademlia.inboundRequests.inc({ type }, 0)
  }
  for (const reason of INBOUND_REJECT_REASONS) {
    metrics.kademlia.inboundRejected.inc({ reason }, 0)
  }
  for (const reason of ANSWER_REJECT_REASONS) {
    metrics.kademlia.answersRejected.inc({ reason }, 0)
  }
  for (const reason of ANSWER_DROP_REASONS) {
    metrics.kademlia.answerEntriesDropped.inc({ reason }, 0)
  }
  for (const result of ['confirmed', 'failed'] as const) {
    metrics.kademlia.optimisticBackgroundSends.inc({ result }, 0)
  }
  for (const reason of PEER_EVICTION_REASONS) {
    metrics.kademlia.peersEvicted.inc({ reason }, 0)
  }
  for (const reason of PROVIDER_CACHE_EVICTION_REASONS) {
    metrics.providerCache.evictions.inc({ reason }, 0)
  }
  for (const reason of ANNOUNCEMENT_REJECT_REASONS) {
    metrics.gossipsub.rejected.inc({ reason }, 0)
  }
  for (const reason of ROUTING_REFUSAL_REASONS) {
    metrics.kademlia.routingDiversityRefusals.inc({ reason }, 0)
  }
  for (const direction of CONNECTION_DIRECTIONS) {
    metrics.connections.established.inc({ direction }, 0)
    metrics.connections.closed.inc({ direction }, 0)
    metrics.connections.failed.inc({ direction }, 0)
  }
  for (const reason of EVICTION_REASONS) {
    metrics.shardRegistry.evictions.inc({ reason }, 0)
  }
  for (const result of AUTONAT_RESULTS) {
    metrics.nat.autonatChecks.inc({ result }, 0)
  }
  for (const result of HOLE_PUNCH_RESULTS) {
    metrics.nat.holePunches.inc({ result }, 0)
  }

  return metrics
}

/** Every NSN metric, grouped by subsystem: the type of what {@link createNsnMetrics} returns. */
export type NsnMetrics = ReturnType<typeof createNsnMetrics>
