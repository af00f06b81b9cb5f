/**
 * @packageDocumentation
 *
 * Prometheus metrics for NSN shard DHT nodes, on prom-client.
 *
 * - {@link createNsnMetrics} declares every `nsn_p2p_` metric on the node's own
 *   `Registry` (never prom-client's global one, so several nodes share a process);
 * - {@link createMetricsObserver} turns them into a `DhtObserver` for `@nsn/core`'s
 *   `ShardRouting`;
 * - {@link trackLibp2pConnections}, {@link trackShardRegistry} and
 *   {@link trackShardRouting} feed them from a libp2p node, the shard registry and the
 *   routing facade;
 * - {@link connectionFailureMetrics} is the libp2p metrics component
 *   (`createLibp2p({ metrics })`) through which libp2p reports failed connection attempts;
 * - {@link createMetricsHandler} and {@link startMetricsServer} serve the registry on
 *   `GET /metrics`, in the Prometheus text format or in OpenMetrics.
 *
 * libp2p's own metrics join the same registry through `@libp2p/prometheus-metrics`,
 * forwarded by the failure counter:
 * `createLibp2p({ metrics: connectionFailureMetrics(metrics, { forward: prometheusMetrics({ registry: register }) }) })`.
 *
 * @example
 * ```ts
 * import { Registry } from 'prom-client'
 * import { connectionFailureMetrics, createNsnMetrics, createMetricsObserver, trackLibp2pConnections, startMetricsServer } from '@nsn/metrics'
 *
 * const register = new Registry()
 * const metrics = createNsnMetrics(register)
 * const libp2p = await createLibp2p({ ...options, metrics: connectionFailureMetrics(metrics) })
 * const routing = new ShardRouting(libp2p, { observer: createMetricsObserver(metrics) })
 * const untrack = trackLibp2pConnections(libp2p, metrics)
 * const server = await startMetricsServer({ register }) // http://127.0.0.1:9100/metrics
 * ```
 */

export type { ConnectionFailureMetricsInit } from './connection-failures.js'
export { connectionFailureMetrics, LIBP2P_FAILURE_METRICS } from './connection-failures.js'
export type { ConnectionLike, Libp2pConnectionEvent, Libp2pLike } from './connections.js'
export { trackLibp2pConnections } from './connections.js'
export type { ConnectionDirection, EvictionReason } from './constants.js'
export {
  AUTONAT_RESULTS,
  CONNECTION_DIRECTIONS,
  CONNECTION_DURATION_BUCKETS,
  DEFAULT_METRICS_HOST,
  DEFAULT_METRICS_PORT,
  EVICTION_REASONS,
  HOLE_PUNCH_RESULTS,
  METRIC_PREFIX,
  METRICS_PATH,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  QUERY_DURATION_BUCKETS,
  REPUBLISH_DURATION_BUCKETS,
  ROUTING_DIVERSITY_REFUSALS_METRIC,
} from './constants.js'
export type { MetricsErrorCode } from './errors.js'
export {
  InvalidMetricsOptionError,
  MetricsAddressInUseError,
  MetricsError,
  MetricsListenError,
} from './errors.js'
export type { CollectableGauge, GaugeCollectFn } from './gauge.js'
export type { AnnouncementsReporterLike, ShardAnnouncementsLike } from './gossipsub.js'
export { announcementsReporter, trackShardAnnouncements } from './gossipsub.js'
export type { ExpositionFormat, MetricsHandler, MetricsHandlerOptions } from './http.js'
export { createMetricsHandler, exposition, negotiateFormat } from './http.js'
export type { NsnMetrics, NsnMetricsOptions } from './metrics.js'
export { collectProcessMetrics, createNsnMetrics, NONCOMPLIANT_DEFAULT_METRICS } from './metrics.js'
export type { NatLibp2pLike, NatMetricsObserver } from './nat.js'
export { createNatObserver, trackNat } from './nat.js'
export { createMetricsObserver } from './observer.js'
export { openMetricsExposition } from './openmetrics.js'
export type { ShardRoutingLike } from './routing.js'
export { trackShardRouting } from './routing.js'
export type { MetricsServer, MetricsServerOptions } from './server.js'
export { startMetricsServer } from './server.js'
export type { ShardRegistryLike, ShardRemovedEventLike } from './shard-registry.js'
export { trackShardRegistry } from './shard-registry.js'
