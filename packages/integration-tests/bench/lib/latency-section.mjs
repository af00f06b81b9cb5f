// The latency section of the bench (`latency` in results/latest.json): for each
// requested (mode, size), a child process builds the same seeded network with NSN and
// with plain kad-dht 16.4.5, both side by side, operations interleaved
// (lib/latency-pair.mjs); mode `loopback` is plain 127.0.0.1, mode `wan` puts the
// latency transport (src/latency) under every node, each link paying its pair's RTT.
// The issue's targets are judged on the largest `wan` run.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LATENCY_DEFAULTS } from './latency-pair.mjs'

/** What `pnpm bench` runs: loopback at 100, wide-area latency at 50 (the check's size) and 100. */
export const LATENCY_SECTION_DEFAULTS = {
  runs: [
    { mode: 'loopback', n: 100 },
    { mode: 'wan', n: 50 },
    { mode: 'wan', n: 100 },
  ],
  config: {},
  latency: { seed: LATENCY_DEFAULTS.latencySeed, distribution: LATENCY_DEFAULTS.distribution },
}

/** The issue's targets, NSN/plain under the wide-area emulation at N = 100, measured in one run. */
export const LATENCY_TARGETS = [
  { figure: 'first provider p50, NSN/plain', at: 'ratios.firstProviderP50', max: 0.5 },
  { figure: 'lookup completion p95, NSN/plain', at: 'ratios.lookupP95', max: 0.3 },
  { figure: 'provide p50, NSN/plain', at: 'ratios.provideP50', max: 0.3 },
  { figure: 'NSN placement accuracy', at: 'nsn.placement.accuracy', min: 0.9 },
  { figure: 'NSN retrieval success', at: 'nsn.lookup.retrieval', min: 1 },
  { figure: 'NSN repeated lookup p50 (ms)', at: 'nsn.repeated.ms.p50', max: 1, strict: true },
  { figure: 'NSN lookup success', at: 'nsn.lookup.successRate', min: 1 },
]

function at(object, path) {
  return path.split('.').reduce((o, k) => o?.[k], object)
}

/** Each target with its measured value and met / not met. */
export function judgeTargets(run) {
  return LATENCY_TARGETS.map((t) => {
    const value = run == null ? undefined : at(run, t.at)
    const met =
      value == null || !Number.isFinite(value)
        ? false
        : t.max != null
          ? t.strict
            ? value < t.max
            : value <= t.max
          : value >= t.min
    return { ...t, n: run?.n, value: value ?? null, met }
  })
}

