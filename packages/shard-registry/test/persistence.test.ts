import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import {
  CorruptShardRecordError,
  kadKeyOf,
  RegistryNotLoadedError,
  ShardRegistry,
  type ShardRegistryInit,
} from '../src/index.js'
import {
  collect,
  DiskFullError,
  FailingDatastore,
  FakeClock,
  hashOf,
  hexes,
  hexOf,
  keysUnder,
  plain,
  recordCount,
  tempDir,
} from './helpers.js'

/** Everything observable about a registry's state. */
async function state(registry: ShardRegistry) {
  return {
    size: registry.size,
    entries: plain(await collect(registry.entries())),
    due: plain(await registry.due(Number.POSITIVE_INFINITY)),
    nextDeadline: await registry.nextDeadline(),
    region: plain(await collect(registry.shardsInRegion(new Uint8Array(0), 0))),
  }
}

/** The record key of shard `i` (`hashOf(i)`) under `prefix`. */
const recordKey = (i: number, prefix = '/nsn/shards'): string =>
  `${prefix}/k/${Buffer.from(kadKeyOf(hashOf(i))).toString('hex')}`

/** The sorted record keys of these shards. */
const recordKeys = (ids: number[], prefix?: string): string[] => ids.map((i) => recordKey(i, prefix)).sort()

