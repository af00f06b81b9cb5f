import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createMetricsObserver, createNsnMetrics, trackShardRegistry } from '../src/index.js'
import { checkMetrics, promtool } from './promtool.js'

/** A registry where every NSN metric has seen activity, plus process metrics. */
async function busyRegistry(): Promise<Registry> {
  const register = new Registry()
  const metrics = createNsnMetrics(register, { processMetrics: true })
  const observer = createMetricsObserver(metrics)
  observer.queryEnded?.({ type: 'provide', result: 'ok', durationMs: 230 })
  observer.queryEnded?.({ type: 'find_providers', result: 'timeout', durationMs: 10_002 })
  observer.routingTableSizeChanged?.(19)
  observer.providerRecordPublished?.({
    shard: 'ab'.repeat(32),
    confirmed: 20,
    sentTo: 20,
    belowQuorum: false,
    republish: false,
  })
  observer.bootstrapSucceeded?.({ connected: 3, failed: 0, routingTableSize: 19 })
  observer.bootstrapFailed?.({ connected: 0, failed: 1, routingTableSize: 19 })
  observer.republishRunEnded?.({ republished: 4, failed: 1, durationMs: 900 })
  metrics.kademlia.providerRecordsStored.set(31) // trackShardRouting reads it at scrape time
  metrics.connections.established.inc({ direction: 'inbound' })
  metrics.connections.closed.inc({ direction: 'inbound' })
  metrics.connections.failed.inc({ direction: 'outbound' })
  metrics.connections.duration.observe(12.5)
  metrics.connections.active.set(4)
  metrics.connections.peers.set(3)
  const registry = Object.assign(new (await import('node:events')).EventEmitter(), { size: 2, capacity: 10 })
  const untrack = trackShardRegistry(registry, metrics)
  registry.emit('removed', { reason: 'capacity' })
  await register.metrics()
  untrack()
  return register
}

describe('promtool check metrics', () => {
  it('is installed (the exposition check below must not be skipped)', async () => {
    const { code, stdout, stderr } = await promtool(['--version'])
    expect(code).toBe(0)
    expect(`${stdout}${stderr}`).toMatch(/promtool, version/)
  })

  it('passes on the text exposition of every NSN metric, with process metrics', async () => {
    const exposition = await (await busyRegistry()).metrics()
    expect(exposition).toContain('nsn_p2p_kademlia_query_timeouts_total{type="find_providers"} 1')
    const { code, stdout, stderr } = await checkMetrics(exposition)
    expect(`${stdout}${stderr}`).toBe('')
    expect(code).toBe(0)
  })

  it('passes on a fresh registry (every pre-initialised series at 0)', async () => {
    const register = new Registry()
    createNsnMetrics(register)
    const { code, stdout, stderr } = await checkMetrics(await register.metrics())
    expect(`${stdout}${stderr}`).toBe('')
    expect(code).toBe(0)
  })

  it('catches what it should: a counter without _total fails', async () => {
    const { code, stdout, stderr } = await checkMetrics(
      '# HELP bad_counter c\n# TYPE bad_counter counter\nbad_counter 1\n',
    )
    expect(code).not.toBe(0)
    expect(`${stdout}${stderr}`).toMatch(/_total/)
  })
})
