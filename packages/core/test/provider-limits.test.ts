import type { Libp2p, PeerId } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import {
  MAX_PROVIDERS_PER_KEY,
  MAX_PROVIDERS_PER_KEY_PER_GROUP,
  MAX_RECORDS_PER_PEER,
  NSN_DHT_PROTOCOL,
} from '../src/constants.js'
import { InvalidOptionError } from '../src/errors.js'
import { hooksOf } from '../src/index.js'
import {
  decodeProviderRecordGroup,
  decodeProviderRecordTime,
  providerRecordKey,
} from '../src/kad-internals.js'
import { encodeKadMessage, frame } from '../src/kad-message.js'
import type { InboundRejectedEvent } from '../src/observer.js'
import {
  encodeProviderRecordTime,
  ProviderLimits,
  type ProviderStoreInit,
  resolveProviderStoreOptions,
} from '../src/provider-limits.js'
import { parseShardKey } from '../src/shard-key.js'
import {
  createHostWithoutDht,
  createTestNetwork,
  createTestNode,
  stopAll,
  type TestNode,
  waitFor,
} from '../src/testing.js'

const prefix = '/dht/provider'
const ttl = 1000

function mh(i: number): Uint8Array {
  return parseShardKey(`0x${i.toString(16).padStart(64, '0')}`).multihash
}

function store(datastore = new MemoryDatastore(), clock = { now: 1_000_000 }, init = {}) {
  const limits = new ProviderLimits(
    { datastore, providerPrefix: prefix, self: 'self', providerRecordTtl: ttl, now: () => clock.now },
    { maxProvidersPerKey: 3, maxRecordsPerPeer: 4, maxRecords: 6, ...init },
  )
  return { limits, datastore, clock }
}

async function keys(datastore: MemoryDatastore): Promise<number> {
  let n = 0
  for await (const _ of datastore.queryKeys({ prefix })) n++
  return n
}

