/**
 * The latency-emulating transport of the bench (src/latency): the delay line on a fake
 * clock (exact release times, order, close and reset behind the data, backpressure),
 * the RTT model (per unordered pair, deterministic), and the wrapper on real libp2p
 * nodes over TCP with small RTTs (setup paid, both directions delayed, order kept, both
 * ends agree on the pair's RTT).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  type ChunkList,
  DelayLine,
  InvalidLatencyOptionError,
  type LatencyOptions,
  latencyTransport,
  PortRegistry,
  pairRtt,
  WAN_RTT_MS,
  WAN_SAME_REGION_MS,
} from '../src/latency/index.js'

function list(...chunks: number[][]): ChunkList {
  const bufs = chunks.map((c) => Uint8Array.from(c))
  return {
    byteLength: bufs.reduce((a, b) => a + b.byteLength, 0),
    [Symbol.iterator]: () => bufs[Symbol.iterator](),
  }
}

function recordingSink() {
  const log: string[] = []
  const sink = {
    write: (chunks: ChunkList) => {
      for (const c of chunks) log.push(`${performance.now()}:data:${[...c].join(',')}`)
    },
    close: async () => {
      log.push(`${performance.now()}:close`)
    },
    reset: (err: Error) => {
      log.push(`${performance.now()}:reset:${err.message}`)
    },
    drain: () => {
      log.push(`${performance.now()}:drain`)
    },
  }
  return { log, sink }
}

describe('DelayLine (fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('releases each chunk at sent + oneWay, in the order written, and copies the buffers', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { log, sink } = recordingSink()
    const line = new DelayLine(sink, 50, 1024)
    const t0 = performance.now()
    const reused = Uint8Array.from([1])
    line.send({ byteLength: 1, [Symbol.iterator]: () => [reused][Symbol.iterator]() })
    reused[0] = 99 // the writer reuses its buffer: what was sent must not change
    await vi.advanceTimersByTimeAsync(20)
    line.send(list([2], [3]))
    await vi.advanceTimersByTimeAsync(29)
    expect(log).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(log).toEqual([`${t0 + 50}:data:1`])
    await vi.advanceTimersByTimeAsync(20)
    expect(log).toEqual([`${t0 + 50}:data:1`, `${t0 + 70}:data:2`, `${t0 + 70}:data:3`])
    expect(line.released).toEqual({ chunks: 3, bytes: 3 })
  })

  it('holds writes until the delay is known, then releases them at sent + oneWay', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { log, sink } = recordingSink()
    const line = new DelayLine(sink, undefined, 1024)
    const t0 = performance.now()
    line.send(list([1]))
    await vi.advanceTimersByTimeAsync(100)
    expect(log).toEqual([])
    line.setOneWay(30) // sent 100 ms ago: due already
    await vi.advanceTimersByTimeAsync(0)
    expect(log).toEqual([`${t0 + 100}:data:1`])
    line.send(list([2]))
    await vi.advanceTimersByTimeAsync(30)
    expect(log).toEqual([`${t0 + 100}:data:1`, `${t0 + 130}:data:2`])
  })

  it('sends a close and a reset behind the data written before them', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { log, sink } = recordingSink()
    const line = new DelayLine(sink, 40, 1024)
    const t0 = performance.now()
    line.send(list([1]))
    const closed = line.close()
    await vi.advanceTimersByTimeAsync(40)
    await closed
    expect(log).toEqual([`${t0 + 40}:data:1`, `${t0 + 40}:close`])

    const other = recordingSink()
    const line2 = new DelayLine(other.sink, 40, 1024)
    const t1 = performance.now()
    line2.send(list([7]))
    await vi.advanceTimersByTimeAsync(10)
    line2.reset(new Error('boom'))
    line2.send(list([8])) // after the reset: never sent
    await vi.advanceTimersByTimeAsync(100)
    expect(other.log).toEqual([`${t1 + 40}:data:7`, `${t1 + 50}:reset:boom`])
  })

  it('asks the writer to wait above the high-water mark and tells it when to resume', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { log, sink } = recordingSink()
    const line = new DelayLine(sink, 10, 3)
    expect(line.send(list([1, 2])).canSendMore).toBe(true)
    expect(line.send(list([3, 4]))).toEqual({ sentBytes: 2, canSendMore: false })
    await vi.advanceTimersByTimeAsync(10)
    expect(log.map((l) => l.split(':').slice(1).join(':'))).toEqual(['data:1,2', 'data:3,4', 'drain'])
  })

  it('drops what is queued when the connection ends, and settles a pending close', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] })
    const { log, sink } = recordingSink()
    const line = new DelayLine(sink, 10, 1024)
    line.send(list([1]))
    const closed = line.close()
    line.end()
    await closed
    await vi.advanceTimersByTimeAsync(50)
    expect(log.map((l) => l.split(':').slice(1).join(':'))).toEqual(['close'])
  })
})

describe('pairRtt', () => {
  it('is the same for (a, b) and (b, a), and for the same seed in every call', () => {
    for (const distribution of [
      { kind: 'wan' } as const,
      { kind: 'uniform', minMs: 20, maxMs: 200 } as const,
    ]) {
      expect(pairRtt(7, distribution, 'peer-a', 'peer-b')).toBe(pairRtt(7, distribution, 'peer-b', 'peer-a'))
      expect(pairRtt(7, distribution, 'peer-a', 'peer-b')).toBe(pairRtt(7, distribution, 'peer-a', 'peer-b'))
      expect(pairRtt(8, distribution, 'peer-a', 'peer-b')).not.toBe(
        pairRtt(7, distribution, 'peer-a', 'peer-b'),
      )
    }
  })

  it('draws wide-area RTTs: within the regions of the model, spread over a realistic range', () => {
    const rtts = Array.from({ length: 2000 }, (_, i) => pairRtt(1, { kind: 'wan' }, `a${i}`, `b${i}`)).sort(
      (x, y) => x - y,
    )
    const max = Math.max(...WAN_RTT_MS.flat())
    expect(rtts[0]).toBeGreaterThan(WAN_SAME_REGION_MS * 0.5)
    expect(rtts.at(-1)).toBeLessThan(max * 1.8 + 20)
    const median = rtts[1000] ?? 0
    expect(median).toBeGreaterThan(60)
    expect(median).toBeLessThan(200)
    // some pairs share a region, some cross an ocean
    expect(rtts.filter((r) => r < 40).length).toBeGreaterThan(50)
    expect(rtts.filter((r) => r > 200).length).toBeGreaterThan(50)
  })

  it('rejects an unknown distribution and a missing seed with a typed error', () => {
    expect(() => latencyTransport(tcp(), { seed: 1, distribution: { kind: 'gauss' } as never })).toThrow(
      InvalidLatencyOptionError,
    )
    expect(() => latencyTransport(tcp(), { seed: 1, distribution: { kind: 'fixed', rttMs: -1 } })).toThrow(
      InvalidLatencyOptionError,
    )
    expect(() => latencyTransport(tcp(), {} as LatencyOptions)).toThrow(InvalidLatencyOptionError)
  })
})

const ECHO = '/nsn-test/echo/1.0.0'

function bytesOf(chunk: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return chunk instanceof Uint8Array ? chunk : chunk.subarray()
}

/** A libp2p node with TCP (wrapped when `latency` is given), Noise and Yamux that echoes on ECHO. */
async function echoNode(latency?: LatencyOptions) {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [latency == null ? tcp() : latencyTransport(tcp(), latency)],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionMonitor: { enabled: false },
  })
  const arrivals: number[] = []
  await node.handle(ECHO, async (stream: Stream) => {
    for await (const chunk of stream) {
      arrivals.push(performance.now())
      if (!stream.send(bytesOf(chunk))) await stream.onDrain()
    }
    await stream.close()
  })
  return { node, arrivals }
}