async function runInChild(run, config, latency, { quiet, timeoutMs = 40 * 60_000 }) {
  const dir = await mkdtemp(join(tmpdir(), 'nsn-bench-latency-'))
  const out = join(dir, 'result.json')
  try {
    const child = spawn(
      process.execPath,
      [
        '--expose-gc',
        fileURLToPath(new URL('../latency-network.mjs', import.meta.url)),
        String(run.n),
        JSON.stringify({ config, latency: run.mode === 'wan' ? latency : null }),
        out,
        quiet ? 'quiet' : '',
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? signal)))
    clearTimeout(timer)
    if (code !== 0) throw new Error(`latency run ${run.mode} n=${run.n} failed (exit ${code})`)
    return JSON.parse(await readFile(out, 'utf8'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs the section; returns the `latency` key of the report. */
export async function runLatencySection({
  runs = LATENCY_SECTION_DEFAULTS.runs,
  config = LATENCY_SECTION_DEFAULTS.config,
  latency = LATENCY_SECTION_DEFAULTS.latency,
  quiet = false,
} = {}) {
  const started = performance.now()
  const results = []
  for (const run of runs) {
    if (!quiet) console.error(`latency: ${run.mode} n=${run.n}`)
    results.push(await runInChild(run, { ...LATENCY_DEFAULTS, ...config }, latency, { quiet }))
  }
  const wan = results.filter((r) => r.mode === 'wan').sort((a, b) => b.n - a.n)[0]
  return {
    date: new Date().toISOString(),
    config: { ...LATENCY_DEFAULTS, ...config, latencySeed: latency.seed, distribution: latency.distribution },
    runs: results,
    targets: judgeTargets(wan),
    seconds: (performance.now() - started) / 1000,
  }
}

/** One line per run and the targets, for the console. */
export function latencySummary(section) {
  const f = (v, d = 2) => (v == null ? '–' : v.toFixed(d))
  const lines = []
  for (const r of section.runs) {
    const x = r.ratios
    lines.push(
      `  latency ${r.mode} N=${r.n}: NSN/plain first provider p50 ${f(x.firstProviderP50)}, lookup p50 ${f(x.lookupP50)}, p95 ${f(x.lookupP95)}, provide p50 ${f(x.provideP50)}; placement NSN ${f(r.nsn.placement.accuracy * 100, 0)} % plain ${f(r.plain.placement.accuracy * 100, 0)} %; retrieval NSN ${f(r.nsn.lookup.retrieval * 100, 0)} %; lookup success NSN ${f(r.nsn.lookup.successRate * 100, 0)} % plain ${f(r.plain.lookup.successRate * 100, 0)} %; repeated p50 NSN ${f(r.nsn.repeated.ms.p50, 4)} ms plain ${f(r.plain.repeated.ms.p50, 0)} ms`,
    )
  }
  for (const t of section.targets) {
    const bound = t.max != null ? `${t.strict ? '<' : '<='} ${t.max}` : `>= ${t.min}`
    lines.push(
      `  target (N=${t.n ?? '?'}) ${t.figure} ${bound}: ${f(t.value, 3)} ${t.met ? 'MET' : 'NOT MET'}`,
    )
  }
  return lines.join('\n')
}

/** results/latency-baseline.json from a section: per (mode, n), the ratios and NSN's absolute figures. */
export function latencyBaseline(section, machine) {
  return {
    kind: 'nsn-dht-bench-latency-baseline',
    version: 1,
    date: section.date,
    machine,
    config: section.config,
    runs: section.runs.map((r) => ({
      mode: r.mode,
      n: r.n,
      ratios: r.ratios,
      nsn: {
        firstProviderP50: r.nsn.lookup.firstProviderMs.p50,
        lookupP50: r.nsn.lookup.ms.p50,
        lookupP95: r.nsn.lookup.ms.p95,
        provideP50: r.nsn.provide.ms.p50,
        placementAccuracy: r.nsn.placement.accuracy,
        retrieval: r.nsn.lookup.retrieval,
        lookupSuccess: r.nsn.lookup.successRate,
        repeatedP50: r.nsn.repeated.ms.p50,
      },
      plain: {
        firstProviderP50: r.plain.lookup.firstProviderMs.p50,
        lookupP50: r.plain.lookup.ms.p50,
        lookupP95: r.plain.lookup.ms.p95,
        provideP50: r.plain.provide.ms.p50,
        placementAccuracy: r.plain.placement.accuracy,
        lookupSuccess: r.plain.lookup.successRate,
      },
    })),
  }
}

/** The section as a markdown chapter of latest.md. */
export function latencyMarkdown(section) {
  const ms = (v) => (v == null ? '–' : v < 1 ? `${v.toFixed(3)} ms` : `${v.toFixed(0)} ms`)
  const pct = (v) => (v == null ? '–' : `${(v * 100).toFixed(0)} %`)
  const x = (v) => (v == null ? '–' : `${v.toFixed(2)}x`)
  const rows = []
  for (const r of section.runs) {
    const line = (label, get, fmt, ratio) =>
      rows.push(
        `| ${r.mode} | ${r.n} | ${label} | ${fmt(get(r.nsn))} | ${fmt(get(r.plain))} | ${ratio ?? ''} |`,
      )
    line(
      'lookup to first provider p50',
      (s) => s.lookup.firstProviderMs.p50,
      ms,
      x(r.ratios.firstProviderP50),
    )
    line('lookup completion p50', (s) => s.lookup.ms.p50, ms, x(r.ratios.lookupP50))
    line('lookup completion p95', (s) => s.lookup.ms.p95, ms, x(r.ratios.lookupP95))
    line('provide p50', (s) => s.provide.ms.p50, ms, x(r.ratios.provideP50))
    line('placement accuracy (on the true 20 closest)', (s) => s.placement.accuracy, pct)
    line('retrieval (every shard found)', (s) => s.lookup.retrieval, pct)
    line('lookup success', (s) => s.lookup.successRate, pct)
    line('repeated lookup p50', (s) => s.repeated.ms.p50, ms, x(r.ratios.repeatedP50))
    line(
      'RPCs / new connections per lookup',
      (s) => s.lookup,
      (l) => `${l.rpcsPerOp.mean?.toFixed(1)} / ${l.dialsPerOp.mean?.toFixed(1)}`,
    )
    line(
      'RPCs / new connections per provide',
      (s) => s.provide,
      (p) => `${p.rpcsPerOp.mean?.toFixed(1)} / ${p.dialsPerOp.mean?.toFixed(1)}`,
    )
  }
  const wan = section.runs.find((r) => r.mode === 'wan')
  const targets = section.targets.map(
    (t) =>
      `| ${t.figure} | ${t.max != null ? `${t.strict ? '<' : '<='} ${t.max}` : `>= ${t.min}`} | ${t.value == null ? '–' : t.value.toFixed(3)} | ${t.met ? 'met' : 'NOT met'} |`,
  )
  return `
## Wide-area latency (${section.date})

Both implementations side by side in one process per run, operations interleaved; \`wan\`
runs put the latency transport (src/latency, distribution \`${JSON.stringify(section.config.distribution)}\`,
seed ${section.config.latencySeed}${wan?.rttMs == null ? '' : `; pair RTTs p50 ${wan.rttMs.p50.toFixed(0)} ms, p95 ${wan.rttMs.p95.toFixed(0)} ms`}) under every node.

| mode | N | figure | NSN | plain | NSN/plain |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Targets (the largest \`wan\` run):

| target | bound | measured | |
| --- | --- | --- | --- |
${targets.join('\n')}
`
}
