/**
 * The observer interface: what core reports about its work, for a metrics adapter
 * (such as `@nsn/metrics`) to consume. Core depends on no metrics library. Every
 * method is optional; observers must not throw (core catches and logs if they do).
 *
 * @packageDocumentation
 */

import type { ProviderCacheEvictionReason } from './provider-cache.js'

/** Kind of a DHT query, as the `type` label of query metrics. */
export type QueryType =
  | 'provide'
  | 'find_providers'
  | 'closest_peers'
  | 'find_peer'
  | 'bootstrap'
  | 'refresh'
  | 'republish'

/** Every {@link QueryType}, for label pre-initialisation. */
export const QUERY_TYPES: readonly QueryType[] = [
  'provide',
  'find_providers',
  'closest_peers',
  'find_peer',
  'bootstrap',
  'refresh',
  'republish',
]

/** How a query ended, as the `result` label of query metrics. */
export type QueryResult = 'ok' | 'timeout' | 'error'

/** Every {@link QueryResult}. */
export const QUERY_RESULTS: readonly QueryResult[] = ['ok', 'timeout', 'error']

export interface QueryStartedEvent {
  type: QueryType
}

export interface QueryEndedEvent {
  type: QueryType
  result: QueryResult
  /** Wall time from start to end, in milliseconds. */
  durationMs: number
  /** The error of a `timeout` or `error` result. */
  error?: Error
}

export interface ProviderRecordPublishedEvent {
  /** The shard hash, 64 hex. */
  shard: string
  /** Peers that confirmed the store (a GET_PROVIDERS after the ADD_PROVIDER listed this node). */
  confirmed: number
  /** Peers the ADD_PROVIDER message was written to (confirmed or not). */
  sentTo: number
  /** True when fewer peers than the provide quorum confirmed. */
  belowQuorum: boolean
  /** True when this was a republish by the scheduler. */
  republish: boolean
}

export interface BootstrapEvent {
  /** Peers that were dialled successfully. */
  connected: number
  /** Peers that could not be dialled. */
  failed: number
  /** Routing-table size afterwards. */
  routingTableSize: number
  error?: Error
}

export interface RepublishRunEvent {
  /** Shards that were due and republished successfully. */
  republished: number
  /** Shards whose republish failed (they are retried). */
  failed: number
  durationMs: number
}

/** An inbound DHT request type the guard lets through to kad-dht, as the `type` label. */
export type InboundRequestType = 'ping' | 'find_node' | 'get_providers' | 'add_provider'

/** Every {@link InboundRequestType}, for label pre-initialisation. */
export const INBOUND_REQUEST_TYPES: readonly InboundRequestType[] = [
  'ping',
  'find_node',
  'get_providers',
  'add_provider',
]

/**
 * Why the inbound guard rejected a message, as the `reason` label:
 * - `too_large`: its length prefix exceeds the maximum message size (or is no varint);
 * - `truncated`: the sender closed its end inside a frame (prefix or body);
 * - `malformed`: not a protobuf Kademlia message, an unparseable or oversized address,
 *   a record where none belongs, an ADD_PROVIDER without a provider;
 * - `bad_key`: a key of the wrong length or codec for its type;
 * - `too_many_peers`: closer peers in a request, or providers where none (or one) belongs;
 * - `too_many_addresses`: more addresses for a peer than the bound;
 * - `foreign_provider`: an ADD_PROVIDER naming another peer than its sender;
 * - `rate_limited`: over the sender's or the global request rate;
 * - `unsupported_type`: GET_VALUE, PUT_VALUE (NSN uses no records) or an unknown type;
 * - `provider_key_full`, `provider_key_group_full`, `provider_peer_full`,
 *   `provider_store_full`: a valid ADD_PROVIDER whose record the bounded provider store
 *   refused (the key has its maximum of providers, or of providers from the IP group of
 *   the connection the message arrived on; the sender its maximum of records; the store
 *   its total); the protocol has no answer for this, so nothing is sent and the stream
 *   stays open.
 */
export type InboundRejectReason =
  | 'too_large'
  | 'truncated'
  | 'malformed'
  | 'bad_key'
  | 'too_many_peers'
  | 'too_many_addresses'
  | 'foreign_provider'
  | 'rate_limited'
  | 'unsupported_type'
  | 'provider_key_full'
  | 'provider_key_group_full'
  | 'provider_peer_full'
  | 'provider_store_full'

/** Every {@link InboundRejectReason}, for label pre-initialisation. */
export const INBOUND_REJECT_REASONS: readonly InboundRejectReason[] = [
  'too_large',
  'truncated',
  'malformed',
  'bad_key',
  'too_many_peers',
  'too_many_addresses',
  'foreign_provider',
  'rate_limited',
  'unsupported_type',
  'provider_key_full',
  'provider_key_group_full',
  'provider_peer_full',
  'provider_store_full',
]

