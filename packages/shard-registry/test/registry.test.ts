import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CAPACITY,
  DEFAULT_REPUBLISH_INTERVAL,
  DEFAULT_REPUBLISH_JITTER,
  InvalidOptionError,
  InvalidShardHashError,
  kadKeyOf,
  NSN_ERROR,
  type ProvidedShardEntry,
  ShardRegistry,
  type ShardRegistryInit,
  type ShardRemovedEvent,
} from '../src/index.js'
import { collect, FakeClock, hashOf, hexes as hexesOf, hexOf } from './helpers.js'

const minute = 60_000
const hour = 60 * minute

function setup(init: ShardRegistryInit = {}) {
  const clock = new FakeClock()
  const registry = new ShardRegistry({ clock: clock.read, random: () => 0, ...init })
  const removed: Array<{ hex: string; reason: string }> = []
  const added: string[] = []
  registry.on('removed', ({ entry, reason }) => removed.push({ hex: entry.hex, reason }))
  registry.on('added', (entry) => added.push(entry.hex))
  return { clock, registry, removed, added }
}

const hexes = (entries: Iterable<ProvidedShardEntry>): string[] => Array.from(entries, (entry) => entry.hex)
/** Hexes sorted like the Kademlia keys of their shards (the order of ties in the indexes). */
const byKey = (registry: ShardRegistry, list: string[]): Promise<string[]> =>
  collect(registry.shardsInRegion(new Uint8Array(0), 0)).then((all) =>
    all.map((e) => e.hex).filter((hex) => list.includes(hex)),
  )

describe('defaults', () => {
  it('uses 1,000,000 shards, 11 h republish interval and 10 min jitter', async () => {
    const registry = new ShardRegistry()
    expect(DEFAULT_CAPACITY).toBe(1_000_000)
    expect(DEFAULT_REPUBLISH_INTERVAL).toBe(11 * hour)
    expect(DEFAULT_REPUBLISH_JITTER).toBe(10 * minute)
    expect(registry.capacity).toBe(1_000_000)
    expect(registry.republishInterval).toBe(11 * hour)
    expect(registry.republishJitter).toBe(10 * minute)
    expect(registry.prefix).toBe('/nsn/shards')
    expect(registry.persistent).toBe(false)
    expect(registry.size).toBe(0)
    expect(await registry.nextDeadline()).toBeUndefined()
  })

  it('reads the real clock by default', async () => {
    const registry = new ShardRegistry()
    const before = Date.now()
    const entry = await registry.add(hashOf(1))
    expect(entry.providedAt).toBeGreaterThanOrEqual(before)
    expect(entry.providedAt).toBeLessThanOrEqual(Date.now())
  })
})

