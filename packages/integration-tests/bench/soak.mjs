#!/usr/bin/env node
// Compressed soak: "an hour of a node's life in shrunk time", and whether its heap stays flat.
//
// A small NSN network over TCP on 127.0.0.1 (default 10 nodes) in which one node, the
// subject, runs with shrunk intervals: routing-table refresh every 200 ms (5 min in
// production), provider records kept 1.5 s by every node (12 h), expired records swept
// every 500 ms, republish 1 s after each publication minus up to 200 ms of jitter (11 h
// minus up to 10 min), republish scheduler waking every 250 ms. Meanwhile:
//   - `hot` shards stay provided the whole run (touched so LRU keeps them) and are
//     republished by the Republisher every ~1 s: each republish cycle is a "TTL period";
//   - `shards` (100,000) distinct shards churn through the subject's registry
//     (capacity 10,000, persisted in the libp2p datastore like the assembled node does):
//     every `full-every`-th one with a full routing.provide (publication to the
//     network), the others with routing.provide under an already-aborted signal, which
//     registers the shard and writes kad-dht's self-record but fails the publication
//     at once (as when a client gives up). A full publish costs ~40 RPCs and is
//     CPU-bound (DESIGN: ~6 keys/s on 50 nodes), so 100,000 of them would take hours;
//     the aborted ones exercise the memory path that matters (registry entry,
//     datastore record, kad-dht self-record, eviction withdrawing it) at full speed.
//     A failed publication is retried after the retry delay, left at its production
//     default (1 min); churned shards are evicted after ~15 s in the registry, so they
//     are not republished, as in a real hour (100,000 shards/h through 10,000 slots is
//     6 min in the registry against an 11 h republish interval);
//   - every 250 ms a random peer looks up a random hot shard (are records still there?);
//   - the subject's Prometheus registry is scraped every second;
//   - with --peer-churn S (off by default), every S seconds one peer leaves and a fresh
//     one joins (refresh must drop the stale entry). Off by default because what it
//     adds is libp2p's, not NSN's, and would blur the verdict: a stopped node stays in
//     the heap ~10 s (pending timers), and every node keeps a departed peer in its peer
//     store for 6 h (libp2p's maxPeerAge, not shrunk here), which shows as slowly
//     rising arrayBuffers.
// The heap (heapUsed and arrayBuffers, after two forced GCs) is sampled every 2 s; over
// the second half of the run both must be flat: the process exits 1 when either grew by
// more than max(4 MiB, 5 % of the mean heap) by a Theil–Sen fit (robust to spikes).
//
// Run: pnpm --filter @nsn/integration-tests bench -- --soak-only
//   or pnpm exec node --expose-gc bench/soak.mjs [--duration 150] [--shards 100000] [--out file.json]
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { hooksOf, parseShardKey } from '@nsn/core'
import {
  createMetricsObserver,
  createNsnMetrics,
  trackLibp2pConnections,
  trackShardRegistry,
  trackShardRouting,
} from '@nsn/metrics'
import { ShardRegistry } from '@nsn/shard-registry'
import { MemoryDatastore } from 'datastore-core'
import { Registry } from 'prom-client'
import { benchKey, createBenchNode } from './lib/nodes.mjs'
import { gcMemory, linearFit, randomInt, seededRandom, settle, summarize, theilSen } from './lib/stats.mjs'
import { lineChart } from './lib/svg.mjs'

const { values } = parseArgs({
  // pnpm passes a literal `--` through (`pnpm --filter … bench -- --sizes 20`)
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    duration: { type: 'string', default: '150' },
    nodes: { type: 'string', default: '10' },
    shards: { type: 'string', default: '100000' },
    capacity: { type: 'string', default: '10000' },
    hot: { type: 'string', default: '8' },
    'full-every': { type: 'string', default: '1000' },
    'sample-every': { type: 'string', default: '2' },
    'peer-churn': { type: 'string', default: '0' },
    'refresh-interval': { type: 'string', default: '200' },
    'republish-interval': { type: 'string', default: '1000' },
    'republish-jitter': { type: 'string', default: '200' },
    ttl: { type: 'string', default: '1500' },
    out: { type: 'string' },
    svg: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
  allowPositionals: true,
})

