import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  InvalidOptionError,
  kadId,
  NetworkSizeEstimator,
  normalisedDistance,
  type OptimisticProvideEvent,
  parseShardKey,
} from '../src/index.js'
import {
  createTestNetwork,
  QUIET_SELF_QUERY,
  seededRandom,
  stopAll,
  type TestNode,
  waitFor,
} from '../src/testing.js'

/** Sorted normalised distances of the k closest of `ids` to a random key. */
function closestDistances(ids: Uint8Array[], key: Uint8Array, k: number): number[] {
  return ids
    .map((id) => normalisedDistance(id, key))
    .sort((a, b) => a - b)
    .slice(0, k)
}

function randomIds(count: number, next: () => number): Uint8Array[] {
  return Array.from({ length: count }, () => Uint8Array.from({ length: 32 }, () => Math.floor(next() * 256)))
}

describe('network-size estimate', () => {
  it('normalises XOR distances to [0, 1)', () => {
    const zero = new Uint8Array(32)
    const ones = new Uint8Array(32).fill(0xff)
    expect(normalisedDistance(zero, zero)).toBe(0)
    expect(normalisedDistance(zero, ones)).toBeGreaterThan(0.999)
    expect(normalisedDistance(zero, ones)).toBeLessThan(1)
    const half = new Uint8Array(32)
    half[0] = 0x80
    expect(normalisedDistance(zero, half)).toBe(0.5)
  })

  it('estimates the size of a network of uniform ids within 25 %', () => {
    const rng = seededRandom(7)
    for (const size of [200, 2_000]) {
      const ids = randomIds(size, () => rng.next())
      const estimator = new NetworkSizeEstimator()
      for (let i = 0; i < 60; i++)
        estimator.track(closestDistances(ids, randomIds(1, () => rng.next())[0]!, 20))
      const estimate = estimator.estimate()
      expect(estimate, `N = ${size}`).toBeDefined()
      expect(Math.abs(estimate! - size) / size, `N = ${size}: estimate ${estimate}`).toBeLessThan(0.25)
    }
  })

  it('gives no estimate below the minimum samples, bounds its samples and forgets old ones', () => {
    let now = 0
    const rng = seededRandom(3)
    const ids = randomIds(500, () => rng.next())
    const estimator = new NetworkSizeEstimator({
      minSamples: 3,
      maxSamples: 4,
      maxAge: 1_000,
      now: () => now,
    })
    const track = () => estimator.track(closestDistances(ids, randomIds(1, () => rng.next())[0]!, 20))
    track()
    track()
    expect(estimator.estimate()).toBeUndefined()
    // fewer than k distances say nothing about the ranks
    expect(estimator.track([0.1, 0.2])).toBe(false)
    track()
    expect(estimator.estimate()).toBeGreaterThan(0)
    for (let i = 0; i < 10; i++) track()
    expect(estimator.sampleCount).toBe(4)
    now = 1_001
    expect(estimator.sampleCount).toBe(0)
    expect(estimator.estimate()).toBeUndefined()
  })

  it('refuses bad bounds', () => {
    expect(() => new NetworkSizeEstimator({ k: 0 })).toThrow(InvalidOptionError)
    expect(() => new NetworkSizeEstimator({ minSamples: 10, maxSamples: 5 })).toThrow(InvalidOptionError)
    expect(() => new NetworkSizeEstimator({ maxAge: 0 })).toThrow(InvalidOptionError)
  })
})

describe('optimistic provide on 36 real nodes', () => {
  const SIZE = 36
  const K = 20
  let nodes: TestNode[] = []
  const ended: OptimisticProvideEvent[] = []

  beforeAll(async () => {
    nodes = await createTestNetwork(SIZE, {
      dht: QUIET_SELF_QUERY,
      routing: { refreshInterval: 0, observer: { optimisticProvideEnded: (e) => ended.push(e) } },
    })
    const [seed, ...rest] = nodes
    // bootstrap in small batches: 2 cores shared with other work
    // (two bootstrap peers each: one dial refused on a loaded machine fails no bootstrap)
    for (let i = 0; i < rest.length; i += 6) {
      await Promise.all(
        rest.slice(i, i + 6).map((node, j) => node.routing.bootstrap([seed!.addr, nodes[i + j]!.addr])),
      )
    }
    await seed!.routing.bootstrap([rest[0]!.addr])
  }, 120_000)

  afterAll(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('falls back to the classic provide without an estimate, then returns with >= 15 of 20 confirmed, places >= 90 % on the true 20 closest, and every node finds it', async () => {
    const provider = nodes[1]!
    const first = await provider.routing.provide(randomBytes(32))
    // the bootstrap lookup alone is no estimate: the classic provide ran (all 20 awaited)
    expect(first).toMatchObject({ confirmed: K, closest: K })
    expect(ended).toHaveLength(0)

    // lookups of random keys feed the estimate
    for (let i = 0; i < 5; i++) await provider.routing.closestPeers(randomBytes(32))
    const estimate = provider.routing.networkSizeEstimate()
    expect(estimate).toBeDefined()
    expect(estimate!).toBeGreaterThan(SIZE / 3)
    expect(estimate!).toBeLessThan(SIZE * 3)

    const shard = parseShardKey(randomBytes(32))
    const result = await provider.routing.provide(shard.bytes)
    expect(ended).toHaveLength(1)
    // the estimate, never below the peers the provider knows (its table and itself)
    expect(ended[0]).toMatchObject({
      shard: shard.hex,
      networkSize: Math.max(estimate!, provider.routing.routingTableSize() + 1),
    })
    // records went out while the lookup ran
    expect(ended[0]!.early).toBeGreaterThan(0)
    expect(result.confirmed).toBeGreaterThanOrEqual(15)
    expect(result.belowQuorum).toBe(false)

    // the rest finish in the background
    await waitFor(() => provider.routing.backgroundSends === 0, { what: 'the background sends' })

    const target = await kadId(shard.cid.multihash.bytes)
    const others = nodes.filter((node) => node !== provider)
    const withDistance = await Promise.all(
      others.map(async (node) => ({
        node,
        distance: normalisedDistance(await kadId(node.libp2p.peerId.toMultihash().bytes), target),
      })),
    )
    const trueClosest = withDistance.sort((a, b) => a.distance - b.distance).slice(0, K)
    let placed = 0
    for (const { node } of trueClosest) {
      if ((await node.routing.storedProviderRecord(shard, provider.libp2p.peerId)) != null) placed++
    }
    expect(placed / K, `${placed} of the true ${K} closest hold the record`).toBeGreaterThanOrEqual(0.9)

    for (let i = 0; i < others.length; i += 3) {
      await Promise.all(
        others.slice(i, i + 3).map(async (node) => {
          const found = await node.routing.findProviders(shard.bytes, { limit: 1, cache: false })
          expect(
            found.providers.map((p) => p.peerId.toString()),
            `lookup from ${node.libp2p.peerId} (partial: ${found.partial}, table ${node.routing.routingTableSize()})`,
          ).toContain(provider.libp2p.peerId.toString())
        }),
      )
    }
  }, 120_000)
})
