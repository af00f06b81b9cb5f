// The NSN-vs-plain comparison. For one network size, one child process builds the same
// network twice (same identities, hence the same XOR geometry; same join order; same
// bootstrap peers), once per implementation, both alive side by side, then runs the same
// operations from the same nodes on both, INTERLEAVED: provide j on one network, then
// provide j on the other (which one goes first alternates), and likewise for lookups.
// Whatever else the machine is doing then slows both implementations alike, within
// seconds, so NSN/plain ratios hold up on a busy machine.
//
// Memory per node: see runComparison.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import os, { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { parseShardKey } from '@nsn/core'
import { benchKey, createBenchNode, createRpcCounter, newTally } from './nodes.mjs'
import { gcMemory, randomInt, ratio, sample, seededRandom, settle, summarize } from './stats.mjs'

export const DEFAULTS = {
  sizes: [20, 50, 100],
  provides: 40,
  lookups: 60,
  bootstrapPeers: 3,
  tableThreshold: 10,
  tableWaitMs: 30_000,
  warmUpOps: 5,
  seed: 2024,
}

function shardOf(label, j) {
  return parseShardKey(
    new Uint8Array(createHash('sha256').update(`nsn-dht-bench/shard/${label}/${j}`).digest()),
  )
}

function cpuMs(usage) {
  return (usage.user + usage.system) / 1000
}

function errorName(err) {
  return err?.code ?? err?.name ?? String(err)
}

function countBy(values) {
  const out = {}
  for (const v of values) if (v != null) out[v] = (out[v] ?? 0) + 1
  return out
}

function log(quiet, ...args) {
  if (!quiet) console.error(...args)
}

/**
 * Waits until a stopped network has been collected: a stopped libp2p node stays
 * reachable through pending timers for about 10 s. At least `minMs`, then until two
 * heap readings a second apart agree within 256 KiB (at most `maxMs`).
 */
export async function quiesce(minMs = 12_000, maxMs = 30_000) {
  const start = performance.now()
  await settle(minMs)
  let last = gcMemory().heapUsed
  while (performance.now() - start < maxMs) {
    await settle(1000)
    const now = gcMemory().heapUsed
    if (Math.abs(now - last) < 256 * 1024) break
    last = now
  }
  return gcMemory()
}

/** Builds one network: node i starts, then bootstraps from up to 3 random earlier nodes. */
async function buildNetwork(impl, n, keys, config, { quiet }) {
  const random = seededRandom(config.seed * 1000 + n) // the same draws for both implementations
  const counter = createRpcCounter()
  const loop = monitorEventLoopDelay({ resolution: 10 })
  loop.enable()
  const nodes = []
  const createMs = []
  const bootstrapMs = []
  const bootstrapErrors = []
  const cpu = process.cpuUsage()
  const joinStart = performance.now()
  for (let i = 0; i < n; i++) {
    let t = performance.now()
    const node = await createBenchNode(impl, { privateKey: keys[i], counter })
    createMs.push(performance.now() - t)
    nodes.push(node)
    if (i === 0) continue
    const targets = sample(random, i, Math.min(config.bootstrapPeers, i)).map((j) => nodes[j].addr)
    t = performance.now()
    try {
      await node.bootstrap(targets)
    } catch (err) {
      bootstrapErrors.push(errorName(err))
    }
    bootstrapMs.push(performance.now() - t)
  }
  const joinedAt = performance.now()
  const threshold = Math.min(n - 1, config.tableThreshold)
  let readyAt
  while (performance.now() - joinedAt < config.tableWaitMs) {
    if (nodes.every((node) => node.tableSize() >= threshold)) {
      readyAt = performance.now()
      break
    }
    await settle(50)
  }
  loop.disable()
  const tables = nodes.map((node) => node.tableSize())
  const join = {
    createMs: summarize(createMs),
    bootstrapMs: summarize(bootstrapMs),
    bootstrapErrors: countBy(bootstrapErrors),
    joinMs: joinedAt - joinStart,
    threshold,
    tablesReadyMs: readyAt == null ? null : readyAt - joinStart,
    tablesReadyAfterJoinMs: readyAt == null ? null : readyAt - joinedAt,
    tablesBelowThreshold: tables.filter((s) => s < threshold).length,
    tableSizes: summarize(tables),
    connectionsPerNode: summarize(nodes.map((node) => node.libp2p.getConnections().length)),
    rpcs: counter.snapshot(),
    cpuMs: cpuMs(process.cpuUsage(cpu)),
    eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    loadavg: os.loadavg()[0],
  }
  log(
    quiet,
    `  [${impl} n=${n}] joined in ${(join.joinMs / 1000).toFixed(1)} s; bootstrap p50 ${join.bootstrapMs.p50?.toFixed(0)} ms; tables ${join.tableSizes.min}/${join.tableSizes.p50}/${join.tableSizes.max} ${readyAt == null ? `(${join.tablesBelowThreshold} below ${threshold} after the wait)` : `(all >= ${threshold} after ${(join.tablesReadyMs / 1000).toFixed(1)} s)`}`,
  )
  counter.reset()
  return { impl, nodes, counter, join }
}

