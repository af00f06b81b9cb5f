#!/usr/bin/env node
// Memory per ASSEMBLED node (@nsn/node's createNsnNode: libp2p host + nsnKadDHT +
// ShardRouting + persistent ShardRegistry on a LevelDB datastore + HTTP API server +
// Prometheus metrics server with process metrics + logger), N of them in one process on
// 127.0.0.1, each bootstrapping from up to 3 earlier nodes through its own
// Bootstrapper. Started by run.mjs in a child process (a fresh heap), or by hand:
//   pnpm exec node --expose-gc bench/assembled.mjs [--nodes 20] [--out file.json]
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createNsnNode, silentLogger } from '@nsn/node'
import { quiesce } from './lib/compare.mjs'
import { gcMemory, randomInt, seededRandom, settle, summarize } from './lib/stats.mjs'

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    nodes: { type: 'string', default: '20' },
    provides: { type: 'string', default: '20' },
    out: { type: 'string' },
  },
})
const n = Number(values.nodes)
const random = seededRandom(11)
const dirs = []
const nodes = []
const threshold = Math.min(n - 1, 10)

function startNode(dir, bootstrap) {
  return createNsnNode({
    dataDir: dir,
    profile: 'local',
    api: '127.0.0.1:0',
    metrics: '127.0.0.1:0',
    bootstrap,
    logger: silentLogger(),
  })
}

// a throwaway network first, so the JIT has compiled the code before the empty heap is measured
{
  const warm = []
  try {
    for (let i = 0; i < 3; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'nsn-bench-node-'))
      dirs.push(dir)
      warm.push(await startNode(dir, i === 0 ? [] : [warm[0].addresses().addrs[0]]))
    }
    await settle(1000)
    await warm[1].routing.provide('ab'.repeat(32)).catch(() => undefined)
    await warm[2].routing.findProviders('ab'.repeat(32)).catch(() => undefined)
  } finally {
    await Promise.allSettled(warm.map((node) => node.stop()))
  }
}
const memEmpty = await quiesce()
const started = performance.now()
try {
  for (let i = 0; i < n; i++) {
    const dir = await mkdtemp(join(tmpdir(), 'nsn-bench-node-'))
    dirs.push(dir)
    const bootstrap = []
    for (let b = 0; b < Math.min(3, i); b++) bootstrap.push(nodes[randomInt(random, i)].addresses().addrs[0])
    nodes.push(await startNode(dir, [...new Set(bootstrap)]))
  }
  const deadline = performance.now() + 60_000
  while (
    performance.now() < deadline &&
    !nodes.every((node) => node.routing.routingTableSize() >= threshold)
  ) {
    await settle(100)
  }
  const tables = nodes.map((node) => node.routing.routingTableSize())
  const memIdle = gcMemory()
  const provideMs = []
  for (let j = 0; j < Number(values.provides); j++) {
    const hash = (j + 1).toString(16).padStart(2, '0').repeat(32)
    const t = performance.now()
    await nodes[randomInt(random, n)].routing.provide(hash).catch(() => undefined)
    provideMs.push(performance.now() - t)
  }
  const memLoaded = gcMemory()
  const result = {
    kind: 'nsn-assembled-node-memory',
    n,
    seconds: (performance.now() - started) / 1000,
    threshold,
    tablesReady: tables.every((s) => s >= threshold),
    tableSizes: summarize(tables),
    provideMs: summarize(provideMs),
    memory: {
      emptyProcess: memEmpty,
      idle: memIdle,
      loaded: memLoaded,
      heapPerNodeIdle: (memIdle.heapUsed - memEmpty.heapUsed) / n,
      heapPerNode: (memLoaded.heapUsed - memEmpty.heapUsed) / n,
      arrayBuffersPerNode: (memLoaded.arrayBuffers - memEmpty.arrayBuffers) / n,
      rssPerNode: (memLoaded.rss - memEmpty.rss) / n,
    },
  }
  const text = JSON.stringify(result, null, 2)
  if (values.out != null) await writeFile(values.out, text)
  else console.log(text)
  console.error(
    `assembled: ${n} nodes, tables ${result.tableSizes.min}/${result.tableSizes.p50}/${result.tableSizes.max}, heap ${(result.memory.heapPerNode / 2 ** 20).toFixed(2)} MiB/node, RSS ${(result.memory.rssPerNode / 2 ** 20).toFixed(1)} MiB/node`,
  )
} finally {
  await Promise.allSettled(nodes.map((node) => node.stop()))
  await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
}
process.exit(0)
