import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { afterEach, describe, expect, it } from 'vitest'
import { NoKnownPeersError, NotStartedError, UnsupportedKadDhtError } from '../src/errors.js'
import {
  decodeProviderRecordGroup,
  decodeProviderRecordTime,
  installKadHooks,
  parseProviderRecordKey,
  providerRecordKey,
  routingTableOf,
} from '../src/kad-internals.js'
import { encodeKadMessage, frame, type KadMessage } from '../src/kad-message.js'
import { ProviderStore } from '../src/provider-store.js'
import { parseShardKey } from '../src/shard-key.js'
import {
  createTestNetwork,
  createTestNode,
  QUIET_SELF_QUERY,
  stopAll,
  type TestNode,
} from '../src/testing.js'

const PREFIX = '/dht/provider'

/** kad-dht's encoding of a record's time: an unsigned varint of epoch ms. */
function encodeVarint(value: number): Uint8Array {
  const out: number[] = []
  let v = value
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80)
    v = Math.floor(v / 0x80)
  }
  out.push(v)
  return Uint8Array.from(out)
}

const noop = () => undefined

/**
 * A stand-in of kad-dht's internals that `installKadHooks` touches; `parts` replaces or
 * removes (`undefined`) whole parts.
 */
function kadStub(parts: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    queryManager: { run: noop },
    routingTable: { kb: { toIterable: () => [] } },
    routingTableRefresh: { refreshTable: noop, _refreshCommonPrefixLength: noop, _maxCommonPrefix: noop },
    reprovider: { shouldReprovide: noop, datastore: {} },
    refreshRoutingTable: noop,
    providers: { datastore: {}, addProvider: noop },
    peerRouting: { getClosestPeers: noop, getClosestPeersOffline: noop },
    rpc: { onIncomingStream: noop, handleMessage: noop },
    ...parts,
  }
}

describe("kad-dht's provider-record format", () => {
  it('round-trips keys and decodes varint times', async () => {
    const peer = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const shard = parseShardKey('ab'.repeat(32))
    const key = providerRecordKey(PREFIX, shard.multihash, peer)
    expect(key.toString()).toMatch(/^\/dht\/provider\/[a-z2-7]+\/12D3Koo/)
    const parsed = parseProviderRecordKey(PREFIX, key)
    expect(parsed?.provider).toBe(peer.toString())
    expect(parsed?.multihash).toEqual(shard.multihash)
    expect(parseProviderRecordKey(PREFIX, new Key('/dht/provider/not!base32/x'))).toBeUndefined()
    expect(parseProviderRecordKey(PREFIX, new Key('/other/x/y'))).toBeUndefined()
    expect(decodeProviderRecordTime(encodeVarint(1_796_000_000_123))).toBe(1_796_000_000_123)
  })

  it('ProviderStore reads records, counts others and drops stale self-records (memory datastore, no sockets)', async () => {
    const datastore = new MemoryDatastore()
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const kept = parseShardKey('01'.repeat(32))
    const dropped = parseShardKey('02'.repeat(32))
    for (const [shard, peer] of [
      [kept, self],
      [dropped, self],
      [kept, other],
    ] as const) {
      await datastore.put(providerRecordKey(PREFIX, shard.multihash, peer), encodeVarint(1_000))
    }
    const store = new ProviderStore({ datastore, providerPrefix: PREFIX, providerRecordTtl: 500 }, self)
    expect(await store.record(kept, other)).toEqual({ storedAt: 1_000, expiresAt: 1_500 })
    expect(await store.record(dropped, other)).toBeUndefined()
    expect(await store.countOthers()).toBe(1)
    expect(await store.dropSelfRecords((hash) => parseShardKey(hash).equals(kept))).toBe(1)
    expect(await store.hasSelfRecord(kept)).toBe(true)
    expect(await store.hasSelfRecord(dropped)).toBe(false)
  })
})

