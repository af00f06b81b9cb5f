/**
 * Test harness for NSN DHT nodes in one process, over real TCP on 127.0.0.1. Other
 * packages' tests reuse it through `@nsn/core/testing`. It needs the optional peer
 * dependencies `libp2p`, `@libp2p/tcp`, `@chainsafe/libp2p-noise`,
 * `@chainsafe/libp2p-yamux`, `@libp2p/identify` and `@libp2p/ping`.
 *
 * @packageDocumentation
 */

import { identify } from '@libp2p/identify'
import type { Libp2p, Stream } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { NSN_DHT_PROTOCOL } from './constants.js'
import { createNsnHost, nsnHostOptions } from './host.js'
import type { NsnKadDHTInit } from './kad-dht-service.js'
import { ShardRouting, type ShardRoutingInit, type ShardRoutingLibp2p } from './routing.js'

export interface TestNodeOptions {
  dht?: NsnKadDHTInit
  routing?: ShardRoutingInit
  datastore?: Datastore
  /** Start ShardRouting too (default true). */
  startRouting?: boolean
}

export interface TestNode {
  libp2p: ShardRoutingLibp2p
  routing: ShardRouting
  /** The node's first TCP listen address (with /p2p/). */
  addr: Multiaddr
  stop(): Promise<void>
}

/** Starts one DHT node on 127.0.0.1 with a random port. */
export async function createTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const libp2p: ShardRoutingLibp2p = await createNsnHost({
    profile: 'local',
    dht: options.dht,
    datastore: options.datastore,
  })
  const routing = new ShardRouting(libp2p, options.routing)
  if (options.startRouting !== false) await routing.start()
  const addr = libp2p.getMultiaddrs()[0]
  if (addr == null) throw new Error('test node has no listen address')
  return {
    libp2p,
    routing,
    addr,
    async stop() {
      await routing.stop()
      await libp2p.stop()
    },
  }
}

/** Starts `count` nodes; when `connect` is set, each bootstraps from the first one. */
export async function createTestNetwork(count: number, options: TestNodeOptions = {}): Promise<TestNode[]> {
  const nodes: TestNode[] = []
  try {
    for (let i = 0; i < count; i++) nodes.push(await createTestNode(options))
  } catch (err) {
    await stopAll(nodes)
    throw err
  }
  return nodes
}

/** Stops every node, whatever fails. */
export async function stopAll(nodes: Array<{ stop(): Promise<void> }>): Promise<void> {
  const results = await Promise.allSettled(nodes.map((node) => node.stop()))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed != null) throw failed.reason
}

/** A peer that speaks identify and ping, accepts the NSN DHT protocol, and never answers on it. */
export interface SilentPeer {
  libp2p: Libp2p
  addr: Multiaddr
  /** Every DHT stream it accepted, with its arrival time. */
  readonly streams: Array<{ stream: Stream; at: number }>
  stop(): Promise<void>
}

/**
 * Starts a {@link SilentPeer} on 127.0.0.1. With `reset: true` it resets every DHT
 * stream at once instead (a peer that fails fast rather than hanging).
 */
export async function createSilentPeer({
  protocol = NSN_DHT_PROTOCOL,
  reset = false,
}: {
  protocol?: string
  reset?: boolean
} = {}): Promise<SilentPeer> {
  // the NSN host without its DHT service
  const { services: _, ...host } = nsnHostOptions({ profile: 'local' })
  const libp2p = await createLibp2p({ ...host, services: { identify: identify(), ping: ping() } })
  const streams: SilentPeer['streams'] = []
  await libp2p.handle(
    protocol,
    (stream) => {
      streams.push({ stream, at: Date.now() })
      if (reset) stream.abort(new Error('silent peer resets DHT streams'))
    },
    { maxInboundStreams: 1024 },
  )
  const addr = libp2p.getMultiaddrs()[0]
  if (addr == null) throw new Error('silent peer has no listen address')
  return {
    libp2p,
    addr,
    streams,
    async stop() {
      for (const { stream } of streams) stream.abort(new Error('silent peer stopping'))
      await libp2p.stop()
    },
  }
}

/** Resolves when `predicate` holds, checking on every routing-table change and connection event. */
export async function waitFor(
  predicate: () => boolean,
  {
    timeoutMs = 10_000,
    what = 'condition',
    interval = 25,
  }: { timeoutMs?: number; what?: string; interval?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}