describe('add, has, get, delete, touch', () => {
  it('adds a shard due for publication at once', async () => {
    const { registry, clock, added } = setup()
    const entry = await registry.add(hashOf(1))
    expect(entry).toEqual({
      hash: hashOf(1),
      hex: hexOf(1),
      key: kadKeyOf(hashOf(1)),
      providedAt: clock.now,
      publishedAt: 0,
      republishAt: clock.now,
      expiresAt: Number.POSITIVE_INFINITY,
    })
    expect(Object.isFrozen(entry)).toBe(true)
    expect(registry.size).toBe(1)
    expect(await registry.has(hashOf(1))).toBe(true)
    expect(await registry.has(hashOf(2))).toBe(false)
    expect(await registry.get(hashOf(1))).toEqual(entry)
    expect(await registry.get(hashOf(2))).toBeUndefined()
    expect(await registry.due()).toEqual([entry])
    expect(await registry.nextDeadline()).toBe(clock.now)
    expect(added).toEqual([hexOf(1)])
  })

  it('keeps a private copy of the hash bytes', async () => {
    const { registry } = setup()
    const hash = hashOf(1)
    const entry = await registry.add(hash)
    hash.fill(0)
    expect(await registry.has(hashOf(1))).toBe(true)
    expect(await registry.has(hash)).toBe(false)
    entry.hash.fill(7)
    expect((await registry.get(hashOf(1)))?.hash).toEqual(hashOf(1))
    expect((await registry.get(hashOf(1)))?.hex).toBe(hexOf(1))
  })

  it('accepts Buffers and views into larger buffers', async () => {
    const { registry } = setup()
    const big = new Uint8Array(100)
    big.set(hashOf(5), 40)
    await registry.add(big.subarray(40, 72))
    expect(await registry.has(Buffer.from(hashOf(5)))).toBe(true)
    const entry = await registry.get(hashOf(5))
    expect(entry?.hash).toEqual(hashOf(5))
    expect(entry?.hash.buffer.byteLength).toBe(32)
  })

  it('re-adding keeps the timestamps, refreshes recency and sets a given expiry', async () => {
    const { registry, clock, added } = setup({ capacity: 3 })
    const first = await registry.add(hashOf(1))
    await registry.add(hashOf(2))
    await registry.markPublished(hashOf(1))
    clock.now += 5000
    const again = await registry.add(hashOf(1))
    expect(again.providedAt).toBe(first.providedAt)
    expect(again.publishedAt).toBe(first.providedAt)
    expect(again.expiresAt).toBe(Number.POSITIVE_INFINITY)
    expect(await hexesOf(registry)).toEqual([hexOf(2), hexOf(1)])
    const expiring = await registry.add(hashOf(1), { expiresAt: clock.now + 1000 })
    expect(expiring.expiresAt).toBe(clock.now + 1000)
    expect(expiring.providedAt).toBe(first.providedAt)
    const kept = await registry.add(hashOf(1))
    expect(kept.expiresAt).toBe(clock.now + 1000)
    const never = await registry.add(hashOf(1), { expiresAt: Number.POSITIVE_INFINITY })
    expect(never.expiresAt).toBe(Number.POSITIVE_INFINITY)
    expect(await registry.expire(clock.now + 10_000)).toEqual([])
    expect(added).toEqual([hexOf(1), hexOf(2)])
    expect(registry.size).toBe(2)
  })

  it('deletes with reason stopped, and stopProviding is the same', async () => {
    const { registry, removed } = setup()
    await registry.add(hashOf(1))
    await registry.add(hashOf(2))
    expect(await registry.delete(hashOf(1))).toBe(true)
    expect(await registry.delete(hashOf(1))).toBe(false)
    expect(await registry.stopProviding(hashOf(2))).toBe(true)
    expect(await registry.stopProviding(hashOf(2))).toBe(false)
    expect(removed).toEqual([
      { hex: hexOf(1), reason: 'stopped' },
      { hex: hexOf(2), reason: 'stopped' },
    ])
    expect(registry.size).toBe(0)
    expect(await registry.has(hashOf(1))).toBe(false)
    expect(await registry.due()).toEqual([])
    expect(await registry.nextDeadline()).toBeUndefined()
  })

  it('touch marks a shard most recently used and reports absence', async () => {
    const { registry } = setup()
    for (let i = 1; i <= 3; i++) await registry.add(hashOf(i))
    expect(await registry.touch(hashOf(1))).toBe(true)
    expect(await registry.touch(hashOf(9))).toBe(false)
    expect(await hexesOf(registry)).toEqual([hexOf(2), hexOf(3), hexOf(1)])
    expect(registry.size).toBe(3)
  })

  it('get and has do not change recency', async () => {
    const { registry, removed } = setup({ capacity: 2 })
    await registry.add(hashOf(1))
    await registry.add(hashOf(2))
    await registry.get(hashOf(1))
    await registry.has(hashOf(1))
    await registry.add(hashOf(3))
    expect(removed).toEqual([{ hex: hexOf(1), reason: 'capacity' }])
  })

  it('entries() is a snapshot unaffected by later mutations', async () => {
    const { registry } = setup()
    for (let i = 1; i <= 3; i++) await registry.add(hashOf(i))
    const seen: string[] = []
    for await (const entry of registry.entries()) {
      seen.push(entry.hex)
      await registry.touch(entry.hash)
    }
    expect(seen).toEqual([hexOf(1), hexOf(2), hexOf(3)])
  })
})

