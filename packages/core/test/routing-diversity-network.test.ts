// Routing-table diversity and the eviction quarantine on real libp2p hosts over loopback.
// Every loopback peer is 127.0.0.1, one IP group: the `local` profile turns the filter
// off for that reason, and these tests turn it on explicitly (`routingDiversity: {}`).
import { MessageType } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { FrameReader } from '../src/inbound-guard.js'
import {
  type PeerEvictedEvent,
  parseShardKey,
  ROUTING_DIVERSITY_PER_TABLE,
  type RoutingRefusedEvent,
  routingTableOf,
} from '../src/index.js'
import { decodeKadMessage, encodeKadMessage, frame, type KadPeerInfo } from '../src/kad-message.js'
import {
  createFakeDhtPeer,
  createNodeWithOnlyPeer,
  createSilentPeer,
  createTestNode,
  type FakeDhtPeer,
  QUIET_SELF_QUERY,
  routingTableEvents,
  type SilentPeer,
  seededRandom,
  stopAll,
  type TestNode,
  testSeed,
  waitFor,
} from '../src/testing.js'

const LOOPBACK_GROUP = 'ip4/127.0.0.0/16'
const NOBODYS = parseShardKey('c3'.repeat(32))

function tablePeers(node: TestNode): string[] {
  return [...routingTableOf(node.libp2p.services.dht).kb.toIterable()].map((c) => c.peerId.toString())
}

describe('routing-table diversity on real hosts (loopback: one IP group)', () => {
  const nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes.splice(0))
  })

  /** Starts `a` and five peers that dial it; resolves once each peer is in a's table or was refused. */
  async function fivePeersDial(a: TestNode, refused: RoutingRefusedEvent[]): Promise<string[]> {
    const peers = await Promise.all(
      Array.from({ length: 5 }, () => createTestNode({ dht: QUIET_SELF_QUERY })),
    )
    nodes.push(...peers)
    for (const peer of peers) await peer.libp2p.dial(a.addr)
    const ids = peers.map((p) => p.libp2p.peerId.toString())
    await waitFor(() => ids.every((id) => tablePeers(a).includes(id) || refused.some((r) => r.peer === id)), {
      on: routingTableEvents(a.libp2p),
      pollMs: 50, // a refusal changes no table: polled as well
      what: () =>
        `each peer in the table or refused (table ${tablePeers(a).length}, refused ${refused.length})`,
    })
    return ids
  }

  it('with diversity on, a node that 5 peers connect to holds at most 3 of them, and reports the refusals', async () => {
    const refused: RoutingRefusedEvent[] = []
    const a = await createTestNode({
      dht: { ...QUIET_SELF_QUERY, routingDiversity: {} },
      routing: { observer: { routingRefused: (event) => refused.push(event) } },
    })
    nodes.push(a)
    const ids = await fivePeersDial(a, refused)
    const table = tablePeers(a)
    expect(table.length).toBeLessThanOrEqual(ROUTING_DIVERSITY_PER_TABLE)
    const refusedPeers = new Set(refused.map((r) => r.peer))
    expect(refusedPeers.size).toBe(5 - table.length)
    expect(refusedPeers.size).toBeGreaterThanOrEqual(2)
    for (const id of refusedPeers) expect(ids).toContain(id)
    for (const r of refused) {
      expect(['bucket', 'table']).toContain(r.reason)
      expect(r.group).toBe(LOOPBACK_GROUP)
    }
  })

  it('with the local profile (diversity off, said by LOCAL_PROFILE), all 5 enter', async () => {
    const refused: RoutingRefusedEvent[] = []
    const a = await createTestNode({
      dht: QUIET_SELF_QUERY,
      routing: { observer: { routingRefused: (event) => refused.push(event) } },
    })
    nodes.push(a)
    expect(routingTableOf(a.libp2p.services.dht)).toBeDefined()
    await fivePeersDial(a, refused)
    expect(tablePeers(a)).toHaveLength(5)
    expect(refused).toEqual([])
  })
})

