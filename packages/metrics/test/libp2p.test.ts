import type { AddressInfo } from 'node:net'
import { createServer as createTcpServer, type Server, type Socket, connect as tcpConnect } from 'node:net'
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
import {
  connectionFailureMetrics,
  createNsnMetrics,
  type NsnMetrics,
  trackLibp2pConnections,
} from '../src/index.js'
import { histogram, total, value } from './helpers.js'
import { checkMetrics } from './promtool.js'

interface Node {
  libp2p: Libp2p
  register: Registry
  metrics: NsnMetrics
  untrack: () => void
}

const nodes: Node[] = []

interface NodeOptions {
  /** libp2p's own metrics on the same registry, forwarded by the failure counter. */
  libp2pMetrics?: boolean
  /** Pass `connectionFailureMetrics` as libp2p's metrics component. Default true. */
  failureMetrics?: boolean
  /** Inbound connections allowed while upgrading; 0 refuses every inbound connection. */
  maxIncomingPendingConnections?: number
}

/**
 * A libp2p node on 127.0.0.1, tracked before it starts, that counts failed connections
 * through its metrics component; optionally with libp2p's own metrics on the same registry.
 */
async function startNode(options: NodeOptions = {}): Promise<Node> {
  const register = new Registry()
  const metrics = createNsnMetrics(register, { processMetrics: options.libp2pMetrics === true })
  const libp2p = await createLibp2p({
    start: false,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      inboundConnectionThreshold: 10_000,
      maxIncomingPendingConnections: options.maxIncomingPendingConnections ?? 1_000,
    },
    connectionMonitor: { enabled: false },
    ...(options.failureMetrics === false
      ? {}
      : {
          metrics: connectionFailureMetrics(metrics, {
            ...(options.libp2pMetrics === true
              ? { forward: prometheusMetrics({ registry: register, collectDefaultMetrics: false }) }
              : {}),
          }),
        }),
    services: { identify: identify(), ping: ping() },
  })
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

/** `node`'s listen address with another TCP port (and no peer id). */
function tcpAddress(node: Node, port: number): ReturnType<Libp2p['getMultiaddrs']>[number] {
  return node.libp2p.getMultiaddrs()[0]!.decapsulate('/tcp').encapsulate(`/tcp/${port}`)
}

/** Host and port of `node`'s first listen address. */
function hostPort(node: Node): [string, number] {
  const [, host, port] = /^\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(node.libp2p.getMultiaddrs()[0]!.toString()) ?? []
  return [host!, Number(port)]
}

/** Raw TCP servers of the test, with their open sockets. */
const servers: Array<{ server: Server; sockets: Set<Socket> }> = []

/** One length-prefixed multistream-select message. */
function mssMessage(text: string): Buffer {
  const bytes = Buffer.from(`${text}\n`)
  return Buffer.concat([Buffer.from([bytes.length]), bytes])
}

/**
 * A TCP server on 127.0.0.1 that accepts connections but refuses every protocol the dialer
 * proposes ("na"): the TCP connect succeeds, the upgrade fails.
 */
async function refusingServer(): Promise<{ port: number }> {
  const sockets = new Set<Socket>()
  const server = createTcpServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.on('data', () => socket.write(Buffer.concat([mssMessage('/multistream/1.0.0'), mssMessage('na')])))
  })
  servers.push({ server, sockets })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port }
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(({ server, sockets }) => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      for (const socket of sockets) socket.destroy()
      return closed
    }),
  )
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

  it('undoing stops the event counts; failures, counted by the metrics component, go on', async () => {
    const a = await startNode()
    const b = await startNode()
    // nothing of libp2p is patched: its transport manager and upgrader keep their own methods
    const components = (a.libp2p as unknown as { components: Record<string, Record<string, unknown>> })
      .components
    expect(Object.hasOwn(components.transportManager!, 'dial')).toBe(false)
    expect(Object.hasOwn(components.upgrader!, 'upgradeInbound')).toBe(false)
    a.untrack()
    a.untrack()
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
    expect(await value(a.register, 'nsn_p2p_active_connections')).toBe(0)
    // the metrics component belongs to the node, not to trackLibp2pConnections
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(1)
  })
})

