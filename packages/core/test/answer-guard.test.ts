import type { Libp2p, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import { afterEach, describe, expect, it } from 'vitest'
import { AnswerGuard, largestAnswer, resolveAnswerGuardOptions, sanitiseAnswer } from '../src/answer-guard.js'
import {
  ANSWER_MAX_ADDRESS_BYTES,
  ANSWER_MAX_ADDRESSES_PER_PEER,
  ANSWER_MAX_PROVIDERS,
  ANSWER_MAX_SIZE,
  K_BUCKET_SIZE,
} from '../src/constants.js'
import { isNsnError } from '../src/errors.js'
import { FrameReader } from '../src/inbound-guard.js'
import { hooksOf } from '../src/index.js'
import {
  decodeKadMessage,
  encodeKadMessage,
  frame,
  type KadMessage,
  type KadPeerInfo,
} from '../src/kad-message.js'
import type { AnswerRejectedEvent, AnswerTrimmedEvent } from '../src/observer.js'
import { parseShardKey } from '../src/shard-key.js'
import {
  createFakeDhtPeer,
  createTestNode,
  routingTableEvents,
  seededRandom,
  seedMessage,
  stopAll,
  type TestNode,
  testSeed,
  waitFor,
} from '../src/testing.js'

/** `NSN_TEST_ANSWER_GUARD=off` runs the real-node tests against kad-dht's own reader, to show they fail there. */
const GUARD_OFF = process.env.NSN_TEST_ANSWER_GUARD === 'off'

const random = seededRandom(testSeed())
const options = resolveAnswerGuardOptions()
const shard = parseShardKey(`0x${'cd'.repeat(32)}`)

/** A valid (sha2-256, RSA-style) peer id multihash of seeded random bytes. */
function fakePeerId(): Uint8Array {
  return new Uint8Array([0x12, 0x20, ...random.bytes(32)])
}

/** `/ip4/127.0.0.1/tcp/<port>`: parseable, refused at once when dialled. */
function tcpAddr(port: number): Uint8Array {
  return multiaddr(`/ip4/127.0.0.1/tcp/${port}`).bytes
}

/** A parseable address longer than the bound. */
const OVERSIZED_ADDR = multiaddr(`/dns4/${'a'.repeat(600)}/tcp/1`).bytes
const GARBAGE_ADDR = new Uint8Array([0xff, 0xff, 0xff, 0x01])

function peer(multiaddrs: Uint8Array[], id = fakePeerId()): KadPeerInfo {
  return { id, multiaddrs }
}

function answer(fields: Partial<KadMessage>): KadMessage {
  return { type: MessageType.FIND_NODE, closer: [], providers: [], ...fields }
}

describe('the answer guard announcing the peers of answers (stub stream, fake clock)', () => {
  /** Reads `answers` one after another through `guard.writeRead` on a stub stream. */
  async function read(guard: AnswerGuard, msg: KadMessage): Promise<void> {
    const body = encodeKadMessage(msg)
    const stream = { send: () => true, abort: () => undefined } as unknown as Stream
    const reader = { next: async () => body } as unknown as FrameReader
    await guard.writeRead(stream, { type: MessageType.FIND_NODE, key: new Uint8Array(34) }, {}, reader)
  }

  it('announces a peer with the same addresses once per interval, and at once with new ones', async () => {
    // 100 idle nodes whose tables held every peer announced the same 20 peers for every
    // FIND_NODE answer: a routing-table job and a peer-store merge each, changing nothing
    const clock = { now: 0 }
    const announced: string[] = []
    const guard = new AnswerGuard(
      {
        dispatchPeer: (info) => announced.push(`${info.id.toString()} ${info.multiaddrs.length}`),
        reporter: () => undefined,
        now: () => clock.now,
      },
      { announceInterval: 60_000 },
    )
    const a = peer([tcpAddr(1)])
    const b = peer([tcpAddr(2)])
    await read(guard, answer({ closer: [a, b] }))
    await read(guard, answer({ closer: [a, b] }))
    expect(announced).toHaveLength(2)
    // b with a second address: news
    await read(guard, answer({ closer: [a, peer([tcpAddr(2), tcpAddr(3)], b.id)] }))
    expect(announced).toHaveLength(3)
    expect(announced[2]).toMatch(/ 2$/)
    clock.now += 60_000
    await read(guard, answer({ closer: [a, b] }))
    expect(announced).toHaveLength(5)
    // 0: every answer's peers announced
    const every: string[] = []
    const eager = new AnswerGuard(
      { dispatchPeer: (info) => every.push(info.id.toString()), reporter: () => undefined },
      { announceInterval: 0 },
    )
    await read(eager, answer({ closer: [a, b] }))
    await read(eager, answer({ closer: [a, b] }))
    expect(every).toHaveLength(4)
    expect(() => resolveAnswerGuardOptions({ announceInterval: -1 })).toThrow(/announceInterval/)
  })
})

describe('sanitiseAnswer', () => {
  it('keeps an honest answer whole', () => {
    const msg = answer({
      closer: [peer([tcpAddr(4001)]), peer([])],
      providers: [peer([tcpAddr(4002), tcpAddr(4003)])],
    })
    const clean = sanitiseAnswer(msg, options)
    expect(clean.dropped).toEqual({})
    expect(clean.message).toEqual(msg)
    expect(clean.peers.map((p) => p.multiaddrs.length)).toEqual([1, 0, 2])
  })

  it('keeps k closer peers and the bounded number of providers', () => {
    const msg = answer({
      closer: Array.from({ length: 5_000 }, (_, i) => peer([tcpAddr(i + 1)])),
      providers: Array.from({ length: 25 }, (_, i) => peer([tcpAddr(i + 1)])),
    })
    const clean = sanitiseAnswer(msg, options)
    expect(clean.message.closer).toHaveLength(K_BUCKET_SIZE)
    expect(clean.message.providers).toHaveLength(ANSWER_MAX_PROVIDERS)
    expect(clean.dropped).toEqual({ too_many_closer_peers: 5_000 - K_BUCKET_SIZE, too_many_providers: 5 })
    expect(clean.peers).toHaveLength(K_BUCKET_SIZE + ANSWER_MAX_PROVIDERS)
  })

  it('drops bad addresses, cuts the rest to the bound, and drops bad peer ids and bare providers', () => {
    const many = Array.from({ length: 10_000 }, (_, i) => tcpAddr((i % 65_535) + 1))
    const msg = answer({
      closer: [
        peer([GARBAGE_ADDR, OVERSIZED_ADDR, ...many]),
        peer([tcpAddr(1)], new Uint8Array([0x12, 0x20, 1, 2, 3])), // truncated multihash
        peer([tcpAddr(1)], new Uint8Array([0x99, 0x01, 0x00])), // unknown hash code
      ],
      providers: [peer([GARBAGE_ADDR]), peer([OVERSIZED_ADDR]), peer([]), peer([tcpAddr(9)])],
    })
    const clean = sanitiseAnswer(msg, options)
    expect(clean.message.closer).toHaveLength(1)
    expect(clean.message.closer[0]?.multiaddrs).toHaveLength(ANSWER_MAX_ADDRESSES_PER_PEER)
    expect(clean.message.providers).toHaveLength(1)
    expect(clean.dropped).toEqual({
      bad_address: 4,
      too_many_addresses: 10_000 - ANSWER_MAX_ADDRESSES_PER_PEER,
      bad_peer_id: 2,
      provider_without_address: 3,
    })
    for (const info of clean.peers) {
      expect(() => peerIdFromMultihash(Digest.decode(info.id.toMultihash().bytes))).not.toThrow()
    }
  })

  it('sizes the default maximum answer to the largest legitimate answer', () => {
    expect(options.maxAnswerSize).toBe(ANSWER_MAX_SIZE)
    expect(ANSWER_MAX_SIZE).toBe(
      largestAnswer(
        K_BUCKET_SIZE,
        ANSWER_MAX_PROVIDERS,
        ANSWER_MAX_ADDRESSES_PER_PEER,
        ANSWER_MAX_ADDRESS_BYTES,
      ),
    )
    const inlineId = new Uint8Array([0x00, 42, ...new Uint8Array(42)])
    const bigAddr = multiaddr(`/dns4/${'a'.repeat(ANSWER_MAX_ADDRESS_BYTES - 7)}/tcp/1`).bytes
    expect(bigAddr.byteLength).toBeLessThanOrEqual(ANSWER_MAX_ADDRESS_BYTES)
    const full = (): KadPeerInfo => peer(Array(ANSWER_MAX_ADDRESSES_PER_PEER).fill(bigAddr), inlineId)
    const largest = encodeKadMessage({
      type: MessageType.GET_PROVIDERS,
      key: shard.cid.multihash.bytes,
      closer: Array.from({ length: K_BUCKET_SIZE }, full),
      providers: Array.from({ length: ANSWER_MAX_PROVIDERS }, full),
    })
    expect(largest.byteLength).toBeLessThanOrEqual(ANSWER_MAX_SIZE)
    expect(resolveAnswerGuardOptions({}, 4).maxAnswerSize).toBeLessThan(ANSWER_MAX_SIZE)
    expect(() => resolveAnswerGuardOptions({ maxProviders: 0 })).toThrow(/answerGuard.maxProviders/)
  })
})

// ---- real nodes over TCP

/** What the malicious peer answers to one request: a message, or raw bytes. */
type Answerer = (request: KadMessage) => Uint8Array

interface Evil {
  libp2p: Libp2p
  requests: KadMessage[]
  stop(): Promise<void>
}

/** A libp2p host (NSN's, minus the DHT) that answers `/nsn/kad/1.0.0` requests with `answerer`. */
async function maliciousPeer(answerer: Answerer): Promise<Evil> {
  const requests: KadMessage[] = []
  const peer = await createFakeDhtPeer(async (stream) => {
    const body = await new FrameReader(stream, 64 * 1024).next()
    if (body == null) return
    const request = decodeKadMessage(body)
    requests.push(request)
    if (!stream.send(answerer(request))) await stream.onDrain()
    await stream.close()
  })
  return { libp2p: peer.libp2p, requests, stop: () => peer.stop() }
}

const QUERY_TIMEOUT_MS = 3_000

interface Victim {
  node: TestNode
  rejected: AnswerRejectedEvent[]
  trimmed: AnswerTrimmedEvent[]
}

async function victimOf(evil: Evil): Promise<Victim> {
  const rejected: AnswerRejectedEvent[] = []
  const trimmed: AnswerTrimmedEvent[] = []
  const node = await createTestNode({
    dht: { queryTimeout: QUERY_TIMEOUT_MS, ...(GUARD_OFF ? { answerGuard: false } : {}) },
    routing: {
      observer: {
        answerRejected: (event) => rejected.push(event),
        answerTrimmed: (event) => trimmed.push(event),
      },
    },
  })
  await node.libp2p.dial(evil.libp2p.getMultiaddrs()[0] ?? multiaddr())
  const table = hooksOf(node.libp2p.services.dht).routingTable
  await waitFor(() => table.size === 1, {
    what: 'the malicious peer in the routing table',
    on: routingTableEvents(node.libp2p),
    timeoutMs: 5_000,
  })
  return { node, rejected, trimmed }
}

async function storedPeers(node: TestNode, ids: Set<string>): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  for (const p of await node.libp2p.peerStore.all()) {
    const id = p.id.toString()
    if (ids.has(id)) out.set(id, p.addresses.length)
  }
  return out
}

