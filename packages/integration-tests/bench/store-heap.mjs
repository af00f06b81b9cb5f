#!/usr/bin/env node
// Heap of a whole NSN node at 1,000,000 provided shards, against the same node idle.
//
// A network of real nodes (@nsn/node's createNsnNode: libp2p host, nsnKadDHT,
// ShardRouting, the shard store on a LevelDB datastore, API and metrics servers) on
// 127.0.0.1, in this process. After GC (--expose-gc):
//   1. idle: the network joined and quiet;
//   2. published: node 0 provides `--published` shards through `routing.provide` (each
//      record sent to its closest peers and confirmed): what stays in the heap and in
//      Node's buffers (`arrayBuffers`: the shared buffer pool kept alive) per published shard;
//   3. stored: node 0's shard store is filled to `--shards` with `addMany` (and each batch
//      marked published, so the republisher leaves them for their interval): the heap
//      above idle, the time per added shard, and a region read at that size.
//   4. pool retention: on in-memory nodes (the host builder's default datastore, as the
//      benchmarks' networks use), the `arrayBuffers` kept per published shard with
//      datastore-core's MemoryDatastore (before the fix) and with core's
//      OwnedMemoryDatastore (after: each value in its own buffer, no pool slab kept alive).
// With --old-registry <path to the old @nsn/shard-registry dist/index.js>, the in-memory
// registry's heap per shard is measured too, in a child process of its own.
//
// Run alone:   pnpm --filter @nsn/integration-tests exec node --expose-gc bench/store-heap.mjs [--shards 1000000] [--json]
// From code:   import { measureStoreHeap } from './store-heap.mjs'; await measureStoreHeap({ shards })
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createNsnNode, silentLogger } from '@nsn/node'
import { MemoryDatastore } from 'datastore-core'
import { benchKey, createBenchNode } from './lib/nodes.mjs'
import { gcMemory, settle, summarize } from './lib/stats.mjs'

/** The heap target above an idle node at 1,000,000 shards (issue 12). */
export const HEAP_TARGET = 64 * 2 ** 20

const MiB = 2 ** 20

/** A deterministic, well-spread 32-byte shard hash. */
function shardHash(i, tag) {
  const bytes = new Uint8Array(32)
  const view = new DataView(bytes.buffer)
  let x = (i + 1) * 0x9e3779b1 + tag * 0x85ebca6b
  for (let w = 0; w < 8; w++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    view.setUint32(4 * w, (x >>> 0) ^ (i * (w + 1)))
  }
  view.setUint32(28, i)
  bytes[0] = tag
  return bytes
}

/** GC until the heap is steady (at most `maxMs`), then the memory figures. */
async function steady(minMs = 2000, maxMs = 15_000) {
  const start = performance.now()
  await settle(minMs)
  let last = gcMemory().heapUsed
  while (performance.now() - start < maxMs) {
    await settle(500)
    const now = gcMemory().heapUsed
    if (Math.abs(now - last) < 128 * 1024) break
    last = now
  }
  return gcMemory()
}

const delta = (a, b) => ({
  heapUsed: b.heapUsed - a.heapUsed,
  arrayBuffers: b.arrayBuffers - a.arrayBuffers,
  external: b.external - a.external,
  rss: b.rss - a.rss,
})

/**
 * Measures the heap of an NSN node holding `shards` provided shards against the same node
 * idle, the buffers kept alive per published shard, and the time per added shard.
 *
 * @param {{ shards?: number, batch?: number, published?: number, nodes?: number, pool?: boolean, poolPublished?: number, oldRegistry?: string, oldShards?: number, log?: (line: string) => void }} [options]
 */
