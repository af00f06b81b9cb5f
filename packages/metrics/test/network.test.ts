import { parseShardKey, QUERY_TIMEOUT, QueryTimeoutError } from '@nsn/core'
import { createSilentPeer, createTestNode, type SilentPeer, type TestNode, waitFor } from '@nsn/core/testing'
import { ShardRegistry } from '@nsn/shard-registry'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMetricsObserver,
  createNsnMetrics,
  type NsnMetrics,
  trackLibp2pConnections,
  trackShardRegistry,
  trackShardRouting,
} from '../src/index.js'
import { histogram, total, value } from './helpers.js'

const SHARD = parseShardKey('ab'.repeat(32))

interface MeteredNode {
  node: TestNode
  register: Registry
  metrics: NsnMetrics
  untrack: Array<() => void>
}

const running: Array<{ stop(): Promise<void> }> = []

/** A real DHT node whose routing reports to its own metrics; `scrapeReads` adds trackShardRouting. */
async function meteredNode(
  options: { registry?: ShardRegistry; scrapeReads?: boolean } = {},
): Promise<MeteredNode> {
  const register = new Registry()
  const metrics = createNsnMetrics(register)
  const node = await createTestNode({
    routing: {
      observer: createMetricsObserver(metrics),
      ...(options.registry ? { registry: options.registry } : {}),
    },
  })
  const untrack = [trackLibp2pConnections(node.libp2p, metrics)]
  if (options.scrapeReads === true) untrack.push(trackShardRouting(node.routing, metrics))
  if (options.registry) untrack.push(trackShardRegistry(options.registry, metrics))
  running.push({
    async stop() {
      for (const fn of untrack) fn()
      await node.stop()
    },
  })
  return { node, register, metrics, untrack }
}

afterEach(async () => {
  const stopping = running.splice(0)
  const results = await Promise.allSettled(stopping.map((n) => n.stop()))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) throw failed.reason
})

/** The DHT's own routing-table size, read from kad-dht (not through ShardRouting). */
function kadTableSize(node: TestNode): number {
  return (node.libp2p.services.dht as unknown as { routingTable: { size: number } }).routingTable.size
}