describe('the eviction quarantine on real hosts', () => {
  let node: TestNode | undefined
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await node?.stop()
    await silent?.stop()
    node = undefined
    silent = undefined
  })

  it('keeps a peer evicted by request timeouts out of the table when it reconnects (kad-dht would re-add it)', async () => {
    const evicted: PeerEvictedEvent[] = []
    const refused: RoutingRefusedEvent[] = []
    silent = await createSilentPeer()
    const s = silent
    const a = await createNodeWithOnlyPeer(s, {
      dht: { ...QUIET_SELF_QUERY, queryTimeout: 4_000, requestTimeouts: { unknownPeer: 300 } },
      routing: {
        observer: {
          peerEvicted: (event) => evicted.push(event),
          routingRefused: (event) => refused.push(event),
        },
      },
    })
    node = a
    const silentId = s.libp2p.peerId.toString()
    while (evicted.length === 0) {
      await a.routing.findProviders(NOBODYS).catch(() => undefined)
    }
    await waitFor(() => !tablePeers(a).includes(silentId), {
      on: routingTableEvents(a.libp2p),
      what: 'the silent peer evicted',
    })
    // it comes back: a new connection, on which it answers kad-dht's ping
    await s.libp2p.hangUp(a.libp2p.peerId)
    await s.libp2p.dial(a.addr)
    await waitFor(() => refused.some((r) => r.reason === 'quarantine' && r.peer === silentId), {
      pollMs: 50,
      what: 'the returning peer refused by the quarantine',
    })
    expect(tablePeers(a)).not.toContain(silentId)
    expect(a.routing.routingTableSize()).toBe(0)
  })
})

describe('the per-lookup answer filter on real hosts', () => {
  const nodes: Array<{ stop(): Promise<void> }> = []
  afterEach(async () => {
    await stopAll(nodes.splice(0))
  })

  const random = seededRandom(testSeed())
  /** A Sybil of the loopback group: a valid peer id that nobody runs, at a closed port. */
  const sybil = (): KadPeerInfo => ({
    id: new Uint8Array([0x12, 0x20, ...random.bytes(32)]),
    multiaddrs: [multiaddr('/ip4/127.0.0.1/tcp/1').bytes],
  })

  /** A peer that answers every FIND_NODE with five Sybils of its own. */
  async function sybilGateway(): Promise<FakeDhtPeer> {
    const sybils = Array.from({ length: 5 }, sybil)
    return createFakeDhtPeer(async (stream) => {
      const body = await new FrameReader(stream, 64 * 1024).next()
      if (body == null) return
      const request = decodeKadMessage(body)
      const closer = request.type === MessageType.FIND_NODE ? sybils : []
      const answer = encodeKadMessage({ type: request.type, closer, providers: [] })
      if (!stream.send(frame(answer))) await stream.onDrain()
      await stream.close()
    })
  }

  it('takes at most perTable peers of one IP group from all the answers of one lookup, counted across its paths', async () => {
    const refused: RoutingRefusedEvent[] = []
    const gateways = [await sybilGateway(), await sybilGateway()]
    nodes.push(...gateways)
    const a = await createTestNode({
      dht: { ...QUIET_SELF_QUERY, queryTimeout: 3_000, routingDiversity: {} },
      routing: { observer: { routingRefused: (event) => refused.push(event) } },
    })
    nodes.push(a)
    for (const g of gateways) await a.libp2p.dial(g.addr)
    await waitFor(() => a.routing.routingTableSize() === 2, {
      on: routingTableEvents(a.libp2p),
      what: 'both gateways in the routing table',
    })
    const answerRefusals = (): RoutingRefusedEvent[] => refused.filter((r) => r.reason === 'answer')
    // two answers of 5 Sybils each, one lookup: 3 taken, 7 dropped (per request, 4 would be)
    await a.routing.closestPeers(NOBODYS).catch(() => undefined)
    expect(answerRefusals()).toHaveLength(10 - ROUTING_DIVERSITY_PER_TABLE)
    for (const r of answerRefusals()) expect(r.group).toBe(LOOPBACK_GROUP)
    // the next lookup starts fresh
    await a.routing.closestPeers(NOBODYS).catch(() => undefined)
    expect(answerRefusals()).toHaveLength(2 * (10 - ROUTING_DIVERSITY_PER_TABLE))
  })
})