const config = {
  durationSec: Number(values.duration),
  nodes: Number(values.nodes),
  shards: Number(values.shards),
  capacity: Number(values.capacity),
  hot: Number(values.hot),
  fullEvery: Number(values['full-every']),
  sampleEverySec: Number(values['sample-every']),
  peerChurnSec: Number(values['peer-churn']),
  refreshInterval: Number(values['refresh-interval']),
  republishInterval: Number(values['republish-interval']),
  republishJitter: Number(values['republish-jitter']),
  republishCheckInterval: 250,
  providerRecordTtl: Number(values.ttl),
  providerCleanupInterval: 500,
  lookupEveryMs: 250,
  scrapeEveryMs: 1000,
}
const resultsDir = new URL('./results/', import.meta.url)
const log = (...args) => {
  if (!values.quiet) console.error(...args)
}
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

const MiB = 2 ** 20
const random = seededRandom(7)
const shard = (label, i) =>
  parseShardKey(new Uint8Array(createHash('sha256').update(`nsn-soak/${label}/${i}`).digest()))
const dhtInit = {
  providerRecordTtl: config.providerRecordTtl,
  providerCleanupInterval: config.providerCleanupInterval,
}

// ---- what the subject reports
const counts = {
  refreshes: 0,
  refreshFailures: 0,
  republishRuns: 0,
  republished: 0,
  republishFailed: 0,
  hotRepublished: 0,
  otherRepublished: 0,
  provideOk: 0,
  provideFailed: 0,
  churned: 0,
  fullProvides: 0,
  fullProvideFailures: 0,
  lookups: 0,
  lookupsFound: 0,
  lookupErrors: 0,
  peersReplaced: 0,
  evictions: 0,
}
const hotSet = new Set()
const register = new Registry()
const metrics = createNsnMetrics(register)
const metricsObserver = createMetricsObserver(metrics)
const observer = {
  ...Object.fromEntries(Object.entries(metricsObserver).map(([k, fn]) => [k, fn.bind(metricsObserver)])),
  queryEnded(event) {
    metricsObserver.queryEnded?.(event)
    if (event.type === 'refresh') {
      if (event.result === 'ok') counts.refreshes++
      else counts.refreshFailures++
    }
  },
  republishRunEnded(event) {
    metricsObserver.republishRunEnded?.(event)
    counts.republishRuns++
    counts.republished += event.republished
    counts.republishFailed += event.failed
  },
  providerRecordPublished(event) {
    metricsObserver.providerRecordPublished?.(event)
    if (!event.republish) return
    if (hotSet.has(event.shard)) counts.hotRepublished++
    else counts.otherRepublished++
  },
}

// ---- the network
let keyIndex = 0
const nextKey = () => benchKey('soak', keyIndex++)
const datastore = new MemoryDatastore()
const registry = await ShardRegistry.open({
  capacity: config.capacity,
  datastore,
  republishInterval: config.republishInterval,
  republishJitter: config.republishJitter,
})
registry.on('removed', () => counts.evictions++)
const memEmpty = gcMemory()
const subject = await createBenchNode('nsn', {
  privateKey: await nextKey(),
  datastore,
  registry,
  dht: dhtInit,
  routing: {
    refreshInterval: config.refreshInterval,
    republishCheckInterval: config.republishCheckInterval,
    // republishRetryDelay stays at its production default (1 min): it is about how long a
    // failure lasts, not a fraction of the TTL. Churned shards whose publication was cut
    // short would be retried then; at this churn rate they are evicted after ~15 s.
    observer,
  },
})
const untrack = [
  trackShardRegistry(registry, metrics),
  trackShardRouting(subject.routing, metrics),
  trackLibp2pConnections(subject.libp2p, metrics),
]
const peers = []
async function addPeer() {
  const node = await createBenchNode('nsn', { privateKey: await nextKey(), registry: false, dht: dhtInit })
  const known = [subject, ...peers]
  const targets = [...new Set(Array.from({ length: 3 }, () => known[randomInt(random, known.length)]))]
  await node.bootstrap(targets.map((n) => n.addr))
  peers.push(node)
  return node
}
for (let i = 1; i < config.nodes; i++) await addPeer()
await subject.routing.bootstrap(peers.slice(0, 3).map((p) => p.addr))
log(`soak: ${config.nodes} nodes up, subject table ${subject.tableSize()}`)

