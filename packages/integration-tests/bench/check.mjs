#!/usr/bin/env node
// `pnpm bench:check`: a fresh, smaller NSN-vs-plain comparison, judged against the
// committed baseline (results/baseline.json) BY RATIO: for each figure, NSN / plain
// measured now in the same run is compared with NSN / plain in the baseline. A slow or
// busy machine slows both implementations alike, so the ratio survives machine noise
// far better than an absolute time would. Exits 1 on a clear regression.
//
//   pnpm --filter @nsn/integration-tests bench:check [-- --sizes 20,50 --threshold 1.5]
//
// Gated figures (a regression is fresh ratio / baseline ratio above the threshold):
//   lookup completion p50, provide p50, heap per node: threshold (default 1.5); heap
//   per node only at --memory-sizes (default: the smallest size; it takes one more
//   process per implementation)
//   RPCs per lookup, RPCs per provide: the RPC threshold (default 1.25; RPC counts are
//   nearly deterministic on the same network)
// Informational only (printed, not gated): bootstrap p50 (plain's is a fixed ~1 s
// timer, so the ratio follows NSN's absolute time, i.e. the machine), p95s, first
// provider (often a sub-millisecond local hit).
// Absolute gates: NSN lookup success must be >= 95 %, and no NSN provide may fail.
//
// Then the latency section (lib/latency-section.mjs) at --latency-size (default: the
// smallest wide-area size in the latency baseline, 50 when `pnpm bench` wrote it) under the
// wide-area emulation, judged against results/latency-baseline.json (written by
// `pnpm bench -- --write-baseline` or `--only latency --write-baseline`) the same way:
// gated lookup p50 and provide p50 ratios (threshold), RPCs per lookup and per provide
// (RPC threshold); absolute: NSN lookup success >= 95 %, retrieval 100 %, no failed NSN
// provide, placement accuracy no more than 0.1 below the baseline's, repeated lookup p50
// under 1 ms. Informational: first provider p50, lookup p95, new connections per lookup.
// Smaller than the bench's N = 100 to keep the check's time (about 2.5 min); --no-latency
// skips it.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { DEFAULTS, runComparison } from './lib/compare.mjs'
import { runLatencySection } from './lib/latency-section.mjs'
import { machineInfo } from './lib/report.mjs'

const { values } = parseArgs({
  // pnpm passes a literal `--` through (`pnpm --filter … bench -- --sizes 20`)
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    sizes: { type: 'string' },
    provides: { type: 'string', default: '30' },
    lookups: { type: 'string', default: '40' },
    threshold: { type: 'string', default: '1.5' },
    'rpc-threshold': { type: 'string', default: '1.25' },
    'memory-sizes': { type: 'string' },
    baseline: { type: 'string' },
    quiet: { type: 'boolean', default: false },
    'no-latency': { type: 'boolean', default: false },
    'latency-size': { type: 'string' },
    'latency-provides': { type: 'string', default: '12' },
    'latency-repeats': { type: 'string', default: '6' },
    'latency-baseline': { type: 'string' },
  },
  allowPositionals: true,
})

const resultsDir = new URL('./results/', import.meta.url)
const baselinePath = values.baseline ?? new URL('baseline.json', resultsDir)
let baseline
try {
  baseline = JSON.parse(await readFile(baselinePath, 'utf8'))
} catch (err) {
  console.error(
    `bench:check: no baseline at ${baselinePath} (${err.message}); write one with: pnpm bench -- --write-baseline`,
  )
  process.exit(2)
}
const baselineSizes = baseline.sizes.map((s) => s.n)
const wanted = values.sizes?.split(',').map(Number) ?? baselineSizes.filter((n) => n <= 50)
const sizes = wanted.filter((n) => baselineSizes.includes(n))
if (sizes.length === 0) {
  console.error(
    `bench:check: none of the sizes ${wanted.join(', ')} is in the baseline (${baselineSizes.join(', ')})`,
  )
  process.exit(2)
}

const threshold = Number(values.threshold)
const rpcThreshold = Number(values['rpc-threshold'])
const GATED = {
  lookupP50: threshold,
  provideP50: threshold,
  heapPerNode: threshold,
  lookupRpcs: rpcThreshold,
  provideRpcs: rpcThreshold,
}
const INFORMATIONAL = [
  'bootstrapP50',
  'lookupFirstP50',
  'lookupP95',
  'provideP95',
  'provideCpuMs',
  'lookupCpuMs',
]

