/**
 * Names, label values, buckets and defaults of @nsn/metrics, with their units in the
 * expression.
 *
 * @packageDocumentation
 */

import { hour, minute, second } from '@nsn/core'

/** One minute in seconds (histogram buckets are in seconds; core's units are milliseconds). */
const minuteS = minute / second
/** One hour in seconds. */
const hourS = hour / second

/** Prefix of every NSN metric name but {@link ROUTING_DIVERSITY_REFUSALS_METRIC}. */
export const METRIC_PREFIX = 'nsn_p2p_'

/**
 * Refusals of the routing-table diversity filter and the eviction quarantine, by
 * `reason` (bucket, table, quarantine, answer). The network-namespace eclipse test of
 * integration-tests reads it from `nsn-node` daemons.
 */
export const ROUTING_DIVERSITY_REFUSALS_METRIC = 'nsn_p2p_routing_diversity_refusals_total'

/**
 * Buckets of `nsn_p2p_kademlia_query_duration_seconds`, in seconds: from 1 ms to past the
 * 10 s query deadline. A query cut by the deadline ends a few milliseconds after 10 s, so
 * it lands above the `le="10"` bucket and in `le="12.5"`; the buckets past 10 s are where
 * timeouts (and a deadline raised by configuration) show.
 */
export const QUERY_DURATION_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 7.5, 10, 12.5, 15, 30,
]

/** Buckets of `nsn_p2p_connection_duration_seconds`: from 100 ms to a day. */
export const CONNECTION_DURATION_BUCKETS: readonly number[] = [
  0.1,
  1,
  10,
  1 * minuteS,
  5 * minuteS,
  15 * minuteS,
  1 * hourS,
  4 * hourS,
  12 * hourS,
  24 * hourS,
]

/**
 * Buckets of `nsn_p2p_republish_duration_seconds`: from 100 ms to two hours (republishing
 * 10,000 shards key by key takes about half an hour on a 50-node network).
 */
export const REPUBLISH_DURATION_BUCKETS: readonly number[] = [
  0.1,
  1,
  5,
  15,
  1 * minuteS,
  5 * minuteS,
  15 * minuteS,
  30 * minuteS,
  1 * hourS,
  2 * hourS,
]

/** Why a shard left the registry: the `reason` label of `nsn_p2p_shard_registry_evictions_total`. */
export type EvictionReason = 'capacity' | 'expired' | 'stopped'

/** Every {@link EvictionReason}, for label pre-initialisation. */
export const EVICTION_REASONS: readonly EvictionReason[] = ['capacity', 'expired', 'stopped']

/** Direction of a connection: the `direction` label of the connection counters. */
export type ConnectionDirection = 'inbound' | 'outbound'

/** Every {@link ConnectionDirection}, for label pre-initialisation. */
export const CONNECTION_DIRECTIONS: readonly ConnectionDirection[] = ['inbound', 'outbound']

/** Interface the metrics server listens on by default: loopback only. */
export const DEFAULT_METRICS_HOST = '127.0.0.1'

/** Port the metrics server listens on by default. */
export const DEFAULT_METRICS_PORT = 9100

/** Path the metrics handler answers on. */
export const METRICS_PATH = '/metrics'

/** Content type of the Prometheus text exposition format 0.0.4 (prom-client's default). */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Content type of the OpenMetrics 1.0.0 text format. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8'

/** Results of `nsn_p2p_autonat_checks_total`: AutoNAT's verdict on one of the node's addresses. */
export const AUTONAT_RESULTS = ['reachable', 'unreachable'] as const

/** Results of `nsn_p2p_hole_punches_total`: one DCUtR dial that gave a direct connection, or not. */
export const HOLE_PUNCH_RESULTS = ['ok', 'error'] as const
