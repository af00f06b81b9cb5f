// Benchmark of @nsn/shard-registry: throughput against the original design's naive list,
// and heap under adversarial churn. Prints figures, and JSON with --json. Not a test.
//
//   pnpm build && pnpm bench            (from packages/shard-registry)
//   pnpm bench -- --json                (also print all figures as JSON)
//   pnpm bench -- --quick               (fewer repetitions and shorter runs, for a smoke run)
//
// Run with --expose-gc (the script re-runs itself with it when needed).
import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ShardRegistry } from '../dist/index.js'
import { churnRegistry, fillHash, heapUsed, slope } from './churn.mjs'

if (typeof globalThis.gc !== 'function') {
  const child = spawnSync(
    process.execPath,
    ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    {
      stdio: 'inherit',
    },
  )
  process.exit(child.status ?? 1)
}

const args = new Set(process.argv.slice(2))
const JSON_OUT = args.has('--json')
const QUICK = args.has('--quick')

/** Repetitions per measurement; medians are reported. */
const REPS_SMALL = QUICK ? 3 : 7
const REPS_LARGE = QUICK ? 1 : 3
/** Time budget of one naive run at 1,000,000 operations (it is O(n) per op, O(n²) in all). */
const NAIVE_BUDGET_MS = QUICK ? 1000 : 3000

const results = {
  machine: {
    node: process.version,
    cpus: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    platform: `${process.platform} ${process.arch}`,
  },
  throughput: [],
  churn: {},
}

const log = (...line) => console.log(...line)

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

