import { generateKeyPair } from '@libp2p/crypto/keys'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import { MessageType, type QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  InvalidOptionError,
  LOOKUP_BETA,
  LOOKUP_CONCURRENCY,
  LookupCandidates,
  type LookupComponents,
  Lookups,
  QueryTimeoutError,
  resolveLookupOptions,
} from '../src/index.js'
import { kadId } from '../src/peer-addresses.js'

function xorCompare(a: Uint8Array, b: Uint8Array, target: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const d = ((a[i] ?? 0) ^ (target[i] ?? 0)) - ((b[i] ?? 0) ^ (target[i] ?? 0))
    if (d !== 0) return d
  }
  return 0
}

interface SimPeer {
  id: PeerId
  kad: Uint8Array
}

/** A simulated network: every peer answers with its k closest peers to the key among all. */
class SimNetwork {
  readonly asked: string[] = []
  /** Peers that never answer (their requests fail when aborted). */
  readonly silent = new Set<string>()
  /** Peers holding provider records: key hex -> providers. */
  readonly records = new Map<string, PeerInfo[]>()
  /** Per-peer answer delay in ms (real timers, a few ms). */
  readonly delay = new Map<string, number>()

  constructor(
    readonly peers: SimPeer[],
    readonly k: number,
  ) {}

  closestTo(target: Uint8Array, count: number, except?: string): SimPeer[] {
    return this.peers
      .filter((p) => p.id.toString() !== except)
      .sort((a, b) => xorCompare(a.kad, b.kad, target))
      .slice(0, count)
  }

  sendRequest = async function* (
    this: SimNetwork,
    to: PeerId,
    msg: unknown,
    options: AbortOptions,
  ): AsyncGenerator<QueryEvent> {
    const id = to.toString()
    this.asked.push(id)
    const message = msg as { type: MessageType; key: Uint8Array }
    yield { name: 'SEND_QUERY', to, messageName: message.type } as unknown as QueryEvent
    const signal = options.signal as AbortSignal
    if (this.silent.has(id)) {
      if (!signal.aborted)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      yield { name: 'QUERY_ERROR', from: to, error: signal.reason } as unknown as QueryEvent
      return
    }
    await new Promise((resolve) => setTimeout(resolve, this.delay.get(id) ?? 0))
    const target = await kadId(message.key)
    const closer = this.closestTo(target, this.k, id).map((p) => ({ id: p.id, multiaddrs: [] }))
    const holds = this.closestTo(target, this.k).some((p) => p.id.toString() === id)
    const providers =
      message.type === MessageType.GET_PROVIDERS && holds
        ? (this.records.get(Buffer.from(message.key).toString('hex')) ?? [])
        : []
    yield {
      name: 'PEER_RESPONSE',
      from: to,
      messageName: message.type,
      closer,
      providers,
    } as unknown as QueryEvent
  }
}

let pool: SimPeer[] = []
beforeAll(async () => {
  pool = await Promise.all(
    Array.from({ length: 61 }, async () => {
      const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      return { id, kad: await kadId(id.toMultihash().bytes) }
    }),
  )
})

function lookupsOn(
  net: SimNetwork,
  self: SimPeer,
  table: SimPeer[],
  extra: Partial<LookupComponents> = {},
  init = {},
) {
  const completed: Array<{ key: Uint8Array; closest: PeerId[] }> = []
  const lookups = new Lookups(
    {
      self: self.id,
      sendRequest: (to, msg, options) => net.sendRequest(to, msg, options),
      closestInTable: (target, count) =>
        [...table]
          .sort((a, b) => xorCompare(a.kad, b.kad, target))
          .slice(0, count)
          .map((p) => p.id),
      connected: () => true,
      responseTime: () => undefined,
      isDialable: async () => true,
      localProviders: async () => [],
      completed: (key, closest) => completed.push({ key, closest }),
      queryTimeout: 5_000,
      ...extra,
    },
    init,
  )
  return { lookups, completed }
}

