#!/usr/bin/env node
// Republishing at scale: NSN's sweep against plain kad-dht's own reprovider on the same
// kind of network (50 nodes over TCP on 127.0.0.1, the local profile, seeded identities).
//
//   NSN:   a provider holding S shards in its registry (S = 10,000, then 100,000) runs one
//          whole sweep cycle (`routing.republishCycle()`): regions of the keyspace, a few
//          lookups each, every peer's records back to back on one stream confirmed by a
//          GET_PROVIDERS.
//   plain: a provider with P self-records (default 200: plain republishes ~3 shards a
//          second, so 10,000 would take an hour) runs kad-dht's reprovider once
//          (`reprovider.processRecords()`, threshold above the record validity so every
//          self-record is due), until its queue is idle; its per-shard figures are what
//          the comparison uses, its time for 10,000 shards is extrapolated.
// Both: FIND_NODE and ADD_PROVIDER per shard (network-wide, counted by message type
// through libp2p's metrics component; NSN's own batched ADD_PROVIDER and GET_PROVIDERS
// are counted from its region passes, since they do not go through kad-dht), wall time,
// CPU of the process (every node runs in it), and the share of placements held by each
// shard's TRUE k closest peers (computed from every node's id; a record counts when that
// peer's provider store holds it after the run).
//
// Every run uses the same seeded identities (one keyspace: 21 peers under 0, 28 under 1,
// so the sweep's regions are 0 and 1); NSN's regions are reported with the number of
// peers each truly holds, beside the regions of the true prefix trie of all the peers.
// A small network (--small-nodes, 25: fewer than 2k peers, one region) checks that no
// shard is dropped there (go's sweep once dropped keys on networks under ~40 peers).
//
// Said explicitly: the receivers' inbound rate limit is raised (a peer gets thousands of
// ADD_PROVIDER in one stream: NSN's default 100 requests/s per peer would make the sweep
// pace itself at 80/s per peer: --default-rates keeps the defaults), and a stream may wait
// 60 s for its next message (kad-dht's default 10 s reset streams when 50 nodes share one
// starved event loop). Their provider store keeps its defaults: the per-peer record cap
// scales with the network's size (100,000 shards on 50 nodes put up to ~50,000 records
// of the provider on a peer; the cap there is 60,000), and records refused are reported.
//
//   pnpm --filter @nsn/integration-tests bench -- --only republish
//   node --expose-gc bench/republish.mjs [--nodes 50] [--shards 10000,100000] [--plain-shards 200]
//     [--small-nodes 25 --small-shards 2000] [--out f.json]
import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import os from 'node:os'
import { parseArgs } from 'node:util'
import { hasPrefix, kadKeyOf, parseShardKey, regionsFromPeers } from '@nsn/core'
import { QUIET_SELF_QUERY } from '@nsn/core/testing'
import { ShardRegistry } from '@nsn/shard-registry'
import { benchKey, createBenchNode, createRpcCounter } from './lib/nodes.mjs'

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    nodes: { type: 'string', default: '50' },
    shards: { type: 'string', default: '10000,100000' },
    'plain-shards': { type: 'string', default: '200' },
    'small-nodes': { type: 'string', default: '25' },
    'small-shards': { type: 'string', default: '2000' },
    'share-sample': { type: 'string', default: '5000' },
    'default-rates': { type: 'boolean', default: false },
    'store-heap-shards': { type: 'string', default: '1000000' },
    'no-store-heap': { type: 'boolean', default: false },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  },
})
const N = Number(values.nodes)
const K = 20
const SIZES = values.shards.split(',').filter(Boolean).map(Number)
const PLAIN_SHARDS = Number(values['plain-shards'])
const SMALL_NODES = Number(values['small-nodes'])
const SMALL_SHARDS = Number(values['small-shards'])
/** The identities of every network of the bench: one keyspace for NSN and plain. */
const KEYSPACE = 'nsn-10000'
const SHARE_SAMPLE = Number(values['share-sample'])
const log = (...args) => {
  if (!values.quiet) console.error(...args)
}

