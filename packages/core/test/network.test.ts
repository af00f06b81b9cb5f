import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { parseShardKey } from '../src/index.js'
import { createTestNetwork, routingTableEvents, stopAll, type TestNode, waitFor } from '../src/testing.js'

const SHARD = parseShardKey(`0x${'ab'.repeat(32)}`)

async function kadId(bytes: Uint8Array): Promise<bigint> {
  const digest = (await sha256.digest(bytes)).digest
  return BigInt(`0x${Buffer.from(digest).toString('hex')}`)
}

describe('three real nodes over TCP on 127.0.0.1', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  async function threeNodes(): Promise<TestNode[]> {
    nodes = await createTestNetwork(3)
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    await b.routing.bootstrap([a.addr])
    await c.routing.bootstrap([a.addr])
    await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === 2), {
      on: nodes.map((n) => routingTableEvents(n.libp2p)),
      what: 'full routing tables',
    })
    return nodes
  }

  it('discover each other; closestPeers returns the other two sorted by XOR distance', async () => {
    const [a, b, c] = await threeNodes()
    const peers = await b!.routing.closestPeers(SHARD)
    const ids = peers.map((p) => p.peerId.toString()).sort()
    expect(ids).toEqual([a!.libp2p.peerId.toString(), c!.libp2p.peerId.toString()].sort())
    const targetId = await kadId(SHARD.multihash)
    const distances = await Promise.all(
      peers.map(async (p) => (await kadId(p.peerId.toMultihash().bytes)) ^ targetId),
    )
    expect([...distances].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))).toEqual(distances)
    expect(peers.map((p) => BigInt(`0x${p.distance}`))).toEqual(distances)
  })

  it('a provide on one is found from another with dialable addresses', async () => {
    const [a, , c] = await threeNodes()
    const provided = await a!.routing.provide(SHARD)
    expect(provided).toMatchObject({ confirmed: 2, sentTo: 2, belowQuorum: false })
    const found = await c!.routing.findProviders(SHARD)
    expect(found.partial).toBe(false)
    const provider = found.providers.find((p) => p.peerId.equals(a!.libp2p.peerId))
    expect(provider).toBeDefined()
    expect(provider!.multiaddrs.length).toBeGreaterThan(0)
    // dialable: close every connection to the provider, then dial what the lookup returned
    await c!.libp2p.hangUp(a!.libp2p.peerId)
    const connection = await c!.libp2p.dial(
      provider!.multiaddrs.map((m) => m.encapsulate(`/p2p/${a!.libp2p.peerId}`)),
    )
    expect(connection.remotePeer.equals(a!.libp2p.peerId)).toBe(true)
  })
})
