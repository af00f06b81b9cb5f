#!/usr/bin/env node
// End-to-end memory of the provided set: pushes N distinct shards through a node whose
// registry holds 10,000, with kad-dht's own store included (every provide writes the
// node's self-record into kad-dht's datastore; every eviction must withdraw it).
// Prints the heap series (after GC), its slope, bytes per entry, and the datastore's
// key counts. Run: pnpm --filter @nsn/integration-tests bench:churn [-- --shards 1000000 --json]
import { parseArgs } from 'node:util'
import { hooksOf, NoKnownPeersError, parseShardKey } from '@nsn/core'
import { createTestNode } from '@nsn/core/testing'
import { ShardRegistry } from '@nsn/shard-registry'
import { MemoryDatastore } from 'datastore-core'

const { values } = parseArgs({
  options: {
    shards: { type: 'string', default: '1000000' },
    capacity: { type: 'string', default: '10000' },
    samples: { type: 'string', default: '10' },
    json: { type: 'boolean', default: false },
  },
})
const total = Number(values.shards)
const capacity = Number(values.capacity)
const every = Math.max(1, Math.floor(total / Number(values.samples)))
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')

function heap() {
  globalThis.gc()
  globalThis.gc()
  return process.memoryUsage().heapUsed
}

async function countKeys(datastore, prefix) {
  let n = 0
  for await (const _ of datastore.queryKeys({ prefix })) n++
  return n
}

function slope(points) {
  const n = points.length
  const mx = points.reduce((a, p) => a + p.x, 0) / n
  const my = points.reduce((a, p) => a + p.y, 0) / n
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0)
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0)
  return den === 0 ? 0 : num / den
}

const datastore = new MemoryDatastore()
const registry = await ShardRegistry.open({ capacity, datastore })
const node = await createTestNode({ datastore, routing: { registry, refreshInterval: 0 } })
const shard = (i) => {
  const bytes = new Uint8Array(32)
  new DataView(bytes.buffer).setUint32(0, i)
  new DataView(bytes.buffer).setUint32(28, i ^ 0x9e3779b9)
  return parseShardKey(bytes)
}

const baseline = heap()
const samples = []
const started = performance.now()
for (let i = 1; i <= total; i++) {
  // an isolated node: the record is registered and stored locally, publication is
  // deferred (NoKnownPeersError), which is exactly the state whose memory we measure
  await node.routing.provide(shard(i)).catch((err) => {
    if (!(err instanceof NoKnownPeersError)) throw err
  })
  if (i % every === 0 || i === total) {
    const used = heap()
    samples.push({ shards: i, heapBytes: used, seconds: (performance.now() - started) / 1000 })
    if (!values.json) {
      console.error(
        `${String(i).padStart(8)} shards  heap ${(used / 2 ** 20).toFixed(1)} MiB  registry ${registry.size}`,
      )
    }
  }
}
const elapsed = (performance.now() - started) / 1000
await new Promise((resolve) => setImmediate(resolve))
const registryKeys = await countKeys(datastore, '/nsn/shards/k/') // one record key per shard
const providerKeys = await countKeys(datastore, hooksOf(node.libp2p.services.dht).providerPrefix)
const steady = samples.filter((s) => s.shards >= Math.min(total, capacity * 5))
const perShard = slope(steady.map((s) => ({ x: s.shards, y: s.heapBytes })))
const final = samples[samples.length - 1]
const result = {
  shards: total,
  capacity,
  seconds: elapsed,
  providesPerSecond: total / elapsed,
  registrySize: registry.size,
  datastoreKeys: { registry: registryKeys, kadDhtProviderRecords: providerKeys },
  heap: {
    baselineBytes: baseline,
    finalBytes: final.heapBytes,
    bytesPerEntry: (final.heapBytes - baseline) / capacity,
    slopeBytesPerShard: perShard,
    growthOverSteadyStateBytes:
      steady.length > 1 ? steady[steady.length - 1].heapBytes - steady[0].heapBytes : 0,
  },
  samples,
}
await node.stop()
if (values.json) console.log(JSON.stringify(result, null, 2))
else {
  console.log(
    `\n${total.toLocaleString('en')} distinct shards through a ${capacity.toLocaleString('en')} cap in ${elapsed.toFixed(1)} s (${result.providesPerSecond.toFixed(0)} provides/s)`,
  )
  console.log(
    `registry size ${registry.size}; datastore keys: registry ${registryKeys}, kad-dht provider records ${providerKeys}`,
  )
  console.log(
    `heap: baseline ${(baseline / 2 ** 20).toFixed(1)} MiB, final ${(final.heapBytes / 2 ** 20).toFixed(1)} MiB, ${result.heap.bytesPerEntry.toFixed(0)} bytes per registered shard`,
  )
  console.log(`heap slope over the steady state: ${perShard.toFixed(3)} bytes per shard pushed (flat is ~0)`)
}
