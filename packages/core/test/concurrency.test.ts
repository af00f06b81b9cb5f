import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { afterEach, describe, expect, it } from 'vitest'
import {
  AnswerTally,
  hooksOf,
  INBOUND_STREAMS_PER_CONNECTION,
  OUTBOUND_STREAMS_PER_CONNECTION,
  OverloadedError,
  parseShardKey,
  RequestTimeouts,
  resolveKadDHTOptions,
  STREAM_POOL_PER_PEER,
  StreamSlots,
} from '../src/index.js'
import { createTestNetwork, routingTableEvents, stopAll, type TestNode, waitFor } from '../src/testing.js'

const CONCURRENT = 64
const shard = (i: number) => parseShardKey(i.toString(16).padStart(64, '0'))
const PEER = 'peer-a'

describe('outbound DHT stream slots', () => {
  it('hold perPeer streams per peer, queue the next first come first served, refuse past the queue', async () => {
    const slots = new StreamSlots({ perPeer: 2, queuePerPeer: 1 })
    const first = await slots.acquire(PEER)
    await slots.acquire(PEER)
    expect(slots.openTo(PEER)).toBe(2)
    let third = false
    const waiting = slots.acquire(PEER).then((slot) => {
      third = true
      return slot
    })
    await expect(slots.acquire(PEER)).rejects.toBeInstanceOf(OverloadedError)
    // another peer's slots are its own
    await slots.acquire('peer-b')
    expect(third).toBe(false)
    first.free()
    first.free() // idempotent: gives back one slot only
    await waiting
    expect(third).toBe(true)
    expect(slots.openTo(PEER)).toBe(2)
    expect(slots.waitingFor(PEER)).toBe(0)
  })

  it('lets a waiting request go when its signal aborts', async () => {
    const slots = new StreamSlots({ perPeer: 1 })
    const held = await slots.acquire(PEER)
    const controller = new AbortController()
    const waiting = slots.acquire(PEER, controller.signal)
    controller.abort(new Error('deadline'))
    await expect(waiting).rejects.toThrow('deadline')
    expect(slots.waitingFor(PEER)).toBe(0)
    held.free()
    expect(slots.openTo(PEER)).toBe(0)
  })

  it("keep the wait for a slot out of the peer's request timeout: no timeout strike, no eviction", async () => {
    const peer: PeerId = peerIdFromString('12D3KooWEDFFTNuKULmKvSwoZCcNsX46TNCphgC8iHLVccyHMe8a')
    const slots = new StreamSlots({ perPeer: 1 })
    const evicted: PeerId[] = []
    const timeouts = new RequestTimeouts(
      {
        // the peer answers 10 ms after the request reaches it
        async *sendRequest(to) {
          await new Promise((resolve) => setTimeout(resolve, 10))
          yield { name: 'PEER_RESPONSE', from: to, closer: [], providers: [] } as never
        },
        evict: async (p) => {
          evicted.push(p)
          return true
        },
        reporter: () => undefined,
      },
      { min: 50, max: 50, unknownPeer: 50, evictAfter: 1 },
    )
    const send = slots.sendRequest((to, msg, options) => timeouts.sendRequest(to, msg, options))
    // the only slot is held for 200 ms, four times the peer's 50 ms timeout
    const held = await slots.acquire(peer)
    setTimeout(() => held.free(), 200)
    const events = await Promise.all(
      Array.from({ length: 3 }, async () => {
        const names: string[] = []
        for await (const event of send(peer, {}, {})) names.push(event.name)
        return names
      }),
    )
    expect(events).toEqual([['PEER_RESPONSE'], ['PEER_RESPONSE'], ['PEER_RESPONSE']])
    expect(evicted).toEqual([])
    expect(timeouts.times.timeoutOf(peer.toString())).toBe(50)
  })

  it('an operation whose every request this node refused itself fails with OverloadedError, not "no peer answered"', () => {
    const from = peerIdFromString('12D3KooWEDFFTNuKULmKvSwoZCcNsX46TNCphgC8iHLVccyHMe8a')
    const local = new AnswerTally()
    local.add({ name: 'QUERY_ERROR', from, error: new OverloadedError() } as never)
    const refused = Object.assign(new Error('too many'), { name: 'TooManyOutboundProtocolStreamsError' })
    local.add({ name: 'QUERY_ERROR', from, error: refused } as never)
    expect(() => local.assertAnswered()).toThrow(OverloadedError)
    const remote = new AnswerTally()
    remote.add({ name: 'QUERY_ERROR', from, error: new OverloadedError() } as never)
    remote.add({ name: 'QUERY_ERROR', from, error: new Error('reset') } as never)
    expect(() => remote.assertAnswered()).toThrow(expect.objectContaining({ code: 'ERR_NO_PEER_ANSWERED' }))
  })

  it("kad-dht's outbound stream limit is the peers' inbound limit, and the slots' default", () => {
    const { kad, streamSlots } = resolveKadDHTOptions()
    expect(kad.maxOutboundStreams).toBe(OUTBOUND_STREAMS_PER_CONNECTION)
    expect(kad.maxInboundStreams).toBe(INBOUND_STREAMS_PER_CONNECTION)
    expect(OUTBOUND_STREAMS_PER_CONNECTION).toBeLessThanOrEqual(INBOUND_STREAMS_PER_CONNECTION)
    expect(streamSlots === false ? undefined : streamSlots.perPeer).toBe(OUTBOUND_STREAMS_PER_CONNECTION)
    expect(() => resolveKadDHTOptions({ maxOutboundStreams: 8, streamSlots: { perPeer: 9 } })).toThrow(
      /streamSlots\.perPeer.*<= maxOutboundStreams \(8\)/,
    )
  })
})

