import { randomInt } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MemoryDatastore } from 'datastore-core'
import type { Batch, Datastore } from 'interface-datastore'
import type { ProvidedShardEntry } from '../src/index.js'

/** The environment variable that replays a run's random test data. */
const TEST_SEED_ENV = 'NSN_TEST_SEED'

/**
 * The seed of a test file's random data: `NSN_TEST_SEED` when set (to replay a failed
 * run), else drawn. (As `@nsn/core/testing`'s, which this package cannot depend on.)
 */
export function testSeed(): number {
  const fromEnv = process.env[TEST_SEED_ENV]
  if (fromEnv == null || fromEnv === '') return randomInt(0x1_0000_0000)
  const seed = Number(fromEnv)
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new Error(`${TEST_SEED_ENV} must be an integer in [0, 2^32), got "${fromEnv}"`)
  }
  return seed
}

/** The line a failed test prints so that its random data can be replayed. */
export function seedMessage(seed: number): string {
  return `random data of this test was seeded with ${seed}: replay it with ${TEST_SEED_ENV}=${seed}`
}

/** A deterministic 32-byte hash: a tag byte, then `n` big-endian in the last 4 bytes. */
export function hashOf(n: number, tag = 0xab): Uint8Array {
  const hash = new Uint8Array(32)
  hash[0] = tag
  new DataView(hash.buffer).setUint32(28, n)
  return hash
}

/** The hex of {@link hashOf}. */
export function hexOf(n: number, tag = 0xab): string {
  return Buffer.from(hashOf(n, tag)).toString('hex')
}

/** Every item of an async iterable, in order. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of items) out.push(item)
  return out
}

/** The hexes of the entries, least to most recently provided. */
export async function hexes(registry: { entries(): AsyncIterable<ProvidedShardEntry> }): Promise<string[]> {
  return (await collect(registry.entries())).map((entry) => entry.hex)
}

/** The number of shard records (`P/k/…` keys) under `prefix`. */
export async function recordCount(datastore: Datastore, prefix = '/nsn/shards'): Promise<number> {
  let n = 0
  for await (const _ of datastore.queryKeys({ prefix: `${prefix}/k/` })) n++
  return n
}

/** Entries as plain objects, so `toEqual` compares every field including the hash bytes. */
export function plain(entries: Iterable<ProvidedShardEntry>): object[] {
  return Array.from(entries, (entry) => ({ ...entry, hash: Array.from(entry.hash) }))
}

/** A hand-driven clock. */
export class FakeClock {
  now: number
  constructor(start = 1_700_000_000_000) {
    this.now = start
  }
  readonly read = (): number => this.now
}

/** The error a {@link FailingDatastore} batch throws. */
export class DiskFullError extends Error {
  override readonly name = 'DiskFullError'
  readonly code = 'ENOSPC'
  constructor() {
    super('disk full (simulated)')
  }
}

/** A memory datastore whose batches fail to commit (writing nothing) while `failing` is set. */
export class FailingDatastore extends MemoryDatastore {
  failing = false
  /** Number of upcoming commits to fail, whatever `failing` says. */
  failNext = 0
  commits = 0

  override batch(): Batch {
    const inner = super.batch()
    return {
      put: (key, value) => inner.put(key, value),
      delete: (key) => inner.delete(key),
      commit: async (options) => {
        if (this.failNext > 0) {
          this.failNext--
          throw new DiskFullError()
        }
        if (this.failing) throw new DiskFullError()
        this.commits++
        await inner.commit(options)
      },
    }
  }
}

/** Every key under `prefix`, as strings, sorted. */
export async function keysUnder(datastore: Datastore, prefix = '/nsn/shards'): Promise<string[]> {
  const keys: string[] = []
  for await (const key of datastore.queryKeys({ prefix: `${prefix}/` })) keys.push(key.toString())
  return keys.sort()
}

/** A fresh temporary directory and its removal. */
export async function tempDir(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `nsn-shard-registry-${name}-`))
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) }
}