const hot = Array.from({ length: config.hot }, (_, i) => shard('hot', i))
for (const key of hot) {
  hotSet.add(key.hex)
  await subject.routing.provide(key.hex)
}

// ---- the run
const started = performance.now()
const elapsed = () => (performance.now() - started) / 1000
const durationMs = config.durationSec * 1000
let running = true
const stopping = new AbortController()
const samples = []
/** Sleeps `ms`, or less when the run ends. */
const nap = (ms) =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms)
    function done() {
      clearTimeout(timer)
      stopping.signal.removeEventListener('abort', done)
      resolve()
    }
    stopping.signal.addEventListener('abort', done)
  })

async function countKeys(prefix) {
  let n = 0
  for await (const _ of datastore.queryKeys({ prefix })) n++
  return n
}

async function sample() {
  const mem = gcMemory()
  const stored = await Promise.all(peers.map((p) => p.routing.storedProviderRecords().catch(() => 0)))
  samples.push({
    connections: subject.libp2p.getConnections().length,
    peerStore: (await subject.libp2p.peerStore.all()).length,
    providerRecords: await countKeys(hooksOf(subject.dht).providerPrefix),
    recordsOnPeers: stored.reduce((a, v) => a + v, 0),
    t: elapsed(),
    heapUsed: mem.heapUsed,
    rss: mem.rss,
    arrayBuffers: mem.arrayBuffers,
    external: mem.external,
    registrySize: registry.size,
    tableSize: subject.tableSize(),
    churned: counts.churned,
    refreshes: counts.refreshes,
    republished: counts.republished,
    hotRepublished: counts.hotRepublished,
  })
}

async function churnLoop() {
  const rate = config.shards / (durationMs * 0.95)
  for (let i = 0; i < config.shards; i++) {
    const due = i / rate
    const ahead = due - (performance.now() - started)
    if (ahead > 5) await settle(ahead)
    else if (i % 64 === 0) await new Promise((resolve) => setImmediate(resolve))
    const key = shard('churn', i)
    if (i % config.fullEvery === 0) {
      counts.fullProvides++
      await subject.routing.provide(key.hex).then(
        () => counts.provideOk++,
        () => counts.fullProvideFailures++,
      )
    } else {
      await subject.routing.provide(key.hex, { signal: AbortSignal.abort() }).then(
        () => counts.provideOk++,
        () => counts.provideFailed++,
      )
    }
    counts.churned++
    if (i % 1000 === 999) for (const h of hot) await registry.touch(h.bytes)
  }
}

async function lookupLoop() {
  while (running) {
    await nap(config.lookupEveryMs)
    if (!running || peers.length === 0) break
    const peer = peers[randomInt(random, peers.length)]
    const key = hot[randomInt(random, hot.length)]
    counts.lookups++
    try {
      const result = await peer.routing.findProviders(key.hex, { limit: 1 })
      if (result.providers.some((p) => p.peerId.equals(subject.peerId))) counts.lookupsFound++
    } catch {
      counts.lookupErrors++
    }
  }
}

async function scrapeLoop() {
  while (running) {
    await nap(config.scrapeEveryMs)
    await register.metrics()
  }
}

async function peerChurnLoop() {
  if (!(config.peerChurnSec > 0)) return
  while (running) {
    await nap(config.peerChurnSec * 1000)
    if (!running) break
    const leaving = peers.splice(randomInt(random, peers.length), 1)[0]
    await leaving.stop()
    await addPeer()
    counts.peersReplaced++
  }
}

async function sampleLoop() {
  while (running) {
    await nap(config.sampleEverySec * 1000)
    if (!running) break
    await sample()
    const last = samples[samples.length - 1]
    log(
      `soak t=${last.t.toFixed(0)}s heap ${(last.heapUsed / MiB).toFixed(1)} MiB rss ${(last.rss / MiB).toFixed(0)} MiB registry ${last.registrySize} churned ${last.churned} refreshes ${last.refreshes} republished ${last.republished} (hot ${last.hotRepublished}) conns ${last.connections} peerStore ${last.peerStore} records on peers ${last.recordsOnPeers}`,
    )
  }
}