const fmt = (n) => {
  if (!Number.isFinite(n)) return String(n)
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`
  return n.toFixed(n < 10 ? 2 : 0)
}

const hexOf = (hash) => Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex')

/**
 * A fixed pseudo-random permutation of 0..n-1: has and delete probe the shards in this
 * order, for both implementations (in insertion order, the naive list's delete would
 * always find its shard at index 0).
 */
function permutation(n, seed = 12_345) {
  const order = new Uint32Array(n)
  for (let i = 0; i < n; i++) order[i] = i
  let state = seed >>> 0
  for (let i = n - 1; i > 0; i--) {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    const j = state % (i + 1)
    const t = order[i]
    order[i] = order[j]
    order[j] = t
  }
  return order
}

// ---------------------------------------------------------------------------------------
// ShardRegistry: add n distinct shards, then has for each, then delete each (probing in
// the permutation's order).
// ---------------------------------------------------------------------------------------

async function ours(n, capacity, order) {
  const registry = new ShardRegistry({ capacity })
  const hash = new Uint8Array(32)
  heapUsed()
  let t = performance.now()
  for (let i = 0; i < n; i++) await registry.add(fillHash(hash, i))
  const add = n / ((performance.now() - t) / 1000)
  let hits = 0
  t = performance.now()
  for (let i = 0; i < n; i++) if (await registry.has(fillHash(hash, order[i]))) hits++
  const has = n / ((performance.now() - t) / 1000)
  let deleted = 0
  t = performance.now()
  for (let i = 0; i < n; i++) if (await registry.delete(fillHash(hash, order[i]))) deleted++
  const del = n / ((performance.now() - t) / 1000)
  if (registry.size !== 0) throw new Error('registry not empty after deleting everything')
  const expected = Math.min(n, capacity)
  if (hits !== expected || deleted !== expected)
    throw new Error(`${hits} hits, ${deleted} deleted, ${expected} expected`)
  return { add, has, delete: del, hits, deleted }
}

// ---------------------------------------------------------------------------------------
// Naive baseline, the original Rust design: a Vec of hashes with `contains` before push
// (here an array of hex strings, `includes` before `push`; removal by indexOf + splice).
// Each op is O(n). Runs stop at `budgetMs`; the ops/s are those of the ops that ran.
// ---------------------------------------------------------------------------------------

function naive(n, budgetMs, order) {
  const hash = new Uint8Array(32)
  const timed = (count, op) => {
    const t = performance.now()
    let done = 0
    for (; done < count; done++) {
      op(done)
      if ((done & 63) === 63 && performance.now() - t > budgetMs) {
        done++
        break
      }
    }
    const ms = performance.now() - t
    return { ops: done, opsPerSecond: done / (ms / 1000), capped: done < count }
  }

  let list = []
  heapUsed()
  const add = timed(n, (i) => {
    const hex = hexOf(fillHash(hash, i))
    if (!list.includes(hex)) list.push(hex)
  })
  // has and delete run against a list of all n shards, as the original would hold them:
  // it is filled without the O(n) check (not timed)
  if (list.length < n) {
    list = new Array(n)
    for (let i = 0; i < n; i++) list[i] = hexOf(fillHash(hash, i))
  }
  let hits = 0
  const has = timed(n, (i) => {
    if (list.includes(hexOf(fillHash(hash, order[i])))) hits++
  })
  const del = timed(n, (i) => {
    const at = list.indexOf(hexOf(fillHash(hash, order[i])))
    if (at >= 0) list.splice(at, 1)
  })
  if (hits !== has.ops) throw new Error(`naive list missed ${has.ops - hits} shards`)
  return { add, has, delete: del }
}

async function throughput() {
  log(
    '## Throughput (ops/s, median of repetitions; each add and delete awaited; has and delete probe in a fixed random order)',
  )
  log()
  for (const n of [10_000, 1_000_000]) {
    const reps = n <= 10_000 ? REPS_SMALL : REPS_LARGE
    const budget = n <= 10_000 ? Number.POSITIVE_INFINITY : NAIVE_BUDGET_MS
    const configs = [
      { name: `ShardRegistry, capacity ${fmt(n)} (no eviction)`, capacity: n },
      { name: 'ShardRegistry, capacity 10 k (default; evicting)', capacity: 10_000 },
    ]
    const runs = { ours: configs.map(() => []), naive: [] }
    const order = permutation(n)
    for (let r = 0; r < reps; r++) {
      for (const [c, config] of configs.entries()) runs.ours[c]?.push(await ours(n, config.capacity, order))
      runs.naive.push(naive(n, budget, order))
    }
    const naiveMedian = {}
    for (const op of ['add', 'has', 'delete']) {
      naiveMedian[op] = {
        opsPerSecond: median(runs.naive.map((run) => run[op].opsPerSecond)),
        ops: median(runs.naive.map((run) => run[op].ops)),
        capped: runs.naive.some((run) => run[op].capped),
      }
    }
    log(`### ${fmt(n)} operations of each kind, ${reps} repetition(s)`)
    log()
    log('| implementation | add | has | delete |')
    log('| --- | ---: | ---: | ---: |')
    const rows = []
    for (const [c, config] of configs.entries()) {
      const row = { implementation: config.name, n, reps }
      for (const op of ['add', 'has', 'delete']) {
        const value = median((runs.ours[c] ?? []).map((run) => run[op]))
        row[op] = { opsPerSecond: value, ratioToNaive: value / naiveMedian[op].opsPerSecond }
      }
      rows.push(row)
      log(
        `| ${config.name} | ${fmt(row.add.opsPerSecond)} | ${fmt(row.has.opsPerSecond)} | ${fmt(row.delete.opsPerSecond)} |`,
      )
    }
    const label = (op) =>
      naiveMedian[op].capped ? ` (time-capped: ${fmt(naiveMedian[op].ops)} ops in ${budget / 1000} s)` : ''
    log(
      `| naive array + includes${Object.values(naiveMedian).some((m) => m.capped) ? ', time-capped*' : ''} | ${fmt(naiveMedian.add.opsPerSecond)}${label('add')} | ${fmt(naiveMedian.has.opsPerSecond)}${label('has')} | ${fmt(naiveMedian.delete.opsPerSecond)}${label('delete')} |`,
    )
    for (const row of rows) {
      log(
        `| ratio ours/naive: ${row.implementation} | ${fmt(row.add.ratioToNaive)}x | ${fmt(row.has.ratioToNaive)}x | ${fmt(row.delete.ratioToNaive)}x |`,
      )
    }
    if (Object.values(naiveMedian).some((m) => m.capped)) {
      log()
      log(
        `\\* The naive list is O(n) per operation (O(n²) for n adds); at ${fmt(n)} it is stopped after ${budget / 1000} s per operation kind and its ops/s are those measured over the operations that ran (it only gets slower as the list grows, so the ratio is a lower bound for add). has and delete run against a list pre-filled with all ${fmt(n)} shards. With the 10 k cap at ${fmt(n)}, most has/delete of ours are misses (the shard was evicted).`,
      )
    }
    log()
    results.throughput.push({ n, reps, ours: rows, naive: { ...naiveMedian, budgetMs: budget } })
  }
}

// ---------------------------------------------------------------------------------------
// Heap under churn: 1,000,000 distinct shards through the default 10,000 cap (memory);
// 100,000 through it with a LevelDB datastore.
// ---------------------------------------------------------------------------------------