async function collect(source: AsyncIterable<QueryEvent>): Promise<QueryEvent[]> {
  const out: QueryEvent[] = []
  for await (const event of source) out.push(event)
  return out
}

describe('LookupCandidates', () => {
  it('asks the cheapest peer of the k-closest window first: connected, then faster, then nearer', async () => {
    const target = new Uint8Array(32)
    const c = new LookupCandidates(target, 3, 2)
    const [a, b, d, e] = pool.slice(0, 4).sort((x, y) => xorCompare(x.kad, y.kad, target)) as [
      SimPeer,
      SimPeer,
      SimPeer,
      SimPeer,
    ]
    c.add({ id: a.id, multiaddrs: [] }, a.kad, { connected: false })
    c.add({ id: b.id, multiaddrs: [] }, b.kad, { connected: true, rtt: 90 })
    c.add({ id: d.id, multiaddrs: [] }, d.kad, { connected: true, rtt: 20 })
    c.add({ id: e.id, multiaddrs: [] }, e.kad, { connected: true, rtt: 1 }) // outside the window of 3
    expect(c.add({ id: a.id, multiaddrs: [] }, a.kad, { connected: true })).toBe(false)
    expect(c.next()?.id).toBe(d.id.toString())
    c.mark(d.id, 'waiting')
    expect(c.next()?.id).toBe(b.id.toString())
    c.mark(b.id, 'waiting')
    expect(c.next()?.id).toBe(a.id.toString())
    // an unreachable peer leaves the window: the next one comes in
    c.mark(a.id, 'unreachable')
    expect(c.window().map((x) => x.id)).toEqual([b, d, e].map((p) => p.id.toString()))
    expect(c.next()?.id).toBe(e.id.toString())
  })

  it('ends once the beta closest peers not unreachable have answered', async () => {
    const target = new Uint8Array(32)
    const c = new LookupCandidates(target, 20, 2)
    const [a, b, d] = pool.slice(0, 3).sort((x, y) => xorCompare(x.kad, y.kad, target)) as [
      SimPeer,
      SimPeer,
      SimPeer,
    ]
    expect(c.terminated()).toBe(false) // nobody known: nothing answered
    for (const p of [a, b, d]) c.add({ id: p.id, multiaddrs: [] }, p.kad, { connected: true })
    c.mark(b.id, 'queried')
    c.mark(d.id, 'queried')
    expect(c.terminated()).toBe(false) // the nearest has not answered
    c.mark(a.id, 'unreachable')
    expect(c.terminated()).toBe(true) // it never will: the two nearest reachable did
    expect(c.closestQueried().map((x) => x.id)).toEqual([b, d].map((p) => p.id.toString()))
  })
})