describe('persistence on LevelDB', () => {
  let dir: string
  let remove: () => Promise<void>
  let open: LevelDatastore[]

  beforeEach(async () => {
    ;({ dir, remove } = await tempDir('level'))
    open = []
  })

  afterEach(async () => {
    for (const datastore of open) await datastore.close()
    await remove()
  })

  async function level(): Promise<LevelDatastore> {
    const datastore = new LevelDatastore(dir)
    await datastore.open()
    open.push(datastore)
    return datastore
  }

  async function close(datastore: LevelDatastore): Promise<void> {
    open.splice(open.indexOf(datastore), 1)
    await datastore.close()
  }

  it('restores every shard with its timestamps and LRU order after a restart', async () => {
    const clock = new FakeClock()
    const t = clock.now
    const init = {
      capacity: 5,
      clock: clock.read,
      random: () => 0.25,
      republishInterval: 10_000,
      republishJitter: 1000,
    }
    let datastore = await level()
    let registry = await ShardRegistry.open({ ...init, datastore })
    expect(registry.persistent).toBe(true)
    for (let i = 1; i <= 7; i++) {
      clock.now = t + i
      await registry.add(hashOf(i), i % 2 === 0 ? { expiresAt: t + 1000 * i } : {})
    } // 1 and 2 evicted; order 3 4 5 6 7
    clock.now = t + 100
    await registry.markPublished(hashOf(4))
    await registry.markPublished(hashOf(6), { republishAt: t + 150 })
    await registry.touch(hashOf(3)) // 4 5 6 7 3
    await registry.add(hashOf(5), { expiresAt: t + 99_000 }) // 4 6 7 3 5
    await registry.delete(hashOf(7)) // 4 6 3 5
    await registry.add(hashOf(8), { expiresAt: t + 50 }) // 4 6 3 5 8
    expect((await registry.expire(t + 60)).map((entry) => entry.hex)).toEqual([hexOf(8)]) // 4 6 3 5
    const before = await state(registry)
    expect(await hexes(registry)).toEqual([4, 6, 3, 5].map((i) => hexOf(i)))
    expect(await keysUnder(datastore, '/nsn/shards/k')).toEqual(recordKeys([3, 4, 5, 6]))
    await close(datastore)

    datastore = await level()
    const removed: string[] = []
    registry = new ShardRegistry({ ...init, datastore })
    registry.on('removed', ({ entry }) => removed.push(entry.hex))
    await registry.load()
    expect(await state(registry)).toEqual(before)
    expect(removed).toEqual([])
    const four = await registry.get(hashOf(4))
    expect(four).toMatchObject({ providedAt: t + 4, publishedAt: t + 100, expiresAt: t + 4000 })
    expect(four?.republishAt).toBe(t + 100 + 10_000 - 250)
    expect((await registry.get(hashOf(6)))?.republishAt).toBe(t + 150)
    expect((await registry.get(hashOf(3)))?.expiresAt).toBe(Number.POSITIVE_INFINITY)

    // recency continues where it stopped: a touch after the restart makes 4 the newest
    await registry.touch(hashOf(4))
    await registry.add(hashOf(9))
    await registry.add(hashOf(10))
    expect(await hexes(registry)).toEqual([3, 5, 4, 9, 10].map((i) => hexOf(i)))
    await close(datastore)

    datastore = await level()
    registry = await ShardRegistry.open({ ...init, datastore })
    expect(await hexes(registry)).toEqual([3, 5, 4, 9, 10].map((i) => hexOf(i)))
  })

  it('persists evictions as deletes in the same batch: record count equals size, 4 keys a shard', async () => {
    const datastore = await level()
    const registry = await ShardRegistry.open({ capacity: 10, datastore })
    for (let i = 0; i < 50; i++) {
      await registry.add(hashOf(i), i % 2 === 0 ? { expiresAt: Date.now() + 3_600_000 } : {})
      expect(await recordCount(datastore)).toBe(registry.size)
    }
    expect(registry.size).toBe(10)
    expect(await keysUnder(datastore, '/nsn/shards/k')).toEqual(
      recordKeys(Array.from({ length: 10 }, (_, i) => 40 + i)),
    )
    // record + recency + due keys for each, expiry keys for the five expiring ones, the meta key
    expect((await keysUnder(datastore)).length).toBe(10 * 3 + 5 + 1)
  })

  it('serialises concurrent mutations in call order', async () => {
    const datastore = await level()
    const registry = await ShardRegistry.open({ capacity: 10, datastore })
    const resolved: number[] = []
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => registry.add(hashOf(i)).then(() => resolved.push(i))),
    )
    expect(resolved).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(await hexes(registry)).toEqual(Array.from({ length: 10 }, (_, i) => hexOf(90 + i)))
    expect(await recordCount(datastore)).toBe(10)
    const [touched, deleted, published] = await Promise.all([
      registry.touch(hashOf(90)),
      registry.delete(hashOf(91)),
      registry.markPublished(hashOf(92), { now: 1, republishAt: 2 }),
    ])
    expect([touched, deleted, published?.republishAt]).toEqual([true, true, 2])
    const reopened = await ShardRegistry.open({ capacity: 10, datastore })
    expect(await state(reopened)).toEqual(await state(registry))
  })

  it('serialises concurrent addMany and add calls over the same shards; the count stays exact', async () => {
    const datastore = await level()
    const registry = await ShardRegistry.open({ capacity: 30, datastore, batchSize: 7 })
    const calls: Array<Promise<unknown>> = []
    for (let round = 0; round < 5; round++) {
      calls.push(registry.addMany(Array.from({ length: 20 }, (_, i) => hashOf(round * 5 + i))))
      calls.push(registry.add(hashOf(round)))
      calls.push(registry.delete(hashOf(round * 5 + 3)))
    }
    await Promise.all(calls)
    expect(registry.size).toBe(await recordCount(datastore))
    expect(registry.size).toBeLessThanOrEqual(30)
    const reopened = await ShardRegistry.open({ capacity: 30, datastore })
    expect(reopened.size).toBe(registry.size)
    expect(await state(reopened)).toEqual(await state(registry))
    // in call order: the last addMany's shards (but the one deleted after it), then the last add's
    const newest = (await hexes(registry)).slice(-20)
    const last = [...Array.from({ length: 20 }, (_, i) => 20 + i).filter((i) => i !== 23), 4]
    expect(newest).toEqual(last.map((i) => hexOf(i)))
  })

  it('evicts the least recently used on load when capacity was lowered, persisting the deletes', async () => {
    let datastore = await level()
    const big = await ShardRegistry.open({ capacity: 10, datastore })
    for (let i = 0; i < 10; i++) await big.add(hashOf(i))
    await big.touch(hashOf(0))
    await close(datastore)

    datastore = await level()
    const small = new ShardRegistry({ capacity: 4, datastore })
    const removed: Array<[string, string]> = []
    small.on('removed', ({ entry, reason }) => removed.push([entry.hex, reason]))
    await small.load()
    expect(removed).toEqual([1, 2, 3, 4, 5, 6].map((i) => [hexOf(i), 'capacity']))
    expect(await hexes(small)).toEqual([7, 8, 9, 0].map((i) => hexOf(i)))
    expect(await keysUnder(datastore, '/nsn/shards/k')).toEqual(recordKeys([7, 8, 9, 0]))
    expect(await recordCount(datastore)).toBe(4)
  })

  it('keeps to its prefix', async () => {
    const datastore = await level()
    await datastore.put(new Key('/nsn/shardsX/other'), new Uint8Array([1]))
    await datastore.put(new Key('/other/thing'), new Uint8Array([2]))
    const a = await ShardRegistry.open({ datastore, prefix: '/nsn/a', capacity: 2 })
    const b = await ShardRegistry.open({ datastore, prefix: '/nsn/b' })
    await a.add(hashOf(1))
    await a.add(hashOf(2))
    await a.add(hashOf(3))
    await b.add(hashOf(4))
    expect(await keysUnder(datastore, '/nsn/a/k')).toEqual(recordKeys([2, 3], '/nsn/a'))
    const again = await ShardRegistry.open({ datastore, prefix: '/nsn/b' })
    expect(await hexes(again)).toEqual([hexOf(4)])
    expect(await datastore.has(new Key('/nsn/shardsX/other'))).toBe(true)
    const defaults = await ShardRegistry.open({ datastore })
    expect(defaults.size).toBe(0)
  })
})

