import { afterEach, describe, expect, it } from 'vitest'
import {
  NoPeerAnsweredError,
  type PeerEvictedEvent,
  parseShardKey,
  QueryTimeoutError,
  REQUEST_TIMEOUT_UNKNOWN_PEER,
  REQUEST_TIMEOUTS_BEFORE_EVICTION,
  routingTableOf,
} from '../src/index.js'
import {
  createNodeWithOnlyPeer,
  createSilentPeer,
  createTestNetwork,
  createTestNode,
  QUIET_SELF_QUERY,
  routingTableEvents,
  type SilentPeer,
  silentPeerEvents,
  type TestNode,
  waitFor,
} from '../src/testing.js'

const PROVIDED = parseShardKey('a1'.repeat(32))
const NOBODYS = parseShardKey('b2'.repeat(32))

/** The deadline of these tests (shrunk; the 10 s default is waited out in integration-tests only). */
const DEADLINE = 4_000
/** The silent peer's timeout (shrunk from {@link REQUEST_TIMEOUT_UNKNOWN_PEER}, as every bound, through options). */
const UNKNOWN_PEER = 400
/** kad-dht's self-query kept out of the way: only the queries under test talk to the peers. */
const QUIET = QUIET_SELF_QUERY

function tablePeers(node: TestNode): string[] {
  return [...routingTableOf(node.libp2p.services.dht).kb.toIterable()].map((c) => c.peerId.toString())
}

async function elapsed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now()
  const value = await fn()
  return { value, ms: performance.now() - started }
}

describe('a silent peer in the routing table, among honest peers', () => {
  const nodes: TestNode[] = []
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    await silent?.stop()
    silent = undefined
  })

  it('costs a lookup one short request timeout: "not found" is 200 empty, a provided shard is found, and the peer leaves the table after N timeouts', async () => {
    expect(REQUEST_TIMEOUT_UNKNOWN_PEER).toBeLessThanOrEqual(3_000)
    expect(REQUEST_TIMEOUTS_BEFORE_EVICTION).toBe(3)
    const evicted: PeerEvictedEvent[] = []
    const honest = await createTestNetwork(2, { dht: { queryTimeout: DEADLINE, ...QUIET } })
    nodes.push(...honest)
    const [b, c] = honest as [TestNode, TestNode]
    const a = await createTestNode({
      dht: { queryTimeout: DEADLINE, ...QUIET, requestTimeouts: { unknownPeer: UNKNOWN_PEER } },
      routing: { observer: { peerEvicted: (event) => evicted.push(event) } },
    })
    nodes.push(a)
    await b.libp2p.dial(c.addr)
    await a.libp2p.dial(b.addr)
    await a.libp2p.dial(c.addr)
    await waitFor(() => a.routing.routingTableSize() === 2 && b.routing.routingTableSize() === 2, {
      on: [routingTableEvents(a.libp2p), routingTableEvents(b.libp2p)],
      what: 'the honest peers in the routing tables',
    })
    await b.routing.provide(PROVIDED)
    // only `a` knows the silent peer (the honest peers learn of it from no answer)
    silent = await createSilentPeer()
    await a.libp2p.dial(silent.addr)
    await waitFor(() => a.routing.routingTableSize() === 3, {
      on: routingTableEvents(a.libp2p),
      what: 'the silent peer in the routing table',
    })
    const silentId = silent.libp2p.peerId.toString()
    expect(tablePeers(a)).toContain(silentId)

    // nobody provides this shard: the honest peers answer, the silent one costs one short
    // timeout, and the lookup is "not found" (200, empty), not a timeout at the deadline
    const notFound = await elapsed(() => a.routing.findProviders(NOBODYS))
    expect(notFound.value.providers).toEqual([])
    expect(notFound.value.partial).toBe(false)
    expect(notFound.ms).toBeLessThan(UNKNOWN_PEER + 1_000)
    expect(silent.streams.length).toBeGreaterThanOrEqual(1)

    // a provided shard is found in about one short timeout at worst
    const found = await elapsed(() => a.routing.findProviders(PROVIDED))
    expect(found.value.providers.map((p) => p.peerId.toString())).toEqual([b.libp2p.peerId.toString()])
    expect(found.ms).toBeLessThan(UNKNOWN_PEER + 1_000)

    // each lookup asked the silent peer once and timed out: after N in a row it is evicted
    while (evicted.length === 0 && tablePeers(a).includes(silentId)) {
      const more = await a.routing.findProviders(NOBODYS)
      expect(more.providers).toEqual([])
    }
    await waitFor(() => evicted.length === 1 && !tablePeers(a).includes(silentId), {
      on: routingTableEvents(a.libp2p),
      what: 'the silent peer evicted',
    })
    expect(evicted).toEqual([{ reason: 'timeouts', peer: silentId }])
    expect(silent.streams.length).toBe(REQUEST_TIMEOUTS_BEFORE_EVICTION)
    expect(tablePeers(a).sort()).toEqual([b.libp2p.peerId.toString(), c.libp2p.peerId.toString()].sort())

    // without it, lookups ask only honest peers
    const streams = silent.streams.length
    const after = await elapsed(() => a.routing.findProviders(NOBODYS))
    expect(after.value.providers).toEqual([])
    expect(after.ms).toBeLessThan(UNKNOWN_PEER)
    expect(silent.streams.length).toBe(streams)
  })
})

