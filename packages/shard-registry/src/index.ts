/**
 * `@nsn/shard-registry`: the bounded set of shards an NSN node provides.
 *
 * {@link ShardRegistry} keeps at most `capacity` shards (32-byte hashes, 1,000,000 by
 * default) in an `interface-datastore` `Datastore`, keyed by their Kademlia key so that a
 * keyspace region is one range read (`shardsInRegion`); it evicts the least recently
 * provided past capacity, tracks when each shard's provider record is next due for
 * republishing and when the shard expires, and serves both through datastore indexes
 * (`due`, `expire`, `nextDeadline`) without scanning the set. Its heap holds a count, not
 * the shards. Every removal is emitted as a `removed` event with its reason (`capacity`,
 * `expired`, `stopped`). Each mutation is written as atomic batches, acknowledged only
 * after they committed; {@link ShardRegistry.open} reads the journaled count back.
 *
 * The package depends on nothing of libp2p. Its entry type and the `ProvidedShards`
 * interface mirror `@nsn/core`'s, so a registry plugs into core as is.
 *
 * @example
 * ```ts
 * import { ShardRegistry } from '@nsn/shard-registry'
 *
 * const registry = await ShardRegistry.open({ datastore })
 * registry.on('removed', ({ entry, reason }) => console.log('removed', entry.hex, reason))
 * await registry.add(hash)
 * ```
 *
 * @packageDocumentation
 */

export { RECORD_LENGTH, RECORD_VERSION } from './codec.js'
export {
  DEFAULT_BATCH_SIZE,
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
export { kadKeyOf } from './kad-key.js'
export { ShardRegistry, type ShardRegistryEvents, type ShardRegistryInit } from './registry.js'
export type {
  AddShardOptions,
  MarkPublishedOptions,
  ProvidedShardEntry,
  ProvidedShards,
  RegionShard,
  ShardRegionOptions,
  ShardRemovalReason,
  ShardRemovedEvent,
} from './types.js'