const RAISED = {
  inboundGuard: {
    peerRequestsPerSecond: 1_000_000,
    peerRequestBurst: 1_000_000,
    globalRequestsPerSecond: 1_000_000,
    globalRequestBurst: 1_000_000,
  },
  // 50 nodes in one process on a loaded machine: a receiver's event loop can leave 10 s
  // (kad-dht's default) between two messages of one stream, and resets the stream
  incomingMessageTimeout: 60_000,
}
const nsnDht = { ...QUIET_SELF_QUERY, ...(values['default-rates'] ? {} : RAISED) }
const sweepBatch = values['default-rates']
  ? {}
  : { maxMessagesPerStream: 1_000_000, messagesPerSecond: 1_000_000 }

function shardHex(label, i) {
  return createHash('sha256').update(`nsn-bench-republish/${values.seed}/${label}/${i}`).digest('hex')
}

const cpuMs = (u) => (u.user + u.system) / 1000
const settle = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** n-1 peers and a provider (built last), each bootstrapping from up to 3 earlier nodes. */
async function network(impl, label, { provider: providerInit = {}, peer: peerInit = {} }, n = N) {
  const counter = createRpcCounter()
  const nodes = []
  for (let i = 0; i < n; i++) {
    const last = i === n - 1
    const node = await createBenchNode(impl, {
      privateKey: await benchKey(`republish/${label}`, i),
      counter,
      ...(last ? providerInit : peerInit),
    })
    nodes.push(node)
    if (i > 0) {
      const targets = [0, Math.floor(i / 2), i - 1]
        .filter((j, at, all) => all.indexOf(j) === at)
        .map((j) => nodes[j].addr)
      await node.bootstrap(targets).catch(() => undefined)
    }
  }
  const threshold = Math.min(n - 1, K)
  const start = performance.now()
  while (performance.now() - start < 60_000 && !nodes.every((n) => n.tableSize() >= threshold))
    await settle(100)
  await settle(1000)
  counter.reset()
  return { nodes, counter, provider: nodes[n - 1], peers: nodes.slice(0, n - 1) }
}

/** For each shard (hex), its true k closest among `peers` (by the Kademlia ids). */
function trueClosest(hexes, peers) {
  const ids = peers.map((node) => ({ node, key: kadKeyOf(node.peerId.toMultihash().bytes) }))
  return hexes.map((hex) => {
    const key = kadKeyOf(parseShardKey(hex).multihash)
    const sorted = ids
      .map((p) => ({ p, d: Buffer.from(key.map((b, i) => b ^ p.key[i])) }))
      .sort((a, b) => Buffer.compare(a.d, b.d))
    // on a network of k nodes or fewer, every peer is among the k closest
    return { hex, closest: sorted.slice(0, Math.min(K, ids.length)).map((x) => x.p.node) }
  })
}

function sampleOf(hexes, n) {
  if (hexes.length <= n) return hexes
  const step = hexes.length / n
  return Array.from({ length: n }, (_, i) => hexes[Math.floor(i * step)])
}

/** The regions of the true prefix trie of `peers` (every node's id), each with its peer count. */
function peersIn(bits, keys) {
  return keys.filter((key) => hasPrefix(key, bits)).length
}

