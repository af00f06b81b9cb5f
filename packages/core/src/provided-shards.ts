/**
 * What core needs from the set of shards a node provides. `@nsn/shard-registry`'s
 * `ShardRegistry` implements it; core depends only on this shape, so the registry
 * package stays free of libp2p and core free of the registry.
 *
 * @packageDocumentation
 */

/** Why a shard left the set. */
export type ShardRemovalReason = 'capacity' | 'expired' | 'stopped'

/** One provided shard. Times are epoch milliseconds. */
export interface ProvidedShardEntry {
  /** The 32 hash bytes. */
  readonly hash: Uint8Array
  /** The hash as 64 lower-case hex characters. */
  readonly hex: string
  /** When the shard was first provided. */
  readonly providedAt: number
  /** When its record was last published to the network (0 when never). */
  readonly publishedAt: number
  /** When its record is next due for republishing. */
  readonly republishAt: number
  /** When the shard stops being provided on its own; `Infinity` for never. */
  readonly expiresAt: number
}

/** Emitted when a shard leaves the set, whatever the reason. */
export interface ShardRemovedEvent {
  readonly entry: ProvidedShardEntry
  readonly reason: ShardRemovalReason
}

/** Options of {@link ProvidedShards.add}. */
export interface AddShardOptions {
  /** Absolute time at which the shard expires; default: never. */
  expiresAt?: number
}

/** Options of {@link ProvidedShards.markPublished}. */
export interface MarkPublishedOptions {
  /** Publication time; default: the registry's clock. */
  now?: number
  /**
   * When the record is next due; default: `now` + the registry's republish interval
   * minus jitter. A failed publish passes a near time here to retry soon.
   */
  republishAt?: number
}

/**
 * A provided shard with its Kademlia key (the SHA-256 of the shard's multihash: where its
 * provider records live in the keyspace), as read from a region.
 */
export interface RegionShard {
  /** The 32 hash bytes. */
  readonly hash: Uint8Array
  /** The 32-byte Kademlia key. */
  readonly key: Uint8Array
  /** The hash as 64 lower-case hex characters. */
  readonly hex: string
  /** When the shard was first provided. */
  readonly providedAt: number
  /** When its record was last published to the network (0 when never). */
  readonly publishedAt: number
  /** When the shard stops being provided on its own; `Infinity` for never. */
  readonly expiresAt: number
}

/** Options of {@link ProvidedShards.shardsInRegion}. */
export interface ShardRegionOptions {
  signal?: AbortSignal
  /** Only shards whose Kademlia key is above this 32-byte key (to resume a listing). */
  after?: Uint8Array
}

/**
 * The bounded set of shards a node provides; the single source of truth for it. The
 * shards live in a datastore: only `size` and `capacity` are synchronous.
 */
export interface ProvidedShards {
  /** Number of shards in the set. */
  readonly size: number
  /** Maximum number of shards; adding past it evicts the least recently provided one. */
  readonly capacity: number
  /** Whether the shard is in the set. */
  has(hash: Uint8Array): Promise<boolean>
  /** The shard's entry; undefined when absent. */
  get(hash: Uint8Array): Promise<ProvidedShardEntry | undefined>
  /**
   * Adds the shard (or refreshes it as most recently provided) and resolves once that is
   * durable; evictions it causes are emitted as `removed` with reason `capacity`.
   */
  add(hash: Uint8Array, options?: AddShardOptions): Promise<ProvidedShardEntry>
  /** Adds many shards in one batch write; resolves once durable. */
  addMany(hashes: Uint8Array[], options?: AddShardOptions): Promise<ProvidedShardEntry[]>
  /** Removes the shard (reason `stopped`); false when it was absent. */
  delete(hash: Uint8Array): Promise<boolean>
  /** Records a publication and schedules the next one; undefined when absent. */
  markPublished(hash: Uint8Array, options?: MarkPublishedOptions): Promise<ProvidedShardEntry | undefined>
  /** Records a publication for many shards in one batch write. */
  markPublishedMany(hashes: Uint8Array[], options?: MarkPublishedOptions): Promise<void>
  /** Entries whose republish is due at `now`, earliest first, at most `limit`, without scanning the set. */
  due(now?: number, limit?: number): Promise<ProvidedShardEntry[]>
  /** Removes every entry whose expiry has passed (reason `expired`) and returns them. */
  expire(now?: number): Promise<ProvidedShardEntry[]>
  /** The earliest republish or expiry time in the set; undefined when empty. */
  nextDeadline(): Promise<number | undefined>
  /** Entries from least to most recently provided. */
  entries(options?: { signal?: AbortSignal }): AsyncIterable<ProvidedShardEntry>
  /** Shards whose Kademlia key starts with the first `bitLength` bits of `prefix`, in key order; one range read. bitLength 0 = all. */
  shardsInRegion(
    prefix: Uint8Array,
    bitLength: number,
    options?: ShardRegionOptions,
  ): AsyncIterable<RegionShard>
  on(event: 'removed', listener: (event: ShardRemovedEvent) => void): unknown
  off(event: 'removed', listener: (event: ShardRemovedEvent) => void): unknown
}
