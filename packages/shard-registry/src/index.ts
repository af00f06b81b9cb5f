/**
 * `@nsn/shard-registry`: the bounded set of shards an NSN node provides.
 *
 * {@link ShardRegistry} keeps at most `capacity` shards (32-byte hashes) with O(1)
 * `has`/`get`/`touch` and O(1) + O(log n) `add`/`delete`, evicting the least recently used
 * past capacity; it tracks when each shard's provider record is next due for republishing
 * and when the shard expires, and serves both through indexed heaps (`due`, `expire`,
 * `nextDeadline`) without scanning the set. Every removal is emitted as a `removed` event
 * with its reason (`capacity`, `expired`, `stopped`).
 *
 * Given an `interface-datastore` `Datastore`, the registry persists itself: each mutation
 * is one atomic batch, acknowledged only after it committed, and {@link ShardRegistry.open}
 * restores every shard with its timestamps and recency order.
 *
 * The package depends on nothing of libp2p. Its entry type and the `ProvidedShards`
 * interface mirror `@nsn/core`'s, so a registry plugs into core as is.
 *
 * @example
 * ```ts
 * import { ShardRegistry } from '@nsn/shard-registry'
 *
 * const registry = await ShardRegistry.open({ capacity: 10_000, datastore })
 * registry.on('removed', ({ entry, reason }) => console.log('removed', entry.hex, reason))
 * await registry.add(hash)
 * ```
 *
 * @packageDocumentation
 */

export { RECORD_LENGTH, RECORD_VERSION } from './codec.js'
export {
  DEFAULT_CAPACITY,
  DEFAULT_PREFIX,
  DEFAULT_REPUBLISH_INTERVAL,
  DEFAULT_REPUBLISH_JITTER,
  SHARD_HASH_LENGTH,
} from './constants.js'
export {
  CorruptShardRecordError,
  InvalidOptionError,
  InvalidShardHashError,
  NSN_ERROR,
  RegistryNotLoadedError,
  ShardRegistryError,
  type ShardRegistryErrorCode,
} from './errors.js'
export { ShardRegistry, type ShardRegistryEvents, type ShardRegistryInit } from './registry.js'
export type {
  AddShardOptions,
  MarkPublishedOptions,
  ProvidedShardEntry,
  ProvidedShards,
  ShardRemovalReason,
  ShardRemovedEvent,
} from './types.js'