async function provideOn(net, at, shard) {
  const node = net.nodes[at]
  const tally = newTally()
  const cpu = process.cpuUsage()
  const dials = net.counter.dials
  node.tally = tally
  let error
  let sentTo
  let confirmed
  try {
    ;({ sentTo, confirmed } = await node.provide(shard))
  } catch (err) {
    error = errorName(err)
  }
  node.tally = null
  return {
    ms: performance.now() - tally.start,
    cpuMs: cpuMs(process.cpuUsage(cpu)),
    dials: net.counter.dials - dials,
    sends: tally.sends,
    findNode: tally.sendsByType.FIND_NODE ?? 0,
    addProvider: tally.sendsByType.ADD_PROVIDER ?? 0,
    addProviderOk: tally.addProviderOk,
    confirmations: tally.confirmations,
    sentTo,
    confirmed,
    queryErrors: tally.errors,
    error,
  }
}

async function lookupOn(net, at, provider, shard) {
  const node = net.nodes[at]
  const tally = newTally()
  const cpu = process.cpuUsage()
  const dials = net.counter.dials
  node.tally = tally
  let error
  let found = false
  try {
    const providers = await node.findProviders(shard)
    found = providers.some((id) => id.equals(net.nodes[provider].peerId))
  } catch (err) {
    error = errorName(err)
  }
  node.tally = null
  return {
    ms: performance.now() - tally.start,
    cpuMs: cpuMs(process.cpuUsage(cpu)),
    dials: net.counter.dials - dials,
    firstProviderMs: tally.firstProviderMs,
    local: tally.localProvider,
    sends: tally.sends,
    queryErrors: tally.errors,
    found,
    error,
  }
}

/** A throwaway network per implementation, so the JIT has compiled both before anything is measured. */
async function warmUp(implementations) {
  for (const impl of implementations) {
    const nodes = []
    for (let i = 0; i < 4; i++) {
      const node = await createBenchNode(impl, { privateKey: await benchKey('warm-up', i) })
      if (i > 0) await node.bootstrap([nodes[0].addr]).catch(() => undefined)
      nodes.push(node)
    }
    for (let j = 0; j < 3; j++) {
      const shard = shardOf('warm-up', j)
      await nodes[j].provide(shard).catch(() => undefined)
      await nodes[j + 1].findProviders(shard).catch(() => undefined)
    }
    await Promise.allSettled(nodes.map((node) => node.stop()))
  }
}

/**
 * Runs every implementation on one network size, in this process (see the file
 * comment). Build order alternates with the size; operation order alternates per
 * operation.
 */
