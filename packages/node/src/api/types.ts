/**
 * The HTTP API's contract: what each route answers (JSON bodies), and what the API
 * needs from the node ({@link ApiBackend}).
 *
 * @packageDocumentation
 */

import type { AbortOptions } from '@libp2p/interface'
import type {
  BootstrapResult,
  ClosestPeer,
  FindProvidersOptions,
  FindProvidersResult,
  FindProvidersSummary,
  ProvideManyOptions,
  ProvideManyResult,
  ProvideManyShardResult,
  ProvideResult,
  QueryType,
  RefreshResult,
  ShardPeer,
  SweepSummary,
} from '@nsn/core'

/** Lifecycle of a node; the API serves requests only while `running`. */
export type NsnNodeState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped'

/** A peer as the API shows it: its id and its addresses as strings. */
export interface ApiPeer {
  peerId: string
  addrs: string[]
}

/** `GET /v1/id`. */
export interface IdResponse {
  peerId: string
  addrs: string[]
}

/** `GET /v1/peers`: the routing-table peers. */
export interface PeersResponse {
  peers: ApiPeer[]
}

/** One provided shard. Times are epoch milliseconds. */
export interface ApiShard {
  hash: string
  cid: string
  providedAt: number
  republishAt: number
}

/**
 * `GET /v1/shards?limit=N&after=K`: one page of the provided shards, in Kademlia key
 * order. `next`, present when more shards follow, is the `after` of the next page.
 */
export interface ShardsResponse {
  shards: ApiShard[]
  next?: string
}

/** A provided shard as the API lists it, read from the node's shard store. */
export interface ShardListEntry {
  readonly hash: Uint8Array
  /** The shard's 32-byte Kademlia key (the listing's order and cursor). */
  readonly key: Uint8Array
  readonly hex: string
  readonly providedAt: number
  readonly republishAt: number
}

/** `PUT /v1/shards/{hash}`: the shard is provided and its record published. */
export interface ProvideResponse {
  hash: string
  cid: string
  /**
   * Peers that confirmed the store: a GET_PROVIDERS after the ADD_PROVIDER on the same
   * stream listed this node. A provide no peer confirmed fails (503, `ERR_NO_PEER_ANSWERED`).
   */
  confirmed: number
  /** Peers the ADD_PROVIDER message was written to, confirmed or not (never a count of stores). */
  sentTo: number
  /** Confirmations needed: `ceil(PROVIDE_QUORUM x closest peers found)`, at least 1. */
  quorum: number
  /** True when fewer than `quorum` peers confirmed (the shard is still provided). */
  belowQuorum: boolean
  durationMs: number
}

/** `DELETE /v1/shards/{hash}`. */
export interface StopProvidingResponse {
  hash: string
  cid: string
}

/** `GET /v1/shards/{hash}/providers?limit=N`. */
export interface FindProvidersResponse {
  providers: ApiPeer[]
  /** True when the deadline cut the lookup short after some providers were found. */
  partial: boolean
  durationMs: number
}

/**
 * The last line of `GET /v1/shards/{hash}/providers` streamed (`Accept:
 * application/x-ndjson`), after one {@link ApiPeer} line per provider as it was found.
 */
export interface FindProvidersStreamEnd {
  done: true
  /** True when the deadline cut the lookup short after some providers were found. */
  partial: boolean
  durationMs: number
  /** Provider lines sent. */
  found: number
  /** True when the answer came from the node's provider cache (no DHT query ran). */
  fromCache: boolean
}

/**
 * A line that ends a streamed answer in error (the answer's status was already 200): the
 * status the error would have had, with its code and message.
 */
export interface ApiErrorLine {
  error: { code: string; message: string; status: number }
}

/** `GET /v1/closest-peers/{key}`: sorted by XOR distance to the key. */
export interface ClosestPeersResponse {
  peers: ApiPeer[]
}

/** `POST /v1/bootstrap`. */
export interface BootstrapResponse {
  connected: number
  failed: number
  routingTableSize: number
  durationMs: number
}

/** `POST /v1/refresh`. */
export interface RefreshResponse {
  removed: number
  checked: number
  sizeBefore: number
  sizeAfter: number
  lookups: number
  /** Bucket lookups that failed, and why. */
  failedLookups: number
  errors: string[]
  durationMs: number
}

/** How DHT operations of one type ended since the node started. */
export interface OperationCounts {
  ok: number
  /** Cut by the query deadline. */
  timeout: number
  /** Failed otherwise (no known peers, no peer answered...). */
  error: number
}

/**
 * `GET /v1/stats`: a summary of the node, read from what it already tracks (the routing
 * table, libp2p's connections, the registry, the provider store, its metrics registry).
 */
