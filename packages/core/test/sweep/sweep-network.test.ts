import { MessageType } from '@libp2p/kad-dht'
import { ShardRegistry } from '@nsn/shard-registry'
import { MemoryDatastore } from 'datastore-core'
import { afterEach, describe, expect, it } from 'vitest'
import { FrameReader } from '../../src/inbound-guard.js'
import { decodeKadMessage, encodeKadMessage, frame, type KadMessage } from '../../src/kad-message.js'
import type { SweepRegionEvent } from '../../src/observer.js'
import { parseShardKey } from '../../src/shard-key.js'
import {
  createFakeDhtPeer,
  createTestNetwork,
  createTestNode,
  routingTableEvents,
  stopAll,
  type TestNode,
  waitFor,
} from '../../src/testing.js'

function hashes(count: number, seed: number): string[] {
  return Array.from({ length: count }, (_, i) =>
    Buffer.from(new Uint32Array([seed, i, 7, 7, 7, 7, 7, 7]).buffer).toString('hex'),
  )
}

async function fullTables(nodes: TestNode[], size: number): Promise<void> {
  await waitFor(() => nodes.every((n) => n.routing.routingTableSize() >= size), {
    on: nodes.map((n) => routingTableEvents(n.libp2p)),
    what: `routing tables of ${size}`,
  })
}

describe('the sweep over TCP', () => {
  let nodes: TestNode[] = []
  const others: Array<{ stop(): Promise<void> }> = []
  afterEach(async () => {
    await stopAll([...nodes, ...others])
    nodes = []
    others.length = 0
  })

  it('sends a peer its records back to back on one stream, then one GET_PROVIDERS', async () => {
    const streams: KadMessage[][] = []
    // the answer lists the sender as a provider (with an address: the answer guard drops providers without one)
    const self = { id: new Uint8Array(), addr: new Uint8Array() }
    const recorder = await createFakeDhtPeer(async (stream) => {
      const reader = new FrameReader(stream, 64 * 1024)
      const messages: KadMessage[] = []
      streams.push(messages)
      for (let body = await reader.next(); body != null; body = await reader.next()) {
        const msg = decodeKadMessage(body)
        messages.push(msg)
        if (msg.type === MessageType.ADD_PROVIDER) continue
        const providers =
          msg.type === MessageType.GET_PROVIDERS ? [{ id: self.id, multiaddrs: [self.addr] }] : []
        const answer: Partial<KadMessage> = { type: msg.type, key: msg.key, closer: [], providers }
        if (!stream.send(frame(encodeKadMessage(answer)))) await stream.onDrain()
      }
      await stream.close()
    })
    others.push(recorder)
    const provider = await createTestNode()
    nodes.push(provider)
    self.id = provider.libp2p.peerId.toMultihash().bytes
    self.addr = provider.libp2p.getMultiaddrs()[0]!.decapsulateCode(421).bytes
    await provider.routing.bootstrap([recorder.libp2p.getMultiaddrs()[0]!])
    await fullTables([provider], 1)

    const batch = hashes(50, 1)
    const result = await provider.routing.provideMany(batch)
    expect(result.summary).toMatchObject({ provided: 50, failed: 0, confirmedMedian: 1 })
    expect(result.results.map((r) => r.hash)).toEqual(batch)
    const recordStreams = streams.filter((s) => s.some((m) => m.type === MessageType.ADD_PROVIDER))
    expect(recordStreams).toHaveLength(1)
    const kinds = (recordStreams[0] as KadMessage[]).map((m) => m.type)
    expect(kinds).toEqual([...batch.map(() => MessageType.ADD_PROVIDER), MessageType.GET_PROVIDERS])
    const added = new Set(
      (recordStreams[0] as KadMessage[]).slice(0, 50).map((m) => Buffer.from(m.key!).toString('hex')),
    )
    for (const hash of batch)
      expect(added.has(Buffer.from(parseShardKey(hash).multihash).toString('hex'))).toBe(true)
  })

  for (const size of [2, 5]) {
    it(`provides and republishes 200 shards on a ${size}-node network: every shard on every peer, found by a lookup`, async () => {
      nodes = await createTestNetwork(size - 1)
      const regions: SweepRegionEvent[] = []
      const registry = new ShardRegistry({ capacity: 1000, datastore: new MemoryDatastore() })
      await registry.load()
      const provider = await createTestNode({
        routing: {
          registry,
          datastore: new MemoryDatastore(),
          observer: { sweepRegionEnded: (e) => regions.push(e) },
        },
      })
      nodes.push(provider)
      const [first, ...rest] = nodes as [TestNode, ...TestNode[]]
      for (const n of [...rest]) await n.routing.bootstrap([first.addr])
      await fullTables(nodes, size - 1)

      const batch = hashes(200, size)
      const seen: string[] = []
      const result = await provider.routing.provideMany(batch, { onShard: (r) => seen.push(r.hash) })
      expect(result.summary).toMatchObject({ provided: 200, failed: 0, confirmedMedian: size - 1 })
      expect(seen.sort()).toEqual([...batch].sort())
      expect(registry.size).toBe(200)
      for (const peer of nodes.slice(0, -1)) {
        expect(await peer.routing.storedProviderRecords()).toBe(200)
      }
      const found = await first.routing.findProviders(batch[17] as string, { cache: false })
      expect(found.providers.map((p) => p.peerId.toString())).toContain(provider.libp2p.peerId.toString())

      const cycle = await provider.routing.republishCycle()
      expect(cycle).toMatchObject({ shards: 200, failed: 0, confirmedMedian: size - 1 })
      expect(cycle.lookups).toBeLessThanOrEqual(2 * cycle.regions)
      expect(regions.at(-1)?.retry).toBe(false)
      expect((await registry.get(parseShardKey(batch[0] as string).bytes))?.publishedAt).toBeGreaterThan(0)
    })
  }
})
