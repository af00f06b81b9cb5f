import { createHash } from 'node:crypto'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { InvalidOptionError, kadKeyOf, ShardRegistry } from '../src/index.js'
import { fromOrderedHex, orderedHex } from '../src/keys.js'
import { collect, hashOf, seedMessage, tempDir, testSeed } from './helpers.js'

const SEED = testSeed()

/** Whether the first `bits` bits of `a` and `b` are equal. */
function samePrefix(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const mask = 0x80 >> (i & 7)
    if (((a[i >> 3] as number) & mask) !== ((b[i >> 3] as number) & mask)) return false
  }
  return true
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('Kademlia keys', () => {
  it('is the SHA-256 of the sha2-256 multihash of the hash', () => {
    const hash = hashOf(7)
    const multihash = Uint8Array.of(0x12, 0x20, ...hash)
    expect(hex(kadKeyOf(hash))).toBe(createHash('sha256').update(multihash).digest('hex'))
    expect(kadKeyOf(hash).buffer.byteLength).toBe(32) // its own buffer, not a pool slice
  })
})

describe('ordered number encoding', () => {
  it('sorts like the numbers and decodes back', () => {
    const values = [
      Number.NEGATIVE_INFINITY,
      -1e300,
      -5,
      -0.5,
      0,
      1e-300,
      1,
      1.5,
      1_700_000_000_000,
      Number.MAX_SAFE_INTEGER,
      Number.POSITIVE_INFINITY,
    ]
    const encoded = values.map(orderedHex)
    expect([...encoded].sort()).toEqual(encoded)
    expect(encoded.map(fromOrderedHex)).toEqual(values)
    expect(orderedHex(-0)).toBe(orderedHex(0))
    expect(fromOrderedHex('not hex')).toBeNaN()
  })
})

/** Region reads, on LevelDB (range iterators) and on a memory datastore (its map). */
describe.each(['level', 'memory'] as const)('shardsInRegion on %s', (kind) => {
  const N = 600
  let registry: ShardRegistry
  let keys: Uint8Array[]
  let close: () => Promise<void> = async () => undefined

  beforeAll(async () => {
    if (kind === 'level') {
      const { dir, remove } = await tempDir('region')
      const datastore = new LevelDatastore(dir)
      await datastore.open()
      close = async () => {
        await datastore.close()
        await remove()
      }
      registry = await ShardRegistry.open({ datastore, batchSize: 100 })
    } else {
      registry = await ShardRegistry.open({ datastore: new MemoryDatastore() })
    }
    const hashes = Array.from({ length: N }, (_, i) => hashOf(i, SEED & 0xff))
    await registry.addMany(hashes)
    keys = hashes.map(kadKeyOf).sort((a, b) => hex(a).localeCompare(hex(b)))
  })

  afterAll(async () => {
    await close()
  })

  it('bit length 0 is every shard, in key order, with its key and hash', async () => {
    const all = await collect(registry.shardsInRegion(new Uint8Array(0), 0))
    expect(all.map((shard) => hex(shard.key))).toEqual(keys.map(hex))
    for (const shard of all.slice(0, 20)) {
      expect(hex(kadKeyOf(shard.hash))).toBe(hex(shard.key))
      expect(shard.hex).toBe(hex(shard.hash))
      expect(shard.publishedAt).toBe(0)
      expect(shard.expiresAt).toBe(Number.POSITIVE_INFINITY)
    }
  })

  it.each([1, 2, 3, 4, 5, 7, 8, 9, 13])(
    'bit length %i: exactly the shards whose key has the prefix, in key order',
    async (bits) => {
      for (const [n, probe] of [keys[0], keys[N >> 1], keys[N - 1], kadKeyOf(hashOf(99_999))].entries()) {
        const prefix = probe as Uint8Array
        const got = await collect(registry.shardsInRegion(prefix, bits))
        const want = keys.filter((key) => samePrefix(key, prefix, bits))
        expect(
          got.map((shard) => hex(shard.key)),
          `${seedMessage(SEED)}, probe ${n}`,
        ).toEqual(want.map(hex))
        if (n < 3) expect(got.length).toBeGreaterThan(0)
      }
    },
  )

  it('bit length 256 is the one shard with that key, or none', async () => {
    const key = keys[17] as Uint8Array
    const got = await collect(registry.shardsInRegion(key, 256))
    expect(got.map((shard) => hex(shard.key))).toEqual([hex(key)])
    expect(await collect(registry.shardsInRegion(kadKeyOf(hashOf(1, 0)), 256))).toEqual([])
  })

  it('resumes after a key', async () => {
    const after = keys[99] as Uint8Array
    const rest = await collect(registry.shardsInRegion(new Uint8Array(0), 0, { after }))
    expect(rest.map((shard) => hex(shard.key))).toEqual(keys.slice(100).map(hex))
    const region = await collect(registry.shardsInRegion(after, 4, { after }))
    expect(region.map((shard) => hex(shard.key))).toEqual(
      keys
        .slice(100)
        .filter((key) => samePrefix(key, after, 4))
        .map(hex),
    )
  })

  it('stops when aborted', async () => {
    const controller = new AbortController()
    const seen: string[] = []
    await expect(
      (async () => {
        for await (const shard of registry.shardsInRegion(new Uint8Array(0), 0, {
          signal: controller.signal,
        })) {
          seen.push(shard.hex)
          if (seen.length === 5) controller.abort()
        }
      })(),
    ).rejects.toThrow()
    expect(seen.length).toBeLessThan(N)
  })

  it('rejects bad arguments with InvalidOptionError', async () => {
    for (const [prefix, bits] of [
      [new Uint8Array(1), 9],
      [new Uint8Array(32), 257],
      [new Uint8Array(32), -1],
      [new Uint8Array(32), 1.5],
      ['ab' as unknown as Uint8Array, 4],
    ] as const) {
      await expect(collect(registry.shardsInRegion(prefix, bits))).rejects.toThrow(InvalidOptionError)
    }
    await expect(
      collect(registry.shardsInRegion(new Uint8Array(0), 0, { after: new Uint8Array(3) })),
    ).rejects.toThrow(InvalidOptionError)
  })
})

