// One network size of the latency section (bench/latency.mjs): the same seeded network
// built twice, NSN and plain kad-dht 16.4.5, both alive in this process, either on plain
// loopback or with every link paying a wide-area RTT (the latency transport of
// src/latency: per unordered pair of peer ids, so both implementations get the same RTT
// on the same pair). The operations run on both, interleaved (which goes first
// alternates), from the same nodes:
//   - provides of fresh shards, then, for each, the nodes that hold its record against
//     the true 20 closest node ids by XOR (placement accuracy);
//   - lookups of every provided shard from nodes other than its provider (retrieval:
//     every shard found; lookup success: every lookup found its provider), timed to the
//     first PROVIDER event and to completion, with RPCs and new connections per lookup;
//   - repeated lookups: the same shard from the same node right after a lookup (NSN
//     answers from its provider cache; plain has none and walks the DHT again).
// Joins run in batches (each node bootstraps from up to 3 nodes of earlier batches) and
// both networks join at once: under latency a sequential join of 100 nodes takes minutes.
import { createHash } from 'node:crypto'
import os from 'node:os'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseShardKey } from '@nsn/core'
import { benchKey, createBenchNode, createRpcCounter, loadLatency, newTally } from './nodes.mjs'
import { randomInt, ratio, sample, seededRandom, settle, summarize } from './stats.mjs'

export const LATENCY_DEFAULTS = {
  provides: 20,
  lookupsPerShard: 2,
  repeats: 10,
  bootstrapPeers: 3,
  joinBatch: 10,
  tableThreshold: 10,
  tableWaitMs: 30_000,
  warmUpOps: 3,
  /**
   * Both networks run this long after the join before any operation, as nodes that have
   * been up a minute (NSN's refreshes and network-size estimate; kad-dht's self-query).
   */
  settleMs: 60_000,
  /** A failed join is tried this many times in all, after 1 s, then 2 s (the daemon retries while its table is empty). */
  joinAttempts: 3,
  joinRetryMs: 1000,
  k: 20,
  seed: 2024,
  latencySeed: 13,
  distribution: { kind: 'wan' },
}

/** How long the nodes' stops are waited for at the end of a run. */
const STOP_WAIT_MS = 60_000

const sha256 = (bytes) => new Uint8Array(createHash('sha256').update(bytes).digest())

function shardOf(label, j) {
  return parseShardKey(sha256(`nsn-dht-bench/latency-shard/${label}/${j}`))
}

function errorName(err) {
  return err?.code ?? err?.name ?? String(err)
}

function cpuMs(usage) {
  return (usage.user + usage.system) / 1000
}

/** XOR distance of two equal-length byte arrays, compared lexicographically. */
function compareXor(a, b, key) {
  for (let i = 0; i < key.length; i++) {
    const da = a[i] ^ key[i]
    const db = b[i] ^ key[i]
    if (da !== db) return da - db
  }
  return 0
}

/** Does `node` store a provider record of `shard` naming `provider`? */
async function holds(node, shard, provider) {
  if (node.impl !== 'plain') return (await node.routing.storedProviderRecord(shard.hex, provider)) != null
  const providers = await node.dht.providers.getProviders(shard.cid)
  return providers.some((p) => p.equals(provider))
}

