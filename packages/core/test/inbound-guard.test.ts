import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { afterEach, describe, expect, it } from 'vitest'
import {
  INBOUND_MAX_ADDRESS_BYTES,
  INBOUND_MAX_ADDRESSES_PER_PEER,
  INBOUND_MAX_MESSAGE_SIZE,
  NSN_DHT_PROTOCOL,
} from '../src/constants.js'
import {
  FrameReader,
  FrameTooLargeError,
  InboundRateLimiter,
  largestAddProvider,
  resolveInboundGuardOptions,
  TokenBucket,
  TruncatedFrameError,
  validateInbound,
} from '../src/inbound-guard.js'
import { hooksOf } from '../src/index.js'
import { decodeKadMessage, encodeKadMessage, frame, type KadMessage } from '../src/kad-message.js'
import type { InboundRejectedEvent, InboundRequestEvent } from '../src/observer.js'
import { parseShardKey } from '../src/shard-key.js'
import { createHostWithoutDht, createTestNode, stopAll, type TestNode } from '../src/testing.js'

const options = resolveInboundGuardOptions()
const shard = parseShardKey(`0x${'ab'.repeat(32)}`)
const shardKey = shard.cid.multihash.bytes

async function somePeer(): Promise<PeerId> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
}

function msg(partial: Partial<KadMessage> & Pick<KadMessage, 'type'>): KadMessage {
  return { closer: [], providers: [], ...partial }
}

const addr = multiaddr('/ip4/10.0.0.1/tcp/4001').bytes

