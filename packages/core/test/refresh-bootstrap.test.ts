import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { type BootstrapEvent, NoPeerAnsweredError, type QueryEndedEvent } from '../src/index.js'
import {
  createTestNetwork,
  createTestNode,
  expectNever,
  routingTableEvents,
  stopAll,
  type TestNode,
  waitFor,
} from '../src/testing.js'

describe('bootstrap and refresh on real nodes', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it("runs the refresh's lookups on NSN's lookups (kad-dht's query manager only when they are off)", async () => {
    // kad-dht's per-bucket refresh lookups and self-query call its peerRouting; under
    // wide-area latency its query manager took seconds there, so a fresh node had no
    // network-size estimate and its provides were not optimistic
    const seed = await createTestNode()
    const nsn = await createTestNode()
    const off = await createTestNode({ dht: { lookups: false } })
    nodes = [seed, nsn, off]
    await nsn.routing.bootstrap([seed.addr])
    await off.routing.bootstrap([seed.addr])
    // a peer id's multihash, as the refresh looks up (the seed refuses malformed keys)
    const key = seed.libp2p.peerId.toMultihash().bytes
    const paths = async (node: TestNode): Promise<Array<number | undefined>> => {
      const peerRouting = (
        node.libp2p.services.dht as unknown as {
          peerRouting: {
            getClosestPeers(key: Uint8Array): AsyncIterable<{ name: string; path?: { index: number } }>
          }
        }
      ).peerRouting
      const out: Array<number | undefined> = []
      for await (const event of peerRouting.getClosestPeers(key))
        if (event.name === 'PEER_RESPONSE') out.push(event.path?.index)
      return out
    }
    // NSN's lookups have no disjoint paths (no path, or index -1); kad-dht's query manager numbers them
    const ours = await paths(nsn)
    expect(ours.length).toBeGreaterThan(0)
    expect(ours.every((index) => index == null || index === -1)).toBe(true)
    const kad = await paths(off)
    expect(kad.length).toBeGreaterThan(0)
    expect(kad.every((index) => index != null && index >= 0)).toBe(true)
  })

  it('refresh looks up every bucket down to the deepest common prefix in bits, to the self-neighbourhood (kad-dht counted bytes)', async () => {
    // k = 2: with 11 peers the buckets below the self-neighbourhood go 4 bits deep
    nodes = await createTestNetwork(12, { dht: { kBucketSize: 2 }, routing: { refreshInterval: 0 } })
    // the seed every other node joins through: 11 peers, of which one shares at least its
    // first bit but in 1 of 2,048 networks
    const node = nodes[0] as TestNode
    await Promise.all(nodes.slice(1).map((other) => other.routing.bootstrap([node.addr])))
    await waitFor(() => node.routing.routingTableSize() >= 11, {
      on: routingTableEvents(node.libp2p),
      what: 'the seed to know every node',
    })
    const kadId = (peer: PeerId) =>
      new Uint8Array(createHash('sha256').update(peer.toMultihash().bytes).digest())
    const self = kadId(node.libp2p.peerId)
    let deepest = 0
    const cpls: number[] = []
    for (const { peerId } of await node.routing.routingTablePeers()) {
      const other = kadId(peerId)
      let bits = 0
      const bit = (id: Uint8Array, i: number) => ((id[i >> 3] ?? 0) >> (7 - (i & 7))) & 1
      while (bits < 256 && bit(self, bits) === bit(other, bits)) bits++
      deepest = Math.max(deepest, bits)
      cpls.push(bits)
    }
    // the farthest of the k = 2 closest peers: the second longest common prefix
    const farthestOfClosest = cpls.sort((a, b) => b - a)[1] ?? 0
    const result = await node.routing.refresh()
    // the self-lookup, then one lookup per common prefix length 0..deepest, down to the
    // self-neighbourhood (log2(table / k) + 1) and to the farthest of the k closest the
    // self-lookup found (all 11 peers answer it: the true 2 closest); kad-dht's count of
    // zero bytes made it 0 below 256 peers, so a refresh looked up one bucket only
    expect(deepest).toBeGreaterThan(0)
    const neighbourhood = Math.ceil(Math.log2(node.routing.routingTableSize() / 2)) + 1
    expect(result.lookups).toBe(1 + Math.min(deepest, neighbourhood, farthestOfClosest, 15) + 1)
  })

  it('refreshes again once the routing table has doubled since the last refresh', async () => {
    // a node that joined a small network: its first refresh knew 1 peer
    const refreshes: QueryEndedEvent[] = []
    const seed = await createTestNode({ dht: { initialQuerySelfInterval: 3_600_000 } })
    const node = await createTestNode({
      dht: { initialQuerySelfInterval: 3_600_000 },
      routing: {
        refreshOnGrowthMinGap: 0,
        observer: { queryEnded: (e: QueryEndedEvent) => e.type === 'refresh' && refreshes.push(e) },
      },
    })
    nodes = [seed, node]
    await node.routing.bootstrap([seed.addr])
    await node.routing.refresh()
    const first = refreshes.length
    expect(first).toBe(1)
    expect(node.routing.routingTableSize()).toBe(1)
    // two more peers reach it: the table doubles (1 -> 2), a refresh runs by itself
    const more = await createTestNetwork(2, { dht: { initialQuerySelfInterval: 3_600_000 } })
    nodes.push(...more)
    for (const other of more) await other.routing.bootstrap([node.addr])
    await waitFor(() => refreshes.length > first, { pollMs: 20, what: 'a refresh after the table doubled' })
  })

  it('refreshes again soon while it has no network-size estimate, and not once it has one', async () => {
    const runs = async (minSamples: number): Promise<number> => {
      const refreshes: QueryEndedEvent[] = []
      const seed = await createTestNode({ dht: { initialQuerySelfInterval: 3_600_000 } })
      const other = await createTestNode({ dht: { initialQuerySelfInterval: 3_600_000 } })
      const node = await createTestNode({
        dht: { initialQuerySelfInterval: 3_600_000 },
        routing: {
          refreshOnGrowthMinGap: 50,
          // k = 2: the node's 2 peers are enough for an estimate's samples
          networkSize: { k: 2, minSamples, maxSamples: Math.max(minSamples, 150) },
          observer: { queryEnded: (e: QueryEndedEvent) => e.type === 'refresh' && refreshes.push(e) },
        },
      })
      nodes.push(seed, other, node)
      await other.routing.bootstrap([seed.addr])
      await node.routing.bootstrap([seed.addr, other.addr])
      await waitFor(() => node.routing.routingTableSize() >= 2, {
        on: routingTableEvents(node.libp2p),
        what: 'two peers',
      })
      await node.routing.refresh()
      if (minSamples > 1_000) {
        // never an estimate (it needs more lookups than the test runs): refreshed again
        await waitFor(() => refreshes.length >= 3, { pollMs: 20, what: 'refreshes while no estimate' })
      } else {
        // an estimate after the first refresh's lookups: no refresh before the schedule's
        await expectNever(() => refreshes.length > 1, { forMs: 300, what: 'a refresh with an estimate' })
      }
      return refreshes.length
    }
    expect(await runs(10_000)).toBeGreaterThanOrEqual(3)
    expect(await runs(1)).toBe(1)
  })

  it('bootstrap reports success and failure to the observer, and fails typed when nobody can be dialled', async () => {
    const succeeded: BootstrapEvent[] = []
    const failed: BootstrapEvent[] = []
    const queries: QueryEndedEvent[] = []
    const observer = {
      bootstrapSucceeded: (e: BootstrapEvent) => succeeded.push(e),
      bootstrapFailed: (e: BootstrapEvent) => failed.push(e),
      queryEnded: (e: QueryEndedEvent) => queries.push(e),
    }
    const seed = await createTestNode()
    const node = await createTestNode({ routing: { observer } })
    nodes = [seed, node]

    // a closed port: nothing listens there once the probe node stopped
    const probe = await createTestNode()
    const dead = probe.addr
    await probe.stop()

    await expect(node.routing.bootstrap([dead])).rejects.toBeInstanceOf(NoPeerAnsweredError)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ connected: 0, failed: 1 })

    const result = await node.routing.bootstrap([dead, seed.addr])
    expect(result).toMatchObject({ connected: 1, failed: 1, routingTableSize: 1 })
    expect(succeeded).toHaveLength(1)
    expect(queries.filter((q) => q.type === 'bootstrap').map((q) => q.result)).toEqual(['error', 'ok'])
    await expect(node.routing.bootstrap([multiaddr('/ip4/127.0.0.1/tcp/1')])).rejects.toBeInstanceOf(
      NoPeerAnsweredError,
    )
  })

  it('refresh drops peers that went away and finds new ones', async () => {
    // the joiners must be found by the watcher's refresh, not by dialling the watcher
    // themselves (their bootstrap lookups meet it through the seed) nor by the watcher's
    // own kad-dht self-query: it refuses their inbound connections (its outbound dials to
    // them go through) and its self-query is kept out of the way
    const joinerIds = new Set<string>()
    const refuseJoiners = (peer: PeerId): boolean => joinerIds.has(peer.toString())
    const watcher = await createTestNode({
      dht: { initialQuerySelfInterval: 3_600_000, querySelfInterval: 3_600_000 },
      routing: { refreshInterval: 0 },
      connectionGater: { denyInboundEncryptedConnection: refuseJoiners },
    })
    nodes = [watcher]
    nodes.push(...(await createTestNetwork(5, { routing: { refreshInterval: 0 } })))
    const [, seed, ...rest] = nodes as [TestNode, TestNode, ...TestNode[]]
    const joiners = rest.slice(2)
    for (const node of joiners) joinerIds.add(node.libp2p.peerId.toString())
    const idOf = (node: TestNode) => node.libp2p.peerId.toString()
    const inTable = async (node: TestNode) =>
      (await node.routing.routingTablePeers()).map((p) => p.peerId.toString())

    await watcher.routing.bootstrap([seed.addr])
    for (const node of rest.slice(0, 2)) await node.routing.bootstrap([seed.addr])
    await waitFor(() => watcher.routing.routingTableSize() >= 3, {
      on: routingTableEvents(watcher.libp2p),
      what: 'watcher to know 3 peers',
    })

    // two peers leave for good; the watcher hangs up so they are not detected by a closing connection
    const gone = rest.slice(0, 2)
    for (const node of gone) {
      await watcher.libp2p.hangUp(node.libp2p.peerId)
      await node.stop()
    }
    const goneIds = new Set(gone.map(idOf))
    expect((await inTable(watcher)).filter((id) => goneIds.has(id))).toHaveLength(2)

    // new peers join through the seed, unknown to the watcher. The seed admits a new
    // contact into its table only after pinging it, which may finish after the joiner's
    // bootstrap returned: the watcher's refresh can only learn of them once it did
    for (const node of joiners) await node.routing.bootstrap([seed.addr])
    const holdsJoiners = async (node: TestNode) => {
      const table = await inTable(node)
      return joiners.every((j) => table.includes(idOf(j)))
    }
    await waitFor(() => holdsJoiners(seed), {
      on: routingTableEvents(seed.libp2p),
      what: 'the seed to admit both joiners',
    })
    expect((await inTable(watcher)).filter((id) => joinerIds.has(id))).toEqual([])

    const result = await watcher.routing.refresh()
    expect((await inTable(watcher)).filter((id) => goneIds.has(id))).toEqual([])
    expect(result.removed).toBe(2)
    // the refresh's lookups met the joiners; kad-dht admits a contact a lookup met only
    // after pinging it, which may end just after the refresh returned
    await waitFor(() => holdsJoiners(watcher), {
      on: routingTableEvents(watcher.libp2p),
      timeoutMs: 2_000,
      what: "the joiners the refresh found to enter the watcher's table",
    })
    const after = await inTable(watcher)
    expect(after.filter((id) => goneIds.has(id))).toEqual([])
    for (const node of joiners) expect(after).toContain(idOf(node))
    nodes = nodes.filter((n) => !gone.includes(n))
  })

  it('runs refresh on its schedule and stops it cleanly', async () => {
    const INTERVAL = 50
    const refreshes: QueryEndedEvent[] = []
    const refreshed = new EventTarget()
    const a = await createTestNode({ routing: { refreshInterval: 0 } })
    const b = await createTestNode({
      routing: {
        refreshInterval: INTERVAL,
        observer: {
          queryEnded: (e) => {
            if (e.type !== 'refresh') return
            refreshes.push(e)
            refreshed.dispatchEvent(new Event('refresh'))
          },
        },
      },
    })
    nodes = [a, b]
    await b.routing.bootstrap([a.addr])
    const onRefresh = { target: refreshed, events: ['refresh'] }
    await waitFor(() => refreshes.length >= 3, { on: onRefresh, what: 'three scheduled refreshes' })
    await b.routing.stop()
    const count = refreshes.length
    // stopped: no refresh in four intervals
    await expectNever(() => refreshes.length > count, {
      forMs: 4 * INTERVAL,
      on: onRefresh,
      what: 'a refresh after stop()',
    })
    expect(refreshes.length).toBe(count)
    expect(refreshes.every((r) => r.result === 'ok')).toBe(true)
  })
})
