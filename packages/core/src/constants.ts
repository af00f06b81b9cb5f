/**
 * Every NSN default in one place. Each is overridable through the options of the
 * component that uses it; tests shrink intervals through those options, never by
 * editing these values.
 *
 * @packageDocumentation
 */

/** One second in milliseconds. */
export const second = 1000
/** One minute in milliseconds. */
export const minute = 60 * second
/** One hour in milliseconds. */
export const hour = 60 * minute

/** The NSN Kademlia protocol id; it keeps NSN nodes apart from the public IPFS DHT. */
export const NSN_DHT_PROTOCOL = '/nsn/kad/1.0.0'

/** k: bucket size, and how many peers a record is replicated to. */
export const K_BUCKET_SIZE = 20

/**
 * Deadline of every DHT query, ours and the background ones (kad-dht's own default is 180 s).
 */
export const QUERY_TIMEOUT = 10 * second

/**
 * How often kad-dht looks up this node's own id (its self-query), the first time
 * included: NSN's bootstrap does the first self-lookup itself.
 */
export const SELF_QUERY_INTERVAL = 5 * minute

/** How often the routing table is refreshed (stale peers dropped, buckets looked up). */
export const REFRESH_INTERVAL = 5 * minute

/** How long peers that receive our provider records keep them. */
export const PROVIDER_RECORD_TTL = 12 * hour

/**
 * How long before a record lapses on its receivers we republish it. The original
 * republished every 12 h against a 12 h TTL, which races: records vanished for
 * whatever time a republish took. Republishing at TTL minus this margin (minus a
 * random jitter of up to {@link REPUBLISH_JITTER}) keeps a fresh copy on the network
 * at all times, and the jitter spreads a node's republishes instead of bursting them.
 * `republishTiming(providerTtl)` applies it (a shorter TTL gets a proportionally shorter margin).
 */
export const REPUBLISH_MARGIN = 1 * hour

/**
 * Upper bound of the random amount subtracted from each shard's republish time (see
 * `republishTiming`).
 */
export const REPUBLISH_JITTER = 10 * minute

/** How often the republish scheduler wakes up at most, even when nothing is due. */
export const REPUBLISH_CHECK_INTERVAL = 1 * minute

/** How many shards are republished at once. */
export const REPUBLISH_CONCURRENCY = 4

/** How many shards a node provides at most; least recently used ones are evicted past it. */
export const REGISTRY_CAPACITY = 10_000

/** `findProviders` stops once this many providers are known (Kubo's `findprovs` default). */
export const FIND_PROVIDERS_LIMIT = 20

/** How many routing-table peers are pinged at once when a refresh checks liveness. */
export const REFRESH_PING_CONCURRENCY = 10

/** Length in bytes of a shard hash. */
export const SHARD_HASH_LENGTH = 32

/** How often kad-dht deletes expired records of other peers; a record lives at most TTL plus this. */
export const PROVIDER_CLEANUP_INTERVAL = 10 * minute

/** How soon a failed republish is retried. */
export const REPUBLISH_RETRY_DELAY = 1 * minute

/**
 * The `local` host profile (`@nsn/core/host`), for networks on one machine: tests, the
 * demo, benchmarks. Every value is a deliberate change from libp2p's defaults:
 * - listen on a free TCP port of 127.0.0.1;
 * - every dial on one host arrives from 127.0.0.1, so libp2p's limit of 5 inbound
 *   connections per second per address would refuse most of a many-node network: the
 *   limit is raised and loopback is allow-listed;
 * - the connection monitor pings every connection: 100 idle nodes in one process used
 *   77 % of a core with it and 7 % without, so it is off.
 */
export const LOCAL_PROFILE = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  inboundConnectionThreshold: 100_000,
  maxIncomingPendingConnections: 1_000,
  allow: ['/ip4/127.0.0.1/ipcidr/8'],
  connectionMonitorInterval: 0,
} as const
