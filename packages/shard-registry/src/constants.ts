/**
 * Defaults of the shard registry, each overridable through {@link ShardRegistryInit}.
 * Durations are milliseconds, written with their unit in the expression.
 *
 * @packageDocumentation
 */

/** One second in milliseconds. */
export const second = 1000
/** One minute in milliseconds. */
export const minute = 60 * second
/** One hour in milliseconds. */
export const hour = 60 * minute

/** How many shards a node provides at most; adding past it evicts the least recently used one. */
export const DEFAULT_CAPACITY = 10_000

/** How long peers keep the provider records we publish (kad-dht's provider TTL). */
export const PROVIDER_RECORD_TTL = 12 * hour

/** How long before a record lapses on its receivers we republish it. */
export const REPUBLISH_MARGIN = 1 * hour

/**
 * Time from a publication to the next one: the provider TTL minus a margin, so a fresh
 * copy of the record is on the network before the previous one lapses (the original's
 * 12 h interval against a 12 h TTL raced).
 */
export const DEFAULT_REPUBLISH_INTERVAL = PROVIDER_RECORD_TTL - REPUBLISH_MARGIN

/**
 * Upper bound of the random amount subtracted from each scheduled republish, so shards
 * published together are not all republished in the same instant.
 */
export const DEFAULT_REPUBLISH_JITTER = 10 * minute

/** Datastore key prefix under which the registry stores one record per shard. */
export const DEFAULT_PREFIX = '/nsn/shards'

/** Length of a shard hash in bytes. */
export const SHARD_HASH_LENGTH = 32