describe('validateInbound', () => {
  it('accepts the requests honest NSN nodes send', async () => {
    const sender = await somePeer()
    const other = await somePeer()
    const ok = (m: KadMessage) => validateInbound(m, sender, options)
    expect(ok(msg({ type: MessageType.FIND_NODE, key: shardKey }))).toEqual({ ok: true, type: 'find_node' })
    expect(ok(msg({ type: MessageType.FIND_NODE, key: other.toMultihash().bytes }))).toMatchObject({
      ok: true,
    })
    expect(ok(msg({ type: MessageType.GET_PROVIDERS, key: shardKey }))).toMatchObject({ ok: true })
    expect(ok(msg({ type: MessageType.PING }))).toEqual({ ok: true, type: 'ping' })
    const provider = { id: sender.toMultihash().bytes, multiaddrs: [addr] }
    expect(ok(msg({ type: MessageType.ADD_PROVIDER, key: shardKey, providers: [provider] }))).toEqual({
      ok: true,
      type: 'add_provider',
    })
  })

  it('rejects each broken rule with its reason', async () => {
    const sender = await somePeer()
    const other = await somePeer()
    const reason = (m: KadMessage) => {
      const verdict = validateInbound(m, sender, options)
      return verdict.ok ? 'ok' : verdict.reason
    }
    const own = (multiaddrs: Uint8Array[]) => [{ id: sender.toMultihash().bytes, multiaddrs }]
    expect(reason(msg({ type: MessageType.GET_VALUE, key: shardKey }))).toBe('unsupported_type')
    expect(reason(msg({ type: MessageType.PUT_VALUE, key: shardKey, record: new Uint8Array(4) }))).toBe(
      'unsupported_type',
    )
    expect(reason(msg({ type: MessageType.GET_PROVIDERS, key: new Uint8Array(1024 * 1024) }))).toBe('bad_key')
    expect(reason(msg({ type: MessageType.GET_PROVIDERS, key: other.toMultihash().bytes }))).toBe('bad_key')
    expect(reason(msg({ type: MessageType.GET_PROVIDERS }))).toBe('bad_key')
    expect(reason(msg({ type: MessageType.FIND_NODE, key: new Uint8Array(100) }))).toBe('bad_key')
    expect(reason(msg({ type: MessageType.PING, key: new Uint8Array(45) }))).toBe('bad_key')
    expect(
      reason(msg({ type: MessageType.FIND_NODE, key: shardKey, closer: [{ id: shardKey, multiaddrs: [] }] })),
    ).toBe('too_many_peers')
    expect(reason(msg({ type: MessageType.GET_PROVIDERS, key: shardKey, providers: own([addr]) }))).toBe(
      'too_many_peers',
    )
    expect(reason(msg({ type: MessageType.FIND_NODE, key: shardKey, record: new Uint8Array(1) }))).toBe(
      'malformed',
    )
    expect(reason(msg({ type: MessageType.ADD_PROVIDER, key: shardKey }))).toBe('malformed')
    expect(
      reason(
        msg({ type: MessageType.ADD_PROVIDER, key: shardKey, providers: [...own([addr]), ...own([addr])] }),
      ),
    ).toBe('too_many_peers')
    expect(
      reason(
        msg({
          type: MessageType.ADD_PROVIDER,
          key: shardKey,
          providers: [{ id: other.toMultihash().bytes, multiaddrs: [addr] }],
        }),
      ),
    ).toBe('foreign_provider')
    expect(reason(msg({ type: MessageType.ADD_PROVIDER, key: shardKey, providers: own([]) }))).toBe(
      'malformed',
    )
    const many = Array.from({ length: INBOUND_MAX_ADDRESSES_PER_PEER + 1 }, () => addr)
    expect(reason(msg({ type: MessageType.ADD_PROVIDER, key: shardKey, providers: own(many) }))).toBe(
      'too_many_addresses',
    )
    expect(
      reason(
        msg({
          type: MessageType.ADD_PROVIDER,
          key: shardKey,
          providers: own([new Uint8Array([0xff, 0xff])]),
        }),
      ),
    ).toBe('malformed')
    const huge = new Uint8Array(INBOUND_MAX_ADDRESS_BYTES + 1)
    expect(reason(msg({ type: MessageType.ADD_PROVIDER, key: shardKey, providers: own([huge]) }))).toBe(
      'malformed',
    )
  })

  it('sizes the default maximum message to the largest legitimate request', async () => {
    const sender = await somePeer()
    const biggest = encodeKadMessage(
      msg({
        type: MessageType.ADD_PROVIDER,
        key: shardKey,
        providers: [
          {
            id: new Uint8Array(44),
            multiaddrs: Array.from(
              { length: INBOUND_MAX_ADDRESSES_PER_PEER },
              () => new Uint8Array(INBOUND_MAX_ADDRESS_BYTES),
            ),
          },
        ],
      }),
    )
    expect(biggest.byteLength).toBeLessThanOrEqual(
      largestAddProvider(INBOUND_MAX_ADDRESSES_PER_PEER, INBOUND_MAX_ADDRESS_BYTES),
    )
    expect(largestAddProvider(INBOUND_MAX_ADDRESSES_PER_PEER, INBOUND_MAX_ADDRESS_BYTES)).toBeLessThanOrEqual(
      INBOUND_MAX_MESSAGE_SIZE,
    )
    expect(options.maxMessageSize).toBe(INBOUND_MAX_MESSAGE_SIZE)
    // a wider address bound widens the default message size with it
    expect(resolveInboundGuardOptions({ maxAddressesPerPeer: 100 }).maxMessageSize).toBe(
      largestAddProvider(100, INBOUND_MAX_ADDRESS_BYTES),
    )
    expect(() => resolveInboundGuardOptions({ peerRequestsPerSecond: 0 })).toThrow(/peerRequestsPerSecond/)
    // the codec round-trips what kad-dht sends
    const provide = msg({
      type: MessageType.ADD_PROVIDER,
      key: shardKey,
      providers: [{ id: sender.toMultihash().bytes, multiaddrs: [addr] }],
    })
    expect(decodeKadMessage(encodeKadMessage(provide))).toEqual(provide)
  })
})

