/**
 * The sweep's shard source over a {@link ProvidedShards} set: natively when the set
 * has range reads by Kademlia key (`shardsInRegion`, `markPublishedMany`: the
 * datastore-backed shard store), else an adapter that walks the set's entries and keeps
 * those under the prefix, sorted by key (O(n) a region: fine for the in-memory
 * registry's bounded capacity).
 *
 * @packageDocumentation
 */

import type { ProvidedShardEntry, ProvidedShards } from '../provided-shards.js'
import { hasPrefix, kadKeyOf } from './keyspace.js'
import { multihashOf, type SweepShard, type SweepShardSource } from './sweeper.js'

function bitsOfPrefix(prefix: Uint8Array, bitLength: number): string {
  let bits = ''
  for (let i = 0; i < bitLength; i++) bits += ((prefix[i >> 3] ?? 0) >> (7 - (i & 7))) & 1
  return bits
}

/** A shard source of `registry` (see the module docs). */
export function shardSourceOf(registry: ProvidedShards): SweepShardSource {
  const native = registry as Partial<SweepShardSource>
  if (typeof native.shardsInRegion === 'function' && typeof native.markPublishedMany === 'function') {
    return native as SweepShardSource
  }
  return {
    async *shardsInRegion(prefix, bitLength, options = {}) {
      const bits = bitsOfPrefix(prefix, bitLength)
      const out: SweepShard[] = []
      const entries = (await registry.entries()) as
        | Iterable<ProvidedShardEntry>
        | AsyncIterable<ProvidedShardEntry>
      for await (const entry of entries) {
        options.signal?.throwIfAborted()
        const key = kadKeyOf(multihashOf(entry.hash))
        if (hasPrefix(key, bits))
          out.push({ hash: entry.hash, key, hex: entry.hex, publishedAt: entry.publishedAt })
      }
      out.sort((a, b) => Buffer.compare(a.key, b.key))
      yield* out
    },
    async markPublishedMany(hashes, options) {
      for (const hash of hashes) await registry.markPublished(hash, options)
    },
  }
}
