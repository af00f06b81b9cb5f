/**
 * Maps core's observer events onto the NSN metrics.
 *
 * @packageDocumentation
 */

import { type DhtObserver, second } from '@nsn/core'
import type { NsnMetrics } from './metrics.js'

/** A finite, non-negative number, or undefined: prom-client throws on negative counter increments. */
function nonNegative(value: number): number | undefined {
  return Number.isFinite(value) && value >= 0 ? value : undefined
}

/**
 * Returns a {@link DhtObserver} that records core's events in `metrics`; pass it to
 * `ShardRouting`'s `observer` option. What each event does:
 *
 * - `queryEnded`: one observation of `kademlia_query_duration_seconds{type,result}`; a
 *   `timeout` result also increments `kademlia_query_timeouts_total{type}`.
 * - `routingTableSizeChanged`: sets `kademlia_routing_table_size`.
 * - `providerRecordPublished`: increments `kademlia_provider_records_published_total` once
 *   when at least one peer confirmed the store (`confirmed > 0`), for a provide or a
 *   republish alike; a record sent to peers that none confirmed is not counted (core fails
 *   that provide: its query shows as a failed `provide` or `republish` in the duration
 *   histogram).
 * - `bootstrapSucceeded` / `bootstrapFailed`: increment the success or failure counter and
 *   set the routing-table gauge to the size the event reports.
 * - `republishRunEnded`: increments `republish_runs_total`, observes the run's duration,
 *   and adds its shard counts to `republished_shards_total` and `republish_failures_total`.
 *
 * - `inboundRequestHandled`: increments `kademlia_inbound_requests_total{type}`.
 * - `inboundRejected`: increments `kademlia_inbound_rejected_total{reason}`.
 * - `answerRejected`: increments `kademlia_answers_rejected_total{reason}`.
 * - `answerTrimmed`: adds `dropped` to `kademlia_answer_entries_dropped_total{reason}`.
 * - `peerEvicted`: increments `kademlia_peers_evicted_total{reason}`.
 * - `providerCacheLookup`: increments `provider_cache_hits_total` or
 *   `provider_cache_misses_total`.
 * - `providerCacheEvicted`: adds `count` to `provider_cache_evictions_total{reason}`.
 * - `providerCacheSizeChanged`: sets `provider_cache_entries` and `provider_cache_bytes`.
 * - `networkSizeEstimated`: sets `kademlia_network_size_estimate`.
 * - `optimisticProvideEnded`: increments `kademlia_optimistic_provides_total`.
 * - `optimisticBackgroundSendEnded`: increments
 *   `kademlia_optimistic_background_sends_total{result}` (`confirmed` or `failed`).
 * - `routingRefused`: increments `nsn_p2p_routing_diversity_refusals_total{reason}` (no
 *   `nsn_p2p_` prefix: `ROUTING_DIVERSITY_REFUSALS_METRIC`).
 *
 * - `sweepRegionEnded`: adds a region pass's lookups (`sweep_lookups_total{origin}`),
 *   placements (`sweep_placements_total{result}`), overdue shards, retries, duration, and
 *   for a republish pass its shards to `sweep_shards_republished_total`.
 * - `sweepProgress`: sets the cycle gauges (`sweep_cycle_progress_ratio`, `sweep_regions`,
 *   `sweep_pending_regions`, `sweep_cycle_lookups`); `trackShardRouting` also reads them
 *   at every scrape.
 *
 * `queryStarted` is not needed (durations come with `queryEnded`) and is left out. The
 * observer never throws: values that are not finite or are negative are ignored.
 */