describe('metrics of a real 3-node network over TCP on 127.0.0.1', () => {
  it('one provide publishes exactly one record; routing-table, bootstrap and connection metrics follow the network', async () => {
    const registry = new ShardRegistry({ capacity: 1 })
    const a = await meteredNode({ registry })
    const b = await meteredNode()
    const c = await meteredNode({ scrapeReads: true })
    await b.node.routing.bootstrap([a.node.addr])
    await c.node.routing.bootstrap([a.node.addr])
    const all = [a, b, c]
    await waitFor(() => all.every((n) => n.node.routing.routingTableSize() === 2), {
      what: 'full routing tables',
    })

    // routing table: driven by core's events alone (a, b), and read at scrape time (c)
    for (const n of all) {
      expect(await value(n.register, 'nsn_p2p_kademlia_routing_table_size')).toBe(
        n.node.routing.routingTableSize(),
      )
      expect(await value(n.register, 'nsn_p2p_kademlia_routing_table_size')).toBe(kadTableSize(n.node))
    }
    expect(await value(b.register, 'nsn_p2p_kademlia_bootstrap_success_total')).toBe(1)
    expect(await value(b.register, 'nsn_p2p_kademlia_bootstrap_failure_total')).toBe(0)
    expect(await value(a.register, 'nsn_p2p_kademlia_bootstrap_success_total')).toBe(0)

    // provide: +1 exactly, one ok provide query
    const before = await value(a.register, 'nsn_p2p_kademlia_provider_records_published_total')
    expect(before).toBe(0)
    const { sentTo } = await a.node.routing.provide(SHARD)
    expect(sentTo).toBe(2)
    expect(await value(a.register, 'nsn_p2p_kademlia_provider_records_published_total')).toBe(before + 1)
    expect(
      (
        await histogram(a.register, 'nsn_p2p_kademlia_query_duration_seconds', {
          type: 'provide',
          result: 'ok',
        })
      ).count,
    ).toBe(1)
    expect(await total(a.register, 'nsn_p2p_kademlia_query_timeouts_total')).toBe(0)
    expect(await value(b.register, 'nsn_p2p_kademlia_provider_records_published_total')).toBe(0)
    // c stores a's record and counts it at scrape time
    expect(await value(c.register, 'nsn_p2p_kademlia_provider_records_stored')).toBe(
      await c.node.routing.storedProviderRecords(),
    )
    expect(await value(c.register, 'nsn_p2p_kademlia_provider_records_stored')).toBe(1)

    // the registry of a (capacity 1): a second provide evicts the first shard
    expect(await value(a.register, 'nsn_p2p_shard_registry_size')).toBe(1)
    await a.node.routing.provide(parseShardKey('cd'.repeat(32)))
    expect(await value(a.register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'capacity' })).toBe(1)
    expect(await value(a.register, 'nsn_p2p_kademlia_provider_records_published_total')).toBe(2)
    expect(await value(a.register, 'nsn_p2p_shard_registry_capacity')).toBe(1)

    // connections: a accepted one from b and one from c
    const open = a.node.libp2p.getConnections().length
    expect(open).toBeGreaterThanOrEqual(2)
    expect(await value(a.register, 'nsn_p2p_active_connections')).toBe(open)
    expect(await value(a.register, 'nsn_p2p_connected_peers')).toBe(2)
    expect(await total(a.register, 'nsn_p2p_connections_established_total')).toBe(open)
    expect(await total(a.register, 'nsn_p2p_connections_closed_total')).toBe(0)

    // closing the connections to b moves closed_total, duration and active
    const toB = a.node.libp2p.getConnections(b.node.libp2p.peerId).length
    expect(toB).toBeGreaterThanOrEqual(1)
    await a.node.libp2p.hangUp(b.node.libp2p.peerId)
    expect(await total(a.register, 'nsn_p2p_connections_closed_total')).toBe(toB)
    expect((await histogram(a.register, 'nsn_p2p_connection_duration_seconds')).count).toBe(toB)
    expect(await value(a.register, 'nsn_p2p_active_connections')).toBe(a.node.libp2p.getConnections().length)
    expect(await value(a.register, 'nsn_p2p_connected_peers')).toBe(a.node.libp2p.getPeers().length)
    await waitFor(() => b.node.libp2p.getConnections(a.node.libp2p.peerId).length === 0, {
      what: 'b sees the close',
    })
    expect(await total(b.register, 'nsn_p2p_connections_closed_total')).toBeGreaterThanOrEqual(1)
  })

  it('a query cut by the real 10 s deadline counts one timeout and lands past the le="10" bucket', async () => {
    expect(QUERY_TIMEOUT).toBe(10_000)
    const silent: SilentPeer = await createSilentPeer()
    running.push(silent)
    const a = await meteredNode()
    await a.node.libp2p.dial(silent.addr)
    await waitFor(() => a.node.routing.routingTableSize() === 1, {
      what: 'the silent peer in the routing table',
    })
    expect(await value(a.register, 'nsn_p2p_kademlia_routing_table_size')).toBe(1)

    const started = performance.now()
    const err = await a.node.routing.findProviders(SHARD).catch((e: unknown) => e)
    const elapsed = performance.now() - started
    expect(err).toBeInstanceOf(QueryTimeoutError)
    expect((err as Error).message).toBe('DHT query timeout')
    expect(elapsed).toBeGreaterThanOrEqual(QUERY_TIMEOUT - 50)

    expect(await value(a.register, 'nsn_p2p_kademlia_query_timeouts_total', { type: 'find_providers' })).toBe(
      1,
    )
    expect(await total(a.register, 'nsn_p2p_kademlia_query_timeouts_total')).toBe(1)
    const series = await histogram(a.register, 'nsn_p2p_kademlia_query_duration_seconds', {
      type: 'find_providers',
      result: 'timeout',
    })
    expect(series.count).toBe(1)
    expect(series.buckets.get('10')).toBe(0)
    expect(series.buckets.get('12.5')).toBe(1)
    expect(series.sum).toBeGreaterThan(10)
    expect(Math.abs(series.sum - 10)).toBeLessThan(1)
    expect(
      (
        await histogram(a.register, 'nsn_p2p_kademlia_query_duration_seconds', {
          type: 'find_providers',
          result: 'ok',
        })
      ).count,
    ).toBe(0)
  })
})
