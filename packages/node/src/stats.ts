/**
 * The node's summary (`GET /v1/stats`, `nsn-node stats`), read from what the node already
 * tracks: the routing table, libp2p's connections, the registry, the provider store, the
 * provider cache and the query-duration histogram of its metrics (whose counts by `type`
 * and `result` are the operations and their failures). Nothing is counted twice.
 *
 * @packageDocumentation
 */

import {
  type ProviderCacheStats,
  QUERY_RESULTS,
  QUERY_TYPES,
  type QueryResult,
  type QueryType,
} from '@nsn/core'
import type { OperationCounts, StatsResponse } from './api/types.js'

/** What a histogram's `get()` answers (prom-client's `MetricObjectWithValues`), as far as it is read here. */
export interface HistogramLike {
  get(): Promise<{
    values: ReadonlyArray<{ metricName?: string; labels: Record<string, unknown>; value: number }>
  }>
}

/** What {@link collectStats} reads. */
export interface StatsComponents {
  peerId: string
  version: string
  /** When the node started, epoch ms. */
  startedAt: number
  routing: {
    routingTableSize(): number
    storedProviderRecords(): Promise<number>
    providerCacheStats(): ProviderCacheStats | undefined
  }
  registry: { readonly size: number; readonly capacity: number }
  /** The remote peers of the open libp2p connections, one entry a connection. */
  connections(): ReadonlyArray<{ remotePeer: { toString(): string } }>
  /** `nsn_p2p_kademlia_query_duration_seconds` (labels `type`, `result`). */
  queryDuration: HistogramLike
  /** Clock, epoch ms (tests). */
  now?: () => number
}

/** The `_count` series of the query-duration histogram, by type and result. */
async function operationCounts(histogram: HistogramLike): Promise<Record<QueryType, OperationCounts>> {
  const counts = {} as Record<QueryType, OperationCounts>
  for (const type of QUERY_TYPES) counts[type] = { ok: 0, timeout: 0, error: 0 }
  const { values } = await histogram.get()
  for (const { metricName, labels, value } of values) {
    if (metricName?.endsWith('_count') !== true) continue
    const type = labels.type as QueryType
    const result = labels.result as QueryResult
    if (counts[type] != null && QUERY_RESULTS.includes(result)) counts[type][result] += value
  }
  return counts
}

/** The node's summary. */
export async function collectStats(c: StatsComponents): Promise<StatsResponse> {
  const now = c.now?.() ?? Date.now()
  const connections = c.connections()
  const cache = c.routing.providerCacheStats()
  const lookups = cache == null ? 0 : cache.hits + cache.misses
  return {
    peerId: c.peerId,
    version: c.version,
    startedAt: c.startedAt,
    uptimeMs: Math.max(0, now - c.startedAt),
    routingTableSize: c.routing.routingTableSize(),
    connections: {
      open: connections.length,
      peers: new Set(connections.map((conn) => conn.remotePeer.toString())).size,
    },
    shards: { provided: c.registry.size, capacity: c.registry.capacity },
    providerRecordsStored: await c.routing.storedProviderRecords(),
    operations: await operationCounts(c.queryDuration),
    providerCache:
      cache == null
        ? null
        : {
            hits: cache.hits,
            misses: cache.misses,
            hitRate: lookups === 0 ? null : Math.round((cache.hits / lookups) * 1000) / 1000,
            entries: cache.entries,
            bytes: cache.bytes,
          },
  }
}
