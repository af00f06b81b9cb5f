/**
 * {@link ShardRegistry}: the bounded set of shards a node provides, kept in a datastore
 * keyed by Kademlia key, with least-recently-provided eviction, expiry, a republish
 * due-list and write-through persistence. Its heap does not grow with the number of
 * shards: memory holds a count and a sequence number; everything else is read from the
 * datastore (layout: `keys.ts`).
 *
 * @packageDocumentation
 */

import { EventEmitter } from 'node:events'
import { MemoryDatastore } from 'datastore-core'
import { type Batch, type Datastore, Key } from 'interface-datastore'
import {
  decodeLegacyRecord,
  decodeMeta,
  decodeRecord,
  encodeMeta,
  encodeRecord,
  type LegacyRecord,
  type ShardRecord,
} from './codec.js'
import {
  DEFAULT_BATCH_SIZE,
  DEFAULT_CAPACITY,
  DEFAULT_PREFIX,
  DEFAULT_REPUBLISH_INTERVAL,
  DEFAULT_REPUBLISH_JITTER,
  SHARD_HASH_LENGTH,
} from './constants.js'
import {
  CorruptShardRecordError,
  describe,
  InvalidOptionError,
  InvalidShardHashError,
  RegistryNotLoadedError,
} from './errors.js'
import { assertShardHash, fromHex, isShardHex, toHex } from './hash.js'
import { kadKeyOf } from './kad-key.js'
import { type IndexSection, orderedHex, regionRange, StoreKeys, upperBound } from './keys.js'
import { type ManyGetter, manyGetter, type RangeReader, rangeReader } from './range.js'
import type {
  AddShardOptions,
  MarkPublishedOptions,
  ProvidedShardEntry,
  ProvidedShards,
  RegionShard,
  ShardRegionOptions,
  ShardRemovalReason,
  ShardRemovedEvent,
} from './types.js'

/** Options of {@link ShardRegistry}. Every one has a default. */
export interface ShardRegistryInit {
  /** Maximum number of shards; adding past it evicts the least recently provided. Default 1,000,000. */
  capacity?: number
  /**
   * Milliseconds from a publication to the next one (before jitter). The caller derives
   * it from the provider-record TTL its DHT uses (an NSN node passes `@nsn/core`'s
   * `republishTiming(providerTtl).republishInterval`). Default 11 h, what that gives for
   * the 12 h default TTL.
   */
  republishInterval?: number
  /**
   * Upper bound in milliseconds of the random amount subtracted from each scheduled
   * republish, to spread republishes. Default 10 min; must be below `republishInterval`.
   */
  republishJitter?: number
  /**
   * Where the shards live. Default: a fresh `MemoryDatastore` (nothing survives the
   * process). When given, call {@link ShardRegistry.load} (or use
   * {@link ShardRegistry.open}) before mutating; every mutation then resolves only once
   * written in atomic batches. The registry does not open or close the datastore. A
   * `LevelDatastore` is read through its LevelDB iterators (true range reads); another
   * datastore must yield its queries in key order.
   */
  datastore?: Datastore
  /** Datastore key prefix, e.g. `/nsn/shards` (the default). */
  prefix?: string
  /** Most shards written in one batch by `addMany`, `markPublishedMany` and `expire`. Default 1,000. */
  batchSize?: number
  /** Current time in epoch milliseconds; default `Date.now`. For tests. */
  clock?: () => number
  /** Uniform random number in [0, 1); default `Math.random`. For tests. */
  random?: () => number
}

/** Events of {@link ShardRegistry}, for Node's typed `EventEmitter`. */
export interface ShardRegistryEvents {
  /** A shard left the set: evicted (`capacity`), expired (`expired`) or removed (`stopped`). */
  removed: [ShardRemovedEvent]
  /** A shard that was not in the set entered it (re-adding an existing shard emits nothing). */
  added: [ProvidedShardEntry]
}

/** A shard as read from the datastore, with its Kademlia key's hex. */
interface Stored {
  readonly keyHex: string
  readonly record: ShardRecord
}

/** A validated hash of a call, with its hex and Kademlia key's hex. */
interface Target {
  readonly hash: Uint8Array
  readonly hex: string
  readonly keyHex: string
}

const noop = (): void => {}