const config = {
  ...DEFAULTS,
  ...baseline.config,
  sizes,
  provides: Number(values.provides),
  lookups: Number(values.lookups),
}
const started = performance.now()
console.error(
  `bench:check: sizes ${sizes.join(', ')}, ${config.provides} provides, ${config.lookups} lookups each, baseline of ${baseline.date}`,
)
// memory needs one more process per implementation and size: by default only at the smallest size
const memorySizes = values['memory-sizes']?.split(',').map(Number) ?? [Math.min(...sizes)]
const fresh = await runComparison(config, { quiet: values.quiet, memorySizes })

const rows = []
const failures = []
for (const entry of fresh) {
  const base = baseline.sizes.find((s) => s.n === entry.n)
  for (const [figure, limit] of Object.entries(GATED)) {
    if (figure === 'heapPerNode' && !memorySizes.includes(entry.n)) continue
    const now = entry.ratios[figure]
    const then = base.ratios[figure]
    const change = now != null && then != null && then > 0 ? now / then : null
    const regressed = change != null && change > limit
    rows.push({ n: entry.n, figure, baseline: then, fresh: now, change, limit, gated: true, regressed })
    if (regressed)
      failures.push(
        `N=${entry.n} ${figure}: NSN/plain ${now.toFixed(2)} vs ${then.toFixed(2)} in the baseline (${change.toFixed(2)}× > ${limit})`,
      )
  }
  for (const figure of INFORMATIONAL) {
    const now = entry.ratios[figure]
    const then = base.ratios[figure]
    rows.push({
      n: entry.n,
      figure,
      baseline: then,
      fresh: now,
      change: now != null && then ? now / then : null,
      gated: false,
    })
  }
  const success = entry.nsn.lookup.successRate
  if (success < 0.95) failures.push(`N=${entry.n}: NSN lookup success ${(success * 100).toFixed(0)} % < 95 %`)
  const provideFailures = entry.nsn.provide.count - entry.nsn.provide.succeeded
  if (provideFailures > 0)
    failures.push(
      `N=${entry.n}: ${provideFailures} NSN provides failed (${JSON.stringify(entry.nsn.provide.errors)})`,
    )
}

// the latency section under the wide-area emulation, against its own baseline
let latency
if (!values['no-latency']) {
  const latencyBaselinePath = values['latency-baseline'] ?? new URL('latency-baseline.json', resultsDir)
  let base
  let n
  try {
    const file = JSON.parse(await readFile(latencyBaselinePath, 'utf8'))
    const wanSizes = file.runs.filter((r) => r.mode === 'wan').map((r) => r.n)
    // by default the smallest wide-area size of the baseline (the bench writes 50)
    n = values['latency-size'] == null ? Math.min(...wanSizes) : Number(values['latency-size'])
    base = file.runs.find((r) => r.mode === 'wan' && r.n === n)
    if (base == null) failures.push(`latency: the baseline ${latencyBaselinePath} has no wan run at N=${n}`)
  } catch (err) {
    if (err?.code !== 'ENOENT') throw err
    // no latency baseline committed yet: said loudly, not gated (the comparison still is)
    console.log(
      `\nbench:check: WARNING: no latency baseline at ${latencyBaselinePath}: the latency figures are NOT gated; write one on a quiet machine with: pnpm bench -- --only latency --write-baseline`,
    )
  }
  if (base != null) {
    console.error(`bench:check: latency section, wan N=${n}`)
    latency = await runLatencySection({
      runs: [{ mode: 'wan', n }],
      config: { provides: Number(values['latency-provides']), repeats: Number(values['latency-repeats']) },
      quiet: values.quiet,
    })
    const run = latency.runs[0]
    const label = `wan${n}`
    const gated = {
      lookupP50: threshold,
      provideP50: threshold,
      lookupRpcs: rpcThreshold,
      provideRpcs: rpcThreshold,
    }
    for (const [figure, limit] of Object.entries(gated)) {
      const now = run.ratios[figure]
      const then = base.ratios[figure]
      const change = now != null && then != null && then > 0 ? now / then : null
      const regressed = change != null && change > limit
      rows.push({ n: label, figure, baseline: then, fresh: now, change, limit, gated: true, regressed })
      if (regressed)
        failures.push(
          `latency ${label} ${figure}: NSN/plain ${now.toFixed(2)} vs ${then.toFixed(2)} in the baseline (${change.toFixed(2)}x > ${limit})`,
        )
    }
    for (const figure of ['firstProviderP50', 'lookupP95', 'lookupDials', 'repeatedP50']) {
      const now = run.ratios[figure]
      const then = base.ratios[figure]
      rows.push({
        n: label,
        figure,
        baseline: then,
        fresh: now,
        change: now != null && then ? now / then : null,
        gated: false,
      })
    }
    const nsn = run.nsn
    if (nsn.lookup.successRate < 0.95)
      failures.push(
        `latency ${label}: NSN lookup success ${(nsn.lookup.successRate * 100).toFixed(0)} % < 95 %`,
      )
    if (nsn.lookup.retrieval < 1)
      failures.push(`latency ${label}: NSN retrieval ${(nsn.lookup.retrieval * 100).toFixed(0)} % < 100 %`)
    if (nsn.provide.succeeded < nsn.provide.count)
      failures.push(
        `latency ${label}: ${nsn.provide.count - nsn.provide.succeeded} NSN provides failed (${JSON.stringify(nsn.provide.errors)})`,
      )
    if (nsn.placement.accuracy < base.nsn.placementAccuracy - 0.1)
      failures.push(
        `latency ${label}: NSN placement accuracy ${(nsn.placement.accuracy * 100).toFixed(0)} % vs ${(base.nsn.placementAccuracy * 100).toFixed(0)} % in the baseline`,
      )
    if (!(nsn.repeated.ms.p50 < 1))
      failures.push(`latency ${label}: NSN repeated lookup p50 ${nsn.repeated.ms.p50} ms, not under 1 ms`)
  }
}

