// The stats summary from stubs: operations are the histogram's counts (never its buckets
// or sums), the cache hit rate, distinct peers of the connections.
import { createNsnMetrics } from '@nsn/metrics'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { collectStats } from '../src/index.js'

describe('collectStats', () => {
  it('reads what the node tracks', async () => {
    const metrics = createNsnMetrics(new Registry())
    const h = metrics.kademlia.queryDuration
    h.observe({ type: 'provide', result: 'ok' }, 0.5)
    h.observe({ type: 'provide', result: 'ok' }, 3)
    h.observe({ type: 'provide', result: 'error' }, 0.1)
    h.observe({ type: 'find_providers', result: 'timeout' }, 10)
    const peer = (id: string): { remotePeer: { toString(): string } } => ({
      remotePeer: { toString: () => id },
    })
    const stats = await collectStats({
      peerId: '12D3KooWself',
      version: '9.9.9',
      startedAt: 1_000,
      now: () => 61_000,
      routing: {
        routingTableSize: () => 7,
        storedProviderRecords: async () => 42,
        providerCacheStats: () => ({ entries: 2, bytes: 300, hits: 3, misses: 1 }),
      },
      registry: { size: 5, capacity: 100 },
      connections: () => [peer('a'), peer('a'), peer('b')],
      queryDuration: h,
    })
    expect(stats).toEqual({
      peerId: '12D3KooWself',
      version: '9.9.9',
      startedAt: 1_000,
      uptimeMs: 60_000,
      routingTableSize: 7,
      connections: { open: 3, peers: 2 },
      shards: { provided: 5, capacity: 100 },
      providerRecordsStored: 42,
      operations: {
        provide: { ok: 2, timeout: 0, error: 1 },
        find_providers: { ok: 0, timeout: 1, error: 0 },
        closest_peers: { ok: 0, timeout: 0, error: 0 },
        find_peer: { ok: 0, timeout: 0, error: 0 },
        bootstrap: { ok: 0, timeout: 0, error: 0 },
        refresh: { ok: 0, timeout: 0, error: 0 },
        republish: { ok: 0, timeout: 0, error: 0 },
      },
      providerCache: { hits: 3, misses: 1, hitRate: 0.75, entries: 2, bytes: 300 },
    })
  })

  it('no cache: null; a cache before any lookup: a null hit rate', async () => {
    const metrics = createNsnMetrics(new Registry())
    const base = {
      peerId: 'p',
      version: '1',
      startedAt: 0,
      registry: { size: 0, capacity: 1 },
      connections: () => [],
      queryDuration: metrics.kademlia.queryDuration,
    }
    const routing = { routingTableSize: () => 0, storedProviderRecords: async () => 0 }
    expect(
      (await collectStats({ ...base, routing: { ...routing, providerCacheStats: () => undefined } }))
        .providerCache,
    ).toBeNull()
    expect(
      (
        await collectStats({
          ...base,
          routing: { ...routing, providerCacheStats: () => ({ entries: 0, bytes: 0, hits: 0, misses: 0 }) },
        })
      ).providerCache,
    ).toMatchObject({ hitRate: null })
  })
})