/**
 * The bounded set of shards a node provides; the single source of truth for it, kept in
 * a datastore.
 *
 * - Memory: a count and a sequence number, whatever the number of shards. `size` and
 *   `capacity` are synchronous; `has`, `get` and every other read go to the datastore
 *   (one get, or one range read).
 * - Past `capacity`, adding evicts the least recently provided shards (`add` and `touch`
 *   make a shard most recently provided) and emits `removed` with reason `capacity`.
 * - Every mutation is written as atomic batches (record, index keys and the journaled
 *   count together) and resolves only after they committed; if a write fails, the state
 *   is left as the last committed batch made it and the promise rejects with the
 *   datastore's error. Mutations are serialised. Reads show committed state.
 * - `shardsInRegion` reads the shards of a keyspace region (a bit prefix of their
 *   Kademlia keys) in key order, with one range read.
 *
 * Listeners run synchronously after the state changed; a listener that throws makes the
 * mutation's promise reject, although the change has been applied (and persisted).
 *
 * @example
 * ```ts
 * const registry = new ShardRegistry({ capacity: 1000 })
 * registry.on('removed', ({ entry, reason }) => console.log(entry.hex, reason))
 * await registry.add(hash)
 * for (const entry of await registry.due()) await publish(entry.hash).then(() => registry.markPublished(entry.hash))
 * ```
 */
export class ShardRegistry extends EventEmitter<ShardRegistryEvents> implements ProvidedShards {
  /** Maximum number of shards. */
  readonly capacity: number
  /** Milliseconds from a publication to the next one, before jitter. */
  readonly republishInterval: number
  /** Upper bound in milliseconds of the random amount subtracted from each republish time. */
  readonly republishJitter: number
  /** Datastore key prefix of the persisted records. */
  readonly prefix: string
  /** Most shards written in one batch. */
  readonly batchSize: number

  private readonly datastore: Datastore
  private readonly given: boolean
  private readonly keys: StoreKeys
  private readonly range: RangeReader
  private readonly getMany: ManyGetter
  private readonly clock: () => number
  private readonly random: () => number
  /** Number of shards, as of the last committed batch. */
  private count = 0
  /** Last recency sequence number handed out (committed). */
  private seq = 0
  private loaded: boolean
  private loading: Promise<void> | undefined
  /** Tail of the chain that serialises mutations. */
  private tail: Promise<void> = Promise.resolve()

  /**
   * Creates a registry. With a `datastore`, call {@link ShardRegistry.load} before
   * mutating it (or use {@link ShardRegistry.open}).
   *
   * @throws {@link InvalidOptionError} when an option is out of range or of the wrong type
   */
  constructor(init: ShardRegistryInit = {}) {
    super()
    if (init === null || typeof init !== 'object') {
      throw new InvalidOptionError('init', init, 'must be an object')
    }
    this.capacity = integerOption('capacity', init.capacity, DEFAULT_CAPACITY, 1)
    this.republishInterval = integerOption(
      'republishInterval',
      init.republishInterval,
      DEFAULT_REPUBLISH_INTERVAL,
      1,
    )
    this.republishJitter = integerOption('republishJitter', init.republishJitter, DEFAULT_REPUBLISH_JITTER, 0)
    if (this.republishJitter >= this.republishInterval) {
      throw new InvalidOptionError(
        'republishJitter',
        this.republishJitter,
        `must be below republishInterval (${this.republishInterval} ms)`,
      )
    }
    this.batchSize = integerOption('batchSize', init.batchSize, DEFAULT_BATCH_SIZE, 1)
    this.prefix = init.prefix ?? DEFAULT_PREFIX
    if (typeof this.prefix !== 'string' || !/^(\/[^/]+)+$/.test(this.prefix)) {
      throw new InvalidOptionError(
        'prefix',
        init.prefix,
        'must be a key path like /nsn/shards (no trailing slash)',
      )
    }
    const datastore = init.datastore
    if (
      datastore !== undefined &&
      (datastore === null ||
        typeof datastore !== 'object' ||
        typeof datastore.batch !== 'function' ||
        typeof datastore.query !== 'function' ||
        typeof datastore.get !== 'function')
    ) {
      throw new InvalidOptionError(
        'datastore',
        datastore,
        'must implement interface-datastore (get, batch and query)',
      )
    }
    this.given = datastore !== undefined
    this.datastore = datastore ?? new MemoryDatastore()
    this.keys = new StoreKeys(this.prefix)
    this.range = rangeReader(this.datastore)
    this.getMany = manyGetter(this.datastore)
    this.clock = functionOption('clock', init.clock, Date.now)
    this.random = functionOption('random', init.random, Math.random)
    this.loaded = datastore === undefined
  }

