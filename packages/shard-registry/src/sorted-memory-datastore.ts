/**
 * {@link SortedMemoryDatastore}: an in-memory datastore whose keys are kept sorted, so a
 * range read costs O(log n + k) like LevelDB's, not a scan of every key. The registry's
 * default when it is given no datastore (tests, benchmarks, in-memory nodes).
 *
 * @packageDocumentation
 */

import { BaseDatastore } from 'datastore-core'
import { Key, type Pair } from 'interface-datastore'
import type { RangeEntry, RangeOptions } from './range.js'

interface AbortOptions {
  signal?: AbortSignal
}

/** Most keys in one chunk of the sorted key list before it is split in two. */
const CHUNK = 512

/** First index in the ascending `list` whose element is not below `key`. */
function lowerBound(list: readonly string[], key: string): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if ((list[mid] as string) < key) lo = mid + 1
    else hi = mid
  }
  return lo
}

/**
 * An `interface-datastore` datastore in memory with its keys in sorted chunks of at most
 * {@link CHUNK} * 2: put and delete cost O(log n + CHUNK), a range read O(log n) to start.
 * Values are kept as given (the registry's own are fresh arrays).
 */
export class SortedMemoryDatastore extends BaseDatastore {
  /** Values by key name. */
  readonly data = new Map<string, Uint8Array>()
  /** The key names, ascending, in chunks; never an empty chunk. */
  private chunks: string[][] = []

  override put(key: Key, value: Uint8Array, options?: AbortOptions): Key {
    options?.signal?.throwIfAborted()
    const name = key.toString()
    if (!this.data.has(name)) this.insert(name)
    this.data.set(name, value)
    return key
  }

  override get(key: Key, options?: AbortOptions): Uint8Array {
    options?.signal?.throwIfAborted()
    const value = this.data.get(key.toString())
    if (value === undefined) throw notFound(key)
    return value
  }

  override has(key: Key, options?: AbortOptions): boolean {
    options?.signal?.throwIfAborted()
    return this.data.has(key.toString())
  }

  override delete(key: Key, options?: AbortOptions): void {
    options?.signal?.throwIfAborted()
    const name = key.toString()
    if (this.data.delete(name)) this.remove(name)
  }

  override async *_all(): AsyncGenerator<Pair> {
    for (const { key, value } of this.entriesIn('', '\uffff', true)) yield { key: new Key(key, false), value }
  }

  override async *_allKeys(): AsyncGenerator<Key> {
    for (const { key } of this.entriesIn('', '\uffff', false)) yield new Key(key, false)
  }

  /** The entries whose key name lies in `[gte, lt)`, in key order. */
  async *range(gte: string, lt: string, options: RangeOptions = {}): AsyncGenerator<RangeEntry> {
    const limit = options.limit ?? Number.POSITIVE_INFINITY
    let given = 0
    for (const entry of this.entriesIn(gte, lt, options.values === true)) {
      if (given++ >= limit) return
      options.signal?.throwIfAborted()
      yield entry
    }
  }

  /** Iterates `[gte, lt)` on the live chunks, resuming by key after each step (safe under mutation). */
  private *entriesIn(gte: string, lt: string, values: boolean): Generator<RangeEntry> {
    let from = gte
    let inclusive = true
    for (;;) {
      const next = this.firstFrom(from, inclusive)
      if (next === undefined || next >= lt) return
      const value = this.data.get(next) as Uint8Array
      yield { key: next, value: values ? value : EMPTY }
      from = next
      inclusive = false
    }
  }

  /** The first key at or above (`inclusive`) / above `from`. */
  private firstFrom(from: string, inclusive: boolean): string | undefined {
    const c = this.chunkOf(from)
    for (let i = c; i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as string[]
      let at = i === c ? lowerBound(chunk, from) : 0
      if (!inclusive && chunk[at] === from) at++
      if (at < chunk.length) return chunk[at]
    }
    return undefined
  }

  /** Index of the chunk that holds, or would hold, `name`. */
  private chunkOf(name: string): number {
    let lo = 0
    let hi = this.chunks.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (((this.chunks[mid] as string[])[0] as string) <= name) lo = mid
      else hi = mid - 1
    }
    return Math.max(0, lo)
  }

  private insert(name: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([name])
      return
    }
    const c = this.chunkOf(name)
    const chunk = this.chunks[c] as string[]
    chunk.splice(lowerBound(chunk, name), 0, name)
    if (chunk.length > 2 * CHUNK) this.chunks.splice(c + 1, 0, chunk.splice(CHUNK))
  }

  private remove(name: string): void {
    const c = this.chunkOf(name)
    const chunk = this.chunks[c]
    if (chunk === undefined) return
    const at = lowerBound(chunk, name)
    if (chunk[at] !== name) return
    chunk.splice(at, 1)
    if (chunk.length === 0) this.chunks.splice(c, 1)
  }
}

const EMPTY = new Uint8Array(0)

function notFound(key: Key): Error {
  const error = new Error(`no value for ${key.toString()}`)
  error.name = 'NotFoundError'
  return error
}
