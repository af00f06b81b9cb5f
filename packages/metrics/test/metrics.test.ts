import {
  ANSWER_DROP_REASONS,
  ANSWER_REJECT_REASONS,
  INBOUND_REJECT_REASONS,
  INBOUND_REQUEST_TYPES,
  QUERY_RESULTS,
  QUERY_TYPES,
  ROUTING_REFUSAL_REASONS,
} from '@nsn/core'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import {
  collectProcessMetrics,
  createNsnMetrics,
  EVICTION_REASONS,
  METRIC_PREFIX,
  NONCOMPLIANT_DEFAULT_METRICS,
  QUERY_DURATION_BUCKETS,
  ROUTING_DIVERSITY_REFUSALS_METRIC,
} from '../src/index.js'
import { histogram, samples, value } from './helpers.js'

/** The metric names DESIGN.md asks for, with their prom-client type. */
const SPEC: Record<string, string> = {
  nsn_p2p_kademlia_routing_table_size: 'gauge',
  nsn_p2p_kademlia_query_duration_seconds: 'histogram',
  nsn_p2p_kademlia_query_timeouts_total: 'counter',
  nsn_p2p_kademlia_provider_records_published_total: 'counter',
  nsn_p2p_kademlia_bootstrap_success_total: 'counter',
  nsn_p2p_kademlia_bootstrap_failure_total: 'counter',
  nsn_p2p_kademlia_provider_records_stored: 'gauge',
  nsn_p2p_kademlia_inbound_requests_total: 'counter',
  nsn_p2p_kademlia_inbound_rejected_total: 'counter',
  nsn_p2p_kademlia_answers_rejected_total: 'counter',
  nsn_p2p_kademlia_answer_entries_dropped_total: 'counter',
  nsn_p2p_kademlia_peers_evicted_total: 'counter',
  nsn_p2p_kademlia_network_size_estimate: 'gauge',
  nsn_p2p_kademlia_optimistic_provides_total: 'counter',
  nsn_p2p_kademlia_optimistic_background_sends_total: 'counter',
  nsn_p2p_routing_diversity_refusals_total: 'counter',
  nsn_p2p_active_connections: 'gauge',
  nsn_p2p_connected_peers: 'gauge',
  nsn_p2p_connections_established_total: 'counter',
  nsn_p2p_connections_closed_total: 'counter',
  nsn_p2p_connections_failed_total: 'counter',
  nsn_p2p_connection_duration_seconds: 'histogram',
  nsn_p2p_shard_registry_size: 'gauge',
  nsn_p2p_shard_registry_capacity: 'gauge',
  nsn_p2p_shard_registry_evictions_total: 'counter',
  nsn_p2p_republish_runs_total: 'counter',
  nsn_p2p_republish_duration_seconds: 'histogram',
  nsn_p2p_republished_shards_total: 'counter',
  nsn_p2p_republish_failures_total: 'counter',
  nsn_p2p_sweep_cycle_progress_ratio: 'gauge',
  nsn_p2p_sweep_regions: 'gauge',
  nsn_p2p_sweep_pending_regions: 'gauge',
  nsn_p2p_sweep_cycle_lookups: 'gauge',
  nsn_p2p_sweep_lookups_total: 'counter',
  nsn_p2p_sweep_shards_republished_total: 'counter',
  nsn_p2p_sweep_overdue_shards_total: 'counter',
  nsn_p2p_sweep_placements_total: 'counter',
  nsn_p2p_sweep_region_retries_total: 'counter',
  nsn_p2p_sweep_region_duration_seconds: 'histogram',
  nsn_p2p_provider_cache_hits_total: 'counter',
  nsn_p2p_provider_cache_misses_total: 'counter',
  nsn_p2p_provider_cache_entries: 'gauge',
  nsn_p2p_provider_cache_bytes: 'gauge',
  nsn_p2p_provider_cache_evictions_total: 'counter',
  nsn_p2p_gossipsub_messages_published_total: 'counter',
  nsn_p2p_gossipsub_messages_received_total: 'counter',
  nsn_p2p_gossipsub_messages_rejected_total: 'counter',
  nsn_p2p_gossipsub_mesh_peers: 'gauge',
  // the seven NAT metrics (issue 14)
  nsn_p2p_nat_reachability: 'gauge',
  nsn_p2p_autonat_checks_total: 'counter',
  nsn_p2p_nat_port_mappings: 'gauge',
  nsn_p2p_relay_reservations: 'gauge',
  nsn_p2p_relayed_connections: 'gauge',
  nsn_p2p_hole_punches_total: 'counter',
  nsn_p2p_announced_public_addresses: 'gauge',
}