  /**
   * Creates a registry and, when it has a datastore, loads it. Shards evicted while
   * loading (more persisted than `capacity`) are emitted before any listener can be
   * attached; to observe them, construct, attach, then call {@link ShardRegistry.load}.
   */
  static async open(init: ShardRegistryInit = {}): Promise<ShardRegistry> {
    const registry = new ShardRegistry(init)
    await registry.load()
    return registry
  }

  /** Number of shards in the set. O(1), from memory. */
  get size(): number {
    return this.count
  }

  /** Whether the registry was given a datastore (false: a private memory datastore). */
  get persistent(): boolean {
    return this.given
  }

  /**
   * Reads the journaled count; migrates shards an earlier version persisted (one record
   * per shard hash) in one atomic batch; evicts the least recently provided shards when
   * more are persisted than `capacity` allows (reason `capacity`). A no-op without a
   * datastore; idempotent once it succeeded; may be retried after it failed.
   *
   * @throws {@link CorruptShardRecordError} when a record under the prefix cannot be decoded
   */
  load(): Promise<void> {
    if (this.loaded) return Promise.resolve()
    if (this.loading !== undefined) return this.loading
    const loading = this.enqueue(() => this.loadNow())
    this.loading = loading
    loading.then(
      () => {
        this.loading = undefined
      },
      () => {
        this.loading = undefined
      },
    )
    return loading
  }

  /**
   * Whether the shard is in the set: one datastore read.
   *
   * @throws {@link InvalidShardHashError} (rejection) unless `hash` is a 32-byte `Uint8Array`
   */
  async has(hash: Uint8Array): Promise<boolean> {
    const target = targetOf(hash)
    const [value] = await this.getMany([this.keys.record(target.keyHex).toString()])
    return value !== undefined
  }

  /**
   * The shard's entry (a frozen snapshot with its own copy of the hash), or undefined
   * when absent: one datastore read. Does not change recency.
   *
   * @throws {@link InvalidShardHashError} (rejection) unless `hash` is a 32-byte `Uint8Array`
   */
  async get(hash: Uint8Array): Promise<ProvidedShardEntry | undefined> {
    const target = targetOf(hash)
    const [stored] = await this.read([target.keyHex])
    return stored === undefined ? undefined : entryOf(stored)
  }

  /**
   * Adds the shard as most recently provided and resolves with its entry once that is
   * durable. A new shard gets `providedAt` = now, `publishedAt` = 0, `republishAt` = now
   * (due for publication at once: publish it, then call
   * {@link ShardRegistry.markPublished}) and `expiresAt` = the option or `Infinity`; it is
   * emitted as `added`. Re-adding an existing shard makes it most recently provided, sets
   * `expiresAt` when given, and keeps its other timestamps. Evictions it causes are written
   * in the same batch and emitted as `removed` with reason `capacity`.
   *
   * @throws {@link InvalidShardHashError}, {@link InvalidOptionError} (rejections)
   */
  async add(hash: Uint8Array, options: AddShardOptions = {}): Promise<ProvidedShardEntry> {
    const [entry] = await this.addMany([hash], options)
    return entry as ProvidedShardEntry
  }

  /**
   * Adds many shards as {@link ShardRegistry.add} does, in order (the last is the most
   * recently provided), writing up to `batchSize` shards (and the evictions they cause)
   * per atomic batch; resolves with one entry per given hash once every batch committed.
   * If a batch fails, the batches before it stay committed and the promise rejects.
   *
   * @throws {@link InvalidShardHashError}, {@link InvalidOptionError} (rejections)
   */
  async addMany(hashes: Uint8Array[], options: AddShardOptions = {}): Promise<ProvidedShardEntry[]> {
    const targets = targetsOf(hashes)
    const expiresAt = timeOption('expiresAt', options?.expiresAt, true)
    return this.mutate(async () => {
      const byHex = new Map<string, ProvidedShardEntry>()
      // a batch holds distinct shards, at most min(batchSize, capacity): then every
      // eviction it needs falls on a shard of an earlier batch (see addBatch)
      const size = Math.min(this.batchSize, this.capacity)
      let batch: Target[] = []
      const inBatch = new Set<string>()
      const flush = async (): Promise<void> => {
        for (const entry of await this.addBatch(batch, expiresAt)) byHex.set(entry.hex, entry)
        batch = []
        inBatch.clear()
      }
      for (const target of targets) {
        if (inBatch.has(target.hex)) {
          // a repeat: it becomes most recently provided after the others of this batch
          batch = batch.filter((other) => other.hex !== target.hex)
        }
        batch.push(target)
        inBatch.add(target.hex)
        if (batch.length >= size) await flush()
      }
      if (batch.length > 0) await flush()
      return targets.map((target) => byHex.get(target.hex) as ProvidedShardEntry)
    })
  }