describe('persistence failures', () => {
  async function filled(init: ShardRegistryInit = {}) {
    const datastore = new FailingDatastore()
    const clock = new FakeClock()
    const registry = await ShardRegistry.open({ capacity: 3, clock: clock.read, datastore, ...init })
    const t = clock.now
    await registry.add(hashOf(1), { expiresAt: t + 10 })
    await registry.add(hashOf(2))
    await registry.add(hashOf(3))
    await registry.markPublished(hashOf(3), { republishAt: t + 500 })
    const events: string[] = []
    registry.on('removed', ({ entry, reason }) => events.push(`${reason} ${entry.hex}`))
    registry.on('added', (entry) => events.push(`added ${entry.hex}`))
    return { datastore, registry, clock, events, t }
  }

  it('a failed batch leaves memory and disk unchanged and rejects with the datastore error', async () => {
    const { datastore, registry, events, t } = await filled()
    const before = await state(registry)
    const disk = await keysUnder(datastore)
    const values = await Promise.all(disk.map((key) => datastore.get(new Key(key))))
    datastore.failing = true

    const attempts: Array<[string, () => Promise<unknown>]> = [
      ['add with eviction', () => registry.add(hashOf(4))],
      ['re-add', () => registry.add(hashOf(1), { expiresAt: t + 999 })],
      ['delete', () => registry.delete(hashOf(2))],
      ['stopProviding', () => registry.stopProviding(hashOf(2))],
      ['touch', () => registry.touch(hashOf(1))],
      ['markPublished', () => registry.markPublished(hashOf(2))],
      ['expire', () => registry.expire(t + 100)],
    ]
    for (const [name, attempt] of attempts) {
      const error = await attempt().then(
        () => undefined,
        (err: unknown) => err,
      )
      expect(error, name).toBeInstanceOf(DiskFullError)
      expect(await state(registry), name).toEqual(before)
    }
    expect(events).toEqual([])
    expect(await keysUnder(datastore)).toEqual(disk)
    expect(await Promise.all(disk.map((key) => datastore.get(new Key(key))))).toEqual(values)

    // nothing to write, nothing to fail
    expect(await registry.delete(hashOf(9))).toBe(false)
    expect(await registry.touch(hashOf(9))).toBe(false)
    expect(await registry.expire(t)).toEqual([])

    // and it recovers once the datastore does
    datastore.failing = false
    await registry.add(hashOf(4))
    expect(events).toEqual([`capacity ${hexOf(1)}`, `added ${hexOf(4)}`])
    expect(await hexes(registry)).toEqual([2, 3, 4].map((i) => hexOf(i)))
    const reopened = await ShardRegistry.open({ capacity: 3, datastore })
    expect(await state(reopened)).toEqual(await state(registry))
  })

  it('a failure does not break the queue of mutations behind it; reads show committed state', async () => {
    const { datastore, registry } = await filled({ capacity: 10 })
    datastore.failNext = 1
    const first = registry.add(hashOf(5))
    const second = registry.add(hashOf(6))
    const third = registry.add(hashOf(7))
    expect(await registry.has(hashOf(6))).toBe(false) // not committed yet
    const results = await Promise.allSettled([first, second, third])
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'fulfilled'])
    expect((results[0] as PromiseRejectedResult).reason).toBeInstanceOf(DiskFullError)
    expect(await registry.has(hashOf(5))).toBe(false)
    expect(await registry.has(hashOf(6))).toBe(true)
    expect(await hexes(registry)).toEqual([1, 2, 3, 6, 7].map((i) => hexOf(i)))
    expect(await recordCount(datastore)).toBe(5)
  })

  it('refuses mutations before load', async () => {
    const datastore = new MemoryDatastore()
    const registry = new ShardRegistry({ datastore })
    await expect(registry.add(hashOf(1))).rejects.toThrow(RegistryNotLoadedError)
    await expect(registry.add(hashOf(1))).rejects.toMatchObject({ code: 'ERR_REGISTRY_NOT_LOADED' })
    await expect(registry.delete(hashOf(1))).rejects.toThrow(RegistryNotLoadedError)
    const loading = registry.load()
    const queued = registry.add(hashOf(1)) // queued behind the load: fine
    await loading
    await queued
    expect(await registry.has(hashOf(1))).toBe(true)
    await registry.load() // idempotent
    expect(registry.size).toBe(1)
  })

  it('rejects corrupt records of an earlier version with a typed error, and can retry the load', async () => {
    const LEGACY_LENGTH = 49
    const datastore = new MemoryDatastore()
    const bad = new Key(`/nsn/shards/${hexOf(1)}`)
    await datastore.put(bad, new Uint8Array(LEGACY_LENGTH - 1))
    const registry = new ShardRegistry({ datastore })
    await expect(registry.load()).rejects.toThrow(CorruptShardRecordError)
    await expect(registry.load()).rejects.toMatchObject({
      code: 'ERR_CORRUPT_SHARD_RECORD',
      key: bad.toString(),
      message: expect.stringMatching(/expected 49 bytes, got 48/),
    })
    expect(registry.size).toBe(0)
    await expect(registry.add(hashOf(2))).rejects.toThrow(RegistryNotLoadedError)

    const version = new Uint8Array(LEGACY_LENGTH)
    version[0] = 9
    await datastore.put(bad, version)
    await expect(registry.load()).rejects.toThrow(/unknown record version 9/)

    await datastore.delete(bad)
    await datastore.put(new Key('/nsn/shards/not-a-hash'), new Uint8Array(LEGACY_LENGTH))
    await expect(registry.load()).rejects.toThrow(/64 lower-case hex/)

    await datastore.delete(new Key('/nsn/shards/not-a-hash'))
    await registry.load()
    await registry.add(hashOf(2))
    expect(registry.size).toBe(1)
  })
})

