/**
 * An in-memory datastore that keeps every value in its own buffer.
 *
 * Many small `Uint8Array`s libp2p writes (peer-store records from protons, varints,
 * `Buffer.from(...)` results) are views into Node's shared buffer pool, one 64 KiB
 * slab shared by many small allocations. datastore-core's `MemoryDatastore` keeps the
 * view it was given, and with it the whole slab, for as long as the key lives: measured on
 * a 6-node in-process network, 262 B of `arrayBuffers` kept per published shard, 64 KiB
 * slabs held by peer-store records rewritten on every ADD_PROVIDER. A LevelDB datastore
 * copies values into its own memory, so only in-memory nodes (tests, benchmarks, the
 * host builder's default) had this.
 *
 * @packageDocumentation
 */

import type { AbortOptions } from '@libp2p/interface'
import { MemoryDatastore } from 'datastore-core'
import type { Key } from 'interface-datastore'

/**
 * `value` itself when it owns its whole `ArrayBuffer`, else an exactly sized copy (never
 * a view of a larger buffer such as Node's pool).
 */
export function ownedBytes(value: Uint8Array): Uint8Array {
  if (value.byteOffset === 0 && value.byteLength === value.buffer.byteLength) return value
  const copy = new Uint8Array(value.byteLength)
  copy.set(value)
  return copy
}

/** A `MemoryDatastore` whose every value owns its buffer (see {@link ownedBytes}). */
export class OwnedMemoryDatastore extends MemoryDatastore {
  override put(key: Key, value: Uint8Array, options?: AbortOptions): Key | Promise<Key> {
    return super.put(key, ownedBytes(value), options)
  }
}