await sample()
const loops = [lookupLoop(), scrapeLoop(), peerChurnLoop(), sampleLoop()]
await churnLoop()
const remaining = durationMs - (performance.now() - started)
if (remaining > 0) await settle(remaining)
running = false
stopping.abort()
await Promise.all(loops)
await sample()
const runSec = elapsed()

// ---- what it showed
const datastoreKeys = {
  registry: await countKeys(`${registry.prefix}/k/`), // one record key per shard
  kadDhtProviderRecords: await countKeys(hooksOf(subject.dht).providerPrefix),
}
const selfRecords = await (async () => {
  let n = 0
  const self = `/${subject.peerId.toString()}`
  for await (const key of datastore.queryKeys({ prefix: hooksOf(subject.dht).providerPrefix }))
    if (key.toString().endsWith(self)) n++
  return n
})()
const storedOnPeers = await Promise.all(peers.map((p) => p.routing.storedProviderRecords()))

const half = samples.filter((s) => s.t >= runSec / 2)
// the verdict uses a Theil–Sen fit (median of pairwise slopes): robust to the spikes of
// transient work (a burst of queries, a stopped peer not yet collected); least squares and
// its r² are reported beside it
const fit = theilSen(half.map((s) => ({ x: s.t, y: s.heapUsed })))
const lsq = linearFit(half.map((s) => ({ x: s.t, y: s.heapUsed })))
const abFit = theilSen(half.map((s) => ({ x: s.t, y: s.arrayBuffers })))
const rssFit = linearFit(half.map((s) => ({ x: s.t, y: s.rss })))
const halfSec = half.length > 1 ? half[half.length - 1].t - half[0].t : 0
const firstHalf = half[0]
const lastHalf = half[half.length - 1]
const refreshesHalf = lastHalf.refreshes - firstHalf.refreshes
const republishedHalf = lastHalf.hotRepublished - firstHalf.hotRepublished
const churnedHalf = lastHalf.churned - firstHalf.churned
const meanHeap = half.reduce((a, s) => a + s.heapUsed, 0) / half.length
const growth = fit.slope * halfSec
const abGrowth = abFit.slope * halfSec
const limit = Math.max(4 * MiB, 0.05 * meanHeap)
const flat = growth <= limit && abGrowth <= limit
const hotCycles = counts.hotRepublished / config.hot
const filledAt = samples.find((x) => x.registrySize >= config.capacity)?.t
const steady = filledAt != null && filledAt <= firstHalf.t

const result = {
  kind: 'nsn-dht-soak',
  date: new Date().toISOString(),
  config,
  runSec,
  counts,
  cycles: {
    refresh: counts.refreshes,
    refreshHoursEquivalent: (counts.refreshes * 5) / 60,
    republishRuns: counts.republishRuns,
    hotRepublishesPerShard: hotCycles,
    hotRepublishHoursEquivalent: hotCycles * 11,
    meanHotRepublishPeriodMs: hotCycles > 0 ? (runSec * 1000) / hotCycles : null,
  },
  lookupSuccessRate: counts.lookups > 0 ? counts.lookupsFound / counts.lookups : null,
  end: {
    registrySize: registry.size,
    datastoreKeys,
    selfRecords,
    recordsStoredOnPeers: summarize(storedOnPeers),
    subjectTableSize: subject.tableSize(),
  },
  memory: {
    emptyProcess: memEmpty,
    heapMiB: summarize(samples.map((s) => s.heapUsed / MiB)),
    secondHalf: {
      fromSec: firstHalf.t,
      toSec: lastHalf.t,
      samples: half.length,
      meanHeapBytes: meanHeap,
      slopeBytesPerSec: fit.slope,
      growthBytes: growth,
      leastSquaresSlopeBytesPerSec: lsq.slope,
      r2: lsq.r2,
      arrayBuffersSlopeBytesPerSec: abFit.slope,
      arrayBuffersGrowthBytes: abGrowth,
      bytesPerRefreshCycle: refreshesHalf > 0 ? (fit.slope * halfSec) / refreshesHalf : null,
      bytesPerRepublishCycle:
        republishedHalf > 0 ? (fit.slope * halfSec) / (republishedHalf / config.hot) : null,
      bytesPerChurnedShard: churnedHalf > 0 ? (fit.slope * halfSec) / churnedHalf : null,
      rssSlopeBytesPerSec: rssFit.slope,
    },
    limitBytes: limit,
    registryFullAtSec: filledAt ?? null,
    steadyStateInSecondHalf: steady,
    flat,
  },
  samples,
}