describe('FrameReader', () => {
  function chunked(bytes: Uint8Array, sizes: number[]) {
    const chunks: Uint8Array[] = []
    let at = 0
    for (let i = 0; at < bytes.byteLength; i++) {
      const size = sizes[i % sizes.length] as number
      chunks.push(bytes.subarray(at, at + size))
      at += size
    }
    return {
      async *[Symbol.asyncIterator]() {
        yield* chunks
      },
    }
  }

  it('reads frames split across chunks and several frames in one chunk', async () => {
    const bodies = [
      new Uint8Array(300).fill(1),
      new Uint8Array(0),
      new Uint8Array(5).fill(3),
      new Uint8Array(200).fill(4),
    ]
    const wire = new Uint8Array(bodies.reduce((n, b) => n + frame(b).byteLength, 0))
    let at = 0
    for (const b of bodies) {
      wire.set(frame(b), at)
      at += frame(b).byteLength
    }
    for (const sizes of [[1], [7, 3], [1000], [2, 301]]) {
      const reader = new FrameReader(chunked(wire, sizes) as never, 1024)
      const read: Uint8Array[] = []
      for (let body = await reader.next(); body != null; body = await reader.next()) read.push(body)
      expect(read).toEqual(bodies)
    }
  })

  it('refuses a length over the maximum, or a longer prefix, before reading the body', async () => {
    await expect(
      new FrameReader(chunked(frame(new Uint8Array(1025)), [4]) as never, 1024).next(),
    ).rejects.toBeInstanceOf(FrameTooLargeError)
    const ff = new Uint8Array(1024 * 1024).fill(0xff)
    await expect(new FrameReader(chunked(ff, [1]) as never, 1024).next()).rejects.toBeInstanceOf(
      FrameTooLargeError,
    )
  })

  it('throws TruncatedFrameError when the stream ends inside a prefix or a body, and ends cleanly between frames', async () => {
    await expect(
      new FrameReader(chunked(new Uint8Array([0x81]), [1]) as never, 1024).next(),
    ).rejects.toBeInstanceOf(TruncatedFrameError)
    const cut = frame(new Uint8Array(50).fill(7)).subarray(0, 20)
    await expect(new FrameReader(chunked(cut, [3]) as never, 1024).next()).rejects.toBeInstanceOf(
      TruncatedFrameError,
    )
    expect(await new FrameReader(chunked(new Uint8Array(0), [1]) as never, 1024).next()).toBeUndefined()
  })
})

describe('rate limits', () => {
  it('a token bucket refills at its rate up to its burst', () => {
    const bucket = new TokenBucket(10, 5, 0)
    for (let i = 0; i < 5; i++) expect(bucket.take(0)).toBe(true)
    expect(bucket.take(0)).toBe(false)
    expect(bucket.take(100)).toBe(true) // 100 ms at 10/s: one token
    expect(bucket.take(100)).toBe(false)
    expect(bucket.available(60_000)).toBe(5)
  })

  it('limits each peer and all peers, and remembers a bounded number of peers', () => {
    let now = 0
    const limiter = new InboundRateLimiter(
      {
        peerRequestsPerSecond: 1,
        peerRequestBurst: 2,
        globalRequestsPerSecond: 1,
        globalRequestBurst: 5,
        trackedPeers: 3,
      },
      () => now,
    )
    expect([limiter.admit('a'), limiter.admit('a'), limiter.admit('a')]).toEqual(['ok', 'ok', 'peer'])
    expect([limiter.admit('b'), limiter.admit('b'), limiter.admit('c'), limiter.admit('d')]).toEqual([
      'ok',
      'ok',
      'ok',
      'global',
    ])
    // a request refused by the global limit took no token from its peer
    now = 1000
    expect(limiter.admit('d')).toBe('ok')
    for (const peer of ['e', 'f', 'g', 'h']) limiter.admit(peer)
    expect(limiter.trackedPeers).toBe(3)
  })
})

// ---- real nodes over TCP: an attacker speaks /nsn/kad/1.0.0 with crafted frames

interface Victim {
  node: TestNode
  rejected: InboundRejectedEvent[]
  handled: InboundRequestEvent[]
}

async function victim(guard?: Parameters<typeof createTestNode>[0]): Promise<Victim> {
  const rejected: InboundRejectedEvent[] = []
  const handled: InboundRequestEvent[] = []
  const node = await createTestNode({
    ...guard,
    routing: {
      observer: {
        inboundRejected: (event) => rejected.push(event),
        inboundRequestHandled: (event) => handled.push(event),
      },
    },
  })
  return {
    node,
    rejected,
    handled,
  }
}

function attacker(): Promise<Libp2p> {
  return createHostWithoutDht()
}

function closed(stream: Stream): Promise<Error | undefined> {
  if (stream.status !== 'open') return Promise.resolve(undefined)
  return new Promise((resolve) =>
    stream.addEventListener('close', (evt) => resolve(evt.error), { once: true }),
  )
}

/**
 * Sends `bytes` and ends the writing side, as a client does after its last request:
 * kad-dht then closes the stream gracefully, the guard resets it on a rejected message.
 * Resolves with the close event's error (undefined on a graceful close).
 */