describe('Lookups (NSN lookups over kad-dht requests)', () => {
  it('has named defaults and rejects bad bounds', () => {
    expect(resolveLookupOptions()).toEqual({ k: 20, concurrency: LOOKUP_CONCURRENCY, beta: LOOKUP_BETA })
    expect([LOOKUP_CONCURRENCY, LOOKUP_BETA]).toEqual([10, 3])
    expect(() => resolveLookupOptions({ beta: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveLookupOptions({ concurrency: 1.5 })).toThrow(/lookups\.concurrency/)
    expect(resolveLookupOptions({ k: 4, beta: 9 }).beta).toBe(4)
  })

  it('finds the true k closest peers (with the follow-up), asking far fewer than all of them', async () => {
    const [self, ...others] = pool as [SimPeer, ...SimPeer[]]
    const net = new SimNetwork(others, 8)
    // a sparse table: 6 random peers
    const { lookups, completed } = lookupsOn(net, self, others.slice(0, 6), {}, { k: 8, beta: 3 })
    const key = (await sha256.digest(new TextEncoder().encode('shard'))).bytes
    const events = await collect(lookups.getClosestPeers(key))
    const final = events.filter((e) => e.name === 'FINAL_PEER').map((e) => e.peer.id.toString())
    const truth = net.closestTo(await kadId(key), 8).map((p) => p.id.toString())
    expect(final).toEqual(truth)
    expect(new Set(net.asked).size).toBeLessThan(others.length)
    expect(completed).toHaveLength(1)
    expect(completed[0]?.closest.map(String)).toEqual(truth)
  })

  it('yields each provider as its answer arrives and stops at k providers', async () => {
    const [self, ...others] = pool as [SimPeer, ...SimPeer[]]
    const net = new SimNetwork(others, 4)
    const cid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('video shard')))
    const key = cid.multihash.bytes
    const providers = others.slice(0, 4).map((p) => ({ id: p.id, multiaddrs: [] }))
    net.records.set(Buffer.from(key).toString('hex'), providers)
    const { lookups } = lookupsOn(net, self, others, {}, { k: 4, beta: 3 })
    const events = await collect(lookups.findProviders(cid))
    const found = events
      .filter((e) => e.name === 'PROVIDER')
      .flatMap((e) => e.providers.map((p) => String(p.id)))
    expect(found).toEqual(providers.map((p) => p.id.toString()))
    // the lookup ended at the first answer (it carried all 4): not every holder was asked
    expect(events.filter((e) => e.name === 'PEER_RESPONSE').length).toBeGreaterThanOrEqual(1)
  })

  it('answers from its own records first, and stops there when they are enough', async () => {
    const [self, ...others] = pool as [SimPeer, ...SimPeer[]]
    const net = new SimNetwork(others, 2)
    const cid = CID.createV1(0x55, await sha256.digest(new TextEncoder().encode('own shard')))
    const mine = others.slice(0, 2).map((p) => ({ id: p.id, multiaddrs: [] }))
    const { lookups } = lookupsOn(net, self, others, { localProviders: async () => mine }, { k: 2 })
    const events = await collect(lookups.findProviders(cid))
    expect(events.map((e) => e.name)).toEqual(['PEER_RESPONSE', 'PROVIDER'])
    expect(net.asked).toEqual([])
  })

  it('does not wait for a silent peer: it is unreachable once its request fails, and the lookup ends without it', async () => {
    const [self, ...others] = pool as [SimPeer, ...SimPeer[]]
    const net = new SimNetwork(others, 6)
    const key = (await sha256.digest(new TextEncoder().encode('silent'))).bytes
    const target = await kadId(key)
    const nearest = net.closestTo(target, 1)[0] as SimPeer
    net.silent.add(nearest.id.toString())
    // the silent peer's requests fail at 50 ms (the request timeouts do that in production)
    const { lookups } = lookupsOn(
      net,
      self,
      others,
      {
        sendRequest: (to, msg, options) =>
          net.sendRequest(to, msg, {
            ...options,
            signal: AbortSignal.any([options.signal as AbortSignal, AbortSignal.timeout(50)]),
          }),
      },
      { k: 6, beta: 3 },
    )
    const events = await collect(lookups.getClosestPeers(key))
    const final = events.filter((e) => e.name === 'FINAL_PEER').map((e) => e.peer.id.toString())
    expect(final).not.toContain(nearest.id.toString())
    expect(final).toEqual(
      net
        .closestTo(target, 7)
        .slice(1)
        .map((p) => p.id.toString()),
    )
    expect(events.some((e) => e.name === 'QUERY_ERROR')).toBe(true)
  })

  it('fails with QueryTimeoutError at its deadline', async () => {
    const [self, ...others] = pool as [SimPeer, ...SimPeer[]]
    const net = new SimNetwork(others, 4)
    for (const p of others) net.silent.add(p.id.toString())
    const { lookups } = lookupsOn(net, self, others, { queryTimeout: 30 }, { k: 4 })
    await expect(collect(lookups.getClosestPeers(new Uint8Array(34)))).rejects.toBeInstanceOf(
      QueryTimeoutError,
    )
  })

  it('ends at once with an empty routing table', async () => {
    const [self] = pool as [SimPeer]
    const net = new SimNetwork([], 4)
    const { lookups } = lookupsOn(net, self, [])
    expect(await collect(lookups.getClosestPeers(new Uint8Array(34)))).toEqual([])
  })
})