export function createMetricsObserver(metrics: NsnMetrics): DhtObserver {
  const { kademlia, republish, providerCache, sweep } = metrics
  return {
    sweepRegionEnded({
      origin,
      lookups,
      confirmedPlacements,
      failedPlacements,
      overdue,
      retry,
      durationMs,
      shards,
    }) {
      const n = nonNegative(lookups)
      if (n !== undefined) sweep.lookups.inc({ origin }, n)
      const ok = nonNegative(confirmedPlacements)
      if (ok !== undefined) sweep.placements.inc({ result: 'confirmed' }, ok)
      const ko = nonNegative(failedPlacements)
      if (ko !== undefined) sweep.placements.inc({ result: 'failed' }, ko)
      const late = nonNegative(overdue)
      if (late !== undefined) sweep.overdue.inc(late)
      if (retry) sweep.retries.inc()
      else if (origin === 'republish') {
        const done = nonNegative(shards)
        if (done !== undefined) sweep.republished.inc(done)
      }
      const seconds = nonNegative(durationMs / second)
      if (seconds !== undefined) sweep.regionDuration.observe(seconds)
    },
    sweepProgress({ progress, regions, pending, lookups }) {
      const p = nonNegative(progress)
      if (p !== undefined) sweep.cycleProgress.set(p)
      const r = nonNegative(regions)
      if (r !== undefined) sweep.regions.set(r)
      const q = nonNegative(pending)
      if (q !== undefined) sweep.pendingRegions.set(q)
      const l = nonNegative(lookups)
      if (l !== undefined) sweep.cycleLookups.set(l)
    },
    queryEnded({ type, result, durationMs }) {
      const seconds = nonNegative(durationMs / second)
      if (seconds !== undefined) {
        kademlia.queryDuration.observe({ type, result }, seconds)
      }
      if (result === 'timeout') {
        kademlia.queryTimeouts.inc({ type })
      }
    },
    routingTableSizeChanged(size) {
      const value = nonNegative(size)
      if (value !== undefined) {
        kademlia.routingTableSize.set(value)
      }
    },
    providerRecordPublished({ confirmed }) {
      if (confirmed > 0) {
        kademlia.providerRecordsPublished.inc()
      }
    },
    bootstrapSucceeded({ routingTableSize }) {
      kademlia.bootstrapSuccess.inc()
      const value = nonNegative(routingTableSize)
      if (value !== undefined) {
        kademlia.routingTableSize.set(value)
      }
    },
    bootstrapFailed({ routingTableSize }) {
      kademlia.bootstrapFailure.inc()
      const value = nonNegative(routingTableSize)
      if (value !== undefined) {
        kademlia.routingTableSize.set(value)
      }
    },
    inboundRequestHandled({ type }) {
      kademlia.inboundRequests.inc({ type })
    },
    inboundRejected({ reason }) {
      kademlia.inboundRejected.inc({ reason })
    },
    answerRejected({ reason }) {
      kademlia.answersRejected.inc({ reason })
    },
    answerTrimmed({ reason, dropped }) {
      const value = nonNegative(dropped)
      if (value !== undefined) kademlia.answerEntriesDropped.inc({ reason }, value)
    },
    peerEvicted({ reason }) {
      kademlia.peersEvicted.inc({ reason })
    },
    providerCacheLookup({ result }) {
      if (result === 'hit') providerCache.hits.inc()
      else providerCache.misses.inc()
    },
    providerCacheEvicted({ reason, count }) {
      const value = nonNegative(count)
      if (value !== undefined) providerCache.evictions.inc({ reason }, value)
    },
    providerCacheSizeChanged({ entries, bytes }) {
      const e = nonNegative(entries)
      if (e !== undefined) providerCache.entries.set(e)
      const b = nonNegative(bytes)
      if (b !== undefined) providerCache.bytes.set(b)
    },
    networkSizeEstimated({ size }) {
      const value = nonNegative(size)
      if (value !== undefined) kademlia.networkSizeEstimate.set(value)
    },
    optimisticProvideEnded() {
      kademlia.optimisticProvides.inc()
    },
    optimisticBackgroundSendEnded({ confirmed }) {
      kademlia.optimisticBackgroundSends.inc({ result: confirmed ? 'confirmed' : 'failed' })
    },
    routingRefused({ reason }) {
      kademlia.routingDiversityRefusals.inc({ reason })
    },
    republishRunEnded({ republished, failed, durationMs }) {
      republish.runs.inc()
      const seconds = nonNegative(durationMs / second)
      if (seconds !== undefined) {
        republish.duration.observe(seconds)
      }
      const ok = nonNegative(republished)
      if (ok !== undefined) {
        republish.republished.inc(ok)
      }
      const ko = nonNegative(failed)
      if (ko !== undefined) {
        republish.failures.inc(ko)
      }
    },
  }
}