/** Writes `payload` on a new ECHO stream; ms until it is echoed back, and when the remote received it. */
async function echo(from: Libp2p, to: Libp2p, payload: Uint8Array) {
  const stream = await from.dialProtocol(to.peerId, ECHO)
  const start = performance.now()
  stream.send(payload)
  let got = 0
  for await (const chunk of stream) {
    got += bytesOf(chunk).byteLength
    if (got >= payload.byteLength) break
  }
  const ms = performance.now() - start
  await stream.close().catch(() => undefined)
  return { ms, start }
}

describe('latencyTransport on real libp2p nodes over TCP', () => {
  const nodes: Libp2p[] = []
  afterEach(async () => {
    await Promise.allSettled(nodes.splice(0).map((n) => n.stop()))
  })

  it('delays the dial by the handshake, each direction by half the RTT, and keeps the order', async () => {
    const registry = new PortRegistry()
    const rtt = 80
    const latency: LatencyOptions = { seed: 1, distribution: { kind: 'fixed', rttMs: rtt }, registry }
    const a = await echoNode(latency)
    const b = await echoNode(latency)
    nodes.push(a.node, b.node)

    // setup: the TCP handshake (1 RTT) and at least Noise's first round trip
    const dialStart = performance.now()
    await a.node.dial(b.node.getMultiaddrs()[0] as Multiaddr)
    expect(performance.now() - dialStart).toBeGreaterThanOrEqual(2 * rtt - 1)

    // a request and its answer: half the RTT there, half back, on an open connection
    // (a new stream's protocol negotiation rides along with the first write)
    const there = await echo(a.node, b.node, Uint8Array.from([1, 2, 3]))
    const arrived = (b.arrivals.at(-1) ?? 0) - there.start
    expect(arrived).toBeGreaterThanOrEqual(rtt / 2 - 1)
    expect(there.ms).toBeGreaterThanOrEqual(rtt - 1)
    // the inbound end (b, which accepted the connection) opens a stream back: its writes are delayed too
    const back = await echo(b.node, a.node, Uint8Array.from([4]))
    expect((a.arrivals.at(-1) ?? 0) - back.start).toBeGreaterThanOrEqual(rtt / 2 - 1)
    expect(back.ms).toBeGreaterThanOrEqual(rtt - 1)

    // order: 2,000 numbered 4-byte writes arrive as one ascending sequence
    const stream = await a.node.dialProtocol(b.node.peerId, ECHO)
    const count = 2000
    for (let i = 0; i < count; i++) {
      const buf = new Uint8Array(4)
      new DataView(buf.buffer).setUint32(0, i)
      if (!stream.send(buf)) await stream.onDrain()
    }
    const received: number[] = []
    let pending = new Uint8Array(0)
    for await (const chunk of stream) {
      const bytes = new Uint8Array([...pending, ...bytesOf(chunk)])
      let at = 0
      for (; at + 4 <= bytes.byteLength; at += 4) received.push(new DataView(bytes.buffer).getUint32(at))
      pending = bytes.slice(at)
      if (received.length >= count) break
    }
    await stream.close().catch(() => undefined)
    expect(received).toEqual(Array.from({ length: count }, (_, i) => i))

    // both ends told the pair apart: none drawn for an unknown address
    expect(registry.counts).toMatchObject({
      outbound: 1,
      inbound: 1,
      unmatchedOutbound: 0,
      unmatchedInbound: 0,
    })
  })

  it('gives each pair its own RTT, the same at both ends, and forgets endpoints once stopped', async () => {
    const registry = new PortRegistry()
    const latency: LatencyOptions = {
      seed: 11,
      distribution: { kind: 'uniform', minMs: 10, maxMs: 150 },
      registry,
    }
    const [a, b, c] = [await echoNode(latency), await echoNode(latency), await echoNode(latency)]
    nodes.push(a.node, b.node, c.node)
    const expected = (x: Libp2p, y: Libp2p) =>
      pairRtt(11, { kind: 'uniform', minMs: 10, maxMs: 150 }, x.peerId.toString(), y.peerId.toString())
    for (const [x, y] of [
      [a, b],
      [a, c],
      [c, b],
    ] as const) {
      await x.node.dial(y.node.getMultiaddrs()[0] as Multiaddr)
      const rtt = expected(x.node, y.node)
      // each end opens a stream: the dialler's and the listener's halves add to the pair's RTT
      const forward = await echo(x.node, y.node, Uint8Array.from([1]))
      const reverse = await echo(y.node, x.node, Uint8Array.from([2]))
      expect(forward.ms).toBeGreaterThanOrEqual(rtt - 1)
      expect(reverse.ms).toBeGreaterThanOrEqual(rtt - 1)
      // not twice the RTT (a loose bound: the machine may be busy)
      expect(Math.min(forward.ms, reverse.ms)).toBeLessThan(rtt + 150)
    }
    expect(registry.counts).toMatchObject({
      outbound: 3,
      inbound: 3,
      unmatchedOutbound: 0,
      unmatchedInbound: 0,
    })
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    expect(registry.size).toEqual({ listeners: 0, diallers: 0, waiting: 0 })
  })
})
