/**
 * Defaults of the shard registry, each overridable through {@link ShardRegistryInit}.
 * Durations are milliseconds.
 *
 * The registry knows nothing of provider-record TTLs or of the network: its republish
 * timing is an option its caller passes. An NSN node computes it with `@nsn/core`'s
 * `republishTiming(providerTtl)`, the one place that derives it from the TTL; the
 * defaults below are what that gives for the 12 h default TTL, for a registry used on
 * its own (a test in `@nsn/core` keeps them in step).
 *
 * @packageDocumentation
 */

/** How many shards a node provides at most; adding past it evicts the least recently provided one. */
export const DEFAULT_CAPACITY = 1_000_000

/**
 * Most shards written in one datastore batch by `addMany`, `markPublishedMany`, `expire`
 * and the load-time eviction: large enough to amortise a commit, small enough that one
 * batch's buffers stay well under a megabyte.
 */
export const DEFAULT_BATCH_SIZE = 1000

/** Time from a publication to the next, in ms: 11 h (a 12 h provider-record TTL minus a 1 h margin). */
export const DEFAULT_REPUBLISH_INTERVAL = 11 * 60 * 60 * 1000

/**
 * Upper bound of the random amount subtracted from each scheduled republish, in ms: 10 min,
 * so shards published together are not all republished in the same instant.
 */
export const DEFAULT_REPUBLISH_JITTER = 10 * 60 * 1000

/** Datastore key prefix under which the registry stores its shards and their indexes. */
export const DEFAULT_PREFIX = '/nsn/shards'

/** Length of a shard hash in bytes. */
export const SHARD_HASH_LENGTH = 32
