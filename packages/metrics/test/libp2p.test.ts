import type { AddressInfo } from 'node:net'
import { createServer as createTcpServer, connect as tcpConnect } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Libp2p } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { tcp } from '@libp2p/tcp'
import { connectionEvents, waitFor } from '@nsn/core/testing'
import { createLibp2p } from 'libp2p'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createNsnMetrics, type NsnMetrics, trackLibp2pConnections } from '../src/index.js'
import { histogram, total, value } from './helpers.js'
import { checkMetrics } from './promtool.js'

interface Node {
  libp2p: Libp2p
  register: Registry
  metrics: NsnMetrics
  untrack: () => void
}

const nodes: Node[] = []

/** A libp2p node on 127.0.0.1, tracked before it starts; optionally with libp2p's own metrics on the same registry. */
async function startNode(options: { libp2pMetrics?: boolean } = {}): Promise<Node> {
  const register = new Registry()
  const libp2p = await createLibp2p({
    start: false,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1_000 },
    connectionMonitor: { enabled: false },
    ...(options.libp2pMetrics === true
      ? { metrics: prometheusMetrics({ registry: register, collectDefaultMetrics: false }) }
      : {}),
    services: { identify: identify(), ping: ping() },
  })
  const metrics = createNsnMetrics(register, { processMetrics: options.libp2pMetrics === true })
  const untrack = trackLibp2pConnections(libp2p, metrics)
  const node = { libp2p, register, metrics, untrack }
  nodes.push(node)
  await libp2p.start()
  return node
}