  /**
   * Removes the shard and emits `removed` with reason `stopped`; resolves false when it
   * was absent (nothing written).
   *
   * @throws {@link InvalidShardHashError} (rejection)
   */
  async delete(hash: Uint8Array): Promise<boolean> {
    const target = targetOf(hash)
    return this.mutate(async () => {
      const [stored] = await this.read([target.keyHex])
      if (stored === undefined) return false
      const batch = this.datastore.batch()
      this.deleteStored(batch, stored)
      const count = this.count - 1
      batch.put(this.keys.meta, encodeMeta({ count, seq: this.seq }))
      await batch.commit()
      this.count = count
      this.emitRemoved([stored], 'stopped')
      return true
    })
  }

  /** Alias of {@link ShardRegistry.delete}: the node stops providing the shard (reason `stopped`). */
  async stopProviding(hash: Uint8Array): Promise<boolean> {
    return this.delete(hash)
  }

  /**
   * Marks the shard most recently provided, so it is the last to be evicted; resolves false
   * when it is absent. One record and its recency key written.
   *
   * @throws {@link InvalidShardHashError} (rejection)
   */
  async touch(hash: Uint8Array): Promise<boolean> {
    const target = targetOf(hash)
    return this.mutate(async () => {
      const [stored] = await this.read([target.keyHex])
      if (stored === undefined) return false
      const seq = this.seq + 1
      const batch = this.datastore.batch()
      batch.delete(this.keys.index('s', stored.record.seq, stored.keyHex))
      const record = { ...stored.record, seq }
      batch.put(this.keys.record(stored.keyHex), encodeRecord(record))
      batch.put(this.keys.index('s', seq, stored.keyHex), EMPTY)
      batch.put(this.keys.meta, encodeMeta({ count: this.count, seq }))
      await batch.commit()
      this.seq = seq
      return true
    })
  }

  /**
   * Records a publication of the shard's provider record and schedules the next one:
   * `publishedAt = now` and `republishAt` = the option, or `now + republishInterval -
   * random() * republishJitter` (rounded down to the millisecond). Does not change
   * recency. Resolves with the updated entry, or undefined when the shard is absent.
   *
   * @throws {@link InvalidShardHashError}, {@link InvalidOptionError} (rejections)
   */
  async markPublished(
    hash: Uint8Array,
    options: MarkPublishedOptions = {},
  ): Promise<ProvidedShardEntry | undefined> {
    const target = targetOf(hash)
    const times = publishOptions(options)
    return this.mutate(async () => (await this.publishBatch([target], times))[0])
  }

  /**
   * Records a publication of many shards as {@link ShardRegistry.markPublished} does (each
   * drawing its own jitter), up to `batchSize` shards per atomic batch. Absent shards are
   * skipped. Resolves once every batch committed.
   *
   * @throws {@link InvalidShardHashError}, {@link InvalidOptionError} (rejections)
   */
  async markPublishedMany(hashes: Uint8Array[], options: MarkPublishedOptions = {}): Promise<void> {
    const targets = targetsOf(hashes)
    const times = publishOptions(options)
    return this.mutate(async () => {
      for (let i = 0; i < targets.length; i += this.batchSize) {
        await this.publishBatch(targets.slice(i, i + this.batchSize), times)
      }
    })
  }

  /**
   * Entries whose republish is due (`republishAt <= now`), earliest first (ties: in
   * Kademlia key order), at most `limit`: one range read of the due index, then one read
   * per entry. Changes nothing.
   *
   * @param now - default: the registry's clock
   * @param limit - a non-negative integer or `Infinity` (the default)
   * @throws {@link InvalidOptionError} (rejection)
   */
  async due(now?: number, limit = Number.POSITIVE_INFINITY): Promise<ProvidedShardEntry[]> {
    const at = timeOption('now', now, true) ?? this.clock()
    if (!(limit === Number.POSITIVE_INFINITY || (Number.isSafeInteger(limit) && limit >= 0))) {
      throw new InvalidOptionError('limit', limit, 'must be a non-negative integer or Infinity')
    }
    if (limit === 0) return []
    const keyHexes = await this.indexUpTo('r', at, limit)
    return (await this.read(keyHexes)).flatMap((stored) => (stored === undefined ? [] : [entryOf(stored)]))
  }

