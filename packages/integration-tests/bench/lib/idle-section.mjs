// The idle section of the bench (`idle` in results/latest.json): bench/idle.mjs in a
// child process per connection-monitor setting, the daemon's (CONNECTION_MONITOR_INTERVAL)
// and off, each with N daemon-configured nodes in one process.
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CONNECTION_MONITOR_INTERVAL } from '@nsn/node'

/** The issue's target: N = 100 idle daemon-configured nodes use at most this % of one core. */
export const IDLE_CPU_TARGET_PERCENT = 10

async function runIdle(args) {
  const dir = await mkdtemp(join(tmpdir(), 'nsn-bench-idle-out-'))
  const out = join(dir, 'idle.json')
  try {
    const child = spawn(
      process.execPath,
      ['--expose-gc', fileURLToPath(new URL('../idle.mjs', import.meta.url)), ...args, '--out', out],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    )
    const code = await new Promise((resolve) => child.on('exit', (c, signal) => resolve(c ?? signal)))
    if (code !== 0) return { error: `idle.mjs exited with ${code}` }
    return JSON.parse(await readFile(out, 'utf8'))
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

/** Runs the section: monitor as the daemon sets it, then off. */
export async function runIdleSection({ nodes = 100, idleSeconds = 60 } = {}) {
  const started = performance.now()
  const runs = []
  for (const monitor of [CONNECTION_MONITOR_INTERVAL, 0]) {
    console.error(
      `idle: ${nodes} daemon-configured nodes, connection monitor ${monitor > 0 ? `${monitor} ms` : 'off'}`,
    )
    runs.push(
      await runIdle(['--nodes', String(nodes), '--monitor', String(monitor), '--idle', String(idleSeconds)]),
    )
  }
  const daemon = runs[0]
  return {
    date: new Date().toISOString(),
    nodes,
    idleSeconds,
    runs,
    target: {
      figure: `idle CPU of ${nodes} daemon-configured nodes (% of one core)`,
      max: IDLE_CPU_TARGET_PERCENT,
      value: daemon?.idleCpuPercent ?? null,
      met: daemon?.idleCpuPercent != null && daemon.idleCpuPercent <= IDLE_CPU_TARGET_PERCENT,
    },
    seconds: (performance.now() - started) / 1000,
  }
}

const range = (s) => (s?.n ? `${s.min}-${s.max} (p50 ${s.p50})` : '–')

export function idleSummary(section) {
  const lines = section.runs.map((r) =>
    r.error != null
      ? `  idle: ${r.error}`
      : `  idle N=${r.n}, monitor ${r.connectionMonitorInterval > 0 ? `${r.connectionMonitorInterval} ms` : 'off'}: ${r.idleCpuPercent.toFixed(1)} % of one core over ${r.idleSeconds.toFixed(0)} s; after load tables ${range(r.underLoad.tableSizes)}, connections ${range(r.underLoad.connections)}; ${r.later.afterSeconds} s later tables ${range(r.later.tableSizes)}, connections ${range(r.later.connections)}`,
  )
  lines.push(
    `  target: ${section.target.figure} <= ${section.target.max}: ${section.target.value?.toFixed(1) ?? '–'} ${section.target.met ? 'MET' : 'NOT MET'}`,
  )
  return lines.join('\n')
}

export function idleMarkdown(section) {
  const rows = section.runs
    .filter((r) => r.error == null)
    .map(
      (r) =>
        `| ${r.connectionMonitorInterval > 0 ? `on (${r.connectionMonitorInterval} ms)` : 'off'} | ${r.idleCpuPercent.toFixed(1)} % | ${range(r.idle.tableSizes)} | ${range(r.idle.connections)} | ${range(r.underLoad.tableSizes)} | ${range(r.underLoad.connections)} | ${range(r.later.tableSizes)} | ${range(r.later.connections)} |`,
    )
  return `
## Idle cost (${section.date})

${section.nodes} \`createNsnNode\` nodes in one process (local profile, the daemon's
connection monitor on or off), CPU over ${section.idleSeconds} s once idle; tables and
connections per node (min-max) when idle, right after a load of provides and lookups, and later.

| connection monitor | idle CPU (one core) | tables idle | connections idle | tables after load | connections after load | tables later | connections later |
| --- | --- | --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Target: ${section.target.figure} <= ${section.target.max}: ${section.target.value?.toFixed(1) ?? '–'} (${section.target.met ? 'met' : 'not met'}).
`
}
