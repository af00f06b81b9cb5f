#!/usr/bin/env node
// The idle cost of daemon-configured nodes (the `idle` section of the bench): N
// @nsn/node nodes (createNsnNode: LevelDB datastore, HTTP API and metrics servers,
// process metrics, the daemon's defaults) in ONE process on 127.0.0.1 with the local
// profile (every loopback peer is one IP group, so the daemon's diversity filter would
// keep 3 peers a table), the connection monitor as the daemon sets it
// (CONNECTION_MONITOR_INTERVAL, 10 s) or off (`--monitor 0`). Figures:
//   - idle CPU: the process's CPU over `--idle` seconds once every table is ready and
//     the join's work has settled, as % of one core;
//   - routing-table sizes and connections per node when idle, right after a load of
//     provides and lookups from random nodes, and `--after` seconds later.
// Started by run.mjs (`--only idle`) in a child process per monitor setting, or by hand:
//   pnpm exec node --expose-gc bench/idle.mjs [--nodes 100] [--monitor 10000] [--idle 60] [--out file.json]
import { createHash } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import os, { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { CONNECTION_MONITOR_INTERVAL, createNsnNode, silentLogger } from '@nsn/node'
import { randomInt, seededRandom, settle, summarize } from './lib/stats.mjs'

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    nodes: { type: 'string', default: '100' },
    monitor: { type: 'string', default: String(CONNECTION_MONITOR_INTERVAL) },
    idle: { type: 'string', default: '60' },
    settle: { type: 'string', default: '10' },
    provides: { type: 'string', default: '20' },
    lookups: { type: 'string', default: '40' },
    after: { type: 'string', default: '30' },
    out: { type: 'string' },
  },
})
const n = Number(values.nodes)
const monitor = Number(values.monitor)
const random = seededRandom(17)
const dirs = []
const nodes = []
const threshold = Math.min(n - 1, 10)
const log = (...args) =>
  console.error(`  [idle n=${n} monitor ${monitor > 0 ? `${monitor} ms` : 'off'}]`, ...args)

const snapshot = () => ({
  tableSizes: summarize(nodes.map((node) => node.routing.routingTableSize())),
  connections: summarize(nodes.map((node) => node.libp2p.getConnections().length)),
})
const fmt = (s) =>
  `tables ${s.tableSizes.min}/${s.tableSizes.p50}/${s.tableSizes.max}, connections ${s.connections.min}/${s.connections.p50}/${s.connections.max}`

const started = performance.now()
try {
  for (let i = 0; i < n; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'nsn-bench-idle-'))
    dirs.push(dir)
    const bootstrap = []
    for (let b = 0; b < Math.min(3, i); b++) bootstrap.push(nodes[randomInt(random, i)].addresses().addrs[0])
    nodes.push(
      await createNsnNode({
        dataDir: dir,
        profile: 'local',
        // the daemon's connection monitor (the local profile turns it off)
        connectionMonitorInterval: monitor,
        api: '127.0.0.1:0',
        metrics: '127.0.0.1:0',
        bootstrap: [...new Set(bootstrap)],
        logger: silentLogger(),
      }),
    )
  }
  const joinedMs = performance.now() - started
  const deadline = performance.now() + 60_000
  while (
    performance.now() < deadline &&
    !nodes.every((node) => node.routing.routingTableSize() >= threshold)
  ) {
    await settle(200)
  }
  const ready = snapshot()
  log(`joined in ${(joinedMs / 1000).toFixed(0)} s; ${fmt(ready)}`)
  // let the join's queries and timers run out before measuring the idle cost
  await settle(Number(values.settle) * 1000)
  const loop = monitorEventLoopDelay({ resolution: 20 })
  loop.enable()
  const cpu = process.cpuUsage()
  const idleStart = performance.now()
  await settle(Number(values.idle) * 1000)
  const used = process.cpuUsage(cpu)
  const wallMs = performance.now() - idleStart
  loop.disable()
  const idleCpuPercent = ((used.user + used.system) / 1000 / wallMs) * 100
  const idle = snapshot()
  log(`idle ${(wallMs / 1000).toFixed(0)} s: ${idleCpuPercent.toFixed(1)} % of one core; ${fmt(idle)}`)

  // load: provides and lookups from random nodes
  const hashes = []
  const loadStart = performance.now()
  let failed = 0
  for (let j = 0; j < Number(values.provides); j++) {
    const hash = createHash('sha256').update(`idle-bench/${j}`).digest('hex')
    hashes.push(hash)
    await nodes[randomInt(random, n)].provide(hash).catch(() => failed++)
  }
  let found = 0
  for (let l = 0; l < Number(values.lookups); l++) {
    const hash = hashes[randomInt(random, hashes.length)]
    const answer = await nodes[randomInt(random, n)].findProviders(hash, { cache: false }).catch(() => null)
    if ((answer?.providers?.length ?? 0) > 0) found++
  }
  const loadSeconds = (performance.now() - loadStart) / 1000
  const underLoad = snapshot()
  log(`after load (${loadSeconds.toFixed(0)} s, ${found}/${values.lookups} lookups found): ${fmt(underLoad)}`)
  await settle(Number(values.after) * 1000)
  const later = snapshot()
  log(`${values.after} s later: ${fmt(later)}`)
  const result = {
    kind: 'nsn-idle-cost',
    n,
    connectionMonitorInterval: monitor,
    seconds: (performance.now() - started) / 1000,
    joinedMs,
    idleSeconds: wallMs / 1000,
    idleCpuPercent,
    idleCpuMs: (used.user + used.system) / 1000,
    eventLoopDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6 },
    loadavg: os.loadavg()[0],
    ready,
    idle,
    load: {
      provides: Number(values.provides),
      providesFailed: failed,
      lookups: Number(values.lookups),
      found,
      seconds: loadSeconds,
    },
    underLoad,
    later: { afterSeconds: Number(values.after), ...later },
  }
  const text = JSON.stringify(result, null, 2)
  if (values.out != null) await writeFile(values.out, text)
  else console.log(text)
} finally {
  await Promise.allSettled(nodes.map((node) => node.stop()))
  await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
}
process.exit(0)
