import type { DhtObserver } from '@nsn/core'
import { QueryTimeoutError } from '@nsn/core'
import { Registry } from 'prom-client'
import { beforeEach, describe, expect, it } from 'vitest'
import { createMetricsObserver, createNsnMetrics, type NsnMetrics, trackShardRouting } from '../src/index.js'
import { histogram, total, value } from './helpers.js'

describe('createMetricsObserver', () => {
  let register: Registry
  let metrics: NsnMetrics
  let observer: DhtObserver

  beforeEach(() => {
    register = new Registry()
    metrics = createNsnMetrics(register)
    observer = createMetricsObserver(metrics)
  })

  it('observes query durations in seconds by type and result', async () => {
    observer.queryStarted?.({ type: 'find_providers' })
    observer.queryEnded?.({ type: 'find_providers', result: 'ok', durationMs: 120 })
    observer.queryEnded?.({ type: 'find_providers', result: 'ok', durationMs: 3 })
    observer.queryEnded?.({ type: 'provide', result: 'error', durationMs: 40, error: new Error('boom') })
    const ok = await histogram(register, 'nsn_p2p_kademlia_query_duration_seconds', {
      type: 'find_providers',
      result: 'ok',
    })
    expect(ok.count).toBe(2)
    expect(ok.sum).toBeCloseTo(0.123, 6)
    expect(ok.buckets.get('0.005')).toBe(1)
    expect(ok.buckets.get('0.25')).toBe(2)
    const failed = await histogram(register, 'nsn_p2p_kademlia_query_duration_seconds', {
      type: 'provide',
      result: 'error',
    })
    expect(failed.count).toBe(1)
    expect(await total(register, 'nsn_p2p_kademlia_query_timeouts_total')).toBe(0)
  })

  it('counts sweep region passes: lookups, placements, republished and overdue shards, retries; and the cycle gauges', async () => {
    const pass = {
      bits: '01',
      shards: 100,
      peers: 25,
      reachablePeers: 24,
      lookups: 3,
      confirmedPlacements: 1950,
      failedPlacements: 50,
      overdue: 7,
      retry: false,
      durationMs: 1500,
    }
    observer.sweepRegionEnded?.({ ...pass, origin: 'republish' })
    observer.sweepRegionEnded?.({ ...pass, origin: 'provide', overdue: 0 })
    observer.sweepRegionEnded?.({
      ...pass,
      origin: 'republish',
      retry: true,
      overdue: 0,
      confirmedPlacements: 0,
    })
    expect(await value(register, 'nsn_p2p_sweep_lookups_total', { origin: 'republish' })).toBe(6)
    expect(await value(register, 'nsn_p2p_sweep_lookups_total', { origin: 'provide' })).toBe(3)
    expect(await value(register, 'nsn_p2p_sweep_placements_total', { result: 'confirmed' })).toBe(3900)
    expect(await value(register, 'nsn_p2p_sweep_placements_total', { result: 'failed' })).toBe(150)
    expect(await total(register, 'nsn_p2p_sweep_shards_republished_total')).toBe(100)
    expect(await total(register, 'nsn_p2p_sweep_overdue_shards_total')).toBe(7)
    expect(await total(register, 'nsn_p2p_sweep_region_retries_total')).toBe(1)
    expect((await histogram(register, 'nsn_p2p_sweep_region_duration_seconds', {})).count).toBe(3)

    const untrack = trackShardRouting(
      {
        routingTableSize: () => 5,
        sweepProgress: () => ({ cycle: 2, progress: 0.25, regions: 16, pending: 2, lookups: 40 }),
      },
      metrics,
    )
    expect(await total(register, 'nsn_p2p_sweep_cycle_progress_ratio')).toBe(0.25)
    expect(await total(register, 'nsn_p2p_sweep_regions')).toBe(16)
    expect(await total(register, 'nsn_p2p_sweep_pending_regions')).toBe(2)
    expect(await total(register, 'nsn_p2p_sweep_cycle_lookups')).toBe(40)
    untrack()
  })

  it('a timeout lands past the 10 s bucket and counts once in timeouts_total{type}', async () => {
    observer.queryEnded?.({
      type: 'closest_peers',
      result: 'timeout',
      durationMs: 10_004,
      error: new QueryTimeoutError(10_000),
    })
    expect(await value(register, 'nsn_p2p_kademlia_query_timeouts_total', { type: 'closest_peers' })).toBe(1)
    expect(await total(register, 'nsn_p2p_kademlia_query_timeouts_total')).toBe(1)
    const series = await histogram(register, 'nsn_p2p_kademlia_query_duration_seconds', {
      type: 'closest_peers',
      result: 'timeout',
    })
    expect(series.buckets.get('10')).toBe(0)
    expect(series.buckets.get('12.5')).toBe(1)
    expect(series.sum).toBeCloseTo(10.004, 6)
  })

  it('counts one published record per provide or republish that a peer confirmed', async () => {
    const event = { belowQuorum: false, republish: false }
    observer.providerRecordPublished?.({ ...event, shard: 'ab'.repeat(32), confirmed: 20, sentTo: 20 })
    observer.providerRecordPublished?.({
      ...event,
      shard: 'cd'.repeat(32),
      confirmed: 1,
      sentTo: 3,
      belowQuorum: true,
      republish: true,
    })
    // sent, never confirmed: not a publication
    observer.providerRecordPublished?.({ ...event, shard: 'ef'.repeat(32), confirmed: 0, sentTo: 5 })
    observer.providerRecordPublished?.({ ...event, shard: '12'.repeat(32), confirmed: 0, sentTo: 0 })
    expect(await value(register, 'nsn_p2p_kademlia_provider_records_published_total')).toBe(2)
  })

  it('maps routing-table and bootstrap events', async () => {
    observer.routingTableSizeChanged?.(4)
    expect(await value(register, 'nsn_p2p_kademlia_routing_table_size')).toBe(4)
    observer.bootstrapSucceeded?.({ connected: 3, failed: 0, routingTableSize: 11 })
    observer.bootstrapFailed?.({
      connected: 0,
      failed: 3,
      routingTableSize: 0,
      error: new Error('unreachable'),
    })
    observer.bootstrapSucceeded?.({ connected: 1, failed: 2, routingTableSize: 12 })
    expect(await value(register, 'nsn_p2p_kademlia_bootstrap_success_total')).toBe(2)
    expect(await value(register, 'nsn_p2p_kademlia_bootstrap_failure_total')).toBe(1)
    expect(await value(register, 'nsn_p2p_kademlia_routing_table_size')).toBe(12)
  })

  it('counts inbound requests by type and rejections by reason, every label pre-initialised', async () => {
    expect(await value(register, 'nsn_p2p_kademlia_inbound_rejected_total', { reason: 'rate_limited' })).toBe(
      0,
    )
    expect(await value(register, 'nsn_p2p_kademlia_inbound_requests_total', { type: 'ping' })).toBe(0)
    observer.inboundRequestHandled?.({ type: 'find_node' })
    observer.inboundRequestHandled?.({ type: 'find_node' })
    observer.inboundRejected?.({ reason: 'too_large', peer: '12D3KooWexample' })
    expect(await value(register, 'nsn_p2p_kademlia_inbound_requests_total', { type: 'find_node' })).toBe(2)
    expect(await value(register, 'nsn_p2p_kademlia_inbound_rejected_total', { reason: 'too_large' })).toBe(1)
    expect(await total(register, 'nsn_p2p_kademlia_inbound_rejected_total')).toBe(1)
  })

  it('counts peers evicted from the routing table, by reason', async () => {
    expect(await value(register, 'nsn_p2p_kademlia_peers_evicted_total', { reason: 'timeouts' })).toBe(0)
    observer.peerEvicted?.({ reason: 'timeouts', peer: '12D3KooWexample' })
    expect(await value(register, 'nsn_p2p_kademlia_peers_evicted_total', { reason: 'timeouts' })).toBe(1)
    for (const reason of ['bucket', 'table', 'quarantine', 'answer'] as const) {
      expect(await value(register, 'nsn_p2p_routing_diversity_refusals_total', { reason })).toBe(0)
    }
    observer.routingRefused?.({ reason: 'table', peer: '12D3KooWexample', group: 'ip4/127.0.0.0/16' })
    observer.routingRefused?.({ reason: 'table', peer: '12D3KooWexample2', group: 'ip4/127.0.0.0/16' })
    observer.routingRefused?.({ reason: 'answer', peer: '12D3KooWexample3' })
    expect(await value(register, 'nsn_p2p_routing_diversity_refusals_total', { reason: 'table' })).toBe(2)
    expect(await value(register, 'nsn_p2p_routing_diversity_refusals_total', { reason: 'answer' })).toBe(1)
  })

  it('counts rejected answers and the peers or addresses dropped from answers, by reason', async () => {
    observer.answerRejected?.({ reason: 'too_large' })
    observer.answerTrimmed?.({ reason: 'too_many_closer_peers', dropped: 4_980 })
    observer.answerTrimmed?.({ reason: 'bad_address', dropped: 2 })
    observer.answerTrimmed?.({ reason: 'bad_address', dropped: Number.NaN })
    expect(await value(register, 'nsn_p2p_kademlia_answers_rejected_total', { reason: 'too_large' })).toBe(1)
    expect(await value(register, 'nsn_p2p_kademlia_answers_rejected_total', { reason: 'malformed' })).toBe(0)
    expect(
      await value(register, 'nsn_p2p_kademlia_answer_entries_dropped_total', {
        reason: 'too_many_closer_peers',
      }),
    ).toBe(4_980)
    expect(
      await value(register, 'nsn_p2p_kademlia_answer_entries_dropped_total', { reason: 'bad_address' }),
    ).toBe(2)
  })

  it('counts provider cache hits and misses, evictions by reason, and sets its entries and bytes', async () => {
    for (const reason of ['capacity', 'expired', 'invalidated']) {
      expect(await value(register, 'nsn_p2p_provider_cache_evictions_total', { reason })).toBe(0)
    }
    observer.providerCacheLookup?.({ result: 'miss' })
    observer.providerCacheLookup?.({ result: 'hit' })
    observer.providerCacheLookup?.({ result: 'hit' })
    observer.providerCacheEvicted?.({ reason: 'capacity', count: 3 })
    observer.providerCacheEvicted?.({ reason: 'expired', count: -1 })
    observer.providerCacheSizeChanged?.({ entries: 7, bytes: 9_000 })
    expect(await value(register, 'nsn_p2p_provider_cache_hits_total')).toBe(2)
    expect(await value(register, 'nsn_p2p_provider_cache_misses_total')).toBe(1)
    expect(await value(register, 'nsn_p2p_provider_cache_evictions_total', { reason: 'capacity' })).toBe(3)
    expect(await value(register, 'nsn_p2p_provider_cache_evictions_total', { reason: 'expired' })).toBe(0)
    expect(await value(register, 'nsn_p2p_provider_cache_entries')).toBe(7)
    expect(await value(register, 'nsn_p2p_provider_cache_bytes')).toBe(9_000)
  })

  it('maps republish runs: runs, duration and shard counts', async () => {
    observer.republishRunEnded?.({ republished: 10, failed: 2, durationMs: 2_500 })
    observer.republishRunEnded?.({ republished: 0, failed: 0, durationMs: 1 })
    expect(await value(register, 'nsn_p2p_republish_runs_total')).toBe(2)
    expect(await value(register, 'nsn_p2p_republished_shards_total')).toBe(10)
    expect(await value(register, 'nsn_p2p_republish_failures_total')).toBe(2)
    const duration = await histogram(register, 'nsn_p2p_republish_duration_seconds')
    expect(duration.count).toBe(2)
    expect(duration.sum).toBeCloseTo(2.501, 6)
  })

  it('never throws on values prom-client would refuse', async () => {
    expect(() => {
      observer.queryEnded?.({ type: 'provide', result: 'ok', durationMs: Number.NaN })
      observer.queryEnded?.({ type: 'provide', result: 'ok', durationMs: -5 })
      observer.routingTableSizeChanged?.(-1)
      observer.republishRunEnded?.({ republished: -1, failed: Number.POSITIVE_INFINITY, durationMs: -1 })
    }).not.toThrow()
    expect(
      (
        await histogram(register, 'nsn_p2p_kademlia_query_duration_seconds', {
          type: 'provide',
          result: 'ok',
        })
      ).count,
    ).toBe(0)
    expect(await value(register, 'nsn_p2p_republish_runs_total')).toBe(1)
  })
})

