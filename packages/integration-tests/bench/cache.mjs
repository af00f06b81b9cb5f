// The hot-shard provider cache and the streamed first provider, on a small loopback
// network: the same network (same seeded peer ids, same joins) built once with NSN
// (nsnKadDHT + ShardRouting) and once with plain @libp2p/kad-dht 16.4.5, by the bench
// node builder (lib/nodes.mjs). Per shard, one node provides it and another that does NOT
// hold its record (not among the k closest) looks it up, so every network lookup walks
// the DHT. Printed, per implementation:
//   - repeated lookup: NSN's findProviders of a shard it looked up a moment before,
//     answered from the provider cache;
//   - uncached lookup: NSN's findProviders with { cache: false } (the network each time);
//   - plain: kad-dht's findProviders iterated to its end (what `findProviders` of a plain
//     app costs, each time);
//   - first provider: NSN's findProvidersStream({ limit: 1 }) to its first provider (the
//     query then closed), plain's first PROVIDER event.
//
//   pnpm --filter @nsn/integration-tests exec node bench/cache.mjs            # N = 30
//   pnpm --filter @nsn/integration-tests exec node bench/cache.mjs --nodes 40 --shards 10 --repeats 2000
//
// Loopback has no round-trip time: the network lookups here are CPU-bound and far
// faster than on a wide-area network, so the cache's gain is understated, never inflated.
import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { parseShardKey } from '@nsn/core'
import { benchKey, createBenchNode } from './lib/nodes.mjs'
import { sample, seededRandom, settle, summarize } from './lib/stats.mjs'

const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '30' },
    shards: { type: 'string', default: '8' },
    lookups: { type: 'string', default: '5' },
    repeats: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '7' },
  },
})
const N = Number(values.nodes)
const SHARDS = Number(values.shards)
const LOOKUPS = Number(values.lookups)
const REPEATS = Number(values.repeats)
const SEED = Number(values.seed)

const shardOf = (j) => parseShardKey(createHash('sha256').update(`cache-bench/${SEED}/${j}`).digest('hex'))

async function buildNetwork(impl, keys) {
  const random = seededRandom(SEED)
  const nodes = []
  for (let i = 0; i < N; i++) {
    const node = await createBenchNode(impl, { privateKey: keys[i] })
    nodes.push(node)
    if (i > 0) await node.bootstrap(sample(random, i, Math.min(3, i)).map((j) => nodes[j].addr))
  }
  // the tables fill from the join's queries; give them a moment
  const threshold = Math.min(N - 1, 10)
  for (let t = 0; t < 200 && !nodes.every((n) => n.tableSize() >= threshold); t++) await settle(50)
  return nodes
}

/** Plain kad-dht: ms to the first PROVIDER event and to the end of the query. */
async function plainLookup(node, shard) {
  const start = performance.now()
  let first
  let found = 0
  for await (const event of node.dht.findProviders(shard.cid, { signal: AbortSignal.timeout(30_000) })) {
    if (event.name === 'PROVIDER' && event.providers.length > 0) {
      first ??= performance.now() - start
      found += event.providers.length
    }
  }
  return { first, total: performance.now() - start, found }
}

async function time(fn) {
  const start = performance.now()
  const value = await fn()
  return { ms: performance.now() - start, value }
}

const fmt = (s) =>
  s.n === 0
    ? 'n/a'
    : `p50 ${s.p50.toFixed(s.p50 < 1 ? 4 : 1)} ms  p99 ${s.p99.toFixed(s.p99 < 1 ? 4 : 1)} ms  (n=${s.n})`

const keys = []
for (let i = 0; i < N; i++) keys.push(await benchKey(`cache-n${N}`, i))
const random = seededRandom(SEED * 31)
const plan = []
for (let j = 0; j < SHARDS; j++) plan.push({ shard: shardOf(j), provider: Math.floor(random() * N) })