describe('LRU eviction', () => {
  it('evicts the least recently used past capacity, with reason capacity', async () => {
    const { registry, removed, added } = setup({ capacity: 3 })
    const events: ShardRemovedEvent[] = []
    registry.on('removed', (event) => events.push(event))
    for (let i = 1; i <= 3; i++) await registry.add(hashOf(i))
    await registry.touch(hashOf(1)) // order: 2 3 1
    await registry.add(hashOf(4)) // evicts 2
    await registry.add(hashOf(3)) // re-add: order 1 4 3
    await registry.add(hashOf(5)) // evicts 1
    await registry.add(hashOf(6)) // evicts 4
    expect(removed).toEqual([
      { hex: hexOf(2), reason: 'capacity' },
      { hex: hexOf(1), reason: 'capacity' },
      { hex: hexOf(4), reason: 'capacity' },
    ])
    expect(events[0]?.entry.hash).toEqual(hashOf(2))
    expect(await hexesOf(registry)).toEqual([hexOf(3), hexOf(5), hexOf(6)])
    expect(registry.size).toBe(3)
    expect(added).toEqual([1, 2, 3, 4, 5, 6].map((i) => hexOf(i)))
    expect(await registry.has(hashOf(2))).toBe(false)
    // same republishAt: ties in Kademlia key order
    expect((await registry.due()).map((entry) => entry.hex)).toEqual(
      await byKey(registry, [hexOf(3), hexOf(5), hexOf(6)]),
    )
  })

  it('emits the eviction before the addition that caused it', async () => {
    const { registry } = setup({ capacity: 1 })
    const log: string[] = []
    registry.on('removed', ({ entry }) => log.push(`removed ${entry.hex}`))
    registry.on('added', (entry) => log.push(`added ${entry.hex}`))
    await registry.add(hashOf(1))
    await registry.add(hashOf(2))
    expect(log).toEqual([`added ${hexOf(1)}`, `removed ${hexOf(1)}`, `added ${hexOf(2)}`])
  })

  it('removes evicted shards from the due-list and expiry heap', async () => {
    const { registry, clock } = setup({ capacity: 2 })
    await registry.add(hashOf(1), { expiresAt: clock.now + 10 })
    await registry.add(hashOf(2))
    await registry.markPublished(hashOf(2), { republishAt: clock.now + 100 })
    await registry.add(hashOf(3)) // evicts 1
    expect(hexes(await registry.due(clock.now + 50))).toEqual([hexOf(3)])
    expect(await registry.expire(clock.now + 1000)).toEqual([])
    expect(await registry.nextDeadline()).toBe(clock.now)
  })

  it('works at capacity 1', async () => {
    const { registry, removed, clock } = setup({ capacity: 1 })
    await registry.add(hashOf(1))
    await registry.add(hashOf(1))
    expect(registry.size).toBe(1)
    expect(removed).toEqual([])
    expect(await registry.touch(hashOf(1))).toBe(true)
    await registry.add(hashOf(2), { expiresAt: clock.now + 5 })
    expect(removed).toEqual([{ hex: hexOf(1), reason: 'capacity' }])
    expect(await hexesOf(registry)).toEqual([hexOf(2)])
    expect(await registry.nextDeadline()).toBe(clock.now)
    await registry.markPublished(hashOf(2))
    expect(await registry.nextDeadline()).toBe(clock.now + 5)
    expect(hexes(await registry.expire(clock.now + 5))).toEqual([hexOf(2)])
    expect(registry.size).toBe(0)
    expect(await registry.nextDeadline()).toBeUndefined()
    await registry.add(hashOf(3))
    expect(await registry.delete(hashOf(3))).toBe(true)
    expect(registry.size).toBe(0)
    expect(removed.map((event) => event.reason)).toEqual(['capacity', 'expired', 'stopped'])
  })

  it('stays bounded under churn', async () => {
    const { registry, removed } = setup({ capacity: 100 })
    for (let i = 0; i < 10_000; i++) await registry.add(hashOf(i))
    expect(registry.size).toBe(100)
    expect(removed).toHaveLength(9_900)
    expect(removed.every((event, i) => event.hex === hexOf(i) && event.reason === 'capacity')).toBe(true)
    expect(await hexesOf(registry)).toEqual(Array.from({ length: 100 }, (_, i) => hexOf(9_900 + i)))
    expect(await registry.due(Number.POSITIVE_INFINITY)).toHaveLength(100)
  })
})