async function nsnRun(size, n = N) {
  log(`republish: NSN sweep, ${size} shards on ${n} nodes`)
  const regions = []
  const refused = {}
  const registry = new ShardRegistry({ capacity: Math.max(size, 10_000) })
  const net = await network(
    'nsn',
    n === N ? KEYSPACE : `${KEYSPACE}-${n}`,
    {
      provider: {
        registry,
        dht: nsnDht,
        routing: {
          refreshInterval: 0,
          sweep: { batch: sweepBatch, onRegion: (e) => regions.push(e) },
        },
      },
      peer: {
        dht: nsnDht,
        routing: {
          refreshInterval: 0,
          // records the receivers' provider store refused (per-peer cap, store full, ...)
          observer: {
            inboundRejected: (e) => {
              if (e.reason.startsWith('provider_')) refused[e.reason] = (refused[e.reason] ?? 0) + 1
            },
          },
        },
      },
    },
    n,
  )
  try {
    const hexes = Array.from({ length: size }, (_, i) => shardHex(`nsn-${size}`, i))
    for (const hex of hexes) await registry.add(parseShardKey(hex).bytes)
    global.gc?.()
    const heapBefore = process.memoryUsage().heapUsed
    net.counter.reset()
    const cpu = process.cpuUsage()
    const start = performance.now()
    const summary = await net.provider.routing.republishCycle()
    const wallMs = performance.now() - start
    const cpuUsed = cpuMs(process.cpuUsage(cpu))
    const rpcs = net.counter.snapshot()
    global.gc?.()
    const heapAfter = process.memoryUsage().heapUsed
    const placements = regions.reduce((a, r) => a + r.confirmedPlacements + r.failedPlacements, 0)
    const confirmedPlacements = regions.reduce((a, r) => a + r.confirmedPlacements, 0)
    const streams = regions.reduce((a, r) => a + r.peers, 0)
    // the sweep's regions, each with the peers it truly holds, and the true trie's
    const peerKeys = net.peers.map((node) => kadKeyOf(node.peerId.toMultihash().bytes))
    const passes = regions
      .filter((r) => r.origin === 'republish')
      .map((r) => ({ bits: r.bits, shards: r.shards, lookups: r.lookups, peers: peersIn(r.bits, peerKeys) }))
    const trueRegions = regionsFromPeers(peerKeys, K).map((r) => ({
      bits: r.bits,
      peers: peersIn(r.bits, peerKeys),
    }))
    // the share of placements on the true k closest, on a sample of shards
    const sample = sampleOf(hexes, SHARE_SAMPLE)
    let held = 0
    let expected = 0
    for (const { hex, closest } of trueClosest(sample, net.peers)) {
      expected += closest.length
      for (const peer of closest) {
        if ((await peer.routing.storedProviderRecord(hex, net.provider.peerId)) != null) held++
      }
    }
    const result = {
      shards: size,
      wallMs,
      shardsPerSec: size / (wallMs / 1000),
      cpuMs: cpuUsed,
      nodes: n,
      lookups: summary.lookups,
      regions: summary.regions,
      regionPasses: passes,
      minRegionPeers: Math.min(...passes.map((p) => p.peers)),
      trueRegions,
      recordsRefused: refused,
      confirmedMedian: summary.confirmedMedian,
      failedShards: summary.failed,
      findNode: rpcs.byType.FIND_NODE ?? 0,
      findNodePerShard: (rpcs.byType.FIND_NODE ?? 0) / size,
      addProvider: placements,
      addProviderPerShard: placements / size,
      getProvidersConfirmations: streams,
      confirmedPlacementShare: confirmedPlacements / Math.max(1, placements),
      trueClosestShare: held / expected,
      trueClosestSample: sample.length,
      heapDeltaMiB: (heapAfter - heapBefore) / 2 ** 20,
      sendErrors: regions.reduce((all, r) => {
        for (const [m, n] of Object.entries(r.sendErrors ?? {})) all[m] = (all[m] ?? 0) + n
        return all
      }, {}),
      rpcErrors: rpcs.errors,
      rpcErrorsByType: rpcs.errorNames,
      rpcsByType: rpcs.byType,
    }
    log(
      `  ${size} shards in ${(wallMs / 1000).toFixed(1)} s (${result.shardsPerSec.toFixed(0)}/s), ${result.lookups} lookups in ${result.regions} regions (${passes.map((p) => `${p.bits || "''"}: ${p.peers} peers`).join(', ')}; true trie ${trueRegions.map((r) => `${r.bits || "''"}: ${r.peers}`).join(', ')}), FIND_NODE/shard ${result.findNodePerShard.toFixed(4)}, ADD_PROVIDER/shard ${result.addProviderPerShard.toFixed(1)}, true-k share ${(result.trueClosestShare * 100).toFixed(1)} %, failed ${result.failedShards}, refused ${JSON.stringify(refused)}, CPU ${(cpuUsed / 1000).toFixed(1)} s`,
    )
    return result
  } finally {
    await Promise.allSettled(net.nodes.map((n) => n.stop()))
  }
}