console.log(
  `cache bench: ${N} nodes on loopback per implementation, ${SHARDS} shards, ${LOOKUPS} network lookups and ${REPEATS} repeated lookups each`,
)
// both networks up at once, the lookups interleaved (which goes first alternates), so
// the JIT and whatever else the machine does weigh on both alike
const nets = { nsn: await buildNetwork('nsn', keys), plain: await buildNetwork('plain', keys) }
const nsn = { repeated: [], uncached: [], first: [], misses: 0 }
const plain = { full: [], first: [], misses: 0 }
try {
  for (const { shard, provider } of plan) {
    await nets.nsn[provider].provide(shard)
    await nets.plain[provider].provide(shard)
  }
  let turn = 0
  for (const step of plan) {
    // a lookup node that does not store the record (not among the k closest), so its
    // lookups walk the DHT; the same node on both networks (the same XOR geometry)
    const candidates = []
    for (let i = 0; i < N; i++) {
      if (i === step.provider) continue
      const record = await nets.nsn[i].routing.storedProviderRecord(
        step.shard,
        nets.nsn[step.provider].peerId,
      )
      if (record == null) candidates.push(i)
    }
    const at =
      candidates.length > 0 ? candidates[Math.floor(random() * candidates.length)] : (step.provider + 1) % N
    const ours = nets.nsn[at]
    const theirs = nets.plain[at]
    const providerId = nets.nsn[step.provider].peerId
    const runNsn = async () => {
      const uncached = await time(() => ours.routing.findProviders(step.shard.hex, { cache: false }))
      nsn.uncached.push(uncached.ms)
      if (!uncached.value.providers.some((p) => p.peerId.equals(providerId))) nsn.misses++
      const stream = await time(async () => {
        for await (const p of ours.routing.findProvidersStream(step.shard.hex, { limit: 1, cache: false }))
          return p
      })
      nsn.first.push(stream.ms)
    }
    const runPlain = async () => {
      const lookup = await plainLookup(theirs, step.shard)
      plain.full.push(lookup.total)
      if (lookup.first != null) plain.first.push(lookup.first)
      else plain.misses++
    }
    for (let l = 0; l < LOOKUPS; l++) {
      if (turn++ % 2 === 0) {
        await runNsn()
        await runPlain()
      } else {
        await runPlain()
        await runNsn()
      }
    }
    // the cache holds the last uncached answer (a network answer refreshes it)
    for (let k = 0; k < REPEATS; k++) {
      const t = await time(() => ours.routing.findProviders(step.shard.hex))
      if (!t.value.fromCache) throw new Error('a repeated lookup missed the cache')
      nsn.repeated.push(t.ms)
    }
  }
  nsn.stats = nets.nsn.map((n) => n.routing.providerCacheStats())
} finally {
  await Promise.allSettled([...nets.nsn, ...nets.plain].map((n) => n.stop()))
}

const hits = nsn.stats.reduce((a, s) => a + s.hits, 0)
console.log('')
console.log(`repeated lookup (NSN, from the provider cache):  ${fmt(summarize(nsn.repeated))}`)
console.log(`uncached lookup (NSN, findProviders cache:false): ${fmt(summarize(nsn.uncached))}`)
console.log(`plain kad-dht lookup (to the end of the query):   ${fmt(summarize(plain.full))}`)
console.log(`first provider, NSN stream limit 1:               ${fmt(summarize(nsn.first))}`)
console.log(`first provider, plain (first PROVIDER event):     ${fmt(summarize(plain.first))}`)
console.log(
  `lookups that missed the provider: NSN ${nsn.misses}, plain ${plain.misses}; cache hits counted by the NSN nodes: ${hits}`,
)
// hostile input: a flood of distinct keys, each answer 20 providers with 32 addresses of
// 215 bytes (the answer guard's bounds), through a cache at its default bounds
const flood = await (async () => {
  const { multiaddr } = await import('@multiformats/multiaddr')
  const { ProviderCache } = await import('@nsn/core')
  // the bench networks' peer ids (the nodes are stopped; their ids are plain values)
  const ids = nets.nsn.map((n) => n.peerId)
  const gc = () => {
    for (let i = 0; i < 4; i++) globalThis.gc?.()
  }
  gc()
  const before = process.memoryUsage().heapUsed
  const cache = new ProviderCache()
  const keys = 6_000
  for (let k = 0; k < keys; k++) {
    const providers = Array.from({ length: 20 }, (_, p) => ({
      peerId: ids[(k + p) % ids.length],
      multiaddrs: Array.from({ length: 32 }, (_, a) =>
        multiaddr(`/dns4/${'x'.repeat(200)}-${k}-${p}-${a}.example/tcp/443`),
      ),
    }))
    cache.set(createHash('sha256').update(`flood/${k}`).digest('hex'), providers, { complete: true })
  }
  gc()
  return {
    keys,
    entries: cache.size,
    charged: cache.bytes,
    heap: process.memoryUsage().heapUsed - before,
    cap: cache.options.maxBytes,
  }
})()
const mib = (b) => (b / 2 ** 20).toFixed(1)
console.log(
  `hostile flood: ${flood.keys} distinct keys of 20 providers x 32 long addresses through a default cache: ${flood.entries} entries kept, ${mib(flood.charged)} MiB charged (bound ${mib(flood.cap)} MiB), heap +${mib(flood.heap)} MiB${globalThis.gc == null ? ' (run with --expose-gc for a settled heap figure)' : ''}`,
)

const repeatedP99 = summarize(nsn.repeated).p99
console.log(
  repeatedP99 < 1
    ? 'repeated lookup p99 under 1 ms: yes'
    : `repeated lookup p99 under 1 ms: NO (${repeatedP99} ms)`,
)
process.exit(repeatedP99 < 1 ? 0 : 1)
