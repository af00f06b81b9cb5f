// The README's example, as a test: a node with libp2p's metrics, NSN's metrics and the server.
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { nsnKadDHT, ShardRouting } from '@nsn/core'
import { ShardRegistry } from '@nsn/shard-registry'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { expect, it } from 'vitest'
import {
  connectionFailureMetrics,
  createMetricsObserver,
  createNsnMetrics,
  startMetricsServer,
  trackLibp2pConnections,
  trackShardRegistry,
  trackShardRouting,
} from '../src/index.js'

it('the README example serves libp2p_, nsn_p2p_ and process metrics from one registry', async () => {
  const register = new Registry()
  const metrics = createNsnMetrics(register, { processMetrics: true })
  const libp2p = await createLibp2p({
    start: false,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    metrics: connectionFailureMetrics(metrics, {
      forward: prometheusMetrics({ registry: register, collectDefaultMetrics: false }),
    }),
    services: { identify: identify(), ping: ping(), dht: nsnKadDHT() },
  })
  const untrackConnections = trackLibp2pConnections(libp2p, metrics)
  await libp2p.start()

  const registry = new ShardRegistry({ capacity: 10_000 })
  const untrackRegistry = trackShardRegistry(registry, metrics)
  const routing = new ShardRouting(libp2p, { registry, observer: createMetricsObserver(metrics) })
  const untrackRouting = trackShardRouting(routing, metrics)
  await routing.start()

  const server = await startMetricsServer({ register, port: 0 })
  try {
    const res = await fetch(server.url)
    expect(res.status).toBe(200)
    const body = await res.text()
    expect(body).toContain('nsn_p2p_kademlia_routing_table_size 0')
    expect(body).toContain('nsn_p2p_shard_registry_capacity 10000')
    expect(body).toMatch(/^libp2p_kad_dht_routing_table_size /m)
    expect(body).toMatch(/^process_cpu_user_seconds_total /m)
  } finally {
    await server.close()
    untrackRouting()
    untrackRegistry()
    untrackConnections()
    await routing.stop()
    await libp2p.stop()
  }
})