/** Runs `op` and says how it ended: its value or an NSN error, and how long it took. */
async function ended<T>(op: Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now()
  try {
    const value = await op
    return { ms: performance.now() - start, value }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}

describe(`the answer guard on real nodes${GUARD_OFF ? ' (TURNED OFF: these should fail)' : ''}`, () => {
  const nodes: Array<{ stop(): Promise<void> }> = []
  afterEach(async () => {
    await stopAll(nodes.splice(0))
  })

  async function setup(answerer: Answerer): Promise<{ evil: Evil; victim: Victim }> {
    const evil = await maliciousPeer(answerer)
    nodes.push(evil)
    const victim = await victimOf(evil)
    nodes.push(victim.node)
    return { evil, victim }
  }

  it('stores at most k of 5,000 closer peers, and the lookup still ends', async () => {
    const fakes = Array.from({ length: 5_000 }, (_, i) => peer([tcpAddr((i % 60_000) + 1)]))
    const ids = new Set(fakes.map((p) => peerIdFromMultihash(Digest.decode(p.id)).toString()))
    const { victim } = await setup((request) =>
      frame(
        encodeKadMessage(request.type === MessageType.FIND_NODE ? answer({ closer: fakes }) : answer({})),
      ),
    )
    const result = await ended(victim.node.routing.closestPeers(shard))
    expect(result.ms, seedMessage()).toBeLessThan(QUERY_TIMEOUT_MS + 1_000)
    if (result.error != null) expect(isNsnError(result.error), String(result.error)).toBe(true)
    await waitFor(async () => (await storedPeers(victim.node, ids)).size > 0, { what: 'a fake peer stored' })
    expect((await storedPeers(victim.node, ids)).size, seedMessage()).toBeLessThanOrEqual(K_BUCKET_SIZE)
    expect(victim.trimmed).toContainEqual({ reason: 'too_many_closer_peers', dropped: 5_000 - K_BUCKET_SIZE })
  })

  it('stores at most the bounded number of 10,000 addresses of one peer', async () => {
    const fake = peer(Array.from({ length: 10_000 }, (_, i) => tcpAddr(i + 1)))
    const id = peerIdFromMultihash(Digest.decode(fake.id)).toString()
    const { victim } = await setup((request) =>
      frame(
        encodeKadMessage(request.type === MessageType.FIND_NODE ? answer({ closer: [fake] }) : answer({})),
      ),
    )
    await ended(victim.node.routing.closestPeers(shard))
    await waitFor(async () => (await storedPeers(victim.node, new Set([id]))).has(id), {
      what: 'the fake peer stored',
    })
    const stored = (await storedPeers(victim.node, new Set([id]))).get(id) ?? 0
    expect(stored).toBeGreaterThan(0)
    expect(stored).toBeLessThanOrEqual(ANSWER_MAX_ADDRESSES_PER_PEER)
  })

  it('drops 20 fake providers with unusable addresses from a findProviders result', async () => {
    const fakes = Array.from({ length: 20 }, () => peer([OVERSIZED_ADDR]))
    const ids = new Set(fakes.map((p) => peerIdFromMultihash(Digest.decode(p.id)).toString()))
    const { victim } = await setup((request) =>
      frame(
        encodeKadMessage(
          request.type === MessageType.GET_PROVIDERS
            ? answer({ type: MessageType.GET_PROVIDERS, providers: fakes })
            : answer({}),
        ),
      ),
    )
    const result = await ended(victim.node.routing.findProviders(shard))
    if (result.error != null) expect(isNsnError(result.error), String(result.error)).toBe(true)
    const found = (result.value?.providers ?? []).filter((p) => ids.has(p.peerId.toString()))
    expect(found).toEqual([])
    expect(victim.trimmed).toContainEqual({ reason: 'provider_without_address', dropped: 20 })
  })

  it('fails a request answered with 1 MiB of 0xff fast, and counts it', async () => {
    const { evil, victim } = await setup(() => new Uint8Array(1024 * 1024).fill(0xff))
    const result = await ended(victim.node.routing.closestPeers(shard))
    expect(evil.requests.length).toBeGreaterThan(0)
    expect(isNsnError(result.error), String(result.error)).toBe(true)
    expect(result.ms).toBeLessThan(QUERY_TIMEOUT_MS / 2)
    expect(victim.rejected).toContainEqual({ reason: 'too_large' })
  })

  it('installs on every nsnKadDHT, and can be turned off', async () => {
    const on = await createTestNode({ startRouting: false })
    const off = await createTestNode({ startRouting: false, dht: { answerGuard: false } })
    nodes.push(on, off)
    expect(hooksOf(on.libp2p.services.dht).answerGuard?.options.maxAnswerSize).toBe(ANSWER_MAX_SIZE)
    expect(hooksOf(off.libp2p.services.dht).answerGuard).toBeUndefined()
  })
})