function reportChurn(name, count, samples, elapsedMs, capacity) {
  const base = samples[0]?.heapUsed ?? 0
  const full = samples.find((s) => s.size >= capacity) ?? samples[samples.length - 1]
  const last = samples[samples.length - 1]
  const atCap = samples.filter((s) => s.size >= capacity)
  const perShard =
    atCap.length >= 2
      ? slope(
          atCap.map((s) => s.added),
          atCap.map((s) => s.heapUsed),
        )
      : Number.NaN
  const tail = samples.slice(Math.floor(samples.length / 2))
  const tailSlope = slope(
    tail.map((s) => s.added),
    tail.map((s) => s.heapUsed),
  )
  const entries = last?.size ?? 0
  const bytesPerEntry = entries > 0 ? ((last?.heapUsed ?? 0) - base) / entries : Number.NaN
  log(`### ${name}`)
  log()
  log('| shards pushed | size | heapUsed (MB, after gc) | rss (MB) |')
  log('| ---: | ---: | ---: | ---: |')
  for (const s of samples) {
    log(
      `| ${s.added.toLocaleString('en')} | ${s.size} | ${(s.heapUsed / 2 ** 20).toFixed(2)} | ${(s.rss / 2 ** 20).toFixed(1)} |`,
    )
  }
  log()
  log(`- throughput: ${fmt(count / (elapsedMs / 1000))} adds/s (sampling excluded)`)
  log(
    `- heap slope once at capacity: ${perShard.toFixed(4)} bytes per shard pushed (${((perShard * 100_000) / 1024).toFixed(1)} KiB per 100k); flat means no leak`,
  )
  log(`- heap slope over the second half of the run: ${tailSlope.toFixed(4)} bytes per shard pushed`)
  log(
    `- bytes per entry: ${bytesPerEntry.toFixed(0)} ((heap at end - heap before) / ${entries} entries); heap growth from full (${full?.added}) to end: ${(((last?.heapUsed ?? 0) - (full?.heapUsed ?? 0)) / 1024).toFixed(1)} KiB`,
  )
  return {
    count,
    capacity,
    samples,
    elapsedMs,
    addsPerSecond: count / (elapsedMs / 1000),
    slopeBytesPerShard: perShard,
    secondHalfSlopeBytesPerShard: tailSlope,
    bytesPerEntry,
  }
}

async function churn() {
  log('## Heap under adversarial churn (distinct shards through the default 10,000 cap)')
  log()
  const count = QUICK ? 200_000 : 1_000_000
  let registry = new ShardRegistry()
  const memory = await churnRegistry({ registry, count, sampleEvery: 100_000, run: 1 })
  results.churn.memory = reportChurn(
    `${count.toLocaleString('en')} shards, no datastore`,
    count,
    memory.samples,
    memory.elapsedMs,
    registry.capacity,
  )
  registry = undefined
  log()

  const { LevelDatastore } = await import('datastore-level')
  const dir = await mkdtemp(join(tmpdir(), 'nsn-shard-registry-bench-'))
  try {
    const datastore = new LevelDatastore(dir)
    await datastore.open()
    try {
      const persistent = await ShardRegistry.open({ datastore })
      const levelCount = QUICK ? 30_000 : 100_000
      const level = await churnRegistry({
        registry: persistent,
        count: levelCount,
        sampleEvery: 10_000,
        run: 2,
      })
      let keys = 0
      for await (const _ of datastore.queryKeys({ prefix: `${persistent.prefix}/` })) keys++
      results.churn.level = reportChurn(
        `${levelCount.toLocaleString('en')} shards, LevelDB datastore (each add one atomic batch)`,
        levelCount,
        level.samples,
        level.elapsedMs,
        persistent.capacity,
      )
      results.churn.level.datastoreKeys = keys
      log(`- datastore key count at the end: ${keys} (registry size ${persistent.size}; must equal 10,000)`)
      if (keys !== persistent.size || keys !== persistent.capacity) {
        throw new Error(`datastore holds ${keys} keys for ${persistent.size} entries`)
      }
      const reopened = await ShardRegistry.open({ datastore })
      log(`- reopened from disk: ${reopened.size} entries`)
    } finally {
      await datastore.close()
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  log()
}

log(`# @nsn/shard-registry benchmark`)
log()
log(
  `node ${results.machine.node}, ${results.machine.cpus} CPU(s) (${results.machine.cpu}), ${results.machine.platform}${QUICK ? ', --quick' : ''}`,
)
log()
// churn first, on a fresh process, so its rss figures are not inflated by the throughput runs
await churn()
await throughput()
if (JSON_OUT) {
  log('## JSON')
  log()
  log(JSON.stringify(results, null, 2))
}