async function plainRun(count) {
  log(`republish: plain kad-dht reprovider, ${count} shards on ${N} nodes`)
  const net = await network('plain', KEYSPACE, {
    provider: { dht: { reprovide: { interval: 24 * 3600_000, threshold: 49 * 3600_000 } } },
  })
  try {
    const dht = net.provider.dht
    const hexes = Array.from({ length: count }, (_, i) => shardHex('plain', i))
    // self-records, as plain's provide() writes them first (kad-dht internals: bench only)
    for (const hex of hexes) await dht.providers.addProvider(parseShardKey(hex).cid, net.provider.peerId)
    net.counter.reset()
    const cpu = process.cpuUsage()
    const start = performance.now()
    await dht.reprovider.processRecords({ signal: AbortSignal.timeout(3_600_000) })
    await dht.reprovider.reprovideQueue.onIdle()
    const wallMs = performance.now() - start
    const cpuUsed = cpuMs(process.cpuUsage(cpu))
    const rpcs = net.counter.snapshot()
    let held = 0
    let expected = 0
    for (const { hex, closest } of trueClosest(hexes, net.peers)) {
      expected += closest.length
      const cid = parseShardKey(hex).cid
      for (const peer of closest) {
        const providers = await peer.dht.providers.getProviders(cid)
        if (providers.some((p) => p.equals(net.provider.peerId))) held++
      }
    }
    const result = {
      shards: count,
      wallMs,
      shardsPerSec: count / (wallMs / 1000),
      cpuMs: cpuUsed,
      findNode: rpcs.byType.FIND_NODE ?? 0,
      findNodePerShard: (rpcs.byType.FIND_NODE ?? 0) / count,
      addProvider: rpcs.byType.ADD_PROVIDER ?? 0,
      addProviderPerShard: (rpcs.byType.ADD_PROVIDER ?? 0) / count,
      trueClosestShare: held / expected,
      cpuMsPerShard: cpuUsed / count,
      extrapolatedSecFor10000: (10_000 / count) * (wallMs / 1000),
      extrapolatedCpuSecFor10000: (10_000 / count) * (cpuUsed / 1000),
      rpcErrors: rpcs.errors,
    }
    log(
      `  ${count} shards in ${(wallMs / 1000).toFixed(1)} s (${result.shardsPerSec.toFixed(2)}/s; 10,000 would take ~${(result.extrapolatedSecFor10000 / 60).toFixed(0)} min), FIND_NODE/shard ${result.findNodePerShard.toFixed(1)}, ADD_PROVIDER/shard ${result.addProviderPerShard.toFixed(1)}, true-k share ${(result.trueClosestShare * 100).toFixed(1)} %, CPU ${(cpuUsed / count).toFixed(0)} ms/shard`,
    )
    return result
  } finally {
    await Promise.allSettled(net.nodes.map((n) => n.stop()))
  }
}

/** The heap at 1,000,000 provided shards: `store`'s bench module (bench/store-heap.mjs) when it is there. */
async function storeHeap() {
  if (values['no-store-heap']) return { skipped: '--no-store-heap' }
  const url = new URL('./store-heap.mjs', import.meta.url)
  try {
    await readFile(url)
  } catch {
    return { skipped: 'bench/store-heap.mjs (the datastore-backed shard store) is not on this branch' }
  }
  const mod = await import(url.href)
  if (typeof mod.measureStoreHeap !== 'function')
    return { skipped: 'bench/store-heap.mjs exports no measureStoreHeap()' }
  return mod.measureStoreHeap({ shards: Number(values['store-heap-shards']), log: (line) => log(line) })
}

