import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { ShardRegistry } from '@nsn/shard-registry'
import { MemoryDatastore } from 'datastore-core'
import { afterEach, describe, expect, it } from 'vitest'
import type { InboundRejectedEvent, SweepRegionEvent } from '../../src/observer.js'
import { parseShardKey } from '../../src/shard-key.js'
import { closestTo, hasPrefix, kadKeyOf, regionsFromPeers } from '../../src/sweep/keyspace.js'
import { SweepStateStore } from '../../src/sweep/state-store.js'
import {
  createTestNode,
  QUIET_SELF_QUERY,
  routingTableEvents,
  stopAll,
  type TestNode,
  waitFor,
} from '../../src/testing.js'

/** A seeded identity: the same keyspace on every run. */
async function seededKey(label: string, i: number) {
  const seed = new Uint8Array(createHash('sha256').update(`nsn-test/sweep-regions/${label}/${i}`).digest())
  return generateKeyPairFromSeed('Ed25519', seed)
}

function hashes(count: number, label: string): string[] {
  return Array.from({ length: count }, (_, i) =>
    createHash('sha256').update(`nsn-test/sweep-regions/shard/${label}/${i}`).digest('hex'),
  )
}

const idOf = (node: TestNode): Uint8Array => kadKeyOf(node.libp2p.peerId.toMultihash().bytes)

/** `size` nodes with seeded identities, bootstrapped one after another; `init(i)` configures node i. */
async function network(
  size: number,
  label: string,
  init: (i: number) => Parameters<typeof createTestNode>[0],
): Promise<TestNode[]> {
  const nodes: TestNode[] = []
  try {
    for (let i = 0; i < size; i++) {
      nodes.push(
        await createTestNode({ privateKey: await seededKey(label, i), dht: QUIET_SELF_QUERY, ...init(i) }),
      )
    }
    const [seed] = nodes as [TestNode]
    for (let i = 1; i < size; i++) {
      await (nodes[i] as TestNode).routing.bootstrap([seed.addr, (nodes[i - 1] as TestNode).addr])
    }
    // the first ones bootstrapped into a smaller network: a self-lookup fills their tables
    for (const node of nodes) {
      if (node.routing.routingTableSize() < size - 1) await node.routing.closestPeers(node.libp2p.peerId)
    }
    await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === size - 1), {
      on: nodes.map((n) => routingTableEvents(n.libp2p)),
      what: () => `full routing tables: ${nodes.map((n) => n.routing.routingTableSize()).join(' ')}`,
    })
    return nodes
  } catch (err) {
    await stopAll(nodes)
    throw err
  }
}

/** The (shard, true k closest peer) pairs missing the provider's record. */
async function missingOnTrueClosest(
  batch: readonly string[],
  peers: readonly TestNode[],
  provider: TestNode,
  k: number,
): Promise<string[]> {
  const missing: string[] = []
  for (const hex of batch) {
    const key = kadKeyOf(parseShardKey(hex).multihash)
    for (const peer of closestTo(key, peers, k, idOf)) {
      if ((await peer.routing.storedProviderRecord(hex, provider.libp2p.peerId)) == null) {
        missing.push(`${hex.slice(0, 8)} on ${peer.libp2p.peerId.toString().slice(-6)}`)
      }
    }
  }
  return missing
}

async function registryOf(): Promise<ShardRegistry> {
  const registry = new ShardRegistry({ capacity: 10_000, datastore: new MemoryDatastore() })
  await registry.load()
  return registry
}

describe('the sweep on a real 17-node network: regions from the known peers and L', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('splits the keyspace into regions of at least k peers where it can, and never drops a shard where it cannot', async () => {
    // provider A: the sweep with k = 4 (regions of at least 4 peers: 16 peers make 3 of them)
    const SPLIT_K = 4
    const regionsA: SweepRegionEvent[] = []
    const registryA = await registryOf()
    // provider B: k = 20 on 16 peers (fewer than k: one region, every shard on every peer),
    // with a wrong L of 2 persisted (as a larger network left it) and no estimate to
    // correct it: its 16 peers cut into 4 regions of about 4 (go's sweep dropped keys here)
    const regionsB: SweepRegionEvent[] = []
    const registryB = await registryOf()
    const datastoreB = new MemoryDatastore()
    await new SweepStateStore(datastoreB).saveState({ cycleStart: Date.now(), prefixLength: 2 })
    const A = 15
    const B = 16
    // what any node refused of another's messages (a lookup key no peer accepts, ...)
    const rejected: InboundRejectedEvent[] = []
    const inboundRejected = (e: InboundRejectedEvent) => rejected.push(e)
    nodes = await network(17, 'e', (i) => ({
      routing: {
        refreshInterval: 0,
        ...(i === A
          ? {
              registry: registryA,
              datastore: new MemoryDatastore(),
              sweep: { k: SPLIT_K },
              observer: { sweepRegionEnded: (e: SweepRegionEvent) => regionsA.push(e), inboundRejected },
            }
          : i === B
            ? {
                registry: registryB,
                datastore: datastoreB,
                sweep: { estimateLookups: 0 },
                observer: { sweepRegionEnded: (e: SweepRegionEvent) => regionsB.push(e), inboundRejected },
              }
            : { observer: { inboundRejected } }),
      },
    }))
    const providerA = nodes[A] as TestNode
    const providerB = nodes[B] as TestNode
    const peersA = nodes.filter((_, i) => i !== A)
    const peersB = nodes.filter((_, i) => i !== B)
    // the seeded keyspace: A's 16 peers split 6 / 5 / 5 under 0, 10 and 11
    expect(regionsFromPeers(peersA.map(idOf), SPLIT_K).map((r) => r.bits)).toEqual(['0', '10', '11'])

    const batchA = hashes(200, 'a')
    const providedA = await providerA.routing.provideMany(batchA)
    expect(providedA.summary).toMatchObject({ provided: 200, failed: 0, regions: 3 })
    const cycleA = await providerA.routing.republishCycle()
    expect(cycleA).toMatchObject({ shards: 200, regions: 3, failed: 0, confirmedMedian: SPLIT_K })
    const passedA = regionsA.filter((e) => e.origin === 'republish')
    expect(passedA.map((e) => e.bits).sort()).toEqual(['0', '10', '11'])
    for (const event of passedA) {
      expect(peersA.filter((p) => hasPrefix(idOf(p), event.bits)).length).toBeGreaterThanOrEqual(SPLIT_K)
      expect(event.retry).toBe(false)
    }
    // a few lookups per region (the estimate's 4 counted once), not one per shard
    expect(providedA.summary.lookups + cycleA.lookups).toBeLessThanOrEqual(4 + 2 * 3 * 3)
    expect(await missingOnTrueClosest(batchA, peersA, providerA, SPLIT_K)).toEqual([])

    const batchB = hashes(100, 'b')
    const providedB = await providerB.routing.provideMany(batchB)
    expect(providedB.summary).toMatchObject({ provided: 100, failed: 0 })
    const cycleB = await providerB.routing.republishCycle()
    expect(cycleB).toMatchObject({ shards: 100, regions: 4, failed: 0, confirmedMedian: 16 })
    for (const event of regionsB) expect(event.retry).toBe(false)
    // on a network of fewer than k peers, every peer is among a shard's k closest
    expect(await missingOnTrueClosest(batchB, peersB, providerB, 20)).toEqual([])
    // every lookup key was one peers accept (the estimate's random keys are sha2-256
    // multihashes: random bytes were refused as bad keys, and every estimate failed)
    expect(rejected.map((e) => e.reason)).toEqual([])
  }, 60_000)
})