  /**
   * Removes every shard whose expiry has passed (`expiresAt <= now`), `batchSize` per
   * batch, emits `removed` with reason `expired` for each (earliest first) and resolves
   * with them.
   *
   * @param now - default: the registry's clock
   * @throws {@link InvalidOptionError} (rejection)
   */
  async expire(now?: number): Promise<ProvidedShardEntry[]> {
    const given = timeOption('now', now, true)
    return this.mutate(async () => {
      const at = given ?? this.clock()
      const out: ProvidedShardEntry[] = []
      for (;;) {
        const keyHexes = await this.indexUpTo('e', at, this.batchSize)
        if (keyHexes.length === 0) return out
        const expired = (await this.read(keyHexes)).filter((stored) => stored !== undefined)
        if (expired.length === 0)
          throw new CorruptShardRecordError(this.keys.section('e'), 'index without records')
        const batch = this.datastore.batch()
        for (const stored of expired) this.deleteStored(batch, stored)
        const count = this.count - expired.length
        batch.put(this.keys.meta, encodeMeta({ count, seq: this.seq }))
        await batch.commit()
        this.count = count
        this.emitRemoved(expired, 'expired')
        for (const stored of expired) out.push(entryOf(stored))
      }
    })
  }

  /** The earliest `republishAt` or finite `expiresAt` in the set; undefined when empty. Two one-key reads. */
  async nextDeadline(): Promise<number | undefined> {
    const [republishAt, expiresAt] = await Promise.all([this.firstIndexed('r'), this.firstIndexed('e')])
    if (republishAt === undefined) return expiresAt
    return expiresAt === undefined ? republishAt : Math.min(republishAt, expiresAt)
  }

  /**
   * Entries from least to most recently provided: the recency index read in order, one
   * record read per entry. Shards changed during the iteration may be seen in their old or
   * new place.
   */
  async *entries(options: { signal?: AbortSignal } = {}): AsyncGenerator<ProvidedShardEntry> {
    const section = this.keys.section('s')
    let page: string[] = []
    const flush = async function* (this: ShardRegistry): AsyncGenerator<ProvidedShardEntry> {
      for (const stored of await this.read(page)) if (stored !== undefined) yield entryOf(stored)
      page = []
    }
    for await (const { key } of this.range(section, upperBound(section), options)) {
      const parsed = this.keys.parseIndex('s', key)
      if (parsed === undefined) throw new CorruptShardRecordError(key, 'not a recency index key')
      page.push(parsed.keyHex)
      if (page.length >= this.batchSize) yield* flush.call(this)
    }
    yield* flush.call(this)
  }

  /**
   * Shards whose Kademlia key starts with the first `bitLength` bits of `prefix`, in key
   * order, read with one range read of the records (values included: no read per shard).
   * `bitLength` 0 is every shard. With `after` (a 32-byte Kademlia key), only keys above it.
   *
   * @throws {@link InvalidOptionError} when `bitLength` is not an integer in 0..256, or
   *   `prefix` is not a `Uint8Array` of at least `ceil(bitLength / 8)` bytes
   */
  async *shardsInRegion(
    prefix: Uint8Array,
    bitLength: number,
    options: ShardRegionOptions = {},
  ): AsyncGenerator<RegionShard & ProvidedShardEntry> {
    if (!Number.isInteger(bitLength) || bitLength < 0 || bitLength > 8 * SHARD_HASH_LENGTH) {
      throw new InvalidOptionError(
        'bitLength',
        bitLength,
        `must be an integer in 0..${8 * SHARD_HASH_LENGTH}`,
      )
    }
    if (!(prefix instanceof Uint8Array) || prefix.length * 8 < bitLength) {
      throw new InvalidOptionError(
        'prefix',
        prefix,
        `must be a Uint8Array of at least ${Math.ceil(bitLength / 8)} bytes`,
      )
    }
    let { gte, lt } = regionRange(this.keys.records, prefix, bitLength)
    if (options.after !== undefined) {
      const after = options.after
      if (!(after instanceof Uint8Array) || after.length !== SHARD_HASH_LENGTH) {
        throw new InvalidOptionError('after', after, `must be a Kademlia key of ${SHARD_HASH_LENGTH} bytes`)
      }
      const above = `${this.keys.records}${toHex(after)}\x00`
      if (above > gte) gte = above
      if (gte >= lt) return
    }
    const start = this.keys.records.length
    for await (const { key, value } of this.range(gte, lt, { values: true, signal: options.signal })) {
      const keyHex = key.slice(start)
      yield entryOf({ keyHex, record: this.decode(key, value) })
    }
  }

