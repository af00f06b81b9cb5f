import type { KadDHT } from '@libp2p/kad-dht'
import { afterEach, describe, expect, it } from 'vitest'
import {
  type DhtObserver,
  type FindProvidersSummary,
  hooksOf,
  InvalidOptionError,
  NoKnownPeersError,
  parseShardKey,
  QueryAbortedError,
  type QueryEndedEvent,
  type RequestTimeoutsReporter,
  type ShardPeer,
} from '../src/index.js'
import {
  createTestNetwork,
  createTestNode,
  routingTableEvents,
  stopAll,
  type TestNode,
  type TestNodeOptions,
  waitFor,
} from '../src/testing.js'

const SHARD = parseShardKey('ab'.repeat(32))
const OTHER = parseShardKey('cd'.repeat(32))

/** What a node's observer saw. */
function observed() {
  const seen = {
    hits: 0,
    misses: 0,
    findQueries: [] as QueryEndedEvent[],
    entries: [] as number[],
  }
  const observer: DhtObserver = {
    providerCacheLookup: ({ result }) => {
      if (result === 'hit') seen.hits++
      else seen.misses++
    },
    queryEnded: (event) => {
      if (event.type === 'find_providers') seen.findQueries.push(event)
    },
    providerCacheSizeChanged: ({ entries }) => seen.entries.push(entries),
  }
  return { seen, observer }
}

/** Wraps the node's kad-dht findProviders to tell whether each query ran to its end or was closed early. */
function tapQueries(node: TestNode): Array<'completed' | 'closed early'> {
  const ends: Array<'completed' | 'closed early'> = []
  const dht = node.libp2p.services.dht as KadDHT
  const original = dht.findProviders.bind(dht)
  dht.findProviders = async function* (...args: Parameters<KadDHT['findProviders']>) {
    let completed = false
    try {
      yield* original(...args)
      completed = true
    } finally {
      ends.push(completed ? 'completed' : 'closed early')
    }
  }
  return ends
}

async function drain(
  stream: AsyncGenerator<ShardPeer, FindProvidersSummary, undefined>,
): Promise<{ providers: ShardPeer[]; summary: FindProvidersSummary }> {
  const providers: ShardPeer[] = []
  for (;;) {
    const next = await stream.next()
    if (next.done === true) return { providers, summary: next.value }
    providers.push(next.value)
  }
}

const ids = (peers: Array<{ peerId: { toString(): string } }>): string[] =>
  peers.map((p) => p.peerId.toString()).sort()