describe('expiry', () => {
  it('removes shards whose expiry passed, earliest first, with reason expired', async () => {
    const { registry, clock, removed } = setup()
    const t = clock.now
    await registry.add(hashOf(1), { expiresAt: t + 300 })
    await registry.add(hashOf(2), { expiresAt: t + 100 })
    await registry.add(hashOf(3))
    await registry.add(hashOf(4), { expiresAt: t + 200 })
    await registry.add(hashOf(5), { expiresAt: t + 900 })
    for (let i = 1; i <= 5; i++) await registry.markPublished(hashOf(i), { republishAt: t + 10_000 })
    expect(await registry.nextDeadline()).toBe(t + 100)
    expect(await registry.expire(t + 99)).toEqual([])
    const expired = await registry.expire(t + 300)
    expect(hexes(expired)).toEqual([hexOf(2), hexOf(4), hexOf(1)])
    expect(expired[0]?.expiresAt).toBe(t + 100)
    expect(removed).toEqual([
      { hex: hexOf(2), reason: 'expired' },
      { hex: hexOf(4), reason: 'expired' },
      { hex: hexOf(1), reason: 'expired' },
    ])
    expect(await hexesOf(registry)).toEqual([hexOf(3), hexOf(5)])
    expect(await registry.nextDeadline()).toBe(t + 900)
    clock.now = t + 1000
    expect(hexes(await registry.expire())).toEqual([hexOf(5)])
    expect(await registry.nextDeadline()).toBe(t + 10_000)
    expect(hexes(await registry.expire(Number.MAX_SAFE_INTEGER))).toEqual([])
  })

  it('follows a changed expiry', async () => {
    const { registry, clock } = setup()
    const t = clock.now
    await registry.add(hashOf(1), { expiresAt: t + 100 })
    await registry.add(hashOf(2), { expiresAt: t + 200 })
    await registry.add(hashOf(1), { expiresAt: t + 500 })
    expect(hexes(await registry.expire(t + 300))).toEqual([hexOf(2)])
    expect(hexes(await registry.expire(t + 500))).toEqual([hexOf(1)])
  })
})