describe('ProviderLimits (in-memory datastore)', () => {
  it('keeps the first providers of a full key, refuses newcomers, admits refreshes', async () => {
    const { limits, datastore } = store()
    for (const p of ['a', 'b', 'c']) expect(await limits.add(mh(1), p)).toMatchObject({ stored: true })
    expect(await limits.add(mh(1), 'd')).toEqual({ stored: false, reason: 'provider_key_full' })
    expect(await limits.add(mh(1), 'a')).toEqual({ stored: true, refreshed: true })
    expect(limits.providersOf(mh(1))).toBe(3)
    expect(await datastore.has(providerRecordKey(prefix, mh(1), 'd'))).toBe(false)
    expect(limits.stored).toBe(3)
  })

  it('caps the records of one peer and the total', async () => {
    const { limits } = store()
    for (let i = 0; i < 4; i++) expect((await limits.add(mh(i), 'a')).stored).toBe(true)
    expect(await limits.add(mh(9), 'a')).toEqual({ stored: false, reason: 'provider_peer_full' })
    expect(limits.recordsOf('a')).toBe(4)
    expect((await limits.add(mh(10), 'b')).stored).toBe(true)
    expect((await limits.add(mh(11), 'b')).stored).toBe(true)
    expect(await limits.add(mh(12), 'c')).toEqual({ stored: false, reason: 'provider_store_full' })
    expect(limits.stored).toBe(6)
  })

  it('always admits and never counts this node’s own records', async () => {
    const { limits, datastore } = store(undefined, undefined, { maxRecords: 1, maxProvidersPerKey: 1 })
    expect((await limits.add(mh(1), 'a')).stored).toBe(true)
    for (let i = 0; i < 5; i++) expect((await limits.add(mh(1 + i), 'self')).stored).toBe(true)
    expect(limits.stored).toBe(1)
    expect(await keys(datastore)).toBe(6)
  })

  it('rebuilds its counts from an existing datastore (a restart)', async () => {
    const { limits, datastore } = store()
    for (const p of ['a', 'b', 'c']) await limits.add(mh(1), p)
    await limits.add(mh(2), 'a')
    await limits.add(mh(3), 'self')
    const restarted = store(datastore).limits
    await restarted.ready()
    expect(restarted.stored).toBe(4)
    expect(restarted.recordsOf('a')).toBe(2)
    expect(await restarted.add(mh(1), 'd')).toEqual({ stored: false, reason: 'provider_key_full' })
  })

  it('follows deletes of the cleanup, and drops expired records of a full key for a newcomer', async () => {
    const { limits, datastore, clock } = store()
    for (const p of ['a', 'b', 'c']) await limits.add(mh(1), p)
    const cleanup = limits.countedDatastore(datastore)
    await cleanup.delete(providerRecordKey(prefix, mh(1), 'a'))
    await cleanup.delete(providerRecordKey(prefix, mh(1), 'a')) // already gone: counted once
    expect(limits.stored).toBe(2)
    expect(limits.recordsOf('a')).toBe(0)
    await limits.add(mh(1), 'a')
    clock.now += ttl + 1
    expect(await limits.add(mh(1), 'd')).toEqual({ stored: true, refreshed: false })
    expect(limits.providersOf(mh(1))).toBe(1)
    expect(limits.stored).toBe(1)
    expect(await keys(datastore)).toBe(1)
  })

  it('writes exactly sized values that hold no shared buffer', async () => {
    const { limits, datastore, clock } = store()
    await limits.add(mh(1), 'a')
    const value = await datastore.get(providerRecordKey(prefix, mh(1), 'a'))
    expect(value.buffer.byteLength).toBe(value.byteLength)
    expect(decodeProviderRecordTime(value)).toBe(clock.now)
    expect(decodeProviderRecordTime(encodeProviderRecordTime(2 ** 50 + 3))).toBe(2 ** 50 + 3)
  })

  it('writes in arrival order under concurrent adds, losing none it admits', async () => {
    const { limits, datastore } = store(undefined, undefined, { maxRecordsPerPeer: 100, maxRecords: 100 })
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => limits.add(mh(i), 'a')))
    expect(results.every((r) => r.stored)).toBe(true)
    expect(await keys(datastore)).toBe(50)
    expect(limits.stored).toBe(50)
  })

  it('rejects bounds that are not integers >= 1', () => {
    expect(() => resolveProviderStoreOptions({ maxRecords: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveProviderStoreOptions({ maxProvidersPerKey: 1.5 })).toThrow(InvalidOptionError)
    expect(resolveProviderStoreOptions().maxProvidersPerKey).toBe(MAX_PROVIDERS_PER_KEY)
  })

  it('rejects a per-group bound of 0, accepts false, defaults to 2', () => {
    expect(() => resolveProviderStoreOptions({ maxProvidersPerKeyPerGroup: 0 })).toThrow(/false/)
    expect(
      resolveProviderStoreOptions({ maxProvidersPerKeyPerGroup: false }).maxProvidersPerKeyPerGroup,
    ).toBe(false)
    expect(resolveProviderStoreOptions().maxProvidersPerKeyPerGroup).toBe(MAX_PROVIDERS_PER_KEY_PER_GROUP)
  })

  it('ignores foreign keys under the prefix', async () => {
    const datastore = new MemoryDatastore()
    await datastore.put(new Key(`${prefix}/not-base32!/x`), new Uint8Array(1))
    const { limits } = store(datastore)
    await limits.ready()
    expect(limits.stored).toBe(0)
  })
})