export interface InboundRequestEvent {
  type: InboundRequestType
}

export interface InboundRejectedEvent {
  reason: InboundRejectReason
  /** The sender, as a string peer id. */
  peer: string
}

/**
 * Why the answer guard rejected a whole answer to one of this node's requests (the
 * request fails, the query moves on), as the `reason` label:
 * - `too_large`: its length prefix exceeds the maximum answer size (or is no varint);
 * - `truncated`: the stream ended inside the answer's frame;
 * - `malformed`: not a protobuf Kademlia message, or no answer at all.
 */
export type AnswerRejectReason = 'too_large' | 'truncated' | 'malformed'

/** Every {@link AnswerRejectReason}, for label pre-initialisation. */
export const ANSWER_REJECT_REASONS: readonly AnswerRejectReason[] = ['too_large', 'truncated', 'malformed']

/**
 * What the answer guard dropped from an accepted answer, as the `reason` label (the
 * count is of peers for the first four, of addresses for the last two):
 * - `too_many_closer_peers`: closer peers beyond k;
 * - `too_many_providers`: providers beyond the bound;
 * - `bad_peer_id`: a closer peer or provider whose id is no valid peer id;
 * - `provider_without_address`: a provider none of whose addresses is valid;
 * - `too_many_addresses`: addresses of one peer beyond the bound;
 * - `bad_address`: an unparseable address, or one longer than the bound.
 */
export type AnswerDropReason =
  | 'too_many_closer_peers'
  | 'too_many_providers'
  | 'bad_peer_id'
  | 'provider_without_address'
  | 'too_many_addresses'
  | 'bad_address'

/** Every {@link AnswerDropReason}, for label pre-initialisation. */
export const ANSWER_DROP_REASONS: readonly AnswerDropReason[] = [
  'too_many_closer_peers',
  'too_many_providers',
  'bad_peer_id',
  'provider_without_address',
  'too_many_addresses',
  'bad_address',
]

export interface AnswerRejectedEvent {
  reason: AnswerRejectReason
}

export interface AnswerTrimmedEvent {
  reason: AnswerDropReason
  /** How many peers or addresses were dropped for this reason from one answer (> 0). */
  dropped: number
}

/**
 * Why a peer was removed from the routing table, as the `reason` label:
 * - `timeouts`: its requests timed out `evictAfter` times in a row (`requestTimeouts`).
 */
export type PeerEvictionReason = 'timeouts'

/** Every {@link PeerEvictionReason}, for label pre-initialisation. */
export const PEER_EVICTION_REASONS: readonly PeerEvictionReason[] = ['timeouts']

export interface PeerEvictedEvent {
  reason: PeerEvictionReason
  /** The evicted peer, as a string. */
  peer: string
}

/** Whether a lookup was answered from the provider cache, as the `result` of a cache lookup. */
export type ProviderCacheLookupResult = 'hit' | 'miss'

export interface ProviderCacheLookupEvent {
  /**
   * `hit`: answered from the provider cache (no DHT query ran); `miss`: the cache had no
   * unexpired entry with enough providers, so the network was asked. Lookups with
   * `cache: false` consult no cache and count as neither.
   */
  result: ProviderCacheLookupResult
}

export interface ProviderCacheEvictedEvent {
  /** Why (`provider-cache.ts`), as the `reason` label. */
  reason: ProviderCacheEvictionReason
  /** Entries removed at once (> 0). */
  count: number
}

export interface ProviderCacheSizeEvent {
  /** Entries held now (expired ones included until read or pruned). */
  entries: number
  /** Their estimated bytes. */
  bytes: number
}

/**
 * Why a peer was kept out of the routing table or out of a lookup, as the `reason` label
 * (`routing-diversity.ts`, `routing-admission.ts`):
 * - `bucket`: the table already holds `perBucket` peers of one of its IP groups in its
 *   k-bucket (its common prefix length with this node);
 * - `table`: the table already holds `perTable` peers of one of its IP groups;
 * - `quarantine`: it was evicted by request timeouts and its quarantine has not ended
 *   (refused by the table, or dropped from an answer's closer peers);
 * - `answer`: dropped from an answer's closer peers because `perTable` peers of one of
 *   its IP groups were already taken from answers during the same lookup.
 */
export type RoutingRefusalReason = 'bucket' | 'table' | 'quarantine' | 'answer'

/** Every {@link RoutingRefusalReason}, for label pre-initialisation. */
export const ROUTING_REFUSAL_REASONS: readonly RoutingRefusalReason[] = [
  'bucket',
  'table',
  'quarantine',
  'answer',
]

