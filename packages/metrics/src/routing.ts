/**
 * Scrape-time reads of a `ShardRouting` (or anything shaped like it) for the Kademlia
 * gauges, complementing the observer's events.
 *
 * @packageDocumentation
 */

import type { NsnMetrics } from './metrics.js'

/** The part of `@nsn/core`'s `ShardRouting` the Kademlia gauges read. */
export interface ShardRoutingLike {
  /** Peers in the routing table. */
  routingTableSize(): number
  /** Provider records this node stores for other peers (counted in the DHT's datastore). */
  storedProviderRecords?(): Promise<number>
  /** The provider cache's size, expired entries pruned; undefined when the cache is off. */
  providerCacheStats?(): { entries: number; bytes: number } | undefined
  /** Where the sweep's current cycle is. */
  sweepProgress?(): { progress: number; regions: number; pending: number; lookups: number }
}

/**
 * Makes `provider_cache_entries` and `provider_cache_bytes` read
 * `routing.providerCacheStats()` (which prunes expired entries first), and
 * `kademlia_routing_table_size` read `routing.routingTableSize()` and
 * `kademlia_provider_records_stored` count `routing.storedProviderRecords()` at every
 * scrape. The observer's `routingTableSizeChanged` event sets the routing-table gauge
 * between scrapes; a scrape always ends with the value read from `routing`. Core emits no
 * event for stored records: this is what feeds `kademlia_provider_records_stored`. `ShardRouting` answers from the bounded provider store's maintained count, O(1) per scrape (a walk of the DHT's provider keys only with `providerStore: false`).
 *
 * Returns a function that undoes it; calling it twice is harmless.
 */
export function trackShardRouting(routing: ShardRoutingLike, metrics: NsnMetrics): () => void {
  const { routingTableSize, providerRecordsStored } = metrics.kademlia
  const undo = [routingTableSize.addCollect((gauge) => gauge.set(routing.routingTableSize()))]
  const countStored = routing.storedProviderRecords?.bind(routing)
  const cacheStats = routing.providerCacheStats?.bind(routing)
  if (cacheStats != null) {
    const { entries, bytes } = metrics.providerCache
    const read = (): void => {
      const stats = cacheStats()
      if (stats == null) return
      entries.set(stats.entries)
      bytes.set(stats.bytes)
    }
    undo.push(entries.addCollect(read), bytes.addCollect(read))
  }
  const sweepProgress = routing.sweepProgress?.bind(routing)
  if (sweepProgress != null) {
    const { cycleProgress, regions, pendingRegions, cycleLookups } = metrics.sweep
    const read = (): void => {
      const p = sweepProgress()
      cycleProgress.set(p.progress)
      regions.set(p.regions)
      pendingRegions.set(p.pending)
      cycleLookups.set(p.lookups)
    }
    undo.push(
      cycleProgress.addCollect(read),
      regions.addCollect(read),
      pendingRegions.addCollect(read),
      cycleLookups.addCollect(read),
    )
  }
  if (countStored != null) {
    undo.push(
      providerRecordsStored.addCollect(async (gauge) => {
        gauge.set(await countStored())
      }),
    )
  }
  return () => {
    for (const fn of undo.splice(0)) {
      fn()
    }
  }
}