describe('provider lookups: the hot-shard cache and the stream, on real nodes over TCP', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  /** `count` nodes, all in each other's routing tables; the first one's observer is returned. */
  async function network(count: number, first: TestNodeOptions['routing'] = {}): Promise<TestNode[]> {
    const seeker = await createTestNode({ routing: first })
    nodes = [seeker, ...(await createTestNetwork(count - 1))]
    for (const node of nodes.slice(1)) await node.routing.bootstrap([seeker.addr])
    await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === count - 1), {
      on: nodes.map((n) => routingTableEvents(n.libp2p)),
      what: 'full routing tables',
    })
    return nodes
  }

  it('answers a repeated lookup from the cache, without a DHT query, until told a provider is unreachable', async () => {
    const { seen, observer } = observed()
    const [seeker, provider] = await network(3, { observer })
    await provider!.routing.provide(SHARD)

    const first = await seeker!.routing.findProviders(SHARD)
    expect(first.fromCache).toBe(false)
    expect(ids(first.providers)).toEqual([provider!.libp2p.peerId.toString()])
    const queries = tapQueries(seeker!)
    const again = await seeker!.routing.findProviders(SHARD)
    expect(again.fromCache).toBe(true)
    expect(again.partial).toBe(false)
    expect(ids(again.providers)).toEqual(ids(first.providers))
    expect(again.providers[0]!.multiaddrs.map(String)).toEqual(first.providers[0]!.multiaddrs.map(String))
    expect(queries).toEqual([]) // no DHT query ran
    expect(seen.findQueries).toHaveLength(1) // and none was reported as one
    expect({ hits: seen.hits, misses: seen.misses }).toEqual({ hits: 1, misses: 1 })
    expect(seeker!.routing.providerCacheStats()).toMatchObject({ entries: 1, hits: 1, misses: 1 })
    expect(seen.entries.at(-1)).toBe(1)

    // an aborted signal is the operation's abort error, cached answer or not
    await expect(
      seeker!.routing.findProviders(SHARD, { signal: AbortSignal.abort() }),
    ).rejects.toBeInstanceOf(QueryAbortedError)

    // cache: false asks the network (and refreshes the entry)
    const fresh = await seeker!.routing.findProviders(SHARD, { cache: false })
    expect(fresh.fromCache).toBe(false)
    expect(queries).toEqual(['closed early', 'completed'])

    // a dial of the provider failed: the caller says so, the next lookup asks the network
    expect(seeker!.routing.reportUnreachable(provider!.libp2p.peerId.toString())).toBe(1)
    expect(seeker!.routing.providerCacheStats()?.entries).toBe(0)
    const after = await seeker!.routing.findProviders(SHARD)
    expect(after.fromCache).toBe(false)
    expect(queries).toEqual(['closed early', 'completed', 'completed'])
  })

  it("drops this node from its cached answers when it stops providing; a provide invalidates the shard's entry", async () => {
    const [a, b] = await network(2)
    await a!.routing.provide(SHARD)
    await b!.routing.provide(SHARD)
    const both = await a!.routing.findProviders(SHARD)
    expect(ids(both.providers)).toEqual(ids([a!.libp2p, b!.libp2p]))
    expect((await a!.routing.findProviders(SHARD)).fromCache).toBe(true)

    await a!.routing.stopProviding(SHARD)
    const cached = await a!.routing.findProviders(SHARD)
    expect(cached.fromCache).toBe(true)
    expect(ids(cached.providers)).toEqual([b!.libp2p.peerId.toString()])

    // a lookup that found only b, then this node provides: the entry without it goes
    await a!.routing.provide(SHARD)
    expect(a!.routing.providerCacheStats()?.entries).toBe(0)
    const withSelf = await a!.routing.findProviders(SHARD)
    expect(withSelf.fromCache).toBe(false)
    expect(ids(withSelf.providers)).toContain(a!.libp2p.peerId.toString())
  })

  it('a cached answer of one provider does not answer a lookup of more unless its lookup ran to the end', async () => {
    const [seeker, p1, p2] = await network(3)
    await p1!.routing.provide(OTHER)
    await p2!.routing.provide(OTHER)
    const one = await seeker!.routing.findProviders(OTHER, { limit: 1 })
    expect(one.providers).toHaveLength(1)
    expect((await seeker!.routing.findProviders(OTHER, { limit: 1 })).fromCache).toBe(true)
    const two = await seeker!.routing.findProviders(OTHER, { limit: 5 })
    expect(two.fromCache).toBe(false)
    expect(two.providers).toHaveLength(2)
    // that one ran to its end: all there is, so a lookup of 5 answers from it now
    expect((await seeker!.routing.findProviders(OTHER, { limit: 5 })).fromCache).toBe(true)
  })

  it('streams providers; limit 1 ends the DHT query at the first one', async () => {
    const { seen, observer } = observed()
    const [seeker, ...providers] = await network(4, { observer, providerCache: false })
    for (const p of providers) await p.routing.provide(SHARD)
    const queries = tapQueries(seeker!)

    const first = await drain(seeker!.routing.findProvidersStream(SHARD, { limit: 1 }))
    expect(first.providers).toHaveLength(1)
    expect(ids(providers.map((p) => p.libp2p))).toContain(first.providers[0]!.peerId.toString())
    expect(first.providers[0]!.multiaddrs.length).toBeGreaterThan(0)
    expect(first.summary).toMatchObject({ found: 1, partial: false, fromCache: false })
    expect(queries).toEqual(['closed early'])
    expect(seen.findQueries.map((q) => q.result)).toEqual(['ok'])

    const all = await drain(seeker!.routing.findProvidersStream(SHARD))
    expect(ids(all.providers)).toEqual(ids(providers.map((p) => p.libp2p)))
    expect(all.summary).toMatchObject({ found: 3, partial: false, fromCache: false })
    expect(queries).toEqual(['closed early', 'completed'])
    expect(seen.findQueries.map((q) => q.result)).toEqual(['ok', 'ok'])
  })

  it('a consumer that stops iterating ends the query; a completed stream fills the cache', async () => {
    const [seeker, ...providers] = await network(3)
    for (const p of providers) await p.routing.provide(SHARD)
    const queries = tapQueries(seeker!)
    for await (const _ of seeker!.routing.findProvidersStream(SHARD)) break
    expect(queries).toEqual(['closed early'])
    expect(seeker!.routing.providerCacheStats()?.entries).toBe(0) // an abandoned stream caches nothing

    const streamed = await drain(seeker!.routing.findProvidersStream(SHARD))
    expect(streamed.providers).toHaveLength(2)
    const cached = await drain(seeker!.routing.findProvidersStream(SHARD))
    expect(cached.summary).toMatchObject({ found: 2, fromCache: true })
    expect(ids(cached.providers)).toEqual(ids(streamed.providers))
    expect(queries).toEqual(['closed early', 'completed'])
  })

  it('drops a provider the request timeouts evict from the routing table from its cached answers', async () => {
    const seeker = await createTestNode({ startRouting: false })
    nodes = [seeker]
    // the reporter ShardRouting attaches at start: what the request timeouts call on an eviction
    const hooks = hooksOf(seeker.libp2p.services.dht)
    let reporter: RequestTimeoutsReporter | undefined
    const attach = hooks.attachRequestTimeoutsReporter.bind(hooks)
    hooks.attachRequestTimeoutsReporter = (next) => {
      reporter = next
      attach(next)
    }
    await seeker.routing.start()
    const [provider] = await createTestNetwork(1)
    nodes.push(provider!)
    await provider!.routing.bootstrap([seeker.addr])
    await waitFor(() => seeker.routing.routingTableSize() === 1, {
      on: routingTableEvents(seeker.libp2p),
      what: 'the provider in the routing table',
    })
    await provider!.routing.provide(SHARD)
    await seeker.routing.findProviders(SHARD)
    expect((await seeker.routing.findProviders(SHARD)).fromCache).toBe(true)
    reporter?.evicted('timeouts', provider!.libp2p.peerId)
    expect(seeker.routing.providerCacheStats()?.entries).toBe(0)
    expect((await seeker.routing.findProviders(SHARD)).fromCache).toBe(false)
  })

  it('fails as findProviders does: bad limit, empty routing table', async () => {
    const lone = await createTestNode()
    nodes = [lone]
    await expect(lone.routing.findProvidersStream(SHARD, { limit: 0 }).next()).rejects.toBeInstanceOf(
      InvalidOptionError,
    )
    await expect(lone.routing.findProvidersStream(SHARD).next()).rejects.toBeInstanceOf(NoKnownPeersError)
    expect(lone.routing.reportUnreachable(lone.libp2p.peerId)).toBe(0)
  })
})