async function buildNetwork(impl, n, keys, config, latency, counter, log) {
  const random = seededRandom(config.seed * 1000 + n) // the same draws for both implementations
  const nodes = []
  const bootstrapMs = []
  const errors = []
  const retries = []
  const failed = []
  const start = performance.now()
  for (let first = 0; first < n; first += config.joinBatch) {
    const batch = []
    for (let i = first; i < Math.min(n, first + config.joinBatch); i++) {
      batch.push(
        createBenchNode(impl, { privateKey: keys[i], counter, ...(latency == null ? {} : { latency }) }),
      )
    }
    const created = await Promise.all(batch)
    const earlier = nodes.length
    nodes.push(...created)
    await Promise.all(
      created.map(async (node, b) => {
        const i = first + b
        if (i === 0) return
        // the first batch joins onto its own first node; later ones onto earlier batches
        const pool = earlier === 0 ? i : earlier
        // the targets of every attempt are drawn up front, so that both implementations
        // get the same draws whatever fails
        const draws = Array.from({ length: config.joinAttempts }, () =>
          sample(random, pool, Math.min(config.bootstrapPeers, pool)).map((j) => nodes[j].addr),
        )
        const t = performance.now()
        // as the daemon's bootstrapper does: a failed join is retried with backoff
        // (BOOTSTRAP_RETRY_MIN, doubling) while the routing table is empty
        for (let attempt = 0; attempt < config.joinAttempts; attempt++) {
          if (attempt > 0) {
            retries.push(i)
            await settle(config.joinRetryMs * 2 ** (attempt - 1))
            if (node.tableSize() > 0) break
          }
          try {
            await node.bootstrap(draws[attempt])
            break
          } catch (err) {
            errors.push(errorName(err))
            if (attempt === config.joinAttempts - 1) failed.push(errorName(err))
          }
        }
        bootstrapMs.push(performance.now() - t)
      }),
    )
  }
  const joinedMs = performance.now() - start
  const threshold = Math.min(n - 1, config.tableThreshold)
  const waitStart = performance.now()
  while (performance.now() - waitStart < config.tableWaitMs) {
    if (nodes.every((node) => node.tableSize() >= threshold)) break
    await settle(100)
  }
  const join = {
    joinedMs,
    tablesReadyMs: performance.now() - start,
    bootstrapMs: summarize(bootstrapMs),
    bootstrapErrors: errors.length,
    /** Joins retried (an attempt failed) and joins that failed every attempt. */
    bootstrapRetries: retries.length,
    joinsFailed: failed.length,
    bootstrapErrorNames: Object.fromEntries(
      [...new Set(errors)].map((e) => [e, errors.filter((x) => x === e).length]),
    ),
    tableSizes: summarize(nodes.map((node) => node.tableSize())),
    tablesBelowThreshold: nodes.filter((node) => node.tableSize() < threshold).length,
    connectionsPerNode: summarize(nodes.map((node) => node.libp2p.getConnections().length)),
  }
  log(
    `  [${impl} n=${n}${latency == null ? '' : ' wan'}] joined in ${(joinedMs / 1000).toFixed(1)} s, tables ${join.tableSizes.min}/${join.tableSizes.p50}/${join.tableSizes.max}, connections p50 ${join.connectionsPerNode.p50}`,
  )
  return { impl, nodes, counter, join }
}

async function timed(net, node, fn) {
  const tally = newTally()
  const cpu = process.cpuUsage()
  const dials = net.counter.dials
  node.tally = tally
  let error
  let value
  try {
    value = await fn()
  } catch (err) {
    error = errorName(err)
  }
  node.tally = null
  return {
    ms: performance.now() - tally.start,
    cpuMs: cpuMs(process.cpuUsage(cpu)),
    dials: net.counter.dials - dials,
    sends: tally.sends,
    firstProviderMs: tally.firstProviderMs,
    local: tally.localProvider,
    deadline: tally.deadline,
    optimistic: tally.optimistic,
    error,
    value,
  }
}

/**
 * Runs both implementations on one network size; `latency` null for loopback, else
 * `{ seed, distribution }` of the emulation.
 */
