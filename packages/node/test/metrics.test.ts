// The assembled node counts failed connection attempts through libp2p's metrics component
// (NodeMetrics.libp2pMetrics passed to createLibp2p), and serves them on /metrics.
import { type AddressInfo, createServer, connect as tcpConnect } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createNsnNode, type NsnNode, silentLogger } from '../src/index.js'
import { TempDirs, waitUntil } from './helpers.js'

const dirs = new TempDirs()
const nodes: NsnNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})
afterAll(() => dirs.cleanup())

async function node(): Promise<NsnNode> {
  const n = await createNsnNode({
    profile: 'local',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    api: '127.0.0.1:0',
    metrics: '127.0.0.1:0',
    dataDir: await dirs.make(),
    connectionMonitorInterval: 0,
    processMetrics: false,
    logger: silentLogger(),
  })
  nodes.push(n)
  await n.start()
  return n
}

/** The node's `nsn_p2p_connections_failed_total` samples, scraped from its /metrics endpoint. */
async function failed(n: NsnNode): Promise<{ inbound: number; outbound: number }> {
  const address = n.metricsAddress
  if (address == null) throw new Error('no metrics server')
  const text = await (await fetch(`http://${address.host}:${address.port}/metrics`)).text()
  const sample = (direction: string): number => {
    const match = new RegExp(
      `^nsn_p2p_connections_failed_total\\{direction="${direction}"\\} (\\d+)$`,
      'm',
    ).exec(text)
    if (match == null) throw new Error(`no ${direction} sample in /metrics`)
    return Number(match[1])
  }
  return { inbound: sample('inbound'), outbound: sample('outbound') }
}

/** A TCP port on 127.0.0.1 that nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

describe('failed connections of the assembled node', () => {
  it('a failed dial counts one outbound failure, a failed inbound upgrade one inbound', async () => {
    const n = await node()
    expect(await failed(n)).toEqual({ inbound: 0, outbound: 0 })

    const listen = n.libp2p.getMultiaddrs()[0]
    if (listen == null) throw new Error('no listen address')
    await expect(
      n.libp2p.dial(listen.decapsulate('/tcp').encapsulate(`/tcp/${await closedPort()}`)),
    ).rejects.toThrow()
    expect(await failed(n)).toEqual({ inbound: 0, outbound: 1 })

    const [, host, port] = /^\/ip4\/([^/]+)\/tcp\/(\d+)/.exec(listen.toString()) ?? []
    const socket = tcpConnect(Number(port), host ?? '127.0.0.1')
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
    socket.on('error', () => {})
    socket.end('this is not multistream-select\n')
    await waitUntil(async () => (await failed(n)).inbound === 1, { what: 'the failed inbound upgrade' })
    socket.destroy()
    expect(await failed(n)).toEqual({ inbound: 1, outbound: 1 })
  })
})
