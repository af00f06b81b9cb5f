/**
 * The observer interface: what core reports about its work, for a metrics adapter
 * (such as `@nsn/metrics`) to consume. Core depends on no metrics library. Every
 * method is optional; observers must not throw (core catches and logs if they do).
 *
 * @packageDocumentation
 */

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
  /** How many peers the ADD_PROVIDER message was written to (not a count of confirmed stores). */
  sentTo: number
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

/** What core reports. Every method is optional. */
export interface DhtObserver {
  queryStarted?(event: QueryStartedEvent): void
  queryEnded?(event: QueryEndedEvent): void
  routingTableSizeChanged?(size: number): void
  providerRecordPublished?(event: ProviderRecordPublishedEvent): void
  bootstrapSucceeded?(event: BootstrapEvent): void
  bootstrapFailed?(event: BootstrapEvent): void
  republishRunEnded?(event: RepublishRunEvent): void
}