const started = performance.now()
const result = {
  kind: 'nsn-dht-bench-republish',
  date: new Date().toISOString(),
  nodes: N,
  k: K,
  loadavg: { start: os.loadavg()[0] },
  config: {
    sizes: SIZES,
    plainShards: PLAIN_SHARDS,
    small: { nodes: SMALL_NODES, shards: SMALL_SHARDS },
    shareSample: SHARE_SAMPLE,
    raisedRates: !values['default-rates'],
  },
  nsn: [],
}
// interleaved: the plain sample between the NSN sizes
for (const [i, size] of SIZES.entries()) {
  result.nsn.push(await nsnRun(size))
  if (i === 0 && PLAIN_SHARDS > 0) result.plain = await plainRun(PLAIN_SHARDS)
}
if (result.plain == null && PLAIN_SHARDS > 0) result.plain = await plainRun(PLAIN_SHARDS)
// a small network (fewer than 2k peers: one region): no shard dropped
if (SMALL_NODES > 1 && SMALL_SHARDS > 0) result.small = await nsnRun(SMALL_SHARDS, SMALL_NODES)
const first = result.nsn[0]
if (first != null && result.plain != null) {
  result.ratios = {
    findNodePerShard: first.findNodePerShard / result.plain.findNodePerShard,
    addProviderPerShard: first.addProviderPerShard / result.plain.addProviderPerShard,
    shardsPerSec: first.shardsPerSec / result.plain.shardsPerSec,
    cpuPerShard: first.cpuMs / first.shards / (result.plain.cpuMs / result.plain.shards),
  }
  // side by side, per shard (plain's wall time for 10,000 extrapolated from its sample)
  result.comparison = {
    nsn: {
      shards: first.shards,
      findNodePerShard: first.findNodePerShard,
      addProviderPerShard: first.addProviderPerShard,
      cpuMsPerShard: first.cpuMs / first.shards,
      wallSecFor10000: (10_000 / first.shards) * (first.wallMs / 1000),
      trueClosestShare: first.trueClosestShare,
    },
    plain: {
      shards: result.plain.shards,
      findNodePerShard: result.plain.findNodePerShard,
      addProviderPerShard: result.plain.addProviderPerShard,
      cpuMsPerShard: result.plain.cpuMsPerShard,
      wallSecFor10000: result.plain.extrapolatedSecFor10000,
      trueClosestShare: result.plain.trueClosestShare,
    },
  }
  log(
    `republish: NSN/plain per shard: FIND_NODE ${result.ratios.findNodePerShard.toFixed(4)}, ADD_PROVIDER ${result.ratios.addProviderPerShard.toFixed(2)}, CPU ${result.ratios.cpuPerShard.toFixed(4)}; 10,000 shards: NSN ${result.comparison.nsn.wallSecFor10000.toFixed(0)} s, plain ~${result.comparison.plain.wallSecFor10000.toFixed(0)} s`,
  )
}
const at = (n) => result.nsn.find((r) => r.shards === n)
result.targets = {
  '10000 shards on 50 nodes <= 60 s': at(10_000) == null ? null : at(10_000).wallMs <= 60_000,
  'FIND_NODE <= 10 % of plain': result.ratios == null ? null : result.ratios.findNodePerShard <= 0.1,
  '>= 95 % of placements on the true k closest':
    at(10_000) == null ? null : at(10_000).trueClosestShare >= 0.95,
  '100000 shards <= 10 min': at(100_000) == null ? null : at(100_000).wallMs <= 600_000,
  'regions of >= k peers on 50 nodes': at(10_000) == null ? null : at(10_000).minRegionPeers >= K,
  'no shard dropped on a small network':
    result.small == null ? null : result.small.failedShards === 0 && result.small.trueClosestShare === 1,
  'no record refused': result.nsn.every((r) => Object.keys(r.recordsRefused).length === 0),
}
result.storeHeap = await storeHeap()
result.durationSec = (performance.now() - started) / 1000
result.loadavg.end = os.loadavg()[0]
const text = `${JSON.stringify(result, null, 2)}\n`
if (values.out != null) await writeFile(values.out, text)
else process.stdout.write(text)
process.exit(0)
