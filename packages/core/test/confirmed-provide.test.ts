import type { Libp2p } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { afterEach, describe, expect, it } from 'vitest'
import { PROVIDE_QUORUM } from '../src/constants.js'
import { NoPeerAnsweredError } from '../src/errors.js'
import { FrameReader } from '../src/inbound-guard.js'
import { decodeKadMessage, encodeKadMessage, frame, type KadMessage } from '../src/kad-message.js'
import type { ProviderRecordPublishedEvent } from '../src/observer.js'
import { parseShardKey } from '../src/shard-key.js'
import {
  createFakeDhtPeer,
  createTestNetwork,
  createTestNode,
  routingTableEvents,
  stopAll,
  type TestNode,
  waitFor,
} from '../src/testing.js'

const SHARD = parseShardKey('c0'.repeat(32))

interface DroppingPeer {
  libp2p: Libp2p
  /** Every message it read, in order. */
  received: KadMessage[]
  stop(): Promise<void>
}

/**
 * A peer that speaks `/nsn/kad/1.0.0` and drops every record: it reads an ADD_PROVIDER
 * and stores nothing, answers GET_PROVIDERS with no providers and FIND_NODE with no
 * closer peers. A plain ADD_PROVIDER cannot tell it from an honest peer.
 */
async function droppingPeer(): Promise<DroppingPeer> {
  const received: KadMessage[] = []
  const peer = await createFakeDhtPeer(async (stream) => {
    const reader = new FrameReader(stream, 64 * 1024)
    for (let body = await reader.next(); body != null; body = await reader.next()) {
      const msg = decodeKadMessage(body)
      received.push(msg)
      if (msg.type === MessageType.ADD_PROVIDER) continue // dropped, no reply
      const answer: Partial<KadMessage> = { type: msg.type, key: msg.key, closer: [], providers: [] }
      if (!stream.send(frame(encodeKadMessage(answer)))) await stream.onDrain()
    }
    await stream.close()
  })
  return { libp2p: peer.libp2p, received, stop: () => peer.stop() }
}

async function fullTables(nodes: TestNode[], size: number): Promise<void> {
  await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === size), {
    on: nodes.map((n) => routingTableEvents(n.libp2p)),
    what: `routing tables of ${size}`,
  })
}

describe('confirmed provides over TCP', () => {
  let nodes: TestNode[] = []
  let dropper: DroppingPeer | undefined
  afterEach(async () => {
    await stopAll(nodes)
    await dropper?.stop()
    nodes = []
    dropper = undefined
  })

  it('every honest peer confirms the store: confirmed equals sentTo, and each holds the record at once', async () => {
    const published: ProviderRecordPublishedEvent[] = []
    nodes = await createTestNetwork(4)
    const [a, ...others] = nodes as [TestNode, ...TestNode[]]
    const provider = await createTestNode({
      routing: { observer: { providerRecordPublished: (e) => published.push(e) } },
    })
    nodes.push(provider)
    for (const n of [...others, provider]) await n.routing.bootstrap([a.addr])
    await fullTables(nodes, 4)

    const result = await provider.routing.provide(SHARD)
    expect(result).toMatchObject({ confirmed: 4, sentTo: 4, closest: 4, quorum: 3, belowQuorum: false })
    expect(published).toEqual([
      { shard: SHARD.hex, confirmed: 4, sentTo: 4, belowQuorum: false, republish: false },
    ])
    // the confirmation came after the store: no wait for the records
    for (const n of [a, ...others]) {
      expect(await n.routing.storedProviderRecord(SHARD, provider.libp2p.peerId)).toBeDefined()
    }
    expect(await provider.routing.hasSelfRecord(SHARD)).toBe(true)
  })

  it('a peer that accepts the record and drops it counts as sent, not confirmed', async () => {
    nodes = await createTestNetwork(2)
    const [provider, honest] = nodes as [TestNode, TestNode]
    dropper = await droppingPeer()
    await provider.routing.bootstrap([honest.addr, dropper.libp2p.getMultiaddrs()[0]!])
    await fullTables([provider], 2)

    const result = await provider.routing.provide(SHARD)
    expect(result.sentTo).toBe(2)
    expect(result.confirmed).toBe(1)
    // 2 closest peers: the quorum is both of them (ceil(0.75 x 2))
    expect(PROVIDE_QUORUM).toBe(0.75)
    expect(result).toMatchObject({ closest: 2, quorum: 2, belowQuorum: true })
    // it did receive the record, then the GET_PROVIDERS on the same stream, in that order
    const kinds = dropper.received.map((m) => m.type).filter((t) => t !== MessageType.FIND_NODE)
    expect(kinds).toEqual([MessageType.ADD_PROVIDER, MessageType.GET_PROVIDERS])
    expect(await honest.routing.storedProviderRecord(SHARD, provider.libp2p.peerId)).toBeDefined()
  })

  it('a provide no peer confirmed fails with NoPeerAnsweredError and keeps the own record', async () => {
    const provider = await createTestNode()
    nodes = [provider]
    dropper = await droppingPeer()
    await provider.routing.bootstrap([dropper.libp2p.getMultiaddrs()[0]!])
    await fullTables([provider], 1)

    const error = await provider.routing.provide(SHARD).then(
      () => undefined,
      (err: unknown) => err,
    )
    expect(error).toBeInstanceOf(NoPeerAnsweredError)
    expect((error as NoPeerAnsweredError).message).toBe(
      'no peer confirmed the store (1 closest, 1 sent, 0 confirmed)',
    )
    expect(dropper.received.some((m) => m.type === MessageType.ADD_PROVIDER)).toBe(true)
    // the own record is written before publishing: this node still answers lookups
    expect(await provider.routing.hasSelfRecord(SHARD)).toBe(true)
  })
})