  // --- internals ------------------------------------------------------------------------

  /** Adds a batch of distinct shards (at most `capacity`) in one atomic write. */
  private async addBatch(targets: Target[], expiresAt: number | undefined): Promise<ProvidedShardEntry[]> {
    const now = this.clock()
    const existing = await this.read(targets.map((target) => target.keyHex))
    const batch = this.datastore.batch()
    const refreshed = new Set<string>()
    const fresh: Stored[] = []
    const out: ProvidedShardEntry[] = []
    let seq = this.seq
    for (const [i, target] of targets.entries()) {
      const old = existing[i]
      seq++
      if (old !== undefined) {
        refreshed.add(old.keyHex)
        const record: ShardRecord = { ...old.record, seq, expiresAt: expiresAt ?? old.record.expiresAt }
        batch.delete(this.keys.index('s', old.record.seq, old.keyHex))
        if (record.expiresAt !== old.record.expiresAt && Number.isFinite(old.record.expiresAt)) {
          batch.delete(this.keys.index('e', old.record.expiresAt, old.keyHex))
        }
        this.putStored(batch, { keyHex: old.keyHex, record })
        out.push(entryOf({ keyHex: old.keyHex, record }))
      } else {
        const stored: Stored = {
          keyHex: target.keyHex,
          record: {
            hash: target.hash,
            providedAt: now,
            publishedAt: 0,
            republishAt: now,
            expiresAt: expiresAt ?? Number.POSITIVE_INFINITY,
            seq,
          },
        }
        this.putStored(batch, stored)
        fresh.push(stored)
        out.push(entryOf(stored))
      }
    }
    // targets.length <= capacity, so the shards not in this batch are enough victims
    const excess = this.count + fresh.length - this.capacity
    const victims = excess > 0 ? await this.oldest(excess, refreshed) : []
    for (const victim of victims) this.deleteStored(batch, victim)
    const count = this.count + fresh.length - victims.length
    batch.put(this.keys.meta, encodeMeta({ count, seq }))
    await batch.commit()
    this.count = count
    this.seq = seq
    this.emitRemoved(victims, 'capacity')
    if (this.listenerCount('added') > 0) for (const stored of fresh) this.emit('added', entryOf(stored))
    return out
  }

  /** Records a publication of a batch of shards in one atomic write; undefined for absent ones. */
  private async publishBatch(
    targets: Target[],
    times: { now: number | undefined; republishAt: number | undefined },
  ): Promise<Array<ProvidedShardEntry | undefined>> {
    const found = await this.read(targets.map((target) => target.keyHex))
    if (found.every((stored) => stored === undefined)) return found.map(() => undefined)
    const batch = this.datastore.batch()
    const written = new Map<string, ShardRecord>()
    for (const stored of found) {
      if (stored === undefined) continue
      const old = written.get(stored.keyHex) ?? stored.record
      const publishedAt = times.now ?? this.clock()
      const republishAt =
        times.republishAt ??
        publishedAt + this.republishInterval - Math.floor(this.random() * this.republishJitter)
      const record = { ...old, publishedAt, republishAt }
      if (republishAt !== old.republishAt) {
        batch.delete(this.keys.index('r', old.republishAt, stored.keyHex))
        batch.put(this.keys.index('r', republishAt, stored.keyHex), EMPTY)
      }
      batch.put(this.keys.record(stored.keyHex), encodeRecord(record))
      written.set(stored.keyHex, record)
    }
    await batch.commit()
    return found.map((stored) => {
      if (stored === undefined) return undefined
      return entryOf({ keyHex: stored.keyHex, record: written.get(stored.keyHex) as ShardRecord })
    })
  }

