/**
 * Range reads over a datastore. `interface-datastore` only queries by prefix; the store
 * needs `[gte, lt)` ranges in key order. This picks the best way the datastore offers:
 *
 * - a `LevelDatastore` (`datastore-level`): its LevelDB iterator with `gte`/`lt`, one
 *   seek then a sequential read, nothing buffered;
 * - a `MemoryDatastore` (`datastore-core`, whose queries come in insertion order): its
 *   map, filtered and sorted (it is all in memory anyway; for tests and small sets);
 * - any other: a prefix query on the bounds' common prefix, filtered to the range and
 *   stopped past it. Such a datastore must yield keys in key order, as LevelDB-like
 *   stores do.
 *
 * @packageDocumentation
 */

import { type Datastore, Key } from 'interface-datastore'

/** One key-value pair of a range read; `value` is empty when values were not asked for. */
export interface RangeEntry {
  readonly key: string
  readonly value: Uint8Array
}

/** Options of a range read. */
export interface RangeOptions {
  /** Read values too (default false: keys only). */
  values?: boolean
  /** Stop after this many entries. */
  limit?: number
  signal?: AbortSignal
}

/** Reads the entries whose key names lie in `[gte, lt)`, in key order. */
export type RangeReader = (gte: string, lt: string, options?: RangeOptions) => AsyncIterable<RangeEntry>

interface LevelLike {
  iterator(options: Record<string, unknown>): AsyncIterable<[string, Uint8Array]> & {
    close(): Promise<void>
  }
}

const EMPTY = new Uint8Array(0)

/** The best {@link RangeReader} for `datastore`. */
export function rangeReader(datastore: Datastore): RangeReader {
  const db = (datastore as { db?: unknown }).db as LevelLike | undefined
  if (db != null && typeof db.iterator === 'function') return levelReader(db)
  const data = (datastore as { data?: unknown }).data
  if (data instanceof Map) return mapReader(data as Map<string, Uint8Array>)
  return queryReader(datastore)
}

function levelReader(db: LevelLike): RangeReader {
  return async function* (gte, lt, options = {}) {
    const values = options.values === true
    const iterator = db.iterator({
      gte,
      lt,
      keys: true,
      values,
      keyEncoding: 'utf8',
      valueEncoding: 'view',
      ...(options.limit === undefined ? {} : { limit: options.limit }),
    })
    try {
      for await (const [key, value] of iterator) {
        options.signal?.throwIfAborted()
        yield { key, value: values ? value : EMPTY }
      }
    } finally {
      await iterator.close()
    }
  }
}

function mapReader(data: Map<string, Uint8Array>): RangeReader {
  return async function* (gte, lt, options = {}) {
    const keys: string[] = []
    for (const key of data.keys()) if (key >= gte && key < lt) keys.push(key)
    keys.sort()
    const limit = options.limit ?? Number.POSITIVE_INFINITY
    let given = 0
    for (const key of keys) {
      if (given++ >= limit) return
      options.signal?.throwIfAborted()
      const value = data.get(key)
      if (value === undefined) continue // deleted meanwhile
      yield { key, value: options.values === true ? value : EMPTY }
    }
  }
}

function queryReader(datastore: Datastore): RangeReader {
  return async function* (gte, lt, options = {}) {
    let common = 0
    while (common < gte.length && common < lt.length && gte[common] === lt[common]) common++
    const limit = options.limit ?? Number.POSITIVE_INFINITY
    let given = 0
    for await (const { key, value } of datastore.query({ prefix: gte.slice(0, common) }, options)) {
      const name = key.toString()
      if (name < gte) continue
      if (name >= lt || given++ >= limit) return
      yield { key: name, value: options.values === true ? value : EMPTY }
    }
  }
}

/** Reads many values at once; `undefined` where a key is absent. */
export type ManyGetter = (keys: readonly string[]) => Promise<Array<Uint8Array | undefined>>

interface LevelGetMany {
  getMany(keys: string[], options: Record<string, unknown>): Promise<Array<Uint8Array | undefined>>
}

/**
 * The best {@link ManyGetter} for `datastore`: LevelDB's `getMany` (one call, no error per
 * absent key) when it has one, else one `get` per key in parallel.
 */
export function manyGetter(datastore: Datastore): ManyGetter {
  const db = (datastore as { db?: unknown }).db as LevelGetMany | undefined
  if (db != null && typeof db.getMany === 'function') {
    return (keys) => db.getMany([...keys], { keyEncoding: 'utf8', valueEncoding: 'view' })
  }
  const data = (datastore as { data?: unknown }).data
  if (data instanceof Map) {
    const map = data as Map<string, Uint8Array>
    return async (keys) => keys.map((key) => map.get(key))
  }
  return (keys) =>
    Promise.all(
      keys.map(async (key) => {
        try {
          return await datastore.get(new Key(key, false))
        } catch (err) {
          if ((err as { name?: unknown }).name === 'NotFoundError') return undefined
          throw err
        }
      }),
    )
}