describe(`${CONCURRENT} concurrent operations on a healthy 3-node network`, () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('all lookups and all provides succeed: no stream is reset, no peer evicted', async () => {
    const evicted: string[] = []
    nodes = await createTestNetwork(3, {
      routing: { providerCache: false, observer: { peerEvicted: (e) => evicted.push(String(e.peer)) } },
    })
    const [a, b, c] = nodes as [TestNode, TestNode, TestNode]
    await b.routing.bootstrap([a.addr])
    await c.routing.bootstrap([a.addr])
    await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === 2), {
      on: nodes.map((n) => routingTableEvents(n.libp2p)),
      what: 'full routing tables',
    })
    // every DHT stream the peers refused or reset, by error name
    const refused: string[] = []
    for (const peer of [b, c]) {
      for (const connection of peer.libp2p.getConnections(a.libp2p.peerId)) {
        // the connection's muxer: where each inbound stream appears before libp2p checks its limit
        const muxer = (connection as unknown as { muxer: EventTarget }).muxer
        muxer.addEventListener('stream', (evt) => {
          ;((evt as CustomEvent).detail as EventTarget).addEventListener('close', (close) => {
            const error = (close as Event & { error?: Error }).error
            if (error != null) refused.push(error.name)
          })
        })
      }
    }

    const lookups = await Promise.allSettled(
      Array.from({ length: CONCURRENT }, (_, i) => a.routing.findProviders(shard(i))),
    )
    const provides = await Promise.allSettled(
      Array.from({ length: CONCURRENT }, (_, i) => a.routing.provide(shard(1_000 + i))),
    )
    const failures = [...lookups, ...provides].flatMap((r) =>
      r.status === 'rejected' ? [`${r.reason.name}: ${r.reason.message}`] : [],
    )
    // before the fix: 32 lookups and 32 provides failed with "no peer answered (2
    // contacted)", the peers' libp2p having reset 128 streams with
    // TooManyInboundProtocolStreamsError (64 streams opened to each, 32 accepted)
    expect(failures).toEqual([])
    expect(refused).toEqual([])
    for (const provide of provides) {
      expect(provide.status === 'fulfilled' && provide.value.confirmed).toBe(2)
    }
    expect(evicted).toEqual([])
    expect(nodes.map((n) => n.routing.routingTableSize())).toEqual([2, 2, 2])
    const { streamSlots: slots, streamPool: pool } = hooksOf(a.libp2p.services.dht)
    // every slot is given back as its stream closes, but those of the warm streams kept
    // idle for the next requests (at most perPeer of them per peer)
    await waitFor(
      () => [b, c].every((n) => slots?.openTo(n.libp2p.peerId) === pool?.idleTo(n.libp2p.peerId)),
      { what: 'free slots' },
    )
    for (const n of [b, c]) expect(pool?.idleTo(n.libp2p.peerId)).toBeLessThanOrEqual(STREAM_POOL_PER_PEER)
  })
})
