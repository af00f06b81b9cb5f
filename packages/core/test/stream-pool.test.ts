import type { PeerId, Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  DhtStreamPool,
  hooksOf,
  INBOUND_STREAM_IDLE_TIMEOUT,
  InvalidOptionError,
  NSN_DHT_PROTOCOL,
  parseShardKey,
  resolveKadDHTOptions,
  resolveStreamPoolOptions,
  STREAM_POOL_KEEP_ALIVE,
  STREAM_POOL_MAX_IDLE,
  STREAM_POOL_PER_PEER,
} from '../src/index.js'
import { createTestNode, QUIET_SELF_QUERY, type TestNode, waitFor } from '../src/testing.js'

const shard = (i: number) => parseShardKey(i.toString(16).padStart(64, '0'))

describe('warm DHT streams (stream-pool.ts)', () => {
  const nodes: TestNode[] = []
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  })

  async function pair(streamPool: object = {}): Promise<[TestNode, TestNode]> {
    const b = await createTestNode({ dht: { ...QUIET_SELF_QUERY } })
    nodes.push(b)
    const a = await createTestNode({ dht: { ...QUIET_SELF_QUERY, streamPool } })
    nodes.push(a)
    await a.routing.bootstrap([b.addr])
    return [a, b]
  }

  function inboundDhtStreams(node: TestNode): number {
    return node.libp2p
      .getConnections()
      .flatMap((c) => c.streams)
      .filter((s) => s.protocol === NSN_DHT_PROTOCOL && s.direction === 'inbound').length
  }

  it('has named defaults, below the listener idle timeout, and rejects bad bounds', () => {
    expect(resolveStreamPoolOptions()).toEqual({
      perPeer: STREAM_POOL_PER_PEER,
      maxIdle: STREAM_POOL_MAX_IDLE,
      keepAlive: STREAM_POOL_KEEP_ALIVE,
    })
    expect(STREAM_POOL_KEEP_ALIVE).toBeLessThan(INBOUND_STREAM_IDLE_TIMEOUT)
    expect(resolveKadDHTOptions().kad.incomingMessageTimeout).toBe(INBOUND_STREAM_IDLE_TIMEOUT)
    expect(() => resolveStreamPoolOptions({ perPeer: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveStreamPoolOptions({ keepAlive: -1 })).toThrow(/streamPool\.keepAlive/)
    expect(resolveKadDHTOptions({ streamPool: false }).streamPool).toBe(false)
  })

  it('runs one request after another on one stream: lookups reuse the warm stream', async () => {
    const [a, b] = await pair()
    const pool = hooksOf(a.libp2p.services.dht).streamPool
    expect(pool).toBeDefined()
    const before = { ...pool?.stats }
    for (let i = 0; i < 5; i++) await a.routing.findProviders(shard(i))
    const stats = pool?.stats
    expect((stats?.reused ?? 0) - (before.reused ?? 0)).toBeGreaterThanOrEqual(5)
    expect((stats?.opened ?? 0) - (before.opened ?? 0)).toBe(0)
    // the peer holds the warm stream, nothing more, between requests
    expect(pool?.idleTo(b.libp2p.peerId)).toBe(1)
    expect(inboundDhtStreams(b)).toBe(1)
  })

  it('keeps at most perPeer idle streams to a peer after concurrent requests', async () => {
    const [a, b] = await pair({ perPeer: 2 })
    const pool = hooksOf(a.libp2p.services.dht).streamPool
    await Promise.all(Array.from({ length: 12 }, (_, i) => a.routing.findProviders(shard(100 + i))))
    expect(pool?.idleTo(b.libp2p.peerId)).toBeLessThanOrEqual(2)
    // the others were closed: the peer holds no more than the idle ones
    await waitFor(() => inboundDhtStreams(b) <= 2, { pollMs: 20, what: 'extra streams closed at the peer' })
  })

  it('does not reuse a stream the peer closed: the request goes on a new one', async () => {
    const [a, b] = await pair()
    const pool = hooksOf(a.libp2p.services.dht).streamPool
    await a.routing.findProviders(shard(200))
    // the peer closes its end of every DHT stream (its idle timeout, a restart of its handler)
    for (const stream of b.libp2p.getConnections().flatMap((c) => c.streams)) {
      if (stream.protocol === NSN_DHT_PROTOCOL) await stream.close()
    }
    await waitFor(() => pool?.idleTo(b.libp2p.peerId) === 0, {
      pollMs: 20,
      what: 'the closed stream out of the pool',
    })
    const opened = pool?.stats.opened ?? 0
    const result = await a.routing.findProviders(shard(201))
    expect(result.partial).toBe(false)
    expect(pool?.stats.opened).toBe(opened + 1)
  })

  it('pings idle streams before the peer would close them, and keeps them', async () => {
    const [a, b] = await pair({ keepAlive: 150 })
    const pool = hooksOf(a.libp2p.services.dht).streamPool
    await a.routing.findProviders(shard(300))
    await waitFor(() => (pool?.stats.keptAlive ?? 0) >= 2, { pollMs: 50, what: 'two keep-alive pings' })
    expect(pool?.idleTo(b.libp2p.peerId)).toBe(1)
    const opened = pool?.stats.opened ?? 0
    await a.routing.findProviders(shard(301))
    expect(pool?.stats.opened).toBe(opened)
  })

  it('closes every idle stream when the node stops', async () => {
    const [a, b] = await pair()
    await a.routing.findProviders(shard(400))
    expect(inboundDhtStreams(b)).toBe(1)
    await a.stop()
    await waitFor(() => inboundDhtStreams(b) === 0, {
      pollMs: 20,
      what: 'the warm stream closed at the peer',
    })
  })

  it('can be turned off: every request opens its own stream, as kad-dht does', async () => {
    const b = await createTestNode({ dht: { ...QUIET_SELF_QUERY } })
    nodes.push(b)
    const a = await createTestNode({ dht: { ...QUIET_SELF_QUERY, streamPool: false } })
    nodes.push(a)
    await a.routing.bootstrap([b.addr])
    expect(hooksOf(a.libp2p.services.dht).streamPool).toBeUndefined()
    await a.routing.findProviders(shard(500))
    await waitFor(() => inboundDhtStreams(b) === 0, { pollMs: 20, what: 'the request stream closed' })
  })
})