for (const fn of untrack) fn()
await Promise.allSettled([subject.stop(), ...peers.map((p) => p.stop())])

const svg = lineChart({
  title: `Soak: heap after GC (${config.nodes} nodes, ${counts.churned.toLocaleString('en')} shards churned)`,
  xLabel: 'seconds',
  yLabel: 'MiB',
  legend: 'bottom-right',
  series: [
    { name: 'heapUsed', points: samples.map((s) => [s.t, s.heapUsed / MiB]) },
    {
      name: `fit, 2nd half: ${(fit.slope / 1024).toFixed(1)} KiB/s`,
      points:
        half.length > 1
          ? [firstHalf, lastHalf].map((s) => [s.t, (fit.intercept + fit.slope * s.t) / MiB])
          : [],
      dashed: true,
      color: '#d62728',
    },
    {
      name: 'arrayBuffers',
      points: samples.map((s) => [s.t, s.arrayBuffers / MiB]),
      color: '#2ca02c',
      width: 1,
    },
  ],
  yRange: [0, Math.ceil((Math.max(...samples.map((s) => s.heapUsed)) / MiB) * 1.15)],
  markers: [{ x: runSec / 2, label: 'second half' }],
})
await mkdir(resultsDir, { recursive: true })
await writeFile(values.svg ?? new URL('soak-heap.svg', resultsDir), svg)
await writeFile(values.out ?? new URL('soak.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`)

const s = result.memory.secondHalf
console.log(
  [
    `soak: ${runSec.toFixed(0)} s on ${os.cpus().length} cores, ${config.nodes} nodes; ${counts.churned.toLocaleString('en')} shards churned (${counts.fullProvides} fully published), ${counts.evictions.toLocaleString('en')} evictions`,
    `  refresh cycles ${counts.refreshes} (${result.cycles.refreshHoursEquivalent.toFixed(1)} h at 5 min), republish runs ${counts.republishRuns}, hot republishes per shard ${hotCycles.toFixed(1)} (${result.cycles.hotRepublishHoursEquivalent.toFixed(0)} h at 11 h), other republishes ${counts.otherRepublished}`,
    `  lookups of hot shards: ${counts.lookupsFound}/${counts.lookups} found the subject; peers replaced ${counts.peersReplaced}`,
    `  end: registry ${registry.size}, datastore keys ${JSON.stringify(datastoreKeys)}, self-records ${selfRecords}, records on peers p50 ${result.end.recordsStoredOnPeers.p50}`,
    `  heap 2nd half: mean ${(meanHeap / MiB).toFixed(1)} MiB, slope ${(s.slopeBytesPerSec / 1024).toFixed(2)} KiB/s (least squares ${(lsq.slope / 1024).toFixed(2)}, r2 ${lsq.r2.toFixed(2)}), growth ${(growth / MiB).toFixed(2)} MiB, arrayBuffers ${(abGrowth / MiB).toFixed(2)} MiB (limit ${(limit / MiB).toFixed(1)} each), ${s.bytesPerRefreshCycle?.toFixed(0)} B/refresh cycle, ${s.bytesPerRepublishCycle?.toFixed(0)} B/republish cycle, ${s.bytesPerChurnedShard?.toFixed(1)} B/churned shard`,
    ...(steady
      ? []
      : [
          `  warning: the registry was not full during the whole second half (full at ${filledAt?.toFixed(0) ?? 'never'} s): the slope includes filling it; run longer or churn more shards`,
        ]),
    `  verdict: ${flat ? 'FLAT' : 'NOT FLAT (memory grows)'}`,
  ].join('\n'),
)
process.exit(flat ? 0 : 1)