export async function runPair(
  n,
  config,
  { implementations = ['nsn', 'plain'], buildOrder, quiet = false, warm = true } = {},
) {
  const keys = []
  for (let i = 0; i < n; i++) keys.push(await benchKey(`n${n}`, i))
  const order = buildOrder ?? implementations
  let memEmpty
  if (warm) {
    await warmUp(order)
    memEmpty = await quiesce()
  } else {
    await settle(200)
    memEmpty = gcMemory()
  }
  const loadStart = os.loadavg()[0]
  const nets = {}
  const memory = {}
  let before = memEmpty
  try {
    for (const impl of order) {
      nets[impl] = await buildNetwork(impl, n, keys, config, { quiet })
      // alone (the memory run): let the join's timers run out, as after the operations below
      await settle(order.length === 1 ? 11_000 : 500)
      const after = gcMemory()
      memory[impl] = {
        before,
        after,
        heapPerNode: (after.heapUsed - before.heapUsed) / n,
        arrayBuffersPerNode: (after.arrayBuffers - before.arrayBuffers) / n,
        rssPerNode: (after.rss - before.rss) / n,
      }
      before = after
    }
    const memIdle = before

    // the same operations, interleaved
    const random = seededRandom(config.seed * 7919 + n)
    const loop = monitorEventLoopDelay({ resolution: 10 })
    loop.enable()
    for (let w = 0; w < config.warmUpOps; w++) {
      const shard = shardOf(`warm-up/${n}`, w)
      const at = randomInt(random, n)
      const from = (at + 1 + randomInt(random, n - 1)) % n
      for (const impl of order) {
        await nets[impl].nodes[at].provide(shard).catch(() => undefined)
        await nets[impl].nodes[from].findProviders(shard).catch(() => undefined)
      }
    }
    for (const impl of order) nets[impl].counter.reset()
    const alternate = (k) => (k % 2 === 0 ? order : [...order].reverse())

    const shards = Array.from({ length: config.provides }, (_, j) => shardOf(n, j))
    const providerOf = []
    const provides = Object.fromEntries(order.map((impl) => [impl, []]))
    for (let j = 0; j < config.provides; j++) {
      const at = randomInt(random, n)
      providerOf.push(at)
      for (const impl of alternate(j)) provides[impl].push(await provideOn(nets[impl], at, shards[j]))
    }
    const provideRpcs = Object.fromEntries(order.map((impl) => [impl, nets[impl].counter.snapshot()]))
    for (const impl of order) {
      nets[impl].counter.reset()
      log(
        quiet,
        `  [${impl} n=${n}] provides p50 ${summarize(provides[impl].map((p) => p.ms)).p50?.toFixed(0)} ms`,
      )
    }

    const lookups = Object.fromEntries(order.map((impl) => [impl, []]))
    for (let l = 0; l < config.lookups; l++) {
      const j = randomInt(random, config.provides)
      const provider = providerOf[j]
      let at = randomInt(random, n - 1)
      if (at >= provider) at++
      for (const impl of alternate(l)) lookups[impl].push(await lookupOn(nets[impl], at, provider, shards[j]))
    }
    const lookupRpcs = Object.fromEntries(order.map((impl) => [impl, nets[impl].counter.snapshot()]))
    loop.disable()
    // alone (the memory run): let the last operations' timers (RPC timeouts: 5 s plain,
    // 10 s NSN) run out, so the figure is what the node keeps, not what is in flight
    if (order.length === 1) await settle(11_000)
    const memLoaded = gcMemory()
    for (const impl of order) {
      const found = lookups[impl].filter((x) => x.found).length
      log(
        quiet,
        `  [${impl} n=${n}] lookups p50 ${summarize(lookups[impl].map((x) => x.ms)).p50?.toFixed(0)} ms, found ${found}/${config.lookups}`,
      )
    }
    const opsLoop = { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 }
    const loadEnd = os.loadavg()[0]

    const results = {}
    for (const impl of order) {
      const pv = provides[impl]
      const lk = lookups[impl]
      results[impl] = {
        impl,
        n,
        built: order.indexOf(impl) + 1,
        join: nets[impl].join,
        provide: {
          count: pv.length,
          ms: summarize(pv.filter((p) => p.error == null).map((p) => p.ms)),
          msAll: pv.map((p) => p.ms),
          succeeded: pv.filter((p) => p.error == null).length,
          errors: countBy(pv.map((p) => p.error)),
          rpcsPerOp: summarize(pv.map((p) => p.sends)),
          findNodePerOp: summarize(pv.map((p) => p.findNode)),
          addProviderPerOp: summarize(pv.map((p) => p.addProvider)),
          addProviderOkPerOp: summarize(pv.map((p) => p.addProviderOk)),
          sentTo: summarize(pv.map((p) => p.sentTo)),
          confirmed: summarize(pv.map((p) => p.confirmed)),
          confirmationsPerOp: summarize(pv.map((p) => p.confirmations)),
          queryErrorsPerOp: summarize(pv.map((p) => p.queryErrors)),
          dialsPerOp: summarize(pv.map((p) => p.dials)),
          networkRpcs: provideRpcs[impl],
          cpuMsPerOp: summarize(pv.map((p) => p.cpuMs)).mean,
        },
        lookup: {
          count: lk.length,
          ms: summarize(lk.map((x) => x.ms)),
          firstProviderMs: summarize(lk.map((x) => x.firstProviderMs)),
          msAll: lk.map((x) => x.ms),
          firstProviderMsAll: lk.map((x) => x.firstProviderMs ?? null),
          successRate: lk.filter((x) => x.found).length / lk.length,
          localHits: lk.filter((x) => x.local).length,
          errors: countBy(lk.map((x) => x.error)),
          rpcsPerOp: summarize(lk.map((x) => x.sends)),
          queryErrorsPerOp: summarize(lk.map((x) => x.queryErrors)),
          dialsPerOp: summarize(lk.map((x) => x.dials)),
          networkRpcs: lookupRpcs[impl],
          cpuMsPerOp: summarize(lk.map((x) => x.cpuMs)).mean,
        },
        tablesAtEnd: summarize(nets[impl].nodes.map((node) => node.tableSize())),
        memory: {
          emptyProcess: memEmpty,
          ...memory[impl],
          loaded: memLoaded,
          workloadGrowthPerNode: (memLoaded.heapUsed - memIdle.heapUsed) / (n * order.length),
          workloadRssGrowthPerNode: (memLoaded.rss - memIdle.rss) / (n * order.length),
        },
        eventLoopDelayMs: { join: nets[impl].join.eventLoopDelayMs, operations: opsLoop },
        loadavg: { start: loadStart, end: loadEnd },
      }
    }
    return results
  } finally {
    await Promise.allSettled(Object.values(nets).flatMap((net) => net.nodes.map((node) => node.stop())))
  }
}