describe('installKadHooks', () => {
  it('fails loudly, naming the internal, when kad-dht lacks one', () => {
    const noQueryManager = { routingTable: { kb: { toIterable: () => [] } } }
    expect(() =>
      installKadHooks(noQueryManager as never, {
        queryTimeout: 1,
        providerRecordTtl: 1,
        datastorePrefix: '/dht',
      }),
    ).toThrow(UnsupportedKadDhtError)
    expect(() => routingTableOf({} as never)).toThrow(/routingTable is missing/)
  })

  it('reports each completed lookup of closest peers to the lookup observer, and no stopped one', async () => {
    const peers = await Promise.all(
      [1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
    )
    const peerRouting = {
      async *getClosestPeers(_key: Uint8Array) {
        yield { name: 'PEER_RESPONSE', from: peers[0] }
        for (const id of peers) yield { name: 'FINAL_PEER', peer: { id, multiaddrs: [] } }
      },
    }
    const dht = kadStub({ peerRouting })
    const hooks = installKadHooks(dht as never, {
      queryTimeout: 1,
      providerRecordTtl: 1,
      datastorePrefix: '/dht',
      inboundGuard: false,
      providerStore: false,
      streamSlots: false,
      answerGuard: false,
      requestTimeouts: false,
      routingDiversity: false,
    })
    const seen: Array<{ key: Uint8Array; closest: string[] }> = []
    hooks.attachLookupObserver((key, closest) => seen.push({ key, closest: closest.map(String) }))
    const key = Uint8Array.of(1, 2, 3)
    const events: string[] = []
    for await (const event of peerRouting.getClosestPeers(key)) events.push(event.name)
    expect(events).toEqual(['PEER_RESPONSE', 'FINAL_PEER', 'FINAL_PEER', 'FINAL_PEER'])
    expect(seen).toEqual([{ key, closest: peers.map(String) }])
    // a lookup stopped before its end (an optimistic provide's) says nothing
    for await (const event of peerRouting.getClosestPeers(key)) if (event.name === 'FINAL_PEER') break
    expect(seen).toHaveLength(1)
    hooks.attachLookupObserver(undefined)
    for await (const _ of peerRouting.getClosestPeers(key)) {
      // consume
    }
    expect(seen).toHaveLength(1)
    expect(() =>
      installKadHooks(kadStub({ peerRouting: undefined }) as never, {
        queryTimeout: 1,
        providerRecordTtl: 1,
        datastorePrefix: '/dht',
      }),
    ).toThrow(/peerRouting is missing/)
  })

  it("fails naming kad-dht's answer reader when the answer guard cannot replace it", () => {
    const fn = () => undefined
    const stub = () => kadStub({ network: { safeDispatchEvent: fn } })
    const options = {
      queryTimeout: 1,
      providerRecordTtl: 1,
      datastorePrefix: '/dht',
      inboundGuard: false,
      providerStore: false,
      streamSlots: false,
    } as const
    expect(() => installKadHooks(stub() as never, options)).toThrow(/network\._writeReadMessage is missing/)
    expect(
      installKadHooks(stub() as never, {
        ...options,
        answerGuard: false,
        requestTimeouts: false,
        routingDiversity: false,
      }).answerGuard,
    ).toBeUndefined()
  })

  it("fails naming kad-dht's sendRequest or the table's remove when the per-peer request timeouts cannot wrap them", () => {
    const fn = () => undefined
    const stub = (network: object, routingTable: object = { remove: fn, find: fn }) =>
      kadStub({
        // add and its events: the eviction quarantine keeps evicted peers out
        routingTable: { kb: { toIterable: () => [] }, add: fn, addEventListener: fn, ...routingTable },
        network,
      })
    const options = {
      queryTimeout: 1,
      providerRecordTtl: 1,
      datastorePrefix: '/dht',
      inboundGuard: false,
      providerStore: false,
      streamSlots: false,
      lookups: false,
      answerGuard: false,
      routingDiversity: false,
      peerId: peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'),
      connectionManager: { getConnections: () => [] },
      peerStore: { get: async () => ({ addresses: [] }) },
    } as const
    expect(() => installKadHooks(stub({}) as never, options)).toThrow(/network\.sendRequest is missing/)
    expect(() => installKadHooks(stub({ sendRequest: fn }, { find: fn }) as never, options)).toThrow(
      /routingTable\.remove is missing/,
    )
    const hooks = installKadHooks(stub({ sendRequest: fn }) as never, options)
    expect(hooks.requestTimeouts?.times.options.unknownPeer).toBe(2_000)
    expect(hooks.routingAdmission?.quarantine?.options.duration).toBe(10 * 60_000)
    expect(hooks.routingAdmission?.diversity).toBeUndefined()
    expect(
      installKadHooks(stub({}) as never, { ...options, requestTimeouts: false }).requestTimeouts,
    ).toBeUndefined()
  })

  it("fails naming the table's add or a component when the routing admission cannot wrap them", async () => {
    const fn = () => undefined
    const stub = (routingTable: object) =>
      kadStub({
        routingTable: { kb: { toIterable: () => [] }, remove: fn, find: fn, ...routingTable },
        network: { sendRequest: fn },
      })
    const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const components = {
      peerId,
      connectionManager: { getConnections: () => [] },
      peerStore: { get: async () => ({ addresses: [] }) },
    }
    const options = {
      queryTimeout: 1,
      providerRecordTtl: 1,
      datastorePrefix: '/dht',
      inboundGuard: false,
      providerStore: false,
      streamSlots: false,
      lookups: false,
      answerGuard: false,
      requestTimeouts: false,
    } as const
    const table = { addEventListener: fn, add: fn }
    expect(() =>
      installKadHooks(stub({ addEventListener: fn }) as never, { ...options, ...components }),
    ).toThrow(/routingTable\.add is missing/)
    expect(() => installKadHooks(stub(table) as never, { ...options, peerId })).toThrow(
      /connection manager component is missing/,
    )
    const hooks = installKadHooks(stub(table) as never, { ...options, ...components })
    expect(hooks.routingAdmission?.diversity?.options).toEqual({ perBucket: 2, perTable: 3 })
    expect(hooks.routingAdmission?.quarantine).toBeUndefined() // it comes with the request timeouts
    expect(
      installKadHooks(stub({}) as never, { ...options, routingDiversity: false }).routingAdmission,
    ).toBeUndefined()
  })
})

describe('dht.refreshRoutingTable()', () => {
  let node: TestNode | undefined
  afterEach(async () => {
    await node?.stop()
    node = undefined
  })

  it("runs NSN's refresh while a ShardRouting is started, and fails with NotStartedError otherwise", async () => {
    const refreshes: string[] = []
    node = await createTestNode({
      startRouting: false,
      routing: { observer: { queryEnded: ({ type, error }) => refreshes.push(`${type}:${error?.name}`) } },
    })
    const dht = node.libp2p.services.dht
    await expect(dht.refreshRoutingTable()).rejects.toBeInstanceOf(NotStartedError)
    await node.routing.start()
    // NSN's refresh runs: with an empty table it fails as every NSN operation does
    await expect(dht.refreshRoutingTable()).rejects.toBeInstanceOf(NoKnownPeersError)
    expect(refreshes).toEqual(['refresh:NoKnownPeersError'])
    await node.routing.stop()
    await expect(dht.refreshRoutingTable()).rejects.toBeInstanceOf(NotStartedError)
  })
})

describe("kad-dht's own lookups (the refresh's bucket lookups, the self-query)", () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it("run NSN's lookup, never kad-dht's query manager", async () => {
    // kad-dht's query manager drains 20 disjoint paths: on 100 idle nodes whose tables
    // held every peer, one refresh bucket lookup sent 300 to 700 FIND_NODE and cost 9 to
    // 11 s of CPU (bench/idle-probe.mjs), NSN's lookup 20 to 50
    nodes = await createTestNetwork(4, { routing: { refreshInterval: 0 }, dht: QUIET_SELF_QUERY })
    const [seed, node, ...rest] = nodes as [TestNode, TestNode, ...TestNode[]]
    for (const other of [node, ...rest]) await other.routing.bootstrap([seed.addr])
    const dht = node.libp2p.services.dht as unknown as {
      queryManager: { run: (...args: unknown[]) => unknown }
      peerRouting: { getClosestPeers: (key: Uint8Array) => AsyncIterable<{ name: string }> }
    }
    let queries = 0
    const run = dht.queryManager.run.bind(dht.queryManager)
    dht.queryManager.run = (...args) => {
      queries++
      return run(...args)
    }
    const refresh = await node.routing.refresh()
    expect(refresh.lookups).toBeGreaterThan(0)
    expect(refresh.failedLookups).toBe(0)
    // what the self-query calls
    const final: string[] = []
    for await (const event of dht.peerRouting.getClosestPeers(node.libp2p.peerId.toMultihash().bytes)) {
      final.push(event.name)
    }
    expect(final.filter((name) => name === 'FINAL_PEER')).toHaveLength(3)
    expect(queries).toBe(0)
  })
})