describe('republish due-list', () => {
  it('lists due entries earliest first, at most limit', async () => {
    const { registry, clock } = setup()
    const t = clock.now
    for (let i = 1; i <= 6; i++) await registry.add(hashOf(i))
    const at = [t + 50, t + 10, t + 40, t + 30, t + 20, t + 60]
    for (let i = 1; i <= 6; i++) {
      await registry.markPublished(hashOf(i), { now: t, republishAt: at[i - 1] as number })
    }
    expect(await registry.due(t + 9)).toEqual([])
    expect(hexes(await registry.due(t + 40))).toEqual([hexOf(2), hexOf(5), hexOf(4), hexOf(3)])
    expect(hexes(await registry.due(t + 40, 2))).toEqual([hexOf(2), hexOf(5)])
    expect(await registry.due(t + 40, 0)).toEqual([])
    expect(hexes(await registry.due(t + 1000))).toEqual([2, 5, 4, 3, 1, 6].map((i) => hexOf(i)))
    clock.now = t + 20
    expect(hexes(await registry.due())).toEqual([hexOf(2), hexOf(5)])
    expect(await registry.nextDeadline()).toBe(t + 10)
    // due() does not remove anything
    expect(registry.size).toBe(6)
    expect(hexes(await registry.due(t + 40))).toEqual([hexOf(2), hexOf(5), hexOf(4), hexOf(3)])
  })

  it('finds the few due entries of a large set', async () => {
    const { registry, clock } = setup({ capacity: 200_000 })
    const t = clock.now
    const n = 10_000
    const all = Array.from({ length: n }, (_, i) => hashOf(i))
    await registry.addMany(all)
    await registry.markPublishedMany(all, { republishAt: t + 2_000_000 })
    for (let i = 0; i < n; i++) await registry.markPublished(hashOf(i), { republishAt: t + 1_000_000 + i })
    const early = [7_777, 5, 9_999, 5_000, 1_234]
    for (const [k, i] of early.entries()) await registry.markPublished(hashOf(i), { republishAt: t + k })
    expect(hexes(await registry.due(t + 10))).toEqual(early.map((i) => hexOf(i)))
    expect(hexes(await registry.due(t + 10, 3))).toEqual(early.slice(0, 3).map((i) => hexOf(i)))
    expect(hexes(await registry.due(t + 1_000_001))).toEqual([
      ...early.map((i) => hexOf(i)),
      hexOf(0),
      hexOf(1),
    ])
    expect(await registry.nextDeadline()).toBe(t)
  })

  it('schedules the next republish at now + interval - random * jitter', async () => {
    let random = 0
    const clock = new FakeClock()
    const registry = new ShardRegistry({
      clock: clock.read,
      random: () => random,
      republishInterval: 11 * hour,
      republishJitter: 10 * minute,
    })
    await registry.add(hashOf(1))
    await registry.add(hashOf(2))
    const t = clock.now

    random = 0
    let entry = await registry.markPublished(hashOf(1))
    expect(entry?.publishedAt).toBe(t)
    expect(entry?.republishAt).toBe(t + 11 * hour)

    random = 0.5
    entry = await registry.markPublished(hashOf(1), { now: t + 1000 })
    expect(entry?.publishedAt).toBe(t + 1000)
    expect(entry?.republishAt).toBe(t + 1000 + 11 * hour - 5 * minute)

    random = 0.999_999_9
    entry = await registry.markPublished(hashOf(1))
    expect(entry?.republishAt).toBe(t + 11 * hour - (10 * minute - 1))

    // a failed publish: the caller retries soon
    entry = await registry.markPublished(hashOf(2), { republishAt: t + 30_000 })
    expect(entry?.publishedAt).toBe(t)
    expect(entry?.republishAt).toBe(t + 30_000)
    expect(await registry.get(hashOf(2))).toEqual(entry)
    expect(await registry.nextDeadline()).toBe(t + 30_000)
    expect(hexes(await registry.due(t + 30_000))).toEqual([hexOf(2)])

    expect(await registry.markPublished(hashOf(3))).toBeUndefined()
    // markPublished does not change recency
    expect(await hexesOf(registry)).toEqual([hexOf(1), hexOf(2)])
  })

  it('spreads republishes of shards published together over the jitter window', async () => {
    const clock = new FakeClock()
    const registry = new ShardRegistry({
      clock: clock.read,
      republishInterval: 100_000,
      republishJitter: 10_000,
    })
    for (let i = 0; i < 200; i++) {
      await registry.add(hashOf(i))
      await registry.markPublished(hashOf(i))
    }
    const times = (await registry.due(Number.POSITIVE_INFINITY)).map((entry) => entry.republishAt - clock.now)
    expect(Math.min(...times)).toBeGreaterThan(90_000)
    expect(Math.max(...times)).toBeLessThanOrEqual(100_000)
    expect(new Set(times).size).toBeGreaterThan(100)
    expect(times).toEqual([...times].sort((a, b) => a - b))
  })
})