describe('createNsnMetrics', () => {
  it('declares every metric of the design, and only those, with the NSN naming rules', async () => {
    const register = new Registry()
    createNsnMetrics(register)
    const declared = await register.getMetricsAsJSON()
    expect(Object.fromEntries(declared.map((m) => [m.name, String(m.type)]))).toEqual(SPEC)
    for (const metric of declared) {
      // one named exception, a contract with the eclipse test (see its constant)
      if (metric.name !== ROUTING_DIVERSITY_REFUSALS_METRIC)
        expect(metric.name.startsWith(METRIC_PREFIX)).toBe(true)
      expect(metric.help.length, `${metric.name} has HELP`).toBeGreaterThan(10)
      expect(metric.help).not.toBe(metric.name)
      if (String(metric.type) === 'counter') expect(metric.name).toMatch(/_total$/)
      else expect(metric.name).not.toMatch(/_total$/)
      if (String(metric.type) === 'histogram') expect(metric.name).toMatch(/_seconds$/)
    }
  })

  it('groups metrics by subsystem', () => {
    const metrics = createNsnMetrics(new Registry())
    expect(Object.keys(metrics)).toEqual([
      'kademlia',
      'connections',
      'shardRegistry',
      'providerCache',
      'gossipsub',
      'nat',
      'republish',
      'sweep',
    ])
    expect((metrics.kademlia.queryDuration as unknown as { name: string }).name).toBe(
      'nsn_p2p_kademlia_query_duration_seconds',
    )
  })

  it('pre-initialises every query type × result, every eviction reason and both directions at 0', async () => {
    const register = new Registry()
    createNsnMetrics(register)
    for (const type of QUERY_TYPES) {
      expect(await samples(register, 'nsn_p2p_kademlia_query_timeouts_total')).toContainEqual(
        expect.objectContaining({ labels: { type }, value: 0 }),
      )
      for (const result of QUERY_RESULTS) {
        const series = await histogram(register, 'nsn_p2p_kademlia_query_duration_seconds', { type, result })
        expect(series.count).toBe(0)
        expect(series.buckets.size).toBe(QUERY_DURATION_BUCKETS.length + 1)
      }
    }
    for (const reason of EVICTION_REASONS) {
      expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason })).toBe(0)
    }
    for (const reason of INBOUND_REJECT_REASONS) {
      expect(await value(register, 'nsn_p2p_kademlia_inbound_rejected_total', { reason })).toBe(0)
    }
    for (const type of INBOUND_REQUEST_TYPES) {
      expect(await value(register, 'nsn_p2p_kademlia_inbound_requests_total', { type })).toBe(0)
    }
    for (const reason of ANSWER_REJECT_REASONS) {
      expect(await value(register, 'nsn_p2p_kademlia_answers_rejected_total', { reason })).toBe(0)
    }
    for (const reason of ANSWER_DROP_REASONS) {
      expect(await value(register, 'nsn_p2p_kademlia_answer_entries_dropped_total', { reason })).toBe(0)
    }
    expect(ROUTING_REFUSAL_REASONS).toEqual(['bucket', 'table', 'quarantine', 'answer'])
    for (const reason of ROUTING_REFUSAL_REASONS) {
      expect(await value(register, ROUTING_DIVERSITY_REFUSALS_METRIC, { reason })).toBe(0)
    }
    for (const direction of ['inbound', 'outbound']) {
      for (const name of ['established', 'closed', 'failed']) {
        expect(await samples(register, `nsn_p2p_connections_${name}_total`)).toContainEqual(
          expect.objectContaining({ labels: { direction }, value: 0 }),
        )
      }
    }
    const text = await register.metrics()
    expect(text).toContain('nsn_p2p_kademlia_query_timeouts_total{type="refresh"} 0')
    expect(text).toContain(
      'nsn_p2p_kademlia_query_duration_seconds_bucket{le="12.5",type="republish",result="timeout"} 0',
    )
  })

  it('query-duration buckets run from 1 ms to past the 10 s deadline', () => {
    expect(QUERY_DURATION_BUCKETS[0]).toBe(0.001)
    expect(QUERY_DURATION_BUCKETS).toContain(10)
    expect(QUERY_DURATION_BUCKETS.filter((b) => b > 10).length).toBeGreaterThanOrEqual(2)
    expect([...QUERY_DURATION_BUCKETS].sort((a, b) => a - b)).toEqual(QUERY_DURATION_BUCKETS)
  })

  it('two nodes in one process, each with its own registry, keep separate values', async () => {
    const registerA = new Registry()
    const registerB = new Registry()
    const a = createNsnMetrics(registerA)
    const b = createNsnMetrics(registerB)
    a.kademlia.providerRecordsPublished.inc()
    a.kademlia.providerRecordsPublished.inc()
    b.kademlia.providerRecordsPublished.inc()
    a.kademlia.routingTableSize.set(7)
    b.kademlia.queryTimeouts.inc({ type: 'provide' })
    expect(await value(registerA, 'nsn_p2p_kademlia_provider_records_published_total')).toBe(2)
    expect(await value(registerB, 'nsn_p2p_kademlia_provider_records_published_total')).toBe(1)
    expect(await value(registerA, 'nsn_p2p_kademlia_routing_table_size')).toBe(7)
    expect(await value(registerB, 'nsn_p2p_kademlia_routing_table_size')).toBe(0)
    expect(await value(registerA, 'nsn_p2p_kademlia_query_timeouts_total', { type: 'provide' })).toBe(0)
    expect(await value(registerB, 'nsn_p2p_kademlia_query_timeouts_total', { type: 'provide' })).toBe(1)
  })

  it('never touches prom-client’s global registry', async () => {
    const { register: globalRegister } = await import('prom-client')
    const before = globalRegister.getMetricsAsArray().length
    createNsnMetrics(new Registry(), { processMetrics: true })
    expect(globalRegister.getMetricsAsArray().length).toBe(before)
    expect(globalRegister.getSingleMetric('nsn_p2p_active_connections')).toBeUndefined()
  })

  it('refuses a second declaration on the same registry', () => {
    const register = new Registry()
    createNsnMetrics(register)
    expect(() => createNsnMetrics(register)).toThrow(/already been registered/)
  })

  it('adds process metrics on request, once', async () => {
    const register = new Registry()
    createNsnMetrics(register, { processMetrics: true })
    expect(register.getSingleMetric('process_cpu_user_seconds_total')).toBeDefined()
    expect(register.getSingleMetric('nodejs_eventloop_lag_seconds')).toBeDefined()
    // promtool rejects these gauges named _total; their labelled twins stay
    for (const name of NONCOMPLIANT_DEFAULT_METRICS) {
      expect(register.getSingleMetric(name)).toBeUndefined()
      expect(register.getSingleMetric(name.replace(/_total$/, ''))).toBeDefined()
    }
    expect(() => collectProcessMetrics(register)).not.toThrow()
    const plain = new Registry()
    createNsnMetrics(plain)
    expect(plain.getSingleMetric('process_cpu_user_seconds_total')).toBeUndefined()
  })

  it('collectable gauges read their sources at scrape time and survive a failing one', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    let size = 3
    const remove = metrics.shardRegistry.size.addCollect((gauge) => gauge.set(size))
    const removeBroken = metrics.shardRegistry.size.addCollect(() => {
      throw new Error('source gone')
    })
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(3)
    size = 5
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(5)
    remove()
    removeBroken()
    size = 9
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(5)
    const removeAsync = metrics.kademlia.providerRecordsStored.addCollect(async (gauge) => {
      await new Promise(setImmediate) // a collect that settles on a later turn of the event loop
      gauge.set(42)
    })
    const removeRejecting = metrics.kademlia.providerRecordsStored.addCollect(async () => {
      throw new Error('datastore closed')
    })
    expect(await value(register, 'nsn_p2p_kademlia_provider_records_stored')).toBe(42)
    removeAsync()
    removeRejecting()
  })
})