export interface RoutingRefusedEvent {
  reason: RoutingRefusalReason
  /** The refused peer, as a string. */
  peer: string
  /** The IP group that was full (`bucket`, `table`, `answer`). */
  group?: string
}

/** The network-size estimate changed (a lookup was added to it). */
export interface NetworkSizeEvent {
  /** Estimated peers in the network. */
  size: number
  /** Lookups the estimate rests on. */
  samples: number
}

/** An optimistic provide returned (`optimistic-provide.ts`). */
export interface OptimisticProvideEvent {
  /** The shard's hash as hex. */
  shard: string
  /** The network-size estimate it used. */
  networkSize: number
  /** Records sent while the lookup ran (below the send threshold). */
  early: number
  /** Records sent in all. */
  sentTo: number
  /** Stores confirmed when the call returned. */
  confirmed: number
  /** Sends left to finish in the background. */
  background: number
  /** True when the thresholds stopped the lookup before its end. */
  stoppedEarly: boolean
}

/** A record send of an optimistic provide finished in the background. */
export interface OptimisticBackgroundSendEvent {
  /** True when the receiver confirmed the store. */
  confirmed: boolean
}

/** What core reports. Every method is optional. */
export interface DhtObserver {
  queryStarted?(event: QueryStartedEvent): void
  queryEnded?(event: QueryEndedEvent): void
  routingTableSizeChanged?(size: number): void
  providerRecordPublished?(event: ProviderRecordPublishedEvent): void
  bootstrapSucceeded?(event: BootstrapEvent): void
  bootstrapFailed?(event: BootstrapEvent): void
  republishRunEnded?(event: RepublishRunEvent): void
  /** An inbound DHT request passed the inbound guard and goes to kad-dht's handler. */
  inboundRequestHandled?(event: InboundRequestEvent): void
  /**
   * The inbound guard rejected a message and reset its stream, or the provider store
   * refused an ADD_PROVIDER's record (`provider_*` reasons; the stream stays open).
   */
  inboundRejected?(event: InboundRejectedEvent): void
  /** The answer guard rejected another peer's answer to this node: that request failed. */
  answerRejected?(event: AnswerRejectedEvent): void
  /** The answer guard dropped peers or addresses from another peer's answer. */
  answerTrimmed?(event: AnswerTrimmedEvent): void
  /** A peer was removed from the routing table by NSN (not by kad-dht's own pings). */
  peerEvicted?(event: PeerEvictedEvent): void
  /** A provider lookup consulted the hot-shard provider cache. */
  providerCacheLookup?(event: ProviderCacheLookupEvent): void
  /** Entries left the provider cache. */
  providerCacheEvicted?(event: ProviderCacheEvictedEvent): void
  /** The provider cache's entries or bytes changed. */
  providerCacheSizeChanged?(event: ProviderCacheSizeEvent): void
  /**
   * A peer was refused entry to the routing table, or dropped from an answer's closer
   * peers, by the diversity filter or the eviction quarantine. Counts refused attempts:
   * kad-dht tries a refused peer again at each connection or answer.
   */
  routingRefused?(event: RoutingRefusedEvent): void
  /** The network-size estimate of optimistic provide changed. */
  networkSizeEstimated?(event: NetworkSizeEvent): void
  /** An optimistic provide returned (its background sends may still run). */
  optimisticProvideEnded?(event: OptimisticProvideEvent): void
  /** A background record send of an optimistic provide finished; failures count here. */
  optimisticBackgroundSendEnded?(event: OptimisticBackgroundSendEvent): void
  /** A region pass of the sweep ended (scheduled, a whole cycle, or a bulk provide). */
  sweepRegionEnded?(event: SweepRegionEvent): void
  /** The sweep's cycle moved on (after each scheduled region). */
  sweepProgress?(event: SweepProgressEvent): void
}

/** What one region pass of the sweep did. */
export interface SweepRegionEvent {
  /** The region's prefix, `0`/`1` characters. */
  bits: string
  /** `republish` (the schedule or a whole cycle) or `provide` (a batch of new shards). */
  origin: 'republish' | 'provide'
  shards: number
  /** Peers records were sent to. */
  peers: number
  /** Peers that confirmed. */
  reachablePeers: number
  /** Lookups (explorations). */
  lookups: number
  confirmedPlacements: number
  failedPlacements: number
  /** Shards last published more than an interval before the pass. */
  overdue: number
  /** True when too few peers were reachable: retried later. */
  retry: boolean
  durationMs: number
}

/** Where the sweep's cycle is. */
export interface SweepProgressEvent {
  cycle: number
  /** Share of the interval elapsed in this cycle, 0..1. */
  progress: number
  regions: number
  pending: number
  lookups: number
}