describe("migration from the in-memory registry's records", () => {
  it('moves every shard with its times and recency order in one batch, once', async () => {
    const datastore = new MemoryDatastore()
    const legacy = (record: number[]): Uint8Array => {
      const bytes = new Uint8Array(49)
      const view = new DataView(bytes.buffer)
      view.setUint8(0, 1)
      for (const [i, value] of record.entries()) view.setFloat64(1 + 8 * i, value, true)
      return bytes
    }
    // providedAt, publishedAt, republishAt, expiresAt, seq, id
    await datastore.put(
      new Key(`/nsn/shards/${hexOf(1)}`),
      legacy([10, 20, 30, Number.POSITIVE_INFINITY, 7, 1]),
    )
    await datastore.put(new Key(`/nsn/shards/${hexOf(2)}`), legacy([11, 0, 11, 5000, 3, 2]))
    await datastore.put(
      new Key(`/nsn/shards/${hexOf(3)}`),
      legacy([12, 0, 12, Number.POSITIVE_INFINITY, 9, 3]),
    )
    const registry = await ShardRegistry.open({ datastore })
    expect(registry.size).toBe(3)
    expect(await hexes(registry)).toEqual([2, 1, 3].map((i) => hexOf(i)))
    expect(await registry.get(hashOf(1))).toMatchObject({ providedAt: 10, publishedAt: 20, republishAt: 30 })
    expect((await registry.get(hashOf(2)))?.expiresAt).toBe(5000)
    expect(await keysUnder(datastore, `/nsn/shards/${hexOf(1)}`.slice(0, 13))).toEqual([])
    expect(await recordCount(datastore)).toBe(3)
    expect(hexesOfEntries(await registry.expire(6000))).toEqual([hexOf(2)])
    const again = await ShardRegistry.open({ datastore })
    expect(await hexes(again)).toEqual([1, 3].map((i) => hexOf(i)))
  })
})

function hexesOfEntries(entries: Array<{ hex: string }>): string[] {
  return entries.map((entry) => entry.hex)
}
