#!/usr/bin/env node
// `pnpm bench`: the NSN-vs-plain comparison at 20, 50 and 100 nodes, then the compressed
// soak, then the report (results/latest.json, latest.md, SVG charts).
//
//   pnpm --filter @nsn/integration-tests bench [-- options]
//     --sizes 20,50,100      network sizes
//     --provides 40 --lookups 60
//     --variants nsn,plain   add nsn-noreg for ShardRouting without a registry
//     --no-assembled         skip the memory figure of the assembled node (@nsn/node)
//     --assembled-size 50    its network size
//     --no-soak              skip the soak (the report keeps the previous soak, if any)
//     --soak-only            only the soak (the report keeps the previous comparison)
//     --soak-duration 150 --soak-shards 100000
//     --only republish       only the republish section (bench/republish.mjs): NSN's sweep
//                            against plain kad-dht's reprovider; the report keeps the rest
//     --no-republish         skip it (the report keeps the previous figures, if any)
//     --republish-nodes 50 --republish-shards 10000,100000 --republish-plain-shards 200
//     --no-store-heap        skip the heap at 1,000,000 shards (bench/store-heap.mjs) in it
//     --write-baseline       also write results/baseline.json from this run
//     --report-only          re-render latest.md and the charts from latest.json
//     --only latency,idle    only these sections; the other keys of latest.json are kept
//     --no-latency --no-idle skip the latency / idle section (the report keeps the previous)
//     --latency-runs loopback:100,wan:50,wan:100   the latency section's (mode:size) runs
//     --latency-provides 20 --latency-repeats 10
//     --latency-from a.json,b.json   assemble the section from latency-network.mjs outputs
//                            (runs made by hand, e.g. in parallel) instead of running it
//     --idle-from idle.json  the idle section from a saved section (lib/idle-section.mjs)
//     --idle-nodes 100 --idle-seconds 60
//     --no-gossip            skip the gossip section (shard announcements; the report keeps the previous)
//     --gossip-nodes 30 --gossip-mode wan|loopback --gossip-provides 10
//
// Exit status: 1 when the soak found the heap growing (or a run failed), else 0.
import { spawn } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import os, { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { DEFAULTS, runComparison } from './lib/compare.mjs'
import { GOSSIP_DEFAULTS, gossipMarkdown, gossipSummary, runGossipSection } from './lib/gossip-section.mjs'
import { idleMarkdown, idleSummary, runIdleSection } from './lib/idle-section.mjs'
import {
  LATENCY_SECTION_DEFAULTS,
  latencyBaseline,
  latencyMarkdown,
  latencySummary,
  runLatencySection,
} from './lib/latency-section.mjs'
import { machineInfo, renderMarkdown, writeCdfCharts } from './lib/report.mjs'

const { values } = parseArgs({
  // pnpm passes a literal `--` through (`pnpm --filter … bench -- --sizes 20`)
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    sizes: { type: 'string', default: DEFAULTS.sizes.join(',') },
    provides: { type: 'string', default: String(DEFAULTS.provides) },
    lookups: { type: 'string', default: String(DEFAULTS.lookups) },
    seed: { type: 'string', default: String(DEFAULTS.seed) },
    variants: { type: 'string', default: 'nsn,plain' },
    'no-soak': { type: 'boolean', default: false },
    'no-assembled': { type: 'boolean', default: false },
    'assembled-size': { type: 'string', default: '50' },
    'soak-only': { type: 'boolean', default: false },
    'soak-duration': { type: 'string', default: '150' },
    'soak-shards': { type: 'string', default: '100000' },
    'write-baseline': { type: 'boolean', default: false },
    'no-republish': { type: 'boolean', default: false },
    'republish-nodes': { type: 'string', default: '50' },
    'republish-shards': { type: 'string', default: '10000,100000' },
    'republish-plain-shards': { type: 'string', default: '200' },
    'no-store-heap': { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
    quiet: { type: 'boolean', default: false },
    only: { type: 'string' },
    'no-latency': { type: 'boolean', default: false },
    'no-idle': { type: 'boolean', default: false },
    'latency-runs': {
      type: 'string',
      default: LATENCY_SECTION_DEFAULTS.runs.map((r) => `${r.mode}:${r.n}`).join(','),
    },
    'latency-provides': { type: 'string' },
    'latency-from': { type: 'string' },
    'idle-from': { type: 'string' },
    'latency-repeats': { type: 'string' },
    'idle-nodes': { type: 'string', default: '100' },
    'idle-seconds': { type: 'string', default: '60' },
    'no-gossip': { type: 'boolean', default: false },
    'gossip-nodes': { type: 'string', default: String(GOSSIP_DEFAULTS.n) },
    'gossip-mode': { type: 'string', default: GOSSIP_DEFAULTS.mode },
    'gossip-provides': { type: 'string', default: String(GOSSIP_DEFAULTS.provides) },
  },
  allowPositionals: true,
})

/** The sections that `--only` can run alone, each returning its key of the report. */
const SECTIONS = {
  latency: () =>
    runLatencySection({
      runs: values['latency-runs'].split(',').map((run) => {
        const [mode, n] = run.split(':')
        if (!['loopback', 'wan'].includes(mode) || !(Number(n) > 1)) {
          throw new Error(`--latency-runs: "${run}" is not loopback:<n> or wan:<n>`)
        }
        return { mode, n: Number(n) }
      }),
      config: {
        ...(values['latency-provides'] == null ? {} : { provides: Number(values['latency-provides']) }),
        ...(values['latency-repeats'] == null ? {} : { repeats: Number(values['latency-repeats']) }),
      },
      quiet: values.quiet,
      ...(values['latency-from'] == null ? {} : { from: values['latency-from'].split(',') }),
    }),
  idle: async () =>
    values['idle-from'] == null
      ? runIdleSection({ nodes: Number(values['idle-nodes']), idleSeconds: Number(values['idle-seconds']) })
      : JSON.parse(await readFile(values['idle-from'], 'utf8')),
  gossip: () =>
    runGossipSection({
      n: Number(values['gossip-nodes']),
      mode: values['gossip-mode'],
      provides: Number(values['gossip-provides']),
      quiet: values.quiet,
    }),
  republish: () => republishSection(),
}
const SUMMARIES = {
  latency: latencySummary,
  idle: idleSummary,
  gossip: gossipSummary,
  republish: republishSummary,
}
const MARKDOWN = { latency: latencyMarkdown, idle: idleMarkdown, gossip: gossipMarkdown }
const sectionsMarkdown = (result) =>
  Object.entries(MARKDOWN)
    .filter(([name]) => result[name] != null)
    .map(([name, render]) => render(result[name]))
    .join('')

const resultsDir = new URL('./results/', import.meta.url)
await mkdir(resultsDir, { recursive: true })
const config = {
  ...DEFAULTS,
  sizes: values.sizes.split(',').map(Number),
  provides: Number(values.provides),
  lookups: Number(values.lookups),
  seed: Number(values.seed),
}
const implementations = values.variants.split(',')
if (!implementations.includes('nsn') || !implementations.includes('plain')) {
  throw new Error('--variants must include nsn and plain')
}

async function previous() {
  try {
    return JSON.parse(await readFile(new URL('latest.json', resultsDir), 'utf8'))
  } catch {
    return undefined
  }
}

const before = await previous()
if (values['report-only']) {
  // re-render latest.md and the charts from latest.json (after a change to the report)
  if (before == null) throw new Error('no results/latest.json to render')
  before.charts = { ...before.charts, cdf: await writeCdfCharts(before.comparison ?? [], resultsDir) }
  await writeFile(new URL('latest.md', resultsDir), renderMarkdown(before) + sectionsMarkdown(before))
  console.log(`report: ${fileURLToPath(new URL('latest.md', resultsDir))}`)
  process.exit(0)
}
/** One line of the republish section's figures, for the console. */
function republishSummary(r) {
  if (r.error != null) return `republish: ${r.error}`
  const runs = (r.nsn ?? []).map(
    (e) =>
      `${e.shards} shards in ${(e.wallMs / 1000).toFixed(1)} s, ${e.regions} regions, FIND_NODE/shard ${e.findNodePerShard.toFixed(4)}, on true k closest ${(100 * e.trueClosestShare).toFixed(1)} %`,
  )
  if (r.plain != null && r.ratios != null) {
    runs.push(
      `plain ${r.plain.shards} shards: FIND_NODE/shard ${r.plain.findNodePerShard.toFixed(1)} (NSN/plain ${r.ratios.findNodePerShard.toFixed(4)}), 10,000 in ~${(r.plain.extrapolatedSecFor10000 / 60).toFixed(0)} min`,
    )
  }
  const met = Object.entries(r.targets ?? {}).map(
    ([target, ok]) => `${target}: ${ok == null ? 'not run' : ok ? 'met' : 'NOT met'}`,
  )
  return `republish: ${runs.join('; ')}\n  targets: ${met.join('; ')}`
}

/** Runs bench/republish.mjs in a child; resolves with its figures (or an error entry). */
async function republishSection() {
  const out = join(tmpdir(), `nsn-bench-republish-${process.pid}.json`)
  console.error(
    `republish: ${values['republish-nodes']} nodes, ${values['republish-shards']} shards (plain: ${values['republish-plain-shards']})`,
  )
  const code = await child('./republish.mjs', [
    '--nodes',
    values['republish-nodes'],
    '--shards',
    values['republish-shards'],
    '--plain-shards',
    values['republish-plain-shards'],
    ...(values['no-store-heap'] ? ['--no-store-heap'] : []),
    '--out',
    out,
    ...(values.quiet ? ['--quiet'] : []),
  ])
  try {
    const figures = JSON.parse(await readFile(out, 'utf8'))
    await rm(out, { force: true })
    return figures
  } catch {
    return { error: `republish.mjs exited with ${code}` }
  }
}

if (values.only != null) {
  // some sections alone: the rest of latest.json is kept as it was
  const only = values.only.split(',').map((name) => name.trim())
  const unknown = only.filter((name) => SECTIONS[name] == null)
  if (unknown.length > 0) {
    throw new Error(
      `--only: unknown section ${unknown.join(', ')} (known: ${Object.keys(SECTIONS).join(', ')})`,
    )
  }
  const result = { ...(before ?? { kind: 'nsn-dht-bench', version: 1 }) }
  result.durationsSec = { ...result.durationsSec }
  for (const name of only) {
    const started = performance.now()
    result[name] = await SECTIONS[name]()
    result.durationsSec[name] = (performance.now() - started) / 1000
    result.updates = [...(result.updates ?? []), { section: name, date: new Date().toISOString() }]
  }
  await writeFile(new URL('latest.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`)
  await writeFile(new URL('latest.md', resultsDir), renderMarkdown(result) + sectionsMarkdown(result))
  if (values['write-baseline'] && result.latency != null) await writeLatencyBaseline(result.latency)
  for (const name of only) console.log(SUMMARIES[name](result[name]))
  process.exit(result.republish?.error != null && only.includes('republish') ? 1 : 0)
}

/** results/latency-baseline.json: what `bench:check` judges the latency figures against. */
async function writeLatencyBaseline(section) {
  await writeFile(
    new URL('latency-baseline.json', resultsDir),
    `${JSON.stringify(latencyBaseline(section, machineInfo()), null, 2)}\n`,
  )
  console.error('wrote bench/results/latency-baseline.json')
}

const result = {
  kind: 'nsn-dht-bench',
  version: 1,
  date: new Date().toISOString(),
  machine: machineInfo(),
  loadavg: { start: os.loadavg()[0] },
  config,
  durationsSec: {},
  charts: {},
}
let failed = false

if (values['soak-only']) {
  Object.assign(result, { comparison: before?.comparison ?? [], config: before?.config ?? config })
  result.durationsSec.comparison = before?.durationsSec?.comparison
  result.note = `Comparison figures from the previous run (${before?.date ?? 'none'}); soak from this one.`
} else {
  const started = performance.now()
  console.error(`comparison: sizes ${config.sizes.join(', ')}, ${implementations.join(' vs ')}`)
  result.comparison = await runComparison(config, { quiet: values.quiet, implementations })
  result.durationsSec.comparison = (performance.now() - started) / 1000
}

/** Runs a bench script in a child process with --expose-gc; resolves with its exit code. */
async function child(script, args) {
  const proc = spawn(
    process.execPath,
    ['--expose-gc', fileURLToPath(new URL(script, import.meta.url)), ...args],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
    },
  )
  return new Promise((resolve) => proc.on('exit', (c, signal) => resolve(c ?? signal)))
}

if (values['soak-only'] || values['no-assembled']) {
  result.assembled = before?.assembled
} else {
  const out = join(tmpdir(), `nsn-bench-assembled-${process.pid}.json`)
  console.error(`assembled node (@nsn/node createNsnNode): ${values['assembled-size']} nodes`)
  const code = await child('./assembled.mjs', ['--nodes', values['assembled-size'], '--out', out])
  try {
    result.assembled = JSON.parse(await readFile(out, 'utf8'))
    await rm(out, { force: true })
  } catch {
    result.assembled = { error: `assembled.mjs exited with ${code}` }
  }
}

if (values['no-soak']) {
  result.soak = before?.soak
  result.durationsSec.soak = before?.durationsSec?.soak
  if (result.soak != null)
    result.note = `${result.note ?? ''} Soak figures from the previous run (${before.soak.date}).`.trim()
} else {
  const started = performance.now()
  console.error(`soak: ${values['soak-duration']} s, ${values['soak-shards']} shards`)
  const out = new URL('soak.json', resultsDir)
  const code = await child('./soak.mjs', [
    '--duration',
    values['soak-duration'],
    '--shards',
    values['soak-shards'],
    '--out',
    fileURLToPath(out),
    ...(values.quiet ? ['--quiet'] : []),
  ])
  result.durationsSec.soak = (performance.now() - started) / 1000
  try {
    result.soak = JSON.parse(await readFile(out, 'utf8'))
  } catch {
    result.soak = undefined
  }
  if (code !== 0) {
    failed = true
    console.error(`soak failed (exit ${code})`)
  }
}

for (const name of Object.keys(SECTIONS)) {
  if (values[`no-${name}`] || values['soak-only']) {
    result[name] = before?.[name]
    continue
  }
  const started = performance.now()
  result[name] = await SECTIONS[name]()
  result.durationsSec[name] = (performance.now() - started) / 1000
}
if (result.republish?.error != null) failed = true

result.loadavg.end = os.loadavg()[0]
result.charts.cdf = await writeCdfCharts(result.comparison ?? [], resultsDir)
await writeFile(new URL('latest.json', resultsDir), `${JSON.stringify(result, null, 2)}\n`)
await writeFile(new URL('latest.md', resultsDir), renderMarkdown(result) + sectionsMarkdown(result))

if (values['write-baseline'] && result.latency != null) await writeLatencyBaseline(result.latency)
if (values['write-baseline']) {
  const baseline = {
    kind: 'nsn-dht-bench-baseline',
    version: 1,
    date: result.date,
    machine: result.machine,
    config,
    sizes: (result.comparison ?? []).map((e) => ({
      n: e.n,
      ratios: e.ratios,
      nsn: figuresOf(e.nsn),
      plain: figuresOf(e.plain),
    })),
  }
  await writeFile(new URL('baseline.json', resultsDir), `${JSON.stringify(baseline, null, 2)}\n`)
  console.error('wrote bench/results/baseline.json')
}

function figuresOf(r) {
  return {
    bootstrapP50: r.join.bootstrapMs.p50,
    tablesReadyMs: r.join.tablesReadyMs,
    provideP50: r.provide.ms.p50,
    provideRpcs: r.provide.rpcsPerOp.mean,
    lookupP50: r.lookup.ms.p50,
    lookupP95: r.lookup.ms.p95,
    lookupRpcs: r.lookup.rpcsPerOp.mean,
    lookupSuccess: r.lookup.successRate,
    heapPerNode: r.memory.heapPerNode,
  }
}

console.log(`report: ${fileURLToPath(new URL('latest.md', resultsDir))}`)
for (const e of result.comparison ?? []) {
  const r = e.ratios
  const f = (v) => (v == null ? '–' : v.toFixed(2))
  console.log(
    `  N=${e.n}: NSN/plain bootstrap p50 ${f(r.bootstrapP50)}, provide p50 ${f(r.provideP50)}, lookup p50 ${f(r.lookupP50)} (first provider ${f(r.lookupFirstP50)}), RPCs/lookup ${f(r.lookupRpcs)}, heap/node ${f(r.heapPerNode)}`,
  )
}
for (const name of Object.keys(SECTIONS)) if (result[name] != null) console.log(SUMMARIES[name](result[name]))
process.exit(failed ? 1 : 0)
