// Adversarial churn: push many distinct shards through a registry and sample the heap.
// Reusable by other benchmarks (e.g. to add kad-dht's provider store to the picture):
//
//   import { churnRegistry } from '../../shard-registry/bench/churn.mjs' (not published: a workspace path)
//   const { samples } = await churnRegistry({ registry, count: 1_000_000, afterAdd: (hash) => dht.provide(...) })
//
// Run node with --expose-gc: each sample is taken after a full collection.

/** Heap in use after a full collection (when `global.gc` is exposed; plain otherwise). */
export function heapUsed() {
  if (typeof globalThis.gc === 'function') {
    globalThis.gc()
    globalThis.gc()
  }
  return process.memoryUsage().heapUsed
}

/**
 * Writes the i-th distinct 32-byte hash of `run` into `target` (reused: the registry keeps
 * its own copy) and returns it.
 *
 * @param {Uint8Array} target
 * @param {number} i
 * @param {number} [run]
 */
export function fillHash(target, i, run = 0) {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength)
  view.setUint32(0, 0x6e736e21) // 'nsn!'
  view.setUint32(4, run)
  view.setFloat64(8, i)
  // spread the rest so hashes look random-ish and differ early
  let x = (i * 2_654_435_761) >>> 0
  for (let j = 16; j < 32; j += 4) {
    x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + j) >>> 0
    view.setUint32(j, x)
  }
  return target
}

/**
 * Adds `count` distinct shards to `registry` one after another (awaiting each add), and
 * calls `onSample` with the heap in use (after gc) at the start and every `sampleEvery`
 * shards.
 *
 * @param {object} options
 * @param {{ add(hash: Uint8Array): Promise<unknown>, readonly size: number }} options.registry
 * @param {number} options.count - how many distinct shards to push through
 * @param {number} [options.sampleEvery] - default `count / 10`
 * @param {(sample: { added: number, size: number, heapUsed: number, rss: number, elapsedMs: number }) => void | Promise<void>} [options.onSample]
 * @param {(hash: Uint8Array, i: number) => void | Promise<void>} [options.afterAdd] - awaited after each add, e.g. to feed another store
 * @param {number} [options.run] - distinguishes the hashes of separate runs
 * @returns {Promise<{ samples: Array<{ added: number, size: number, heapUsed: number, rss: number, elapsedMs: number }>, elapsedMs: number }>}
 */
export async function churnRegistry({ registry, count, sampleEvery, onSample, afterAdd, run = 0 }) {
  const every = sampleEvery ?? Math.max(1, Math.floor(count / 10))
  const samples = []
  const hash = new Uint8Array(32)
  const start = performance.now()
  let paused = 0
  const sample = async (added) => {
    const t = performance.now()
    const s = {
      added,
      size: registry.size,
      heapUsed: heapUsed(),
      rss: process.memoryUsage().rss,
      elapsedMs: t - start - paused,
    }
    samples.push(s)
    await onSample?.(s)
    paused += performance.now() - t
  }
  await sample(0)
  for (let i = 0; i < count; i++) {
    fillHash(hash, i, run)
    await registry.add(hash)
    if (afterAdd !== undefined) await afterAdd(hash, i)
    if ((i + 1) % every === 0) await sample(i + 1)
  }
  if (count % every !== 0) await sample(count)
  return { samples, elapsedMs: performance.now() - start - paused }
}

/**
 * Least-squares slope of `y` over `x`.
 *
 * @param {number[]} x
 * @param {number[]} y
 */
export function slope(x, y) {
  const n = x.length
  const mx = x.reduce((a, b) => a + b, 0) / n
  const my = y.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) {
    num += ((x[i] ?? 0) - mx) * ((y[i] ?? 0) - my)
    den += ((x[i] ?? 0) - mx) ** 2
  }
  return den === 0 ? 0 : num / den
}