const f = (v) => (v == null ? '   –' : v.toFixed(2).padStart(5))
console.log(`\nNSN/plain ratios, fresh vs baseline (${baseline.date}, ${baseline.machine?.cpuModel ?? '?'}):`)
console.log('    N  figure            baseline  fresh  change  limit')
for (const r of rows) {
  const verdict = r.gated ? (r.regressed ? 'REGRESSION' : 'ok') : 'info'
  console.log(
    `${String(r.n).padStart(5)}  ${r.figure.padEnd(16)}  ${f(r.baseline)}    ${f(r.fresh)}  ${f(r.change)}  ${r.gated ? f(r.limit) : '    –'}  ${verdict}`,
  )
}
for (const entry of fresh) {
  console.log(
    `N=${entry.n}: NSN lookup success ${(entry.nsn.lookup.successRate * 100).toFixed(0)} %, plain ${(entry.plain.lookup.successRate * 100).toFixed(0)} %; NSN lookup p50 ${entry.nsn.lookup.ms.p50.toFixed(0)} ms, plain ${entry.plain.lookup.ms.p50.toFixed(0)} ms`,
  )
}
if (latency != null) {
  const r = latency.runs[0]
  console.log(
    `latency wan N=${r.n}: NSN lookup success ${(r.nsn.lookup.successRate * 100).toFixed(0)} %, retrieval ${(r.nsn.lookup.retrieval * 100).toFixed(0)} %, placement ${(r.nsn.placement.accuracy * 100).toFixed(0)} % (plain ${(r.plain.placement.accuracy * 100).toFixed(0)} %); lookup p50 NSN ${r.nsn.lookup.ms.p50.toFixed(0)} ms, plain ${r.plain.lookup.ms.p50.toFixed(0)} ms; repeated p50 NSN ${r.nsn.repeated.ms.p50.toFixed(4)} ms`,
  )
}
const seconds = (performance.now() - started) / 1000
await mkdir(resultsDir, { recursive: true })
await writeFile(
  new URL('check.json', resultsDir),
  `${JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), baselineDate: baseline.date, seconds, rows, failures, fresh, latency }, null, 2)}\n`,
)
if (failures.length > 0) {
  console.log(`\nbench:check FAILED (${seconds.toFixed(0)} s):\n  ${failures.join('\n  ')}`)
  process.exit(1)
}
console.log(`\nbench:check passed (${seconds.toFixed(0)} s): no figure regressed beyond its limit`)
