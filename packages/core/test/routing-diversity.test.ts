import { generateKeyPair } from '@libp2p/crypto/keys'
import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  commonPrefixLength,
  EvictionQuarantine,
  InvalidOptionError,
  LookupDiversity,
  ROUTING_DIVERSITY_PER_BUCKET,
  ROUTING_DIVERSITY_PER_TABLE,
  RoutingAdmission,
  type RoutingAdmissionComponents,
  RoutingDiversity,
  type RoutingRefusalReason,
  resolveRoutingDiversityOptions,
} from '../src/index.js'

const A = 'ip4/203.0.0.0/16'
const B = 'ip4/198.51.0.0/16'

describe('resolveRoutingDiversityOptions', () => {
  it("has go-libp2p-kad-dht's defaults, named in constants: 2 per bucket, 3 per table", () => {
    expect([ROUTING_DIVERSITY_PER_BUCKET, ROUTING_DIVERSITY_PER_TABLE]).toEqual([2, 3])
    expect(resolveRoutingDiversityOptions()).toEqual({ perBucket: 2, perTable: 3 })
    expect(resolveRoutingDiversityOptions({ perTable: 5 })).toEqual({ perBucket: 2, perTable: 5 })
    // a perBucket above the default perTable raises perTable with it
    expect(resolveRoutingDiversityOptions({ perBucket: 4 })).toEqual({ perBucket: 4, perTable: 4 })
  })

  it('rejects bounds that are not integers >= 1, perBucket above perTable, and a non-object, with typed errors', () => {
    expect(() => resolveRoutingDiversityOptions({ perBucket: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveRoutingDiversityOptions({ perTable: 1.5 })).toThrow(/routingDiversity\.perTable/)
    expect(() => resolveRoutingDiversityOptions({ perBucket: 3, perTable: 2 })).toThrow(
      /routingDiversity\.perBucket: must be <= perTable/,
    )
    expect(() => resolveRoutingDiversityOptions(true as never)).toThrow(
      /routingDiversity: must be false or an object/,
    )
    expect(() => resolveRoutingDiversityOptions(3 as never)).toThrow(InvalidOptionError)
  })
})

describe('commonPrefixLength (the k-bucket of a peer)', () => {
  it('counts the leading bits two ids share', () => {
    expect(commonPrefixLength(Uint8Array.of(0b1000_0000), Uint8Array.of(0))).toBe(0)
    expect(commonPrefixLength(Uint8Array.of(0b0000_0001), Uint8Array.of(0))).toBe(7)
    expect(commonPrefixLength(Uint8Array.of(0xff, 0b0010_0000), Uint8Array.of(0xff, 0))).toBe(10)
    expect(commonPrefixLength(Uint8Array.of(1, 2), Uint8Array.of(1, 2))).toBe(16)
  })
})

describe('RoutingDiversity (the counts of one table)', () => {
  it('refuses the 3rd peer of one IP group in one bucket', () => {
    const d = new RoutingDiversity()
    expect(d.admit('p1', { bucket: 0, groups: [A] })).toBeUndefined()
    expect(d.admit('p2', { bucket: 0, groups: [A] })).toBeUndefined()
    expect(d.admit('p3', { bucket: 0, groups: [A] })).toEqual({ reason: 'bucket', group: A })
    expect(d.has('p3')).toBe(false)
    // the same group in another bucket, and another group in the same bucket, enter
    expect(d.admit('p4', { bucket: 1, groups: [A] })).toBeUndefined()
    expect(d.admit('p5', { bucket: 0, groups: [B] })).toBeUndefined()
  })

  it('refuses the 4th peer of one IP group in the table, whatever its bucket', () => {
    const d = new RoutingDiversity()
    for (const [i, bucket] of [0, 1, 2].entries()) {
      expect(d.admit(`p${i}`, { bucket, groups: [A] })).toBeUndefined()
    }
    expect(d.countOf(A)).toBe(3)
    expect(d.admit('p4', { bucket: 3, groups: [A] })).toEqual({ reason: 'table', group: A })
    expect(d.admit('p5', { bucket: 3, groups: [B] })).toBeUndefined()
  })

  it('admits a peer without an IP group, always', () => {
    const d = new RoutingDiversity({ perBucket: 1, perTable: 1 })
    for (let i = 0; i < 10; i++) expect(d.admit(`p${i}`, { bucket: 0, groups: [] })).toBeUndefined()
    expect(d.size).toBe(10)
  })

  it('puts a peer of several addresses in every group and refuses it when any of them is full', () => {
    const d = new RoutingDiversity()
    d.admit('a1', { bucket: 0, groups: [A] })
    d.admit('a2', { bucket: 1, groups: [A] })
    d.admit('a3', { bucket: 2, groups: [A] })
    expect(d.admit('both', { bucket: 5, groups: [B, A] })).toEqual({ reason: 'table', group: A })
    expect(d.countOf(B)).toBe(0)
    expect(d.admit('b-and-new', { bucket: 5, groups: [B, 'ip4/192.0.0.0/16'] })).toBeUndefined()
    expect([d.countOf(B), d.countOf('ip4/192.0.0.0/16')]).toEqual([1, 1])
  })

  it('frees the slots of a removed peer', () => {
    const d = new RoutingDiversity()
    d.admit('p1', { bucket: 0, groups: [A] })
    d.admit('p2', { bucket: 0, groups: [A] })
    expect(d.admit('p3', { bucket: 0, groups: [A] })?.reason).toBe('bucket')
    d.remove('p1')
    d.remove('never-counted')
    expect(d.admit('p3', { bucket: 0, groups: [A] })).toBeUndefined()
    expect(d.peers().sort()).toEqual(['p2', 'p3'])
  })
})

describe('LookupDiversity (the peers one lookup takes from answers)', () => {
  it('takes at most perTable peers of one group per query signal; another signal starts fresh', () => {
    const lookups = new LookupDiversity(3)
    const query = new AbortController().signal
    const first = lookups.of(query)
    expect(['s1', 's2', 's3', 's4'].map((p) => first.take(p, [A]))).toEqual([
      undefined,
      undefined,
      undefined,
      A,
    ])
    // a second path of the same query shares the state; a peer taken before is taken again
    expect(lookups.of(query).take('s5', [A])).toBe(A)
    expect(lookups.of(query).take('s1', [A])).toBeUndefined()
    expect(lookups.of(query).take('b1', [B])).toBeUndefined()
    expect(lookups.of(new AbortController().signal).take('s5', [A])).toBeUndefined()
    // a request without a signal is a lookup of its own
    expect(lookups.of(undefined).take('s4', [A])).toBeUndefined()
  })
})

describe('EvictionQuarantine', () => {
  it('keeps a peer in quarantine until the clock passes its end, then forgets it', () => {
    const clock = { now: 1_000 }
    const q = new EvictionQuarantine({ duration: 600_000 }, () => clock.now)
    q.add('p')
    expect(q.has('p')).toBe(true)
    clock.now += 599_999
    expect(q.has('p')).toBe(true)
    clock.now += 1
    expect(q.has('p')).toBe(false)
    expect(q.size).toBe(0)
  })

  it('remembers at most maxPeers quarantines, and validates its options', () => {
    const q = new EvictionQuarantine({ maxPeers: 2 })
    for (const p of ['a', 'b', 'c']) q.add(p)
    expect([q.has('a'), q.has('b'), q.has('c'), q.size]).toEqual([false, true, true, 2])
    expect(() => new EvictionQuarantine({ duration: 0 })).toThrow(/requestTimeouts\.quarantine/)
    expect(() => new EvictionQuarantine({ maxPeers: 0.5 })).toThrow(/requestTimeouts\.quarantinedPeers/)
  })
})

// ---- the admission: kad-dht's routingTable.add and sendRequest, stubbed

const peers: PeerId[] = []
beforeAll(async () => {
  for (let i = 0; i < 24; i++) peers.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')))
})

const at = (ip: string): Multiaddr => multiaddr(`/ip4/${ip}/tcp/4001`)

interface Harness {
  admission: RoutingAdmission
  table: Set<string>
  refusals: Array<{ reason: RoutingRefusalReason; peer: string; group?: string }>
  warnings: string[]
  clock: { now: number }
  /** The addresses the peer store holds, and the remote addresses of open connections, per peer. */
  stored: Map<string, Multiaddr[]>
  connected: Map<string, Multiaddr[]>
  /** Makes kad-dht's add of a peer fail (its ping), or hang until released. */
  failAdd: Set<string>
  hold?: Promise<void>
}

function harness(
  self: PeerId,
  init: ConstructorParameters<typeof RoutingAdmission>[1] = {},
  sendRequest: RoutingAdmissionComponents['sendRequest'] = async function* () {},
): Harness {
  const h = {
    table: new Set<string>(),
    refusals: [],
    warnings: [],
    clock: { now: 0 },
    stored: new Map(),
    connected: new Map(),
    failAdd: new Set(),
  } as unknown as Harness
  const log = Object.assign(() => undefined, {
    error: (format: string, ...args: unknown[]) => h.warnings.push(`${format} ${args.join(' ')}`),
    trace: () => undefined,
    enabled: true,
  })
  h.admission = new RoutingAdmission(
    {
      peerId: self,
      connectionManager: {
        getConnections: (peer?: PeerId) =>
          (h.connected.get(String(peer)) ?? []).map((remoteAddr) => ({ remoteAddr })),
      },
      peerStore: {
        get: async (peer: PeerId) => {
          const addrs = h.stored.get(peer.toString())
          if (addrs == null) throw new Error('NotFoundError')
          return { addresses: addrs.map((m) => ({ multiaddr: m })) }
        },
      },
      add: async (peer: PeerId) => {
        await h.hold
        if (!h.failAdd.has(peer.toString())) h.table.add(peer.toString())
      },
      contains: async (peer: PeerId) => h.table.has(peer.toString()),
      tablePeers: () => h.table,
      tableSize: () => h.table.size,
      sendRequest,
      reporter: () => ({
        refused: (reason, peer, group) =>
          h.refusals.push({ reason, peer: peer.toString(), ...(group == null ? {} : { group }) }),
      }),
      log: log as never,
      now: () => h.clock.now,
    },
    init,
  )
  return h
}

/** Peers (of `peers`) that share bucket `bucket` with `self`, as the admission places them. */
async function inBucket(
  admission: RoutingAdmission,
  candidates: PeerId[],
  bucket: number,
): Promise<PeerId[]> {
  const out: PeerId[] = []
  for (const p of candidates) if ((await admission.placementOf(p)).bucket === bucket) out.push(p)
  return out
}

describe('RoutingAdmission.add (kad-dht routingTable.add behind the filter)', () => {
  it('keeps the 3rd peer of one group in a bucket and the 4th in the table out of kad-dht, and reports them', async () => {
    const self = peers[0]!
    const h = harness(self)
    const zero = await inBucket(h.admission, peers.slice(1), 0)
    const others = (await inBucket(h.admission, peers.slice(1), 1)).concat(
      await inBucket(h.admission, peers.slice(1), 2),
    )
    expect(zero.length).toBeGreaterThanOrEqual(3) // 23 random ids: about half share no bit with ours
    expect(others.length).toBeGreaterThanOrEqual(2)
    for (const p of [...zero, ...others]) h.stored.set(p.toString(), [at(`203.0.${h.stored.size}.1`)])

    for (const p of zero.slice(0, 3)) await h.admission.add(p)
    expect([...h.table]).toEqual(zero.slice(0, 2).map(String))
    expect(h.refusals).toEqual([{ reason: 'bucket', peer: zero[2]!.toString(), group: A }])

    await h.admission.add(others[0]!)
    await h.admission.add(others[1]!)
    expect(h.table.size).toBe(3)
    expect(h.refusals.at(-1)).toEqual({ reason: 'table', peer: others[1]!.toString(), group: A })
  })

  it('admits peers of different groups and peers with no IP address', async () => {
    const h = harness(peers[0]!)
    const zero = await inBucket(h.admission, peers.slice(1), 0)
    zero.forEach((p, i) => {
      h.stored.set(p.toString(), [at(`10.${i}.0.1`)])
    })
    h.stored.set(zero[0]!.toString(), [multiaddr('/dns4/a.example/tcp/1')])
    for (const p of zero) await h.admission.add(p)
    expect(h.table.size).toBe(zero.length)
    expect(h.refusals).toEqual([])
    // unknown to the peer store and not connected: no address, no group
    await h.admission.add(peers[23]!)
    expect(h.table.has(peers[23]!.toString())).toBe(true)
  })

  it("reads the groups of a connected peer from its connections' remote addresses, not the peer store", async () => {
    const h = harness(peers[0]!, { diversity: { perBucket: 1, perTable: 1 } })
    const [p1, p2] = peers.slice(1, 3) as [PeerId, PeerId]
    h.stored.set(p1.toString(), [at('203.0.0.1')])
    h.stored.set(p2.toString(), [at('198.51.0.1')]) // what it claims
    h.connected.set(p2.toString(), [at('203.0.9.9')]) // where it connects from
    await h.admission.add(p1)
    await h.admission.add(p2)
    expect(h.refusals).toEqual([{ reason: 'table', peer: p2.toString(), group: A }])
  })

  it('frees the slots of a peer that leaves the table, or that kad-dht did not add', async () => {
    const h = harness(peers[0]!, { diversity: { perBucket: 1, perTable: 1 } })
    const [p1, p2, p3] = peers.slice(1, 4) as [PeerId, PeerId, PeerId]
    for (const p of [p1, p2, p3]) h.stored.set(p.toString(), [at('203.0.0.1')])
    h.failAdd.add(p1.toString()) // its ping failed
    await h.admission.add(p1)
    await h.admission.add(p2)
    expect([...h.table]).toEqual([p2.toString()])
    await h.admission.add(p3)
    expect(h.refusals.map((r) => r.reason)).toEqual(['table'])
    h.table.delete(p2.toString())
    h.admission.removed(p2)
    await h.admission.add(p3)
    expect([...h.table]).toEqual([p3.toString()])
  })

  it('holds the slots while kad-dht pings a new contact: concurrent adds of one group do not all pass', async () => {
    const h = harness(peers[0]!, { diversity: { perBucket: 3, perTable: 3 } })
    let release = (): void => undefined
    h.hold = new Promise((resolve) => {
      release = resolve
    })
    const many = peers.slice(1, 9)
    for (const p of many) h.stored.set(p.toString(), [at('203.0.0.1')])
    const adds = many.map((p) => h.admission.add(p))
    release()
    await Promise.all(adds)
    expect(h.table.size).toBe(3)
    expect(h.refusals).toHaveLength(5)
  })

  it('forgets counted peers no longer in the table (kad-dht empties it on stop without events)', async () => {
    const h = harness(peers[0]!, { diversity: { perBucket: 1, perTable: 1 } })
    const [p1, p2] = peers.slice(1, 3) as [PeerId, PeerId]
    for (const p of [p1, p2]) h.stored.set(p.toString(), [at('203.0.0.1')])
    await h.admission.add(p1)
    h.table.clear() // stop: no peer:remove
    await h.admission.add(p2)
    expect([...h.table]).toEqual([p2.toString()])
  })

  it('logs one warn line per refused IP group per interval, and counts every refusal', async () => {
    const h = harness(peers[0]!, { diversity: { perBucket: 1, perTable: 1 }, warnInterval: 60_000 })
    const many = peers.slice(1, 6)
    for (const p of many) h.stored.set(p.toString(), [at('203.0.0.1')])
    for (const p of many) await h.admission.add(p)
    expect(h.refusals).toHaveLength(4)
    expect(h.warnings).toHaveLength(1)
    expect(h.warnings[0]).toContain(A)
    h.clock.now += 60_000
    await h.admission.add(many[4]!)
    expect(h.warnings).toHaveLength(2)
  })

  it('refuses a peer in quarantine until the clock passes its end, diversity on or off', async () => {
    for (const diversity of [{}, false] as const) {
      const h = harness(peers[0]!, { diversity, quarantine: { duration: 600_000 } })
      const p = peers[5]!
      await h.admission.add(p)
      h.table.delete(p.toString())
      h.admission.removed(p)
      h.admission.evicted(p)
      await h.admission.add(p)
      expect(h.table.has(p.toString())).toBe(false)
      expect(h.refusals).toEqual([{ reason: 'quarantine', peer: p.toString() }])
      h.clock.now += 599_999
      await h.admission.add(p)
      expect(h.table.has(p.toString())).toBe(false)
      h.clock.now += 1
      await h.admission.add(p)
      expect(h.table.has(p.toString())).toBe(true)
      expect(h.refusals).toHaveLength(2)
    }
  })
})

describe('RoutingAdmission.sendRequest (the closer peers of answers, per lookup)', () => {
  /** A stub of kad-dht's sendRequest answering every request with `closer`. */
  function answering(closer: PeerInfo[]): RoutingAdmissionComponents['sendRequest'] {
    return async function* (to: PeerId, _msg: unknown, _options: AbortOptions) {
      yield { name: 'SEND_QUERY', to } as unknown as QueryEvent
      yield { name: 'PEER_RESPONSE', from: to, closer, providers: [] } as unknown as QueryEvent
    }
  }

  async function closerOf(source: AsyncIterable<QueryEvent>): Promise<string[]> {
    const out: string[] = []
    for await (const event of source) {
      if (event.name === 'PEER_RESPONSE') out.push(...event.closer.map((p) => p.id.toString()))
    }
    return out
  }

  it('keeps perTable peers of one group per query signal, across requests and paths; another signal starts fresh', async () => {
    const sybils = peers.slice(1, 11).map((id, i) => ({ id, multiaddrs: [at(`203.0.0.${i + 1}`)] }))
    const honest = { id: peers[11]!, multiaddrs: [at('198.51.100.1')] }
    const h = harness(peers[0]!, {}, answering([...sybils.slice(0, 5), honest]))
    const query = new AbortController().signal
    const first = await closerOf(h.admission.sendRequest(peers[12]!, {}, { signal: query }))
    expect(first).toEqual([...sybils.slice(0, 3).map((s) => s.id.toString()), honest.id.toString()])
    expect(h.refusals.map((r) => [r.reason, r.group])).toEqual([
      ['answer', A],
      ['answer', A],
    ])
    // the next hop of the same query: the three taken are kept, no other of the group
    const second = await closerOf(h.admission.sendRequest(peers[13]!, {}, { signal: query }))
    expect(second).toEqual(first)
    // another query starts fresh
    const other = await closerOf(
      h.admission.sendRequest(peers[12]!, {}, { signal: new AbortController().signal }),
    )
    expect(other).toEqual(first)
  })

  it('drops quarantined peers from every answer, and leaves other events alone', async () => {
    const closer = peers.slice(1, 3).map((id, i) => ({ id, multiaddrs: [at(`10.${i}.0.1`)] }))
    const h = harness(peers[0]!, { diversity: false }, answering(closer))
    h.admission.evicted(peers[1]!)
    const names: string[] = []
    const kept: string[] = []
    for await (const event of h.admission.sendRequest(peers[12]!, {}, {})) {
      names.push(event.name)
      if (event.name === 'PEER_RESPONSE') kept.push(...event.closer.map((p) => p.id.toString()))
    }
    expect(names).toEqual(['SEND_QUERY', 'PEER_RESPONSE'])
    expect(kept).toEqual([peers[2]!.toString()])
    expect(h.refusals).toEqual([{ reason: 'quarantine', peer: peers[1]!.toString() }])
  })
})