  /** The `n` least recently provided shards, passing over those in `skip`. */
  private async oldest(n: number, skip: ReadonlySet<string>): Promise<Stored[]> {
    const section = this.keys.section('s')
    const keyHexes: string[] = []
    for await (const { key } of this.range(section, upperBound(section), { limit: n + skip.size })) {
      const parsed = this.keys.parseIndex('s', key)
      if (parsed === undefined) throw new CorruptShardRecordError(key, 'not a recency index key')
      if (skip.has(parsed.keyHex)) continue
      keyHexes.push(parsed.keyHex)
      if (keyHexes.length === n) break
    }
    const found = await this.read(keyHexes)
    const missing = found.indexOf(undefined)
    if (missing >= 0) {
      throw new CorruptShardRecordError(
        this.keys.index('s', 0, keyHexes[missing] as string).toString(),
        'recency index entry without a record',
      )
    }
    return found as Stored[]
  }

  /** Keys of the index `section` whose value is at most `at`, in order, at most `limit`. */
  private async indexUpTo(section: IndexSection, at: number, limit: number): Promise<string[]> {
    const gte = this.keys.section(section)
    const lt = upperBound(`${gte}${orderedHex(at)}/`)
    const out: string[] = []
    const options = limit === Number.POSITIVE_INFINITY ? {} : { limit }
    for await (const { key } of this.range(gte, lt, options)) {
      const parsed = this.keys.parseIndex(section, key)
      if (parsed === undefined) throw new CorruptShardRecordError(key, `not a ${section} index key`)
      out.push(parsed.keyHex)
    }
    return out
  }

  /** The smallest value of the index `section`; undefined when it is empty. */
  private async firstIndexed(section: IndexSection): Promise<number | undefined> {
    const gte = this.keys.section(section)
    for await (const { key } of this.range(gte, upperBound(gte), { limit: 1 })) {
      const parsed = this.keys.parseIndex(section, key)
      if (parsed === undefined) throw new CorruptShardRecordError(key, `not a ${section} index key`)
      return parsed.value
    }
    return undefined
  }

  /** The stored shards of these Kademlia keys (one multi-get); undefined for absent ones. */
  private async read(keyHexes: readonly string[]): Promise<Array<Stored | undefined>> {
    if (keyHexes.length === 0) return []
    const names = keyHexes.map((keyHex) => this.keys.record(keyHex).toString())
    const values = await this.getMany(names)
    return values.map((value, i) =>
      value === undefined
        ? undefined
        : { keyHex: keyHexes[i] as string, record: this.decode(names[i] as string, value) },
    )
  }

  private decode(name: string, value: Uint8Array): ShardRecord {
    const record = decodeRecord(value)
    if (typeof record === 'string') throw new CorruptShardRecordError(name, record)
    return record
  }

  /** Puts a shard's record and every index key of it. */
  private putStored(batch: Batch, { keyHex, record }: Stored): void {
    batch.put(this.keys.record(keyHex), encodeRecord(record))
    batch.put(this.keys.index('s', record.seq, keyHex), EMPTY)
    batch.put(this.keys.index('r', record.republishAt, keyHex), EMPTY)
    if (Number.isFinite(record.expiresAt)) batch.put(this.keys.index('e', record.expiresAt, keyHex), EMPTY)
  }

  /** Deletes a shard's record and every index key of it. */
  private deleteStored(batch: Batch, { keyHex, record }: Stored): void {
    batch.delete(this.keys.record(keyHex))
    batch.delete(this.keys.index('s', record.seq, keyHex))
    batch.delete(this.keys.index('r', record.republishAt, keyHex))
    if (Number.isFinite(record.expiresAt)) batch.delete(this.keys.index('e', record.expiresAt, keyHex))
  }

  private async loadNow(): Promise<void> {
    if (this.loaded) return
    const [metaValue] = await this.getMany([this.keys.meta.toString()])
    if (metaValue === undefined) {
      await this.migrate()
    } else {
      const meta = decodeMeta(metaValue)
      if (typeof meta === 'string') throw new CorruptShardRecordError(this.keys.meta.toString(), meta)
      this.count = meta.count
      this.seq = meta.seq
    }
    this.loaded = true
    // more shards than the capacity now allows: evict the least recently provided
    while (this.count > this.capacity) {
      const victims = await this.oldest(Math.min(this.count - this.capacity, this.batchSize), new Set())
      const batch = this.datastore.batch()
      for (const victim of victims) this.deleteStored(batch, victim)
      const count = this.count - victims.length
      batch.put(this.keys.meta, encodeMeta({ count, seq: this.seq }))
      await batch.commit()
      this.count = count
      this.emitRemoved(victims, 'capacity')
    }
  }