export async function runLatencyPair(n, config, { latency = null, quiet = false } = {}) {
  const log = (...args) => {
    if (!quiet) console.error(...args)
  }
  const keys = []
  for (let i = 0; i < n; i++) keys.push(await benchKey(`n${n}`, i))
  const kadIds = keys.map((key) => {
    // the peer id's multihash, as kad-dht hashes it into the keyspace
    const id = key.publicKey.toMultihash().bytes
    return sha256(id)
  })
  const impls = ['nsn', 'plain']
  const counters = { nsn: createRpcCounter(), plain: createRpcCounter() }
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const loadStart = os.loadavg()[0]
  const nets = {}
  const started = performance.now()
  try {
    const built = await Promise.all(
      impls.map((impl) => buildNetwork(impl, n, keys, config, latency, counters[impl], log)),
    )
    for (const net of built) nets[net.impl] = net
    await settle(config.settleMs)
    for (const net of built) {
      net.join.tableSizesAfterSettle = summarize(net.nodes.map((node) => node.tableSize()))
      if (net.impl === 'nsn')
        net.join.networkSizeEstimatesAfterSettle = net.nodes.filter(
          (node) => node.routing?.networkSizeEstimate() != null,
        ).length
    }
    log(
      `  [n=${n}] settled ${config.settleMs / 1000} s at ${((performance.now() - started) / 1000).toFixed(0)} s`,
    )
    const random = seededRandom(config.seed * 7919 + n)
    const alternate = (k) => (k % 2 === 0 ? impls : [...impls].reverse())

    for (let w = 0; w < config.warmUpOps; w++) {
      const shard = shardOf(`warm-up/${n}`, w)
      const at = randomInt(random, n)
      const from = (at + 1 + randomInt(random, n - 1)) % n
      for (const impl of alternate(w)) {
        await nets[impl].nodes[at].provide(shard).catch(() => undefined)
        await nets[impl].nodes[from].findProviders(shard).catch(() => undefined)
      }
    }
    for (const impl of impls) counters[impl].reset()

    // provides
    const shards = Array.from({ length: config.provides }, (_, j) => shardOf(n, j))
    const providerOf = []
    const provides = { nsn: [], plain: [] }
    for (let j = 0; j < config.provides; j++) {
      const at = randomInt(random, n)
      providerOf.push(at)
      for (const impl of alternate(j)) {
        const net = nets[impl]
        provides[impl].push(await timed(net, net.nodes[at], () => net.nodes[at].provide(shards[j])))
      }
    }
    const provideRpcs = Object.fromEntries(impls.map((impl) => [impl, counters[impl].snapshot()]))
    log(`  [n=${n}] provides done at ${((performance.now() - started) / 1000).toFixed(0)} s`)

    // placement: who holds each record, against the true k closest (provider excluded)
    const placement = { nsn: [], plain: [] }
    for (let j = 0; j < config.provides; j++) {
      const key = sha256(shards[j].cid.multihash.bytes)
      const provider = providerOf[j]
      const closest = new Set(
        kadIds
          .map((id, i) => ({ id, i }))
          .filter((x) => x.i !== provider)
          .sort((a, b) => compareXor(a.id, b.id, key))
          .slice(0, config.k)
          .map((x) => x.i),
      )
      for (const impl of impls) {
        const net = nets[impl]
        const providerId = net.nodes[provider].peerId
        const holders = []
        for (let i = 0; i < n; i++) {
          if (i !== provider && (await holds(net.nodes[i], shards[j], providerId))) holders.push(i)
        }
        const onClosest = holders.filter((i) => closest.has(i)).length
        placement[impl].push({ holders: holders.length, onClosest, accuracy: onClosest / closest.size })
      }
    }

    log(`  [n=${n}] placement checked at ${((performance.now() - started) / 1000).toFixed(0)} s`)
    // lookups: every shard, from `lookupsPerShard` nodes other than its provider
    for (const impl of impls) counters[impl].reset()
    const lookups = { nsn: [], plain: [] }
    const plan = []
    for (let j = 0; j < config.provides; j++) {
      for (let r = 0; r < config.lookupsPerShard; r++) {
        let at = randomInt(random, n - 1)
        if (at >= providerOf[j]) at++
        plan.push({ j, at })
      }
    }
    for (const [l, { j, at }] of plan.entries()) {
      for (const impl of alternate(l)) {
        const net = nets[impl]
        const node = net.nodes[at]
        const providerId = net.nodes[providerOf[j]].peerId
        const result = await timed(net, node, () => node.findProviders(shards[j]))
        lookups[impl].push({ ...result, j, found: (result.value ?? []).some((id) => id.equals(providerId)) })
      }
    }
    const lookupRpcs = Object.fromEntries(impls.map((impl) => [impl, counters[impl].snapshot()]))
    log(`  [n=${n}] lookups done at ${((performance.now() - started) / 1000).toFixed(0)} s`)

    // repeated lookups: the same shard from the same node, right after one lookup
    const repeated = { nsn: [], plain: [] }
    for (let r = 0; r < Math.min(config.repeats, plan.length); r++) {
      const { j, at } = plan[r]
      for (const impl of alternate(r)) {
        const node = nets[impl].nodes[at]
        // NSN: the provider cache is filled by a cached lookup (the comparison's lookups skip it)
        await node.findProviders(shards[j], { cache: true }).catch(() => undefined)
        const t = performance.now()
        await node.findProviders(shards[j], { cache: true }).catch(() => undefined)
        repeated[impl].push(performance.now() - t)
      }
    }
    loop.disable()

    const results = { n, mode: latency == null ? 'loopback' : 'wan', seconds: 0 }
    for (const impl of impls) {
      const pv = provides[impl]
      const lk = lookups[impl]
      const byShard = new Map()
      for (const x of lk) byShard.set(x.j, (byShard.get(x.j) ?? false) || x.found)
      const pl = placement[impl]
      results[impl] = {
        join: nets[impl].join,
        provide: {
          count: pv.length,
          succeeded: pv.filter((p) => p.error == null).length,
          errors: Object.fromEntries(
            [...new Set(pv.map((p) => p.error).filter(Boolean))].map((e) => [
              e,
              pv.filter((p) => p.error === e).length,
            ]),
          ),
          ms: summarize(pv.filter((p) => p.error == null).map((p) => p.ms)),
          rpcsPerOp: summarize(pv.map((p) => p.sends)),
          dialsPerOp: summarize(pv.map((p) => p.dials)),
          cpuMsPerOp: summarize(pv.map((p) => p.cpuMs)).mean,
          networkRpcs: provideRpcs[impl],
          // NSN: optimistic provides (early sends, lookups stopped early), when it ran them
          optimistic:
            impl === 'nsn'
              ? {
                  count: pv.filter((p) => p.optimistic != null).length,
                  stoppedEarly: pv.filter((p) => p.optimistic?.stoppedEarly === true).length,
                  early: summarize(pv.filter((p) => p.optimistic != null).map((p) => p.optimistic.early)),
                  sentTo: summarize(pv.filter((p) => p.optimistic != null).map((p) => p.optimistic.sentTo)),
                  networkSize: summarize(
                    pv.filter((p) => p.optimistic != null).map((p) => p.optimistic.networkSize),
                  ),
                }
              : undefined,
        },
        placement: {
          accuracy: summarize(pl.map((p) => p.accuracy)).mean,
          accuracyMin: summarize(pl.map((p) => p.accuracy)).min,
          holders: summarize(pl.map((p) => p.holders)),
        },
        lookup: {
          count: lk.length,
          ms: summarize(lk.map((x) => x.ms)),
          firstProviderMs: summarize(lk.map((x) => x.firstProviderMs)),
          localHits: lk.filter((x) => x.local).length,
          /** Lookups cut by the query deadline (QUERY_TIMEOUT, for both). */
          deadlineHits: lk.filter((x) => x.deadline).length,
          successRate: lk.filter((x) => x.found).length / lk.length,
          retrieval: [...byShard.values()].filter(Boolean).length / config.provides,
          rpcsPerOp: summarize(lk.map((x) => x.sends)),
          dialsPerOp: summarize(lk.map((x) => x.dials)),
          cpuMsPerOp: summarize(lk.map((x) => x.cpuMs)).mean,
          errors: lk.filter((x) => x.error != null).map((x) => x.error),
          networkRpcs: lookupRpcs[impl],
        },
        repeated: { ms: summarize(repeated[impl]) },
        tablesAtEnd: summarize(nets[impl].nodes.map((node) => node.tableSize())),
        // NSN: each node's network-size estimate (optimistic provide's N), when it has one
        networkSizeEstimates:
          impl === 'nsn'
            ? summarize(
                nets[impl].nodes
                  .map((node) => node.routing?.networkSizeEstimate())
                  .filter((size) => size != null),
              )
            : undefined,
        connectionsAtEnd: summarize(nets[impl].nodes.map((node) => node.libp2p.getConnections().length)),
      }
      log(
        `  [${impl} n=${n} ${results.mode}] provide p50 ${results[impl].provide.ms.p50?.toFixed(0)} ms (placement ${(results[impl].placement.accuracy * 100).toFixed(0)} %), lookup first p50 ${results[impl].lookup.firstProviderMs.p50?.toFixed(0)} ms, p95 ${results[impl].lookup.ms.p95?.toFixed(0)} ms, success ${(results[impl].lookup.successRate * 100).toFixed(0)} %, repeated p50 ${results[impl].repeated.ms.p50?.toFixed(3)} ms`,
      )
    }
    results.ratios = latencyRatios(results.nsn, results.plain)
    if (latency != null) {
      const { pairRtt, defaultPortRegistry } = await loadLatency()
      const ids = nets.nsn.nodes.map((node) => node.peerId.toString())
      const rtts = []
      for (let a = 0; a < n; a++) {
        for (let b = a + 1; b < n; b++) rtts.push(pairRtt(latency.seed, latency.distribution, ids[a], ids[b]))
      }
      results.rttMs = summarize(rtts)
      results.emulation = { ...latency, connections: { ...defaultPortRegistry.counts } }
    }
    results.eventLoopDelayMs = {
      p50: loop.percentile(50) / 1e6,
      p99: loop.percentile(99) / 1e6,
      max: loop.max / 1e6,
    }
    results.loadavg = { start: loadStart, end: os.loadavg()[0] }
    results.seconds = (performance.now() - started) / 1000
    return results
  } finally {
    // bounded: once, after a full wide-area N = 100 run, a node's stop never settled (no
    // timer or socket left to settle it), and the run's figures were lost with it
    const pending = new Set()
    const stops = Object.values(nets).flatMap((net) =>
      net.nodes.map((node, i) => {
        const name = `${net.impl} ${i}`
        pending.add(name)
        return node
          .stop()
          .catch(() => undefined)
          .then(() => pending.delete(name))
      }),
    )
    await Promise.race([Promise.all(stops), settle(STOP_WAIT_MS)])
    if (pending.size > 0) {
      const stuck = [...pending]
      console.error(
        `  ${stuck.length} of ${stops.length} nodes did not stop within ${STOP_WAIT_MS / 1000} s: ${stuck.slice(0, 10).join(', ')}`,
      )
    }
  }
}

/** The figures of the latency section compared between the implementations (lower is better). */
export const LATENCY_RATIO_FIGURES = {
  firstProviderP50: (r) => r.lookup.firstProviderMs.p50,
  lookupP50: (r) => r.lookup.ms.p50,
  lookupP95: (r) => r.lookup.ms.p95,
  provideP50: (r) => r.provide.ms.p50,
  repeatedP50: (r) => r.repeated.ms.p50,
  lookupRpcs: (r) => r.lookup.rpcsPerOp.mean,
  lookupDials: (r) => r.lookup.dialsPerOp.mean,
  provideRpcs: (r) => r.provide.rpcsPerOp.mean,
  provideDials: (r) => r.provide.dialsPerOp.mean,
}

export function latencyRatios(nsn, plain) {
  const out = {}
  for (const [name, get] of Object.entries(LATENCY_RATIO_FIGURES)) out[name] = ratio(get(nsn), get(plain))
  return out
}