describe('failed connections, counted through libp2p’s metrics component', () => {
  it('without the component nothing counts them: the count comes from the public metrics path', async () => {
    const a = await startNode({ failureMetrics: false })
    const b = await startNode({ failureMetrics: false })
    await expect(a.libp2p.dial(tcpAddress(b, await closedPort()))).rejects.toThrow()
    const [host, port] = hostPort(b)
    const socket = tcpConnect(port, host)
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    socket.end('this is not multistream-select\n')
    await new Promise((resolve) => socket.once('close', resolve))
    await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await waitFor(async () => (await value(b.register, 'nsn_p2p_active_connections')) === 1, {
      on: connectionEvents(b.libp2p),
      what: 'b sees the connection',
    })
    expect(await total(a.register, 'nsn_p2p_connections_established_total')).toBe(1)
    expect(await total(a.register, 'nsn_p2p_connections_failed_total')).toBe(0)
    expect(await total(b.register, 'nsn_p2p_connections_failed_total')).toBe(0)
  })

  it('a dial whose upgrade fails after TCP connected counts one outbound failure, not two', async () => {
    const a = await startNode({ libp2pMetrics: true }) // to see what libp2p itself counted
    const server = await refusingServer()
    await expect(a.libp2p.dial(tcpAddress(a, server.port))).rejects.toThrow(/could not negotiate/)
    const dialer = 'libp2p_tcp_dialer_events_total'
    // TCP connected, the upgrader failed, the transport aborted the socket: one failure
    expect(await value(a.register, dialer, { event: 'connect' })).toBe(1)
    expect(
      await value(a.register, 'libp2p_connection_manager_dial_errors_total', {
        libp2p_connection_manager_dial_errors_total: 'outbound',
      }),
    ).toBe(1)
    expect(await value(a.register, 'libp2p_tcp_dialer_errors_total', { event: 'outbound_upgrade' })).toBe(1)
    expect(await value(a.register, dialer, { event: 'end' })).toBe(1)
    expect(await value(a.register, dialer, { event: 'abort' })).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'inbound' })).toBe(0)
    expect(await total(a.register, 'nsn_p2p_connections_established_total')).toBe(0)
  })

  it('a TCP connect aborted before the socket opened counts one outbound failure', async () => {
    const a = await startNode({ libp2pMetrics: true }) // to see what libp2p itself counted
    const b = await startNode()
    const controller = new AbortController()
    const opening: string[] = []
    await expect(
      a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!, {
        signal: controller.signal,
        onProgress: (event) => {
          const type: string = event.type // @libp2p/tcp's own events are not in libp2p's union
          if (type !== 'tcp:open-connection') return
          opening.push(type)
          // after the transport started connecting, before the socket can open (an I/O turn)
          queueMicrotask(() => controller.abort())
        },
      }),
    ).rejects.toThrow()
    expect(opening).toEqual(['tcp:open-connection'])
    expect(await value(a.register, 'libp2p_tcp_dialer_events_total', { event: 'abort' })).toBe(1)
    expect(await value(a.register, 'libp2p_tcp_dialer_events_total', { event: 'connect' })).toBe(0)
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'inbound' })).toBe(0)
    expect(await total(a.register, 'nsn_p2p_connections_established_total')).toBe(0)
  })

  it('an inbound connection refused by the connection manager counts once on each side', async () => {
    const a = await startNode()
    const b = await startNode({ maxIncomingPendingConnections: 0 }) // refuses every inbound connection
    await expect(a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)).rejects.toThrow()
    await waitFor(
      async () =>
        (await value(b.register, 'nsn_p2p_connections_failed_total', { direction: 'inbound' })) === 1,
      { what: 'b refuses the connection' },
    )
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(1)
    expect(await value(a.register, 'nsn_p2p_connections_failed_total', { direction: 'inbound' })).toBe(0)
    expect(await value(b.register, 'nsn_p2p_connections_failed_total', { direction: 'outbound' })).toBe(0)
    expect(await total(b.register, 'nsn_p2p_connections_established_total')).toBe(0)
  })

  it('an established connection aborted on a local error is no failed attempt', async () => {
    const a = await startNode()
    const b = await startNode()
    const connection = await a.libp2p.dial(b.libp2p.getMultiaddrs()[0]!)
    await waitFor(async () => (await value(b.register, 'nsn_p2p_active_connections')) === 1, {
      on: connectionEvents(b.libp2p),
      what: 'b sees the connection',
    })
    connection.abort(new Error('aborted by the test'))
    await waitFor(async () => (await value(b.register, 'nsn_p2p_active_connections')) === 0, {
      on: connectionEvents(b.libp2p),
      what: 'b sees the close',
    })
    expect(await value(a.register, 'nsn_p2p_connections_closed_total', { direction: 'outbound' })).toBe(1)
    expect(await total(a.register, 'nsn_p2p_connections_failed_total')).toBe(0)
    expect(await total(b.register, 'nsn_p2p_connections_failed_total')).toBe(0)
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
      expect(names.filter((n) => n.startsWith('nsn_p2p_')).length).toBe(55)
      expect(names).toContain('libp2p_connection_manager_dials_total')
      expect(names).toContain('libp2p_tcp_listener_events_total')
      expect(names).toContain('process_cpu_user_seconds_total')
      expect(names).toContain('nsn_p2p_routing_diversity_refusals_total')
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