  /**
   * Moves shards persisted by an earlier version (`P/<hash hex>`, format 1) to this
   * layout in one atomic batch, keeping their times and recency order.
   */
  private async migrate(): Promise<void> {
    const section = `${this.prefix}/`
    const legacy: Array<{ name: string; hex: string; record: LegacyRecord }> = []
    for await (const { key, value } of this.range(section, upperBound(section), { values: true })) {
      const hex = key.slice(section.length)
      if (!isShardHex(hex)) {
        throw new CorruptShardRecordError(key, 'the key does not end in 64 lower-case hex characters')
      }
      const record = decodeLegacyRecord(value)
      if (typeof record === 'string') throw new CorruptShardRecordError(key, record)
      legacy.push({ name: key, hex, record })
    }
    if (legacy.length === 0) return
    legacy.sort((a, b) => a.record.seq - b.record.seq)
    const batch = this.datastore.batch()
    let seq = 0
    for (const { name, hex, record } of legacy) {
      const hash = fromHex(hex)
      batch.delete(new Key(name, false))
      this.putStored(batch, { keyHex: toHex(kadKeyOf(hash)), record: { ...record, hash, seq: ++seq } })
    }
    batch.put(this.keys.meta, encodeMeta({ count: legacy.length, seq }))
    await batch.commit()
    this.count = legacy.length
    this.seq = seq
  }

  /** Runs a mutation after the ones queued before it (the registry must be loaded). */
  private mutate<T>(task: () => Promise<T>): Promise<T> {
    if (!this.loaded && this.loading === undefined) return Promise.reject(new RegistryNotLoadedError())
    return this.enqueue(async () => {
      if (!this.loaded) throw new RegistryNotLoadedError()
      return task()
    })
  }

  /** Runs `task` after every task queued before it; its failure is the caller's, not the chain's. */
  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const result = this.tail.then(task)
    this.tail = result.then(noop, noop)
    return result
  }

  private emitRemoved(removed: readonly Stored[], reason: ShardRemovalReason): void {
    if (removed.length === 0 || this.listenerCount('removed') === 0) return
    for (const stored of removed) this.emit('removed', { entry: entryOf(stored), reason })
  }
}

const EMPTY = new Uint8Array(0)

/** A frozen snapshot with its own copies of the hash and key bytes. */
function entryOf({ keyHex, record }: Stored): RegionShard & ProvidedShardEntry {
  return Object.freeze({
    hash: new Uint8Array(record.hash),
    hex: toHex(record.hash),
    key: fromHex(keyHex),
    providedAt: record.providedAt,
    publishedAt: record.publishedAt,
    republishAt: record.republishAt,
    expiresAt: record.expiresAt,
  })
}

/** Validates a hash and takes a private copy (own buffer, never Node's shared pool). */
function targetOf(hash: unknown): Target {
  assertShardHash(hash)
  const copy = new Uint8Array(SHARD_HASH_LENGTH)
  copy.set(hash)
  return { hash: copy, hex: toHex(copy), keyHex: toHex(kadKeyOf(copy)) }
}

function targetsOf(hashes: unknown): Target[] {
  if (!Array.isArray(hashes))
    throw new InvalidShardHashError(describe(hashes), 'expected an array of shard hashes')
  return hashes.map(targetOf)
}

function publishOptions(options: MarkPublishedOptions): {
  now: number | undefined
  republishAt: number | undefined
} {
  return {
    now: timeOption('now', options?.now, false),
    republishAt: timeOption('republishAt', options?.republishAt, true),
  }
}

function integerOption(name: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(
      name,
      value,
      min === 0 ? 'must be a non-negative integer' : 'must be a positive integer',
    )
  }
  return value
}

function functionOption<F extends (...args: never[]) => unknown>(
  name: string,
  value: unknown,
  fallback: F,
): F {
  if (value === undefined) return fallback
  if (typeof value !== 'function') throw new InvalidOptionError(name, value, 'must be a function')
  return value as F
}

/**
 * Validates an optional time in epoch milliseconds: a finite number, or also `Infinity`
 * when `infinite` is allowed.
 */
function timeOption(name: string, value: unknown, infinite: boolean): number | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'number' || Number.isNaN(value) || value === Number.NEGATIVE_INFINITY) {
    throw new InvalidOptionError(name, value, 'must be a time in epoch milliseconds')
  }
  if (!infinite && value === Number.POSITIVE_INFINITY) {
    throw new InvalidOptionError(name, value, 'must be a finite time in epoch milliseconds')
  }
  return value
}