/** A TCP port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

afterEach(async () => {
  const stopping = nodes.splice(0)
  for (const node of stopping) node.untrack()
  await Promise.all(stopping.map((node) => node.libp2p.stop()))
})

describe('trackLibp2pConnections on real libp2p nodes', () => {
  it('opening and closing a connection moves active, peers, established, closed and duration', async () => {
    const a = await startNode()
    const b = await startNode()
    const addr = b.libp2p.getMultiaddrs()[0]
    if (addr == null) throw new Error('no listen address')

    const dialAt = Date.now()
    const connection = await a.libp2p.dial(addr)
    const openAt = Date.now()
    await waitFor(async () => (await value(b.register, 'nsn_p2p_active_connections')) === 1, {
      on: connectionEvents(b.libp2p),
      what: 'b sees the connection',
    })
    expect(await value(a.register, 'nsn_p2p_active_connections')).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connected_peers')).toBe(1)
    expect(await value(b.register, 'nsn_p2p_connected_peers')).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connections_established_total', { direction: 'outbound' })).toBe(
      1,
    )
    expect(await value(a.register, 'nsn_p2p_connections_established_total', { direction: 'inbound' })).toBe(0)
    expect(await value(b.register, 'nsn_p2p_connections_established_total', { direction: 'inbound' })).toBe(1)
    expect(await total(a.register, 'nsn_p2p_connections_closed_total')).toBe(0)
    expect((await histogram(a.register, 'nsn_p2p_connection_duration_seconds')).count).toBe(0)

    // the connection opened between dialAt and openAt, and closes between hangUpAt and closedAt
    const hangUpAt = Date.now()
    await a.libp2p.hangUp(b.libp2p.peerId)
    const closedAt = Date.now()
    await waitFor(async () => (await value(b.register, 'nsn_p2p_active_connections')) === 0, {
      on: connectionEvents(b.libp2p),
      what: 'b sees the close',
    })
    expect(connection.status).toBe('closed')
    expect(await value(a.register, 'nsn_p2p_active_connections')).toBe(0)
    expect(await value(a.register, 'nsn_p2p_connected_peers')).toBe(0)
    expect(await value(a.register, 'nsn_p2p_connections_closed_total', { direction: 'outbound' })).toBe(1)
    expect(await value(b.register, 'nsn_p2p_connections_closed_total', { direction: 'inbound' })).toBe(1)
    const duration = await histogram(a.register, 'nsn_p2p_connection_duration_seconds')
    expect(duration.count).toBe(1)
    expect(duration.sum).toBeGreaterThanOrEqual((hangUpAt - openAt) / 1000)
    expect(duration.sum).toBeLessThanOrEqual((closedAt - dialAt) / 1000)
    expect(duration.sum).toBeLessThan(5)
    expect((await histogram(b.register, 'nsn_p2p_connection_duration_seconds')).count).toBe(1)
    expect(await total(a.register, 'nsn_p2p_connections_failed_total')).toBe(0)
  })

  it('counts an outbound dial to a closed port as one failed connection', async () => {
    const a = await startNode()
    const b = await startNode()
    const port = await closedPort()
    await expect(
      a.libp2p.dial(
        b.libp2p.getMultiaddrs()[0]!.decapsulate('/tcp').encapsulate(`/tcp/${port}/p2p/${b.libp2p.peerId}`),
      ),
    ).rejects.toThrow()
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'inbound' })).toBe(0)
    expect(await total(a.register, 'nsn_p2p_connections_established_total')).toBe(0)
  })

  it('counts an inbound connection whose upgrade fails as one failed connection', async () => {
    const b = await startNode()
    const [, host, port] = /^\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(b.libp2p.getMultiaddrs()[0]!.toString()) ?? []
    const socket = tcpConnect(Number(port), host!)
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    socket.end('this is not multistream-select\n')
    // counted when libp2p's upgrader rejects (no event tells of it): polled
    await waitFor(
      async () =>
        (await value(b.register, 'nsn_p2p_connections_failed_total', { direction: 'inbound' })) === 1,
      { what: 'the failed inbound upgrade' },
    )
    socket.destroy()
    expect(await value(b.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(0)
    expect(await total(b.register, 'nsn_p2p_connections_established_total')).toBe(0)
  })

  it('undoing restores libp2p’s own methods and stops counting', async () => {
    const a = await startNode()
    const b = await startNode()
    const components = (a.libp2p as unknown as { components: Record<string, Record<string, unknown>> })
      .components
    const transportManager = components.transportManager!
    const upgrader = components.upgrader!
    expect(Object.hasOwn(transportManager, 'dial')).toBe(true)
    expect(Object.hasOwn(upgrader, 'upgradeInbound')).toBe(true)
    a.untrack()
    a.untrack()
    expect(Object.hasOwn(transportManager, 'dial')).toBe(false)
    expect(Object.hasOwn(upgrader, 'upgradeInbound')).toBe(false)
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await expect(
      a.libp2p.dial(
        b.libp2p
          .getMultiaddrs()[0]!
          .decapsulate('/tcp')
          .encapsulate(`/tcp/${await closedPort()}`),
      ),
    ).rejects.toThrow()
    expect(await total(a.register, 'nsn_p2p_connections_established_total')).toBe(0)
    expect(await total(a.register, 'nsn_p2p_connections_failed_total')).toBe(0)
    expect(await value(a.register, 'nsn_p2p_active_connections')).toBe(0)
  })
})

describe('libp2p’s own metrics in the node’s registry', () => {
  it('join the same registry as libp2p_* beside nsn_p2p_*, without clashes, separately per node', async () => {
    // one node at a time: @libp2p/prometheus-metrics caches metrics by name in a module-global
    // map that each new node clears, so a node must be started before the next is created
    const a = await startNode({ libp2pMetrics: true })
    const b = await startNode({ libp2pMetrics: true })
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await waitFor(async () => (await value(b.register, 'nsn_p2p_active_connections')) === 1, {
      on: connectionEvents(b.libp2p),
      what: 'the connection',
    })

    for (const node of [a, b]) {
      const names = node.register.getMetricsAsArray().map((m) => m.name)
      expect(new Set(names).size).toBe(names.length)
      expect(names.filter((n) => n.startsWith('nsn_p2p_')).length).toBe(20)
      expect(names).toContain('libp2p_connection_manager_dials_total')
      expect(names).toContain('libp2p_tcp_listener_events_total')
      expect(names).toContain('process_cpu_user_seconds_total')
      expect(names.every((n) => /^(nsn_p2p_|libp2p_|process_|nodejs_)/.test(n))).toBe(true)
    }
    // each registry holds its own node's libp2p values
    const connections = async (node: Node): Promise<string> =>
      (await node.register.metrics())
        .split('\n')
        .filter((l) => l.startsWith('libp2p_connection_manager_connections{'))
        .join('\n')
    expect(await connections(a)).toContain('="outbound"} 1')
    expect(await connections(a)).toContain('="inbound"} 0')
    expect(await connections(b)).toContain('="inbound"} 1')
    expect(await connections(b)).toContain('="outbound"} 0')

    // the exposition parses; promtool's only complaints are upstream libp2p names
    const { stdout, stderr } = await checkMetrics(await a.register.metrics())
    const problems = `${stdout}${stderr}`.split('\n').filter((l) => l.trim() !== '')
    expect(problems.every((line) => line.startsWith('libp2p_'))).toBe(true)
  })

  it('upstream pitfall (README): nodes created together, then started, share start-time libp2p metrics', async () => {
    const make = async (register: Registry): Promise<Libp2p> => {
      const libp2p = await createLibp2p({
        start: false,
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        metrics: prometheusMetrics({ registry: register, collectDefaultMetrics: false }),
      })
      nodes.push({ libp2p, register, metrics: createNsnMetrics(register), untrack: () => {} })
      return libp2p
    }
    const registerA = new Registry()
    const registerB = new Registry()
    const a = await make(registerA)
    const b = await make(registerB)
    await a.start()
    await b.start()
    // b's TCP listener metrics went to a's registry: this is why nodes are started one by one
    expect(registerA.getSingleMetric('libp2p_tcp_listener_events_total')).toBeDefined()
    expect(registerB.getSingleMetric('libp2p_tcp_listener_events_total')).toBeUndefined()
  })
})