describe('ProviderLimits: the per-peer cap scales with the network size', () => {
  const scaled = (size: number | undefined, init: ProviderStoreInit = {}) =>
    new ProviderLimits(
      {
        datastore: new MemoryDatastore(),
        providerPrefix: prefix,
        self: 'self',
        providerRecordTtl: 3_600_000,
        networkSize: () => size,
      },
      init,
    )

  it('is the honest share of a 1,000,000-shard provider x 2, between 10,000 and 60 % of the store', () => {
    // 2 x 1,000,000 x 20 / N: 40,000 on 1,000 nodes, under the floor from 4,000 nodes on
    expect(scaled(1_000).recordsPerPeerCap()).toBe(40_000)
    expect(scaled(4_000).recordsPerPeerCap()).toBe(MAX_RECORDS_PER_PEER)
    expect(scaled(100_000).recordsPerPeerCap()).toBe(MAX_RECORDS_PER_PEER)
    // a small network: 60 % of the store (100,000 records) at most, whatever the share
    expect(scaled(50).recordsPerPeerCap()).toBe(60_000)
    expect(scaled(2).recordsPerPeerCap()).toBe(60_000)
    expect(scaled(50, { maxRecords: 1_000_000, maxPeerShareOfStore: 0.5 }).recordsPerPeerCap()).toBe(500_000)
    // without an estimate, or with scaling off: the fixed cap
    expect(scaled(undefined).recordsPerPeerCap()).toBe(MAX_RECORDS_PER_PEER)
    expect(scaled(50, { scaleRecordsPerPeer: false }).recordsPerPeerCap()).toBe(MAX_RECORDS_PER_PEER)
    expect(scaled(50, { maxRecordsPerPeer: 70_000 }).recordsPerPeerCap()).toBe(70_000)
  })

  it('takes the largest of its network-size sources', () => {
    const limits = scaled(50)
    limits.addNetworkSizeSource(() => undefined)
    expect(limits.networkSize()).toBe(50)
    limits.addNetworkSizeSource(() => 1_000)
    expect(limits.networkSize()).toBe(1_000)
    expect(limits.recordsPerPeerCap()).toBe(40_000)
  })

  it('refuses a share of the store above 1 or at 0', () => {
    expect(() => resolveProviderStoreOptions({ maxPeerShareOfStore: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveProviderStoreOptions({ maxPeerShareOfStore: 1.5 })).toThrow(InvalidOptionError)
  })

  it('admits the ~50,000 records an honest 100,000-shard provider puts on a peer of a 50-node network, and holds a flooder at 60,000', async () => {
    // the largest share of one receiver among 49 seeded peers: 50,195 of 100,000 shards x 20
    const honest = scaled(50)
    for (let i = 0; i < 50_195; i++) {
      const admission = await honest.add(mh(i), 'honest')
      if (!admission.stored) throw new Error(`record ${i} refused: ${admission.reason}`)
    }
    expect(honest.recordsOf('honest')).toBe(50_195)
    // the fixed cap of 10,000 refused 80 % of them
    const fixed = scaled(50, { scaleRecordsPerPeer: false })
    let refused = 0
    for (let i = 0; i < 50_195; i++) if (!(await fixed.add(mh(i), 'honest')).stored) refused++
    expect(refused).toBe(50_195 - MAX_RECORDS_PER_PEER)

    const flooded = scaled(50)
    for (let i = 0; i < 60_000; i++) await flooded.add(mh(i), 'flooder')
    expect(await flooded.add(mh(60_000), 'flooder')).toEqual({ stored: false, reason: 'provider_peer_full' })
    expect(flooded.recordsOf('flooder')).toBe(60_000)
    // the rest of the store stays open to others
    expect((await flooded.add(mh(1), 'other')).stored).toBe(true)
  }, 60_000)
})

const A = 'ip4/10.1.0.0/16'
const B = 'ip4/10.2.0.0/16'

describe('ProviderLimits: providers of a key per IP group', () => {
  const grouped = (datastore = new MemoryDatastore(), clock = { now: 1_000_000 }, init = {}) =>
    store(datastore, clock, { maxProvidersPerKey: 5, maxRecordsPerPeer: 10, maxRecords: 20, ...init })

  it('refuses the third record of a key from one group, admits another group, leaves other keys alone', async () => {
    const { limits, datastore } = grouped()
    expect((await limits.add(mh(1), 'a1', { group: A })).stored).toBe(true)
    expect((await limits.add(mh(1), 'a2', { group: A })).stored).toBe(true)
    expect(await limits.add(mh(1), 'a3', { group: A })).toEqual({
      stored: false,
      reason: 'provider_key_group_full',
      group: A,
    })
    expect(await datastore.has(providerRecordKey(prefix, mh(1), 'a3'))).toBe(false)
    expect(await limits.add(mh(1), 'b1', { group: B })).toEqual({ stored: true, refreshed: false })
    // a provider without an IP address has no group: only the key's cap applies
    expect((await limits.add(mh(1), 'n1')).stored).toBe(true)
    expect((await limits.add(mh(1), 'n2')).stored).toBe(true)
    expect(await limits.add(mh(1), 'n3')).toEqual({ stored: false, reason: 'provider_key_full' })
    // another key of the same group
    expect((await limits.add(mh(2), 'a3', { group: A })).stored).toBe(true)
    expect(limits.providersOfGroup(mh(1), A)).toBe(2)
    expect(limits.providersOfGroup(mh(2), A)).toBe(1)
    expect(limits.providersOf(mh(1))).toBe(5)
    // a refresh is admitted, and stays counted in the group it was admitted with
    expect(await limits.add(mh(1), 'a1', { group: B })).toEqual({ stored: true, refreshed: true })
    expect(limits.providersOfGroup(mh(1), A)).toBe(2)
    const value = await datastore.get(providerRecordKey(prefix, mh(1), 'a1'))
    expect(decodeProviderRecordGroup(value)).toBe(A)
  })

  it('frees a group slot when a record is deleted by the cleanup or has expired', async () => {
    const { limits, datastore, clock } = grouped()
    await limits.add(mh(1), 'a1', { group: A })
    await limits.add(mh(1), 'a2', { group: A })
    await limits.countedDatastore(datastore).delete(providerRecordKey(prefix, mh(1), 'a1'))
    expect(limits.providersOfGroup(mh(1), A)).toBe(1)
    expect((await limits.add(mh(1), 'a3', { group: A })).stored).toBe(true)
    expect(await limits.add(mh(1), 'a4', { group: A })).toMatchObject({ reason: 'provider_key_group_full' })
    clock.now += ttl + 1
    expect(await limits.add(mh(1), 'a4', { group: A })).toEqual({ stored: true, refreshed: false })
    expect(limits.providersOfGroup(mh(1), A)).toBe(1)
    expect(limits.stored).toBe(1)
  })

  it('reads the groups back after a restart; records written without one count against no group', async () => {
    const datastore = new MemoryDatastore()
    // records as kad-dht (or NSN before the per-group cap) wrote them: a bare varint
    for (const p of ['old1', 'old2', 'old3']) {
      await datastore.put(providerRecordKey(prefix, mh(1), p), encodeProviderRecordTime(1_000_000))
    }
    const { limits } = grouped(datastore)
    await limits.add(mh(1), 'a1', { group: A })
    await limits.add(mh(1), 'a2', { group: A })
    const value = await datastore.get(providerRecordKey(prefix, mh(1), 'a1'))
    // kad-dht reads the time from the varint and ignores the group after it
    expect(decodeProviderRecordTime(value)).toBe(1_000_000)
    expect(decodeProviderRecordGroup(value)).toBe(A)
    expect(decodeProviderRecordGroup(encodeProviderRecordTime(1_000_000))).toBeUndefined()

    const restarted = grouped(datastore, undefined, { maxProvidersPerKey: 7 }).limits
    await restarted.ready()
    expect(restarted.providersOf(mh(1))).toBe(5)
    expect(restarted.providersOfGroup(mh(1), A)).toBe(2)
    expect(await restarted.add(mh(1), 'a3', { group: A })).toMatchObject({
      reason: 'provider_key_group_full',
    })
    expect((await restarted.add(mh(1), 'b1', { group: B })).stored).toBe(true)
    // an old record leaves without touching any group's count
    await restarted.countedDatastore(datastore).delete(providerRecordKey(prefix, mh(1), 'old1'))
    expect(restarted.providersOfGroup(mh(1), A)).toBe(2)
    expect(restarted.providersOf(mh(1))).toBe(5)
  })

  it('with the cap off (false), counts no group and writes bare varints', async () => {
    const { limits, datastore } = grouped(undefined, undefined, { maxProvidersPerKeyPerGroup: false })
    for (const p of ['a1', 'a2', 'a3', 'a4'])
      expect((await limits.add(mh(1), p, { group: A })).stored).toBe(true)
    expect(limits.providersOfGroup(mh(1), A)).toBe(0)
    const value = await datastore.get(providerRecordKey(prefix, mh(1), 'a1'))
    expect(value).toEqual(encodeProviderRecordTime(1_000_000))
  })
})

// ---- real nodes over TCP: attackers send crafted ADD_PROVIDER frames

function attacker(): Promise<Libp2p> {
  return createHostWithoutDht()
}

function addProvider(sender: PeerId, key: Uint8Array): Uint8Array {
  return frame(
    encodeKadMessage({
      type: MessageType.ADD_PROVIDER,
      key,
      closer: [],
      providers: [
        { id: sender.toMultihash().bytes, multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/4001').bytes] },
      ],
    }),
  )
}

/** Sends every ADD_PROVIDER back to back on one stream, then ends it. */
async function sendAll(evil: Libp2p, to: TestNode, keys: Uint8Array[]): Promise<void> {
  const stream = await evil.dialProtocol(to.addr, NSN_DHT_PROTOCOL)
  for (const key of keys) {
    if (!stream.send(addProvider(evil.peerId, key))) await stream.onDrain()
  }
  await stream.close()
}

async function recordsIn(node: TestNode): Promise<number> {
  const kad = hooksOf(node.libp2p.services.dht)
  let n = 0
  for await (const _ of kad.datastore.queryKeys({ prefix: kad.providerPrefix })) n++
  return n
}

const limitsOff = process.env.NSN_PROVIDER_LIMITS_OFF === '1' // to show the tests fail without them

describe('the bounded provider store on real nodes', () => {
  const nodes: Array<{ stop(): Promise<void> }> = []
  afterEach(async () => {
    await stopAll(nodes.splice(0))
  })

  async function victim(providerStore: ProviderStoreInit = {}) {
    const rejected: InboundRejectedEvent[] = []
    const node = await createTestNode({
      dht: {
        providerStore: limitsOff ? false : providerStore,
        inboundGuard: { peerRequestBurst: 1_000, peerRequestsPerSecond: 1_000 },
      },
      routing: { observer: { inboundRejected: (event) => rejected.push(event) } },
    })
    nodes.push(node)
    return { node, rejected }
  }

  async function attackers(n: number): Promise<Libp2p[]> {
    const started = await Promise.all(Array.from({ length: n }, attacker))
    nodes.push(...started.map((evil) => ({ stop: async () => evil.stop() })))
    return started
  }

  it('one peer sending more ADD_PROVIDER than its cap leaves exactly the cap, and the gauge says so', async () => {
    const cap = 30
    const { node, rejected } = await victim({ maxRecordsPerPeer: cap })
    const [evil] = await attackers(1)
    if (evil == null) throw new Error('no attacker')
    await sendAll(
      evil,
      node,
      Array.from({ length: cap + 20 }, (_, i) => mh(i + 1)),
    )
    await waitFor(async () => rejected.length + (await recordsIn(node)) >= cap + 20, {
      what: `${cap + 20} ADD_PROVIDER handled (stored or refused)`,
    })
    expect(await recordsIn(node)).toBe(cap)
    expect(await node.routing.storedProviderRecords()).toBe(cap)
    expect(rejected).toHaveLength(20)
    expect(new Set(rejected.map((e) => e.reason))).toEqual(new Set(['provider_peer_full']))
    expect(rejected[0]?.peer).toBe(evil.peerId.toString())
    // each stored value is its own exactly sized array, not a slice of the shared pool
    const kad = hooksOf(node.libp2p.services.dht)
    const value = await kad.datastore.get(providerRecordKey(kad.providerPrefix, mh(1), evil.peerId))
    expect(value.buffer.byteLength).toBe(value.byteLength)
  })

  it('scales the per-peer cap from the routing table (a lower bound of the network), not from the lookups estimate', async () => {
    const { node } = await victim()
    const [other] = await createTestNetwork(1)
    nodes.push(other as TestNode)
    await node.routing.bootstrap([(other as TestNode).addr])
    const limits = hooksOf(node.libp2p.services.dht).providerLimits
    // 2 nodes: 2 x 1,000,000 x 20 / 2 records, capped at 60 % of the store's 100,000
    expect(limits?.networkSize()).toBe(2)
    expect(limits?.recordsPerPeerCap()).toBe(60_000)
  })

  it('25 peers providing one key leave 20', async () => {
    const { node, rejected } = await victim()
    const evil = await attackers(25)
    const key = mh(7)
    await Promise.all(evil.map((e) => sendAll(e, node, [key])))
    await waitFor(async () => rejected.length + (await recordsIn(node)) >= 25, {
      what: '25 ADD_PROVIDER handled (stored or refused)',
    })
    expect(await recordsIn(node)).toBe(MAX_PROVIDERS_PER_KEY)
    expect(await node.routing.storedProviderRecords()).toBe(MAX_PROVIDERS_PER_KEY)
    expect(rejected.map((e) => e.reason)).toEqual(Array(5).fill('provider_key_full'))
  })

  it('20 identities from one IP group leave 2 records of a key when the per-group cap is on', async () => {
    // every attacker dials from 127.0.0.1: one IP group; the local profile turns the cap
    // off, so it is set explicitly here
    const { node, rejected } = await victim({ maxProvidersPerKeyPerGroup: MAX_PROVIDERS_PER_KEY_PER_GROUP })
    const evil = await attackers(20)
    const key = mh(8)
    await Promise.all(evil.map((e) => sendAll(e, node, [key])))
    await waitFor(async () => rejected.length + (await recordsIn(node)) >= 20, {
      what: '20 ADD_PROVIDER handled (stored or refused)',
    })
    expect(await recordsIn(node)).toBe(MAX_PROVIDERS_PER_KEY_PER_GROUP)
    expect(rejected.map((e) => e.reason)).toEqual(Array(18).fill('provider_key_group_full'))
    const kad = hooksOf(node.libp2p.services.dht)
    expect(kad.providerLimits?.providersOfGroup(key, 'ip4/127.0.0.0/16')).toBe(
      MAX_PROVIDERS_PER_KEY_PER_GROUP,
    )
  })

  it('the same 20 identities leave all 20 records under the local profile’s default', async () => {
    const { node, rejected } = await victim()
    const evil = await attackers(20)
    const key = mh(9)
    await Promise.all(evil.map((e) => sendAll(e, node, [key])))
    await waitFor(async () => rejected.length + (await recordsIn(node)) >= 20, {
      what: '20 ADD_PROVIDER handled (stored or refused)',
    })
    expect(await recordsIn(node)).toBe(20)
    expect(rejected).toEqual([])
  })
})