describe('stream-opening times (a peer RTT before any answer)', () => {
  it('remembers how long a stream took to open over an open connection, and not over a dial', async () => {
    const peer = (name: string) => ({ toString: () => name }) as unknown as PeerId
    const stream = {
      status: 'open',
      writeStatus: 'writable',
      remoteReadStatus: 'readable',
    } as unknown as Stream
    const connected = new Set(['near'])
    let clock = 0
    const now = vi.spyOn(performance, 'now').mockImplementation(() => clock)
    try {
      const pool = new DhtStreamPool({
        open: async () => {
          clock += 42 // the listener's echo of the protocol: one round trip
          return stream
        },
        reader: () => ({}) as never,
        ping: async () => {},
        connected: (p) => connected.has(p.toString()),
      })
      const a = await pool.lease(peer('near'), {})
      expect(a.reused).toBe(false)
      expect(pool.openTimeOf('near')).toBe(42)
      // a stream to a peer without a connection includes the dial: not an RTT
      await pool.lease(peer('far'), {})
      expect(pool.openTimeOf('far')).toBeUndefined()
    } finally {
      now.mockRestore()
    }
  })

  it('does not warm a second stream to a peer whose stream is lent out (a request or a keep-alive ping)', async () => {
    // the race of a flaky test: the sweep pinged the idle stream (taking it out of the
    // idle list) and warmed the peer in the same pass, so the peer got two streams
    const peer = { toString: () => 'busy' } as unknown as PeerId
    const stream = {
      status: 'open',
      writeStatus: 'writable',
      readStatus: 'readable',
      remoteWriteStatus: 'writable',
      remoteReadStatus: 'readable',
      addEventListener: () => {},
      abort: () => {},
      close: async () => {},
    } as unknown as Stream
    let opened = 0
    const pool = new DhtStreamPool({
      open: async () => {
        opened++
        return stream
      },
      reader: () => ({}) as never,
      ping: async () => {},
      connected: () => true,
    })
    const lease = await pool.lease(peer, {})
    pool.warm(peer)
    expect(opened).toBe(1)
    pool.release(lease)
    expect(pool.idleTo(peer)).toBe(1)
    pool.warm(peer)
    expect(opened).toBe(1)
    pool.stop()
  })
})