export interface StatsResponse {
  peerId: string
  version: string
  /** When the node started, epoch ms. */
  startedAt: number
  uptimeMs: number
  routingTableSize: number
  /** Open libp2p connections, and the distinct peers they reach. */
  connections: { open: number; peers: number }
  /** Shards this node provides, and the registry's capacity (`--max-shards`). */
  shards: { provided: number; capacity: number }
  /** Provider records this node stores for other peers. */
  providerRecordsStored: number
  /**
   * DHT operations since start, by type (`provide`, `find_providers`: lookups that asked
   * the network, `closest_peers`, `bootstrap`, `refresh`, `republish`...), by how they
   * ended: the counts of `nsn_p2p_kademlia_query_duration_seconds`.
   */
  operations: Record<QueryType, OperationCounts>
  /**
   * The hot-shard provider cache: lookups it answered (`hits`, no DHT query ran) and
   * could not (`misses`), `hitRate` = hits / (hits + misses) (null before any lookup);
   * null when the cache is off.
   */
  providerCache: {
    hits: number
    misses: number
    hitRate: number | null
    entries: number
    bytes: number
  } | null
}

/** `GET /healthz`. */
export interface HealthResponse {
  status: 'ok' | NsnNodeState
}

/** Every error answer. */
export interface ApiErrorBody {
  error: { code: string; message: string }
}

/** What the API needs from the node; `NsnNode` implements it. */
export interface ApiBackend {
  readonly state: NsnNodeState
  id(): IdResponse
  peers(): Promise<ShardPeer[]>
  /** The provided shards in Kademlia key order, from above `after` (a Kademlia key) when given. */
  shards(options?: { after?: Uint8Array; signal?: AbortSignal }): AsyncIterable<ShardListEntry>
  /** Provides a shard; `groups`: announcement group topics (with gossip on). */
  provide(hash: string, options?: AbortOptions & { groups?: readonly string[] }): Promise<ProvideResult>
  /** False when the shard was not provided. */
  stopProviding(hash: string): Promise<boolean>
  findProviders(hash: string, options?: FindProvidersOptions): Promise<FindProvidersResult>
  /**
   * The lookup streamed: providers as they are found, the summary as the return value.
   * Without it, a streamed request gets the whole answer of `findProviders` as lines.
   */
  findProvidersStream?(
    hash: string,
    options?: FindProvidersOptions,
  ): AsyncGenerator<ShardPeer, FindProvidersSummary, undefined>
  /** `key`: a shard hash or a peer id. */
  closestPeers(key: string, options?: AbortOptions): Promise<ClosestPeer[]>
  bootstrap(options?: AbortOptions): Promise<BootstrapResult>
  refresh(options?: AbortOptions): Promise<RefreshResult>
  /** The node's summary (`GET /v1/stats`). */
  stats(): Promise<StatsResponse>
  /** The subscribed announcement topics (`GET /v1/topics`); throws `GossipOffError` with gossip off. */
  topics?(): ApiTopic[]
  /** One subscribed group's topic; throws `TopicNotSubscribedError` when not subscribed. */
  topic?(group: string): ApiTopic
  /** Subscribes to a group's topic (`PUT /v1/topics/{name}`). */
  subscribeTopic?(group: string): Promise<{ topic: ApiTopic; created: boolean }>
  /** Unsubscribes from a group's topic (`DELETE /v1/topics/{name}`). */
  unsubscribeTopic?(group: string): Promise<void>
  /** Provides many shards at once (`POST /v1/shards`); `onShard` hears each as it completes. */
  provideMany?(hashes: string[], options?: ProvideManyOptions): Promise<ProvideManyResult>
  /** Runs a whole republish cycle now (`POST /v1/republish`). */
  republishCycle?(
    options?: AbortOptions & { onShard?: (result: ProvideManyShardResult) => void },
  ): Promise<SweepSummary>
}

/** An announcement topic this node is subscribed to. */
export interface ApiTopic {
  /** The group name, or null for the network-wide topic (`/nsn/shards/1`). */
  group: string | null
  /** The gossipsub topic. */
  topic: string
  /** Peers in this node's mesh of the topic. */
  meshPeers: number
  /** Peers known to be subscribed to it. */
  subscribers: number
}

/** `GET /v1/topics`. */
export interface TopicsResponse {
  topics: ApiTopic[]
}

/** `PUT /v1/topics/{name}`: the topic, and whether this call subscribed (false: it was already). */
export interface SubscribeTopicResponse extends ApiTopic {
  subscribed: boolean
}

/** `DELETE /v1/topics/{name}`. */
export interface UnsubscribeTopicResponse {
  group: string
  unsubscribed: true
}

/** One shard's line of `POST /v1/shards` and `POST /v1/republish` (JSON lines). */
export interface BatchShardLine {
  hash: string
  cid?: string
  /** Peers that confirmed its record. */
  confirmed: number
  /** Why no peer confirmed it (or why the hash was refused). */
  error?: { code: string; message: string }
}

/** The last line of `POST /v1/shards`. */
export interface ProvideManySummaryLine {
  summary: { provided: number; failed: number; confirmedMedian: number; lookups: number; durationMs: number }
}

/** The answer of `POST /v1/republish` (without JSON lines: only it), or its last line. */
export interface RepublishSummaryLine {
  summary: {
    shards: number
    regions: number
    lookups: number
    confirmedMedian: number
    failed: number
    durationMs: number
  }
}