export async function measureStoreHeap(options = {}) {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')
  const shards = options.shards ?? 1_000_000
  const batch = options.batch ?? 1000
  const published = options.published ?? 300
  const n = options.nodes ?? 4
  const log = options.log ?? ((line) => console.error(line))
  const dirs = []
  const nodes = []
  try {
    for (let i = 0; i < n; i++) {
      const dir = await mkdtemp(join(tmpdir(), 'nsn-store-heap-'))
      dirs.push(dir)
      nodes.push(
        await createNsnNode({
          dataDir: dir,
          profile: 'local',
          api: '127.0.0.1:0',
          metrics: '127.0.0.1:0',
          bootstrap: i === 0 ? [] : [nodes[0].addresses().addrs[0]],
          logger: silentLogger(),
        }),
      )
    }
    const node = nodes[0]
    // warm the code paths measured below, so the JIT's code is in the idle figure
    for (let i = 0; i < 20; i++) await node.routing.provide(shardHash(i, 0xee)).catch(() => undefined)
    const warm = Array.from({ length: 2 * batch }, (_, i) => shardHash(i, 0xef))
    await node.registry.addMany(warm)
    await node.registry.markPublishedMany(warm)
    for await (const _ of node.registry.shardsInRegion(new Uint8Array(1), 8)) {
      // read a region once
    }
    const idle = await steady()
    log(`store-heap: ${n} nodes idle, heap ${(idle.heapUsed / MiB).toFixed(1)} MiB`)

    // 2. published shards: what stays per shard
    const publishMs = []
    for (let i = 0; i < published; i++) {
      const t = performance.now()
      await node.routing.provide(shardHash(i, 0x01))
      publishMs.push(performance.now() - t)
    }
    const afterPublish = await steady()
    const perPublished = delta(idle, afterPublish)
    log(
      `store-heap: ${published} published: +${(perPublished.heapUsed / published).toFixed(0)} B heap, +${(perPublished.arrayBuffers / published).toFixed(0)} B arrayBuffers per shard`,
    )

    // 3. the store filled to `shards`
    const addMs = []
    const markMs = []
    let added = node.registry.size
    for (let start = 0; added < shards; start += batch) {
      const hashes = Array.from({ length: Math.min(batch, shards - added) }, (_, j) =>
        shardHash(start + j, 0x02),
      )
      let t = performance.now()
      await node.registry.addMany(hashes)
      addMs.push((performance.now() - t) / hashes.length)
      t = performance.now()
      await node.registry.markPublishedMany(hashes)
      markMs.push((performance.now() - t) / hashes.length)
      added = node.registry.size
      if (start % (100 * batch) === 0)
        log(`store-heap: ${added} shards, ${(gcMemory().heapUsed / MiB).toFixed(1)} MiB`)
    }
    // single adds at that size
    const singleMs = []
    for (let i = 0; i < 200; i++) {
      const t = performance.now()
      await node.registry.add(shardHash(i, 0x03))
      singleMs.push(performance.now() - t)
    }
    // a region of 1/256 of the keyspace: one range read
    let regionCount = 0
    let t = performance.now()
    for await (const _ of node.registry.shardsInRegion(Uint8Array.of(0x5a), 8)) regionCount++
    const regionMs = performance.now() - t
    const stored = await steady()
    const aboveIdle = delta(idle, stored)
    t = performance.now()
    const hasCount = 1000
    for (let i = 0; i < hasCount; i++) await node.registry.has(shardHash(i * 7, 0x02))
    const hasUs = ((performance.now() - t) / hasCount) * 1000
    const result = {
      kind: 'nsn-store-heap',
      nodes: n,
      shards: node.registry.size,
      capacity: node.registry.capacity,
      target: HEAP_TARGET,
      idle,
      stored,
      aboveIdle,
      heapAboveIdleMiB: aboveIdle.heapUsed / MiB,
      heapPerShard: aboveIdle.heapUsed / node.registry.size,
      withinTarget: aboveIdle.heapUsed <= HEAP_TARGET,
      published: {
        shards: published,
        heapPerShard: perPublished.heapUsed / published,
        arrayBuffersPerShard: perPublished.arrayBuffers / published,
        provideMs: summarize(publishMs),
      },
      addManyUsPerShard: summarize(addMs.map((ms) => ms * 1000)),
      markPublishedManyUsPerShard: summarize(markMs.map((ms) => ms * 1000)),
      singleAddMs: summarize(singleMs),
      hasUs,
      region: { bits: 8, shards: regionCount, ms: regionMs },
    }
    log(
      `store-heap: ${result.shards} shards: heap +${result.heapAboveIdleMiB.toFixed(1)} MiB above idle (target ≤ 64 MiB: ${result.withinTarget ? 'PASS' : 'FAIL'}), addMany ${result.addManyUsPerShard.p50?.toFixed(1)} µs/shard (p50 of batches), region of ${regionCount} in ${regionMs.toFixed(0)} ms`,
    )
    if (options.pool !== false) {
      result.pool = {}
      for (const datastore of ['plain', 'owned']) {
        result.pool[datastore] = await measurePoolRetention({
          published: options.poolPublished ?? 500,
          datastore,
        })
        log(
          `store-heap: pool retention, ${datastore} memory datastore: ${result.pool[datastore].arrayBuffersPerShard.toFixed(0)} B arrayBuffers per published shard`,
        )
      }
    }
    if (options.oldRegistry != null) {
      result.oldRegistry = await measureOldInChild(options.oldRegistry, options.oldShards ?? 200_000)
      log(
        `store-heap: old in-memory registry: ${result.oldRegistry.heapPerShard.toFixed(0)} B heap per shard`,
      )
    }
    return result
  } finally {
    await Promise.allSettled(nodes.map((node) => node.stop()))
    await Promise.allSettled(dirs.map((dir) => rm(dir, { recursive: true, force: true })))
  }
}