async function sendAndEnd(stream: Stream, bytes: Uint8Array): Promise<Error | undefined> {
  const done = closed(stream)
  stream.send(bytes)
  stream.close().catch(() => undefined)
  return done
}

/** Counts the answers (frames) a stream receives until it ends or is reset. */
async function countAnswers(stream: Stream): Promise<number> {
  let answers = 0
  let buffer = new Uint8Array(0)
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      const joined = new Uint8Array(buffer.byteLength + bytes.byteLength)
      joined.set(buffer)
      joined.set(bytes, buffer.byteLength)
      buffer = joined
      for (;;) {
        let length = 0
        let i = 0
        while (i < buffer.byteLength && ((buffer[i] as number) & 0x80) !== 0) {
          length += ((buffer[i] as number) & 0x7f) * 2 ** (7 * i)
          i++
        }
        if (i >= buffer.byteLength) break
        length += (buffer[i] as number) * 2 ** (7 * i)
        if (buffer.byteLength < i + 1 + length) break
        buffer = buffer.subarray(i + 1 + length)
        answers++
      }
    }
  } catch {
    // reset: the count so far
  }
  return answers
}

async function providerRecords(node: TestNode): Promise<number> {
  const kad = hooksOf(node.libp2p.services.dht)
  let n = 0
  for await (const _ of kad.datastore.queryKeys({ prefix: kad.providerPrefix })) n++
  return n
}