describe('memory', () => {
  it('keeps nothing per shard in memory: a registry holds a count', () => {
    const registry = new ShardRegistry()
    const own = Object.keys(registry).filter((name) => !name.startsWith('_'))
    // the fields of the instance: options, the datastore and its readers, two counters, the queue
    expect(own.sort()).toEqual(
      [
        'batchSize',
        'capacity',
        'clock',
        'count',
        'datastore',
        'getMany',
        'given',
        'keys',
        'loaded',
        'loading',
        'prefix',
        'random',
        'range',
        'republishInterval',
        'republishJitter',
        'seq',
        'tail',
      ].sort(),
    )
  })
})

describe('addMany and markPublishedMany', () => {
  it('add in order as one batch a call (when under batchSize), evicting the oldest', async () => {
    const datastore = new MemoryDatastore()
    let commits = 0
    const batch = datastore.batch.bind(datastore)
    datastore.batch = () => {
      const inner = batch()
      return {
        ...inner,
        commit: async (options) => {
          commits++
          await inner.commit(options)
        },
      }
    }
    const registry = await ShardRegistry.open({ datastore, capacity: 10 })
    const removed: string[] = []
    registry.on('removed', ({ entry, reason }) => removed.push(`${reason} ${entry.hex}`))
    const entries = await registry.addMany(Array.from({ length: 8 }, (_, i) => hashOf(i)))
    expect(entries.map((entry) => entry.hex)).toEqual(Array.from({ length: 8 }, (_, i) => hashOf(i)).map(hex))
    expect(commits).toBe(1)
    // a repeat within a call counts once, at its last place
    await registry.addMany([hashOf(8), hashOf(0), hashOf(9), hashOf(8), hashOf(10), hashOf(11)])
    expect(commits).toBe(2)
    expect(registry.size).toBe(10)
    expect(removed).toEqual([1, 2].map((i) => `capacity ${hex(hashOf(i))}`))
    const order = (await collect(registry.entries())).map((entry) => entry.hex)
    expect(order).toEqual([3, 4, 5, 6, 7, 0, 9, 8, 10, 11].map((i) => hex(hashOf(i))))
    await registry.markPublishedMany([hashOf(3), hashOf(4), hashOf(99)], { now: 5, republishAt: 7 })
    expect(commits).toBe(3)
    expect(await registry.get(hashOf(3))).toMatchObject({ publishedAt: 5, republishAt: 7 })
    expect((await registry.due(7)).map((entry) => entry.hex).sort()).toEqual(
      [3, 4].map((i) => hex(hashOf(i))).sort(),
    )
  })

  it('a call larger than the capacity keeps its newest shards', async () => {
    const registry = new ShardRegistry({ capacity: 5, batchSize: 3 })
    await registry.addMany(Array.from({ length: 12 }, (_, i) => hashOf(i)))
    expect(registry.size).toBe(5)
    const order = (await collect(registry.entries())).map((entry) => entry.hex)
    expect(order).toEqual([7, 8, 9, 10, 11].map((i) => hex(hashOf(i))))
  })
})