describe('trackShardRouting', () => {
  it('reads the routing-table size and the stored records at scrape time, until undone', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    const routing = {
      size: 2,
      stored: 5,
      routingTableSize: () => routing.size,
      storedProviderRecords: async () => routing.stored,
    }
    const untrack = trackShardRouting(routing, metrics)
    expect(await value(register, 'nsn_p2p_kademlia_routing_table_size')).toBe(2)
    expect(await value(register, 'nsn_p2p_kademlia_provider_records_stored')).toBe(5)
    routing.size = 6
    routing.stored = 8
    expect(await value(register, 'nsn_p2p_kademlia_routing_table_size')).toBe(6)
    expect(await value(register, 'nsn_p2p_kademlia_provider_records_stored')).toBe(8)
    untrack()
    untrack()
    routing.size = 1
    expect(await value(register, 'nsn_p2p_kademlia_routing_table_size')).toBe(6)
  })

  it('reads the provider cache size at scrape time', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    const cache = { entries: 4, bytes: 4_096 }
    const untrack = trackShardRouting(
      { routingTableSize: () => 1, providerCacheStats: () => ({ ...cache }) },
      metrics,
    )
    expect(await value(register, 'nsn_p2p_provider_cache_entries')).toBe(4)
    expect(await value(register, 'nsn_p2p_provider_cache_bytes')).toBe(4_096)
    cache.entries = 0
    cache.bytes = 0
    expect(await value(register, 'nsn_p2p_provider_cache_entries')).toBe(0)
    untrack()
  })

  it('works without storedProviderRecords', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    const untrack = trackShardRouting({ routingTableSize: () => 3 }, metrics)
    expect(await value(register, 'nsn_p2p_kademlia_routing_table_size')).toBe(3)
    expect(await value(register, 'nsn_p2p_kademlia_provider_records_stored')).toBe(0)
    untrack()
  })
})