describe("the provider store's IP group of a record", () => {
  it('is the group of the connection the ADD_PROVIDER arrived on, else of an open connection of the provider', async () => {
    const fn = () => undefined
    const log = Object.assign(fn, { error: fn, trace: fn, enabled: false })
    const logger = { forComponent: () => log }
    const self = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const sender = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const datastore = new MemoryDatastore()
    type ProvidersAdd = (cid: { multihash: { bytes: Uint8Array } }, peer: PeerId) => Promise<void>
    const providers: { datastore: MemoryDatastore; addProvider: ProvidersAdd } = {
      datastore,
      addProvider: async () => undefined,
    }
    const dht = {
      queryManager: { run: fn },
      routingTable: { kb: { toIterable: () => [] } },
      routingTableRefresh: { refreshTable: fn, _refreshCommonPrefixLength: fn, _maxCommonPrefix: fn },
      reprovider: { shouldReprovide: fn, datastore },
      refreshRoutingTable: fn,
      providers,
      peerRouting: { getClosestPeers: fn },
      // kad-dht's ADD_PROVIDER handler: the provider is the sender
      rpc: {
        onIncomingStream: fn,
        handleMessage: async (peer: PeerId, msg: KadMessage) => {
          await providers.addProvider({ multihash: { bytes: msg.key as Uint8Array } }, peer)
          return undefined
        },
      },
    }
    const hooks = installKadHooks(dht as never, {
      queryTimeout: 1,
      providerRecordTtl: 60_000,
      datastorePrefix: '/dht',
      logger: logger as never,
      peerId: self,
      answerGuard: false,
      requestTimeouts: false,
      routingDiversity: false,
      streamSlots: false,
      // an open connection of the sender from another group than the one the message uses
      connectionManager: { getConnections: () => [{ remoteAddr: multiaddr('/ip4/192.168.1.1/tcp/1') }] },
    })
    const shard = parseShardKey('0a'.repeat(32))
    const message = encodeKadMessage({
      type: MessageType.ADD_PROVIDER,
      key: shard.multihash,
      closer: [],
      providers: [{ id: sender.toMultihash().bytes, multiaddrs: [multiaddr('/ip4/10.9.8.7/tcp/1').bytes] }],
    })
    const stream = {
      async *[Symbol.asyncIterator]() {
        yield frame(message)
      },
      close: async () => undefined,
      abort: fn,
      send: () => true,
    }
    const connection = { remotePeer: sender, remoteAddr: multiaddr('/ip4/10.9.8.7/tcp/4001') }
    // the guard replaced kad-dht's reader
    const onIncomingStream = dht.rpc.onIncomingStream as unknown as (
      stream: unknown,
      connection: unknown,
    ) => Promise<void>
    await onIncomingStream(stream, connection)
    const value = await datastore.get(providerRecordKey(PREFIX, shard.multihash, sender))
    expect(decodeProviderRecordGroup(value)).toBe('ip4/10.9.0.0/16')
    expect(hooks.providerLimits?.providersOfGroup(shard.multihash, 'ip4/10.9.0.0/16')).toBe(1)

    // outside a message (kad-dht's own reader, with the guard off): an open connection's group
    const other = parseShardKey('0b'.repeat(32))
    await providers.addProvider({ multihash: { bytes: other.multihash } }, sender)
    const fallback = await datastore.get(providerRecordKey(PREFIX, other.multihash, sender))
    expect(decodeProviderRecordGroup(fallback)).toBe('ip4/192.168.0.0/16')
  })
})