describe('a lookup cut by the deadline after peers answered', () => {
  const nodes: TestNode[] = []
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    await silent?.stop()
    silent = undefined
  })

  it('is "not found so far" (empty, partial: true), not QueryTimeoutError', async () => {
    const deadline = 1_000
    const honest = await createTestNode({ dht: QUIET })
    // the silent peer's request outlasts the deadline: the deadline cuts the lookup
    const a = await createTestNode({ dht: { queryTimeout: deadline, ...QUIET, requestTimeouts: false } })
    nodes.push(honest, a)
    silent = await createSilentPeer()
    await a.libp2p.dial(honest.addr)
    await a.libp2p.dial(silent.addr)
    await waitFor(() => a.routing.routingTableSize() === 2, {
      on: routingTableEvents(a.libp2p),
      what: 'both peers in the routing table',
    })
    const { value, ms } = await elapsed(() => a.routing.findProviders(NOBODYS))
    expect(value.providers).toEqual([])
    expect(value.partial).toBe(true)
    expect(ms).toBeGreaterThanOrEqual(0.9 * deadline)
    expect(ms).toBeLessThan(1.5 * deadline)
  })
})

describe('a routing table holding only a silent peer', () => {
  let node: TestNode | undefined
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await node?.stop()
    await silent?.stop()
    node = undefined
    silent = undefined
  })

  async function nodeWithOnlySilentPeer(dht: NonNullable<Parameters<typeof createTestNode>[0]>['dht']) {
    silent = await createSilentPeer()
    node = await createNodeWithOnlyPeer(silent, { dht: { ...QUIET, ...dht } })
    return node
  }

  it('still fails with QueryTimeoutError at the deadline when the deadline comes before the request timeout', async () => {
    const deadline = 1_000
    const n = await nodeWithOnlySilentPeer({
      queryTimeout: deadline,
      requestTimeouts: { unknownPeer: 3_000 },
    })
    const { value: error, ms } = await elapsed(() =>
      n.routing.findProviders(NOBODYS).catch((err: unknown) => err),
    )
    expect(error).toBeInstanceOf(QueryTimeoutError)
    expect(ms).toBeGreaterThanOrEqual(0.9 * deadline)
    expect(ms).toBeLessThanOrEqual(1.5 * deadline)
  })

  it('fails with NoPeerAnsweredError (nobody answered: not "not found") after one request timeout, well before the deadline', async () => {
    const n = await nodeWithOnlySilentPeer({
      queryTimeout: DEADLINE,
      requestTimeouts: { unknownPeer: UNKNOWN_PEER },
    })
    const { value: error, ms } = await elapsed(() =>
      n.routing.findProviders(NOBODYS).catch((err: unknown) => err),
    )
    expect(error).toBeInstanceOf(NoPeerAnsweredError)
    expect(ms).toBeGreaterThanOrEqual(0.9 * UNKNOWN_PEER)
    expect(ms).toBeLessThan(DEADLINE / 2)
    await waitFor(() => silent!.streams.length === 1, { on: silentPeerEvents(silent!), what: 'one request' })
  })
})