describe('the inbound guard on real nodes', () => {
  const nodes: Array<{ stop(): Promise<void> }> = []
  afterEach(async () => {
    await stopAll(nodes.splice(0))
  })

  async function setup(guard?: Parameters<typeof createTestNode>[0]) {
    const v = await victim(guard)
    const evil = await attacker()
    nodes.push(v.node, { stop: async () => evil.stop() })
    return { v, evil }
  }

  it('resets a stream whose length prefix is 1 MiB of 0xff after a few bytes', async () => {
    const { v, evil } = await setup()
    const stream = await evil.dialProtocol(v.node.addr, NSN_DHT_PROTOCOL)
    const started = performance.now()
    // reset, not closed gracefully; plain kad-dht spent seconds of CPU on this
    expect(await sendAndEnd(stream, new Uint8Array(1024 * 1024).fill(0xff))).toBeInstanceOf(Error)
    expect(performance.now() - started).toBeLessThan(2000)
    expect(v.rejected).toEqual([{ reason: 'too_large', peer: evil.peerId.toString() }])
  })

  it('counts a frame its sender cut short (closed inside it) as truncated, and resets the stream', async () => {
    const { v, evil } = await setup()
    const stream = await evil.dialProtocol(v.node.addr, NSN_DHT_PROTOCOL)
    // declares 100 bytes, carries 3, then ends its side
    expect(await sendAndEnd(stream, new Uint8Array([100, 0x08, 0x05, 0x12]))).toBeInstanceOf(Error)
    expect(v.rejected).toEqual([{ reason: 'truncated', peer: evil.peerId.toString() }])
  })

  it('stores nothing of an ADD_PROVIDER with 10,000 addresses, or with 33', async () => {
    const { v, evil } = await setup()
    const addrs = Array.from(
      { length: 10_000 },
      (_, i) => multiaddr(`/ip4/10.${i >> 8}.${i & 255}.1/tcp/4001`).bytes,
    )
    for (const [count, reason] of [
      [10_000, 'too_large'],
      [INBOUND_MAX_ADDRESSES_PER_PEER + 1, 'too_many_addresses'],
    ] as const) {
      const stream = await evil.dialProtocol(v.node.addr, NSN_DHT_PROTOCOL)
      const provide = msg({
        type: MessageType.ADD_PROVIDER,
        key: shardKey,
        providers: [{ id: evil.peerId.toMultihash().bytes, multiaddrs: addrs.slice(0, count) }],
      })
      const reset = await sendAndEnd(stream, frame(encodeKadMessage(provide)))
      expect(await providerRecords(v.node)).toBe(0)
      const known = await v.node.libp2p.peerStore.get(evil.peerId)
      expect(known.addresses.length).toBeLessThan(10)
      expect(reset).toBeInstanceOf(Error)
      expect(v.rejected.at(-1)?.reason).toBe(reason)
    }
  })

  it('rejects a 1 MiB key and a 4 KiB key, storing no record', async () => {
    const { v, evil } = await setup()
    for (const [size, reason] of [
      [1024 * 1024, 'too_large'],
      [4 * 1024, 'bad_key'],
    ] as const) {
      // a CIDv1 of an identity multihash: kad-dht stores a record under it and serves it back
      const key = CID.createV1(raw.code, identity.digest(new Uint8Array(size).fill(7))).bytes
      const stream = await evil.dialProtocol(v.node.addr, NSN_DHT_PROTOCOL)
      const provide = msg({
        type: MessageType.ADD_PROVIDER,
        key,
        providers: [{ id: evil.peerId.toMultihash().bytes, multiaddrs: [addr] }],
      })
      const reset = await sendAndEnd(stream, frame(encodeKadMessage(provide)))
      expect(await providerRecords(v.node)).toBe(0)
      expect(reset).toBeInstanceOf(Error)
      expect(v.rejected.at(-1)?.reason).toBe(reason)
    }
  })

  it('rejects an ADD_PROVIDER naming another peer as provider', async () => {
    const { v, evil } = await setup()
    const other = await somePeer()
    const stream = await evil.dialProtocol(v.node.addr, NSN_DHT_PROTOCOL)
    const reset = await sendAndEnd(
      stream,
      frame(
        encodeKadMessage(
          msg({
            type: MessageType.ADD_PROVIDER,
            key: shardKey,
            providers: [{ id: other.toMultihash().bytes, multiaddrs: [addr] }],
          }),
        ),
      ),
    )
    expect(reset).toBeInstanceOf(Error)
    expect(v.rejected.at(-1)?.reason).toBe('foreign_provider')
    expect(await v.node.routing.storedProviderRecord(shard, other)).toBeUndefined()
  })

  it("cuts one peer's flood at its rate while an honest peer's provide and lookup succeed", async () => {
    const { v, evil } = await setup({
      dht: { inboundGuard: { peerRequestsPerSecond: 10, peerRequestBurst: 20 } },
    })
    const honestA = await createTestNode()
    const honestB = await createTestNode()
    nodes.push(honestA, honestB)
    await honestA.routing.bootstrap([v.node.addr])
    await honestB.routing.bootstrap([v.node.addr])

    const before = v.handled.length
    const stream = await evil.dialProtocol(v.node.addr, NSN_DHT_PROTOCOL)
    const flood = frame(encodeKadMessage(msg({ type: MessageType.FIND_NODE, key: shardKey })))
    const requests = 200
    const all = new Uint8Array(flood.byteLength * requests)
    for (let i = 0; i < requests; i++) all.set(flood, i * flood.byteLength)
    const answered = countAnswers(stream)
    const reset = await sendAndEnd(stream, all)
    expect(await answered).toBeLessThan(requests)
    expect(reset).toBeInstanceOf(Error)
    expect(v.rejected.at(-1)?.reason).toBe('rate_limited')
    // the burst (20) and what refilled meanwhile were handled, the rest cut with the stream
    const handled = v.handled.slice(before).filter((e) => e.type === 'find_node').length
    expect(handled).toBeGreaterThanOrEqual(20)
    expect(handled).toBeLessThan(requests / 2)

    // honest traffic through the victim still works
    const { confirmed } = await honestA.routing.provide(shard)
    expect(confirmed).toBeGreaterThan(0)
    const { providers } = await honestB.routing.findProviders(shard, { limit: 1 })
    expect(providers.map((p) => p.peerId.toString())).toContain(honestA.libp2p.peerId.toString())
    expect(v.handled.some((e) => e.type === 'add_provider')).toBe(true)
    expect(v.rejected.filter((e) => e.peer !== evil.peerId.toString())).toEqual([])
  })

  it('installs on every nsnKadDHT with kad-dht stream limit, and can be turned off', async () => {
    const on = await createTestNode({ startRouting: false })
    const off = await createTestNode({ startRouting: false, dht: { inboundGuard: false } })
    nodes.push(on, off)
    expect(hooksOf(on.libp2p.services.dht).inboundGuard?.options.maxMessageSize).toBe(
      INBOUND_MAX_MESSAGE_SIZE,
    )
    expect(hooksOf(off.libp2p.services.dht).inboundGuard).toBeUndefined()
  })
})