describe('validation', () => {
  const badHashes: Array<[string, unknown, RegExp]> = [
    ['31 bytes', new Uint8Array(31), /31 bytes/],
    ['33 bytes', new Uint8Array(33), /33 bytes/],
    ['empty', new Uint8Array(0), /0 bytes/],
    ['a hex string', 'ab'.repeat(32), /string/],
    ['an array', Array.from({ length: 32 }, () => 1), /array of length 32/],
    ['undefined', undefined, /undefined/],
    ['null', null, /null/],
  ]

  it.each(badHashes)('rejects a hash that is %s with InvalidShardHashError', async (_, hash, input) => {
    const { registry } = setup()
    const h = hash as Uint8Array
    const check = (err: unknown) => {
      expect(err).toBeInstanceOf(InvalidShardHashError)
      const error = err as InvalidShardHashError
      expect(error.name).toBe('InvalidShardHashError')
      expect(error.code).toBe('ERR_INVALID_SHARD_HASH')
      expect(error.message).toMatch(input)
      expect(error.message).toMatch(/exactly 32 bytes/)
      expect(error.toObject()).toEqual({ name: error.name, code: error.code, message: error.message })
      // the NSN error brand, which @nsn/core's isNsnError recognises
      expect(error[NSN_ERROR]).toBe(true)
      expect(NSN_ERROR).toBe(Symbol.for('@nsn/error'))
    }
    await expect(registry.has(h)).rejects.toThrow(InvalidShardHashError)
    await expect(registry.get(h)).rejects.toThrow(InvalidShardHashError)
    for (const call of [
      () => registry.add(h),
      () => registry.delete(h),
      () => registry.stopProviding(h),
      () => registry.touch(h),
      () => registry.markPublished(h),
    ]) {
      const result = call()
      expect(result).toBeInstanceOf(Promise)
      check(
        await result.then(
          () => undefined,
          (err: unknown) => err,
        ),
      )
    }
    expect(registry.size).toBe(0)
  })

  it('names the length rule in the message', async () => {
    const { registry } = setup()
    await expect(registry.has(new Uint8Array(31))).rejects.toThrow(
      'invalid shard hash (Uint8Array of 31 bytes): a shard hash must be exactly 32 bytes, got 31',
    )
  })

  const badOptions: Array<[string, ShardRegistryInit]> = [
    ['capacity', { capacity: 0 }],
    ['capacity', { capacity: -1 }],
    ['capacity', { capacity: 1.5 }],
    ['capacity', { capacity: Number.NaN }],
    ['capacity', { capacity: Number.POSITIVE_INFINITY }],
    ['capacity', { capacity: '10' as unknown as number }],
    ['republishInterval', { republishInterval: 0 }],
    ['republishInterval', { republishInterval: 1.5 }],
    ['republishJitter', { republishJitter: -1 }],
    ['republishJitter', { republishJitter: 11 * hour }],
    ['republishJitter', { republishInterval: 1000, republishJitter: 1000 }],
    ['prefix', { prefix: 'nsn/shards' }],
    ['prefix', { prefix: '/nsn/shards/' }],
    ['prefix', { prefix: '' }],
    ['prefix', { prefix: '/' }],
    ['prefix', { prefix: 42 as unknown as string }],
    ['clock', { clock: 5 as unknown as () => number }],
    ['random', { random: 'no' as unknown as () => number }],
    ['datastore', { datastore: {} as never }],
    ['datastore', { datastore: null as never }],
  ]

  it.each(badOptions)('rejects a bad %s with InvalidOptionError', (option, init) => {
    let error: unknown
    try {
      new ShardRegistry(init)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(InvalidOptionError)
    expect((error as InvalidOptionError).code).toBe('ERR_INVALID_OPTION')
    expect((error as InvalidOptionError).name).toBe('InvalidOptionError')
    expect((error as InvalidOptionError).option).toBe(option)
    expect((error as InvalidOptionError).message).toMatch(`invalid option ${option}`)
  })

  it('accepts zero jitter and capacity 1', () => {
    const registry = new ShardRegistry({ capacity: 1, republishJitter: 0, republishInterval: 1 })
    expect(registry.capacity).toBe(1)
  })

  it('rejects bad call options with InvalidOptionError', async () => {
    const { registry } = setup()
    await registry.add(hashOf(1))
    await expect(registry.add(hashOf(1), { expiresAt: Number.NaN })).rejects.toThrow(InvalidOptionError)
    await expect(registry.add(hashOf(1), { expiresAt: '1' as unknown as number })).rejects.toThrow(
      InvalidOptionError,
    )
    await expect(registry.markPublished(hashOf(1), { now: Number.POSITIVE_INFINITY })).rejects.toThrow(
      InvalidOptionError,
    )
    await expect(registry.markPublished(hashOf(1), { republishAt: Number.NaN })).rejects.toThrow(
      InvalidOptionError,
    )
    await expect(registry.expire(Number.NaN)).rejects.toThrow(InvalidOptionError)
    await expect(registry.due(Number.NaN)).rejects.toThrow(InvalidOptionError)
    await expect(registry.due(undefined, -1)).rejects.toThrow(InvalidOptionError)
    await expect(registry.due(undefined, 1.5)).rejects.toThrow(InvalidOptionError)
    expect((await registry.get(hashOf(1)))?.expiresAt).toBe(Number.POSITIVE_INFINITY)
    expect((await registry.get(hashOf(1)))?.publishedAt).toBe(0)
  })
})
