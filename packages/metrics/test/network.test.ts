import { parseShardKey, QueryTimeoutError, routingTableOf } from '@nsn/core'
import {
  connectionEvents,
  createSilentPeer,
  createTestNode,
  routingTableEvents,
  type SilentPeer,
  type TestNode,
  waitFor,
} from '@nsn/core/testing'
import { ShardRegistry } from '@nsn/shard-registry'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMetricsObserver,
  createNsnMetrics,
  type NsnMetrics,
  QUERY_DURATION_BUCKETS,
  trackLibp2pConnections,
  trackShardRegistry,
  trackShardRouting,
} from '../src/index.js'
import { histogram, total, value } from './helpers.js'

const SHARD = parseShardKey('ab'.repeat(32))

/**
 * The deadline of the timeout test, shrunk through `nsnKadDHT({ queryTimeout })` to a
 * bucket boundary as the real 10 s is (le="2.5" here, le="10" there); the real default
 * is waited out once, end to end, in integration-tests' deadline scenario, which checks
 * these buckets for it.
 */
const DEADLINE = 2_500

interface MeteredNode {
  node: TestNode
  register: Registry
  metrics: NsnMetrics
  untrack: Array<() => void>
}

const running: Array<{ stop(): Promise<void> }> = []

/** A real DHT node whose routing reports to its own metrics; `scrapeReads` adds trackShardRouting. */
async function meteredNode(
  options: { registry?: ShardRegistry; scrapeReads?: boolean; queryTimeout?: number } = {},
): Promise<MeteredNode> {
  const register = new Registry()
  const metrics = createNsnMetrics(register)
  const node = await createTestNode({
    // a per-request timeout past the deadline: the deadline, not the silent peer's request
    // timeout (core's per-peer request timeouts), ends the query under test
    ...(options.queryTimeout == null
      ? {}
      : {
          dht: {
            queryTimeout: options.queryTimeout,
            requestTimeouts: { unknownPeer: 2 * options.queryTimeout },
          },
        }),
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
  return routingTableOf(node.libp2p.services.dht).size
}

describe('metrics of a real 3-node network over TCP on 127.0.0.1', () => {
  it('one provide publishes exactly one record; routing-table, bootstrap and connection metrics follow the network', async () => {
    const registry = new ShardRegistry({ capacity: 1 })
    const [a, b, c] = await Promise.all([
      meteredNode({ registry }),
      meteredNode(),
      meteredNode({ scrapeReads: true }),
    ])
    await Promise.all([b, c].map((n) => n.node.routing.bootstrap([a.node.addr])))
    const all = [a, b, c]
    await waitFor(() => all.every((n) => n.node.routing.routingTableSize() === 2), {
      on: all.map((n) => routingTableEvents(n.node.libp2p)),
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
    const { confirmed, sentTo } = await a.node.routing.provide(SHARD)
    expect(confirmed).toBe(2)
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
    // c stores a's record and counts it at scrape time: c confirmed the store (a
    // GET_PROVIDERS after the ADD_PROVIDER listed a), so it holds it when provide resolves
    expect(await c.node.routing.storedProviderRecords()).toBe(1)
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
      on: connectionEvents(b.node.libp2p),
      what: 'b sees the close',
    })
    expect(await total(b.register, 'nsn_p2p_connections_closed_total')).toBeGreaterThanOrEqual(1)
  })

  it('a query cut by its deadline counts one timeout and lands past the le=<deadline> bucket', async () => {
    const silent: SilentPeer = await createSilentPeer()
    running.push(silent)
    const a = await meteredNode({ queryTimeout: DEADLINE })
    expect(a.node.routing.queryTimeout).toBe(DEADLINE)
    await a.node.libp2p.dial(silent.addr)
    await waitFor(() => a.node.routing.routingTableSize() === 1, {
      on: routingTableEvents(a.node.libp2p),
      what: 'the silent peer in the routing table',
    })
    expect(await value(a.register, 'nsn_p2p_kademlia_routing_table_size')).toBe(1)

    const started = performance.now()
    const err = await a.node.routing.findProviders(SHARD).catch((e: unknown) => e)
    const elapsed = performance.now() - started
    expect(err).toBeInstanceOf(QueryTimeoutError)
    expect((err as Error).message).toBe('DHT query timeout')
    expect(elapsed).toBeGreaterThanOrEqual(0.995 * DEADLINE)

    expect(await value(a.register, 'nsn_p2p_kademlia_query_timeouts_total', { type: 'find_providers' })).toBe(
      1,
    )
    expect(await total(a.register, 'nsn_p2p_kademlia_query_timeouts_total')).toBe(1)
    const series = await histogram(a.register, 'nsn_p2p_kademlia_query_duration_seconds', {
      type: 'find_providers',
      result: 'timeout',
    })
    const deadlineS = DEADLINE / 1000
    const next = QUERY_DURATION_BUCKETS.find((le) => le > deadlineS) as number
    expect(QUERY_DURATION_BUCKETS).toContain(deadlineS)
    expect(series.count).toBe(1)
    expect(series.buckets.get(String(deadlineS))).toBe(0)
    expect(series.buckets.get(String(next))).toBe(1)
    expect(series.sum).toBeGreaterThan(deadlineS)
    expect(Math.abs(series.sum - deadlineS)).toBeLessThan(0.1 * deadlineS)
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
