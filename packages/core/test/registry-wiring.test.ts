import { ShardRegistry } from '@nsn/shard-registry'
import { afterEach, describe, expect, it } from 'vitest'
import { type ProviderRecordPublishedEvent, parseShardKey, type ShardKey } from '../src/index.js'
import { createTestNode, routingTableEvents, stopAll, type TestNode, waitFor } from '../src/testing.js'

type Published = ProviderRecordPublishedEvent & { at: number }

const shard = (n: number): ShardKey => parseShardKey(n.toString(16).padStart(64, '0'))

/** When `holder` stored `provider`'s record for `key` (undefined when it holds none). */
async function recordTime(holder: TestNode, provider: TestNode, key: ShardKey): Promise<number | undefined> {
  return (await holder.routing.storedProviderRecord(key, provider.libp2p.peerId))?.storedAt
}

describe('the registry wired into ShardRouting, on real nodes', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  /** Each record the provider publishes, as an event too (`published`). */
  const publications = new EventTarget()
  const onPublished = { target: publications, events: ['published'] }

  async function network(registry: ShardRegistry, published: Published[], dht = {}) {
    const [provider, ...others] = await Promise.all([
      createTestNode({
        dht,
        routing: {
          registry,
          observer: {
            providerRecordPublished: (e) => {
              published.push({ ...e, at: Date.now() })
              publications.dispatchEvent(new Event('published'))
            },
          },
          // the per-shard Republisher's wiring (the sweep has its own tests: test/sweep/)
          republisher: 'per-shard',
          republishCheckInterval: 100,
          republishRetryDelay: 200,
        },
      }),
      createTestNode({ dht }),
      createTestNode({ dht }),
    ])
    nodes = [provider, ...others]
    await Promise.all(others.map((other) => other.routing.bootstrap([provider.addr])))
    await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === 2), {
      on: nodes.map((n) => routingTableEvents(n.libp2p)),
      what: 'full routing tables',
    })
    return { provider: provider as TestNode, others }
  }

  it('evicting or stopping a shard withdraws its self-record and stops its republishing', async () => {
    const registry = new ShardRegistry({ capacity: 2, republishInterval: 400, republishJitter: 50 })
    const published: Published[] = []
    const { provider } = await network(registry, published)

    await provider.routing.provide(shard(1))
    await provider.routing.provide(shard(2))
    expect(await provider.routing.hasSelfRecord(shard(1))).toBe(true)

    await provider.routing.provide(shard(3)) // evicts shard 1, the least recently used
    expect(await registry.has(shard(1).bytes)).toBe(false)
    const evictedAt = Date.now()
    // the withdrawal runs in the background of the eviction (a datastore delete, no event)
    await waitFor(async () => !(await provider.routing.hasSelfRecord(shard(1))), {
      what: "the evicted shard's self-record to go",
    })
    expect(await provider.routing.hasSelfRecord(shard(1))).toBe(false)
    expect(await provider.routing.hasSelfRecord(shard(3))).toBe(true)

    expect(await provider.routing.stopProviding(shard(2))).toBe(true)
    expect(await provider.routing.hasSelfRecord(shard(2))).toBe(false)
    expect(await provider.routing.stopProviding(shard(2))).toBe(false)
    const stoppedAt = Date.now()

    // shard 3 keeps being republished; shards 1 and 2 never are
    await waitFor(() => published.filter((e) => e.republish && e.shard === shard(3).hex).length >= 2, {
      on: onPublished,
      what: 'two republishes of shard 3',
    })
    const after = (e: Published, shardKey: ShardKey, at: number) =>
      e.republish && e.shard === shardKey.hex && e.at >= at
    expect(published.filter((e) => after(e, shard(1), evictedAt) || after(e, shard(2), stoppedAt))).toEqual(
      [],
    )
    const left: string[] = []
    for await (const entry of registry.entries()) left.push(entry.hex)
    expect(left).toEqual([shard(3).hex])
  })

  it('republishes before the TTL lapses, so a remote node holds a fresh record; a stopped shard lapses', async () => {
    const ttl = 1_500
    const registry = new ShardRegistry({ republishInterval: 600, republishJitter: 100 })
    const published: Published[] = []
    const { provider, others } = await network(registry, published, {
      providerRecordTtl: ttl,
      providerCleanupInterval: 200,
    })
    const [kept, stopped] = [shard(10), shard(11)]
    // every peer confirmed both stores: the remote holds both records when provide resolves
    for (const key of [kept, stopped]) {
      const { confirmed, sentTo } = await provider.routing.provide(key)
      expect(confirmed).toBe(others.length)
      expect(sentTo).toBe(others.length)
    }
    const remote = others[0] as TestNode
    const first = await recordTime(remote, provider, kept)
    const stoppedStoredAt = await recordTime(remote, provider, stopped)
    expect(first).toBeDefined()
    expect(stoppedStoredAt).toBeDefined()
    await provider.routing.stopProviding(stopped)
    const stoppedAt = Date.now()

    // past the first TTL, the remote holds a newer record of the kept shard and none of
    // the stopped one, whose record lapsed once its TTL was up, not before
    await waitFor(
      async () =>
        Date.now() > (first as number) + ttl && (await recordTime(remote, provider, stopped)) == null,
      { timeoutMs: ttl + 2_000, what: "the first TTL to pass and the stopped shard's record to lapse" },
    )
    expect(Date.now()).toBeGreaterThanOrEqual((stoppedStoredAt as number) + ttl)
    const fresh = await recordTime(remote, provider, kept)
    expect(fresh).toBeDefined()
    expect(fresh as number).toBeGreaterThan(first as number)
    expect(Date.now() - (fresh as number)).toBeLessThan(ttl)
    expect(published.some((e) => e.republish && e.shard === kept.hex)).toBe(true)
    expect(published.some((e) => e.republish && e.shard === stopped.hex && e.at >= stoppedAt)).toBe(false)
  })
})