/** The figures compared between the implementations, lower is better for each. */
export const RATIO_FIGURES = {
  bootstrapP50: (r) => r.join.bootstrapMs.p50,
  bootstrapP95: (r) => r.join.bootstrapMs.p95,
  tablesReadyMs: (r) => r.join.tablesReadyMs,
  provideP50: (r) => r.provide.ms.p50,
  provideP95: (r) => r.provide.ms.p95,
  provideP99: (r) => r.provide.ms.p99,
  provideRpcs: (r) => r.provide.rpcsPerOp.mean,
  provideCpuMs: (r) => r.provide.cpuMsPerOp,
  lookupFirstP50: (r) => r.lookup.firstProviderMs.p50,
  lookupFirstP95: (r) => r.lookup.firstProviderMs.p95,
  lookupP50: (r) => r.lookup.ms.p50,
  lookupP95: (r) => r.lookup.ms.p95,
  lookupP99: (r) => r.lookup.ms.p99,
  lookupRpcs: (r) => r.lookup.rpcsPerOp.mean,
  lookupCpuMs: (r) => r.lookup.cpuMsPerOp,
  heapPerNode: (r) => r.memory.heapPerNode,
  rssPerNode: (r) => r.memory.rssPerNode,
}

/** ours / plain for every figure in {@link RATIO_FIGURES}. */
export function ratios(nsn, plain) {
  const out = {}
  for (const [name, get] of Object.entries(RATIO_FIGURES)) out[name] = ratio(get(nsn), get(plain))
  out.lookupSuccess = ratio(nsn.lookup.successRate, plain.lookup.successRate)
  out.tableP50 = ratio(nsn.join.tableSizes.p50, plain.join.tableSizes.p50)
  return out
}

/**
 * Runs one size in a child process (`bench/network.mjs`): a fresh V8 heap per size, so
 * memory deltas start from an empty process, and one size cannot slow the next down.
 */
export async function runPairInChild(
  n,
  config,
  { quiet = false, implementations, buildOrder, warm = true, timeoutMs = 30 * 60_000 } = {},
) {
  const dir = await mkdtemp(join(tmpdir(), 'nsn-bench-'))
  const out = join(dir, 'result.json')
  try {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        fileURLToPath(new URL('../network.mjs', import.meta.url)),
        String(n),
        JSON.stringify({ config, implementations, buildOrder, warm }),
        out,
        quiet ? 'quiet' : '',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? signal)))
    clearTimeout(timer)
    if (code !== 0) throw new Error(`network of ${n} nodes failed (exit ${code})`)
    return JSON.parse(await readFile(out, 'utf8'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/**
 * Runs every size, each in its own process with both implementations side by side
 * (latency, RPCs, CPU), alternating which implementation is built first. Memory per
 * node comes from one more process per implementation and size (`memorySizes`, default
 * all) holding that network alone, running the same join and operations: the delta over
 * the empty process divided by N, as the figure is defined, without a network built
 * earlier in the same process having paid the one-time costs (code, caches, pools) for it.
 */
export async function runComparison(
  config,
  { quiet = false, implementations = ['nsn', 'plain'], memorySizes = config.sizes } = {},
) {
  const results = []
  for (const [index, n] of config.sizes.entries()) {
    const buildOrder = index % 2 === 0 ? [...implementations] : [...implementations].reverse()
    const started = performance.now()
    const byImpl = await runPairInChild(n, config, { quiet, implementations, buildOrder })
    for (const impl of implementations) {
      byImpl[impl].memory.source = 'side by side (marginal: the other network was built in the same process)'
      if (!memorySizes.includes(n)) continue
      log(quiet, `  [${impl} n=${n}] memory: the same network alone in a fresh process`)
      const solo = await runPairInChild(n, config, {
        quiet: true,
        implementations: [impl],
        buildOrder: [impl],
        warm: false,
      })
      byImpl[impl].memory = { ...solo[impl].memory, source: 'alone in a fresh process' }
    }
    const entry = { n, order: buildOrder, seconds: (performance.now() - started) / 1000, ...byImpl }
    entry.ratios = ratios(byImpl.nsn, byImpl.plain)
    if (byImpl['nsn-noreg'] != null) entry.ratiosNoRegistry = ratios(byImpl['nsn-noreg'], byImpl.plain)
    results.push(entry)
    log(quiet, `  n=${n} done in ${entry.seconds.toFixed(0)} s`)
  }
  return results
}