/**
 * `arrayBuffers` and heap kept per published shard on an in-memory network of `nodes`
 * nodes: `datastore` 'plain' gives each node datastore-core's MemoryDatastore (pool views
 * kept as given), 'owned' the host builder's default (core's OwnedMemoryDatastore).
 *
 * @param {{ published?: number, nodes?: number, datastore: 'plain' | 'owned' }} options
 */
export async function measurePoolRetention({ published = 500, nodes: n = 6, datastore }) {
  const nodes = []
  try {
    for (let i = 0; i < n; i++) {
      const node = await createBenchNode('nsn', {
        privateKey: await benchKey('store-heap-pool', i),
        ...(datastore === 'plain' ? { datastore: new MemoryDatastore() } : {}),
      })
      nodes.push(node)
      if (i > 0) await node.bootstrap([nodes[0].addr])
    }
    const hex = (i, tag) => Buffer.from(shardHash(i, tag)).toString('hex')
    for (let i = 0; i < 50; i++) await nodes[1].routing.provide(hex(i, 0x10)).catch(() => undefined)
    const before = await steady(12_000, 20_000)
    let failed = 0
    for (let i = 0; i < published; i++) await nodes[1].routing.provide(hex(i, 0x11)).catch(() => failed++)
    const after = await steady(12_000, 20_000)
    const d = delta(before, after)
    return {
      datastore,
      nodes: n,
      published,
      failed,
      arrayBuffersPerShard: d.arrayBuffers / published,
      heapPerShard: d.heapUsed / published,
    }
  } finally {
    for (const node of nodes) {
      await node.routing?.stop()
      await node.libp2p.stop()
    }
  }
}

/** The in-memory registry (an earlier version's dist) filled with `shards`, in a fresh process. */
function measureOldInChild(path, shards) {
  return new Promise((resolve, reject) => {
    const self = fileURLToPath(import.meta.url)
    const child = spawn(
      process.execPath,
      ['--expose-gc', self, '--measure-old', path, '--shards', String(shards)],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let out = ''
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk
    })
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`old-registry child exited with ${code}`))
      else resolve(JSON.parse(out))
    })
  })
}

async function measureOld(path, shards) {
  const { ShardRegistry } = await import(pathToFileURL(path).href)
  const registry = new ShardRegistry({ capacity: shards })
  const before = gcMemory()
  for (let i = 0; i < shards; i++) await registry.add(shardHash(i, 0x04))
  const after = gcMemory()
  return { shards, heapPerShard: (after.heapUsed - before.heapUsed) / shards, size: registry.size }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      shards: { type: 'string', default: '1000000' },
      batch: { type: 'string', default: '1000' },
      published: { type: 'string', default: '300' },
      nodes: { type: 'string', default: '4' },
      'old-registry': { type: 'string' },
      'no-pool': { type: 'boolean', default: false },
      'pool-published': { type: 'string', default: '500' },
      'old-shards': { type: 'string', default: '200000' },
      'measure-old': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  })
  if (values['measure-old'] != null) {
    console.log(JSON.stringify(await measureOld(values['measure-old'], Number(values.shards))))
    process.exit(0)
  }
  const result = await measureStoreHeap({
    shards: Number(values.shards),
    batch: Number(values.batch),
    published: Number(values.published),
    nodes: Number(values.nodes),
    pool: !values['no-pool'],
    poolPublished: Number(values['pool-published']),
    oldRegistry: values['old-registry'],
    oldShards: Number(values['old-shards']),
  })
  console.log(JSON.stringify(result, null, values.json ? 0 : 2))
  process.exit(0)
}
