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
 * included: NSN's bootstrap does the first self-lookup itself, and every refresh
 * ({@link REFRESH_INTERVAL}) starts with one, so this only backs them up (refreshes can
 * be turned off); kad-dht's 5 min, next to the refresh's, added a lookup burst every
 * 5 min on 100 idle nodes in one process (`bench/idle-probe.mjs`).
 */
export const SELF_QUERY_INTERVAL = 10 * minute

/**
 * How often the routing table is refreshed: stale peers dropped, this node's own id
 * looked up, then each bucket the self-lookup did not cover (`refresher.ts`).
 */
export const REFRESH_INTERVAL = 5 * minute

/**
 * Each wait between two scheduled refreshes is drawn from {@link REFRESH_INTERVAL} x
 * (1 ± this), 4 to 6 min: on average the interval, but nodes started together (a
 * restarted deployment, a benchmark) drift apart instead of refreshing in the same second
 * for ever. 100 idle nodes of one process (`bench/idle-probe.mjs`) all refreshed within
 * the same minute every 5 min, at about 100 % of a core for that minute, their requests
 * waiting on each other.
 */
export const REFRESH_JITTER = 0.2

/**
 * Longest time between two lookups of one bucket by the scheduled refreshes, in ms. A
 * bucket lookup that found no new peer waits 3, 7, 15... refreshes before the next, up to
 * this gap; a bucket that lost peers is looked up at the next refresh
 * (`bucket-refresh-backoff.ts`). Kademlia (section 2.3) refreshes a bucket in which no
 * lookup ran for an hour; go-libp2p-kad-dht every bucket every 10 min. On 100 idle nodes
 * in one process (`bench/idle-probe.mjs`), every refresh ran 3 bucket lookups besides its
 * self-lookup, and these lookup bursts were most of the nodes' CPU time.
 */
export const BUCKET_REFRESH_MAX_GAP = 1 * hour

/**
 * Peers whose addresses the answers to FIND_NODE and GET_PROVIDERS keep at hand
 * (`offline-closest.ts`): above a routing table's size, so every table peer fits.
 */
export const OFFLINE_CLOSEST_CACHE_CAPACITY = 4_096

/**
 * How long a peer's cached addresses answer FIND_NODE and GET_PROVIDERS, in ms, unless
 * libp2p reports a change to the peer first (`peer:update`). The peer store drops
 * addresses not seen for an hour; this bounds how long the cache still serves one.
 */
export const OFFLINE_CLOSEST_CACHE_TTL = 1 * minute

/**
 * A refresh also runs once the routing table has doubled since the last one ended, but
 * not sooner than this after it. A node that joined an early, small network refreshed
 * its buckets when it knew a handful of peers and not again for {@link REFRESH_INTERVAL}:
 * its lookups met fewer than k peers, so it had no network-size estimate (26 of 50 nodes
 * of a bench network a minute after they joined) and its provides were not optimistic.
 */
export const REFRESH_ON_GROWTH_MIN_GAP = 30 * second

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

/**
 * Most due shards one republish run takes; the rest are taken by the next run, at once.
 * Bounds a run's memory whatever the number of provided shards.
 */
export const REPUBLISH_DUE_LIMIT = 10_000

/**
 * How many shards a node provides at most; least recently provided ones are evicted past
 * it. The shard store keeps them in the datastore, so its heap does not grow with them.
 */
export const REGISTRY_CAPACITY = 1_000_000

/** `findProviders` stops once this many providers are known (Kubo's `findprovs` default). */
export const FIND_PROVIDERS_LIMIT = 20

/**
 * Concurrent outbound ping streams to one peer (libp2p's default is 1). kad-dht pings a
 * peer from two queues (new-contact verification and the full-bucket check of old
 * contacts), the refresher and the connection monitor ping too; with a limit of 1 the
 * second ping fails with `TooManyOutboundProtocolStreamsError`, which kad-dht reads as
 * "the peer is dead" and evicts a live, connected peer that then never comes back while
 * the connection stays open (measured: the k-bucket integration test, 2 in 12 runs on a
 * loaded machine).
 */
export const PING_MAX_OUTBOUND_STREAMS = 4

/**
 * How often libp2p's connection monitor pings each connection of an NSN host, in ms
 * (libp2p's default: 10 s). A ping opens a stream (multistream-select, Noise frames, a
 * close) at both ends, about 1 ms of CPU per ping, and the monitor pings every
 * connection of a host at once. 100 idle daemon-configured nodes in one process
 * (`bench/idle-probe.mjs`), every node connected to the 99 others, spent about 10 % of a
 * core on it at 2 min (measured before, when the network had not yet converged: 23-37 %
 * at 10 s, 14 % at 1 min, 6 % at 2 min). Dead peers leave the routing table through the
 * per-peer request timeouts and the refresh, not through the monitor; the monitor closes
 * a dead connection within the interval plus the ping timeout. Between its pings,
 * yamux's keep-alive ({@link MUXER_KEEP_ALIVE_INTERVAL}) keeps idle sockets open.
 */
export const CONNECTION_MONITOR_INTERVAL = 5 * minute

/**
 * How often yamux pings each connection (a ping frame, no stream; yamux's default is
 * 30 s). `@libp2p/tcp` closes a socket that carried no byte for 2 min (its socket
 * inactivity timeout), so an idle connection needs a frame more often than that: with
 * yamux's keep-alive off and the connection monitor at 5 min, 100 idle nodes closed
 * 19,286 connections in 10 min and re-dialled 8,346. Half the TCP timeout keeps them
 * open at half the cost of yamux's 30 s. It never closes a connection that does not
 * answer: the connection monitor does.
 */
export const MUXER_KEEP_ALIVE_INTERVAL = 1 * minute

/**
 * Shortest wait of libp2p's connection monitor for a ping's answer before it aborts the
 * connection (`@nsn/core/host`'s `connectionMonitorTimeout`), in ms, but never more than
 * half the ping interval. libp2p's floor is 5 s, and it aborts the connection, with
 * every DHT request on it, at the first ping answered later: a peer or a process busy
 * for a few seconds (a burst of lookups, a GC pause, a loaded host, the monitor's own
 * burst of pings) lost its connections. A longer wait alone is not enough: the monitor
 * starts a ping per connection at every interval without waiting for the last one, and
 * pings waiting longer than the interval pile up in the ping protocol's few streams per
 * connection ({@link PING_MAX_OUTBOUND_STREAMS}), where kad-dht's own pings of new and
 * old routing-table contacts (and the refresher's) then find no stream, fail, and get
 * the peer refused or evicted from the table. At most half the interval keeps one
 * monitor ping per connection at a time.
 */
export const CONNECTION_MONITOR_PING_TIMEOUT = 30 * second

/** Concurrent inbound ping streams per connection accepted (libp2p's default is 2). */
export const PING_MAX_INBOUND_STREAMS = 4

/** How many routing-table peers are pinged at once when a refresh checks liveness. */
export const REFRESH_PING_CONCURRENCY = 10

/**
 * How many bucket lookups a refresh runs at once: one after another, as
 * go-libp2p-kad-dht does (kad-dht: all at once). All at once, 50 freshly joined nodes on
 * one host under the wide-area emulation delayed their answers past the request timeouts:
 * 36 healthy peers evicted in a minute; 2 at once, 22; one at a time, 5.
 */
export const REFRESH_LOOKUP_CONCURRENCY = 1

/**
 * The deadline of a whole refresh, in ms: its liveness pings, then up to 16 bucket
 * lookups one after another, each under its own query deadline. Under the query
 * deadline alone (10 s), 45 of 57 refreshes of a 50-node network joining under the
 * wide-area emulation were cut before their last buckets.
 */
export const REFRESH_TIMEOUT = 3 * minute

/**
 * The share of a provide's closest peers (at most k) that must confirm the store for the
 * provide to reach its quorum: `ceil(PROVIDE_QUORUM x closest peers found)`, at least 1.
 * A fraction, not a count, because NSN networks are often smaller than k (a 3-node
 * network has 2 closest peers: both must confirm) and a fixed count of 15 would call
 * every provide there "below quorum". On a full network it is 15 of 20: a lookup still
 * finds the record while up to a quarter of the replicas drop it or churn away, and a
 * provide where more than a quarter of the closest peers did not confirm is reported
 * (`belowQuorum`), never hidden. It is a report, not a failure: only a provide that no
 * peer confirmed fails.
 */
export const PROVIDE_QUORUM = 0.75

/**
 * Closest peers a provide sends its record to (and asks to confirm it) at once: all k, as
 * kad-dht's own provide does; fewer would put a second round trip on every provide.
 */
export const PROVIDE_CONCURRENCY = K_BUCKET_SIZE

/** Length in bytes of a shard hash. */
export const SHARD_HASH_LENGTH = 32

/** How often kad-dht deletes expired records of other peers; a record lives at most TTL plus this. */
export const PROVIDER_CLEANUP_INTERVAL = 10 * minute

/** How soon a failed republish is retried. */
export const REPUBLISH_RETRY_DELAY = 1 * minute

/**
 * Providers this node keeps per key (others than itself), as rust-libp2p's `MemoryStore`
 * and the provider-spillover proposal in ipfs/specs: k of them, which is what a lookup
 * returns ({@link FIND_PROVIDERS_LIMIT}). When a key is full, existing unexpired records
 * are kept and newcomers refused. Plain kad-dht stored 6,319 providers for one key.
 */
export const MAX_PROVIDERS_PER_KEY = 20

/**
 * Providers of one key this node keeps from one IP group (IPv4 /16, IPv6 /32: the group
 * of the connection each ADD_PROVIDER arrived on), as the routing table's per-bucket
 * diversity ({@link ROUTING_DIVERSITY_PER_BUCKET}). Without it, 60 valid identities from
 * one IP filled a key's {@link MAX_PROVIDERS_PER_KEY} slots before the honest provider,
 * whose record was then refused for the records' whole TTL (the attack benchmark's b2);
 * with it, one /16 holds at most 2 of the 20 slots.
 */
export const MAX_PROVIDERS_PER_KEY_PER_GROUP = 2

/**
 * Records one providing peer may have on this node: 10,000, the most shards an honest NSN
 * node provided before the shard store ({@link REGISTRY_CAPACITY} is now far larger, but
 * a receiver bounds what one peer may make it hold), which on a network of k nodes or
 * fewer all land on every node. Plain kad-dht stored 100,000 records of one peer in 40 s.
 */
export const MAX_RECORDS_PER_PEER = 10_000

/**
 * The shards an honest provider may hold, for the per-peer cap's scaling: the registry's
 * default capacity ({@link REGISTRY_CAPACITY}). On a network of N nodes such a provider
 * puts about `shards x k / N` records on each of its peers (the sweep places every shard
 * on its k closest), so a receiver lets one providing peer have
 * {@link PEER_RECORDS_SLACK} times that share, at least {@link MAX_RECORDS_PER_PEER} and
 * at most {@link MAX_PEER_SHARE_OF_STORE} of its whole store.
 */
export const HONEST_PROVIDER_SHARDS = REGISTRY_CAPACITY

/**
 * Headroom over a receiver's average share of one provider's records: the share of a
 * peer is the part of the keyspace it is among the k closest of, which varies (measured
 * on 49 seeded peers: the largest share 1.23 x the median, 50,195 records of 100,000
 * shards at k = 20).
 */
export const PEER_RECORDS_SLACK = 2

/**
 * The share of the provider store ({@link MAX_PROVIDER_RECORDS}) one providing peer may
 * fill at most, whatever the network size: one identity never takes the whole store
 * (60,000 of 100,000 records: an honest 100,000-shard provider on a 50-node network puts
 * up to about 50,000 on a peer).
 */
export const MAX_PEER_SHARE_OF_STORE = 0.6

/**
 * Records of other peers this node keeps in total (its own are bounded by the registry).
 * With each value an exactly sized copy, 100,000 records take tens of MB, where plain
 * kad-dht grew by 214 MB of RSS (the shared buffer pool kept alive).
 */
export const MAX_PROVIDER_RECORDS = 100_000

/** Unit: one kibibyte, in bytes. */
export const KiB = 1024

/**
 * How many addresses an inbound message may carry for one peer (the provider of an
 * ADD_PROVIDER). An honest node announces its listen addresses on each interface, its
 * observed and relay addresses: a handful, rarely past 10. Plain kad-dht merges any
 * number into the peer store (10,000 per message cost 8-18 s of CPU per later message).
 */
export const INBOUND_MAX_ADDRESSES_PER_PEER = 32

/**
 * Largest multiaddr accepted in an inbound message, in bytes: a `/dns4` name of the
 * maximal 253 characters with `/tcp/443/tls/ws/p2p/<id>` takes about 300.
 */
export const INBOUND_MAX_ADDRESS_BYTES = 512

/**
 * Largest inbound DHT message accepted, in bytes (plain kad-dht: 4 MiB, the whole message
 * read and decoded before any check). Inbound messages are requests, the largest
 * legitimate one an ADD_PROVIDER: type (2) + key (2 + 34) + one provider (3 + id 2 + 44
 * + {@link INBOUND_MAX_ADDRESSES_PER_PEER} x (3 + {@link INBOUND_MAX_ADDRESS_BYTES}))
 * = 16,567 bytes (`largestAddProvider`), under this bound with a margin. A longer length prefix resets the
 * stream before a byte of the body is read. (Answers, which can be larger, come in on
 * this node's own outbound streams, which kad-dht reads.)
 */
export const INBOUND_MAX_MESSAGE_SIZE = 20 * KiB

/**
 * Requests per second one remote peer may send on average (token bucket refill). A
 * lookup sends one request to each contacted peer; a node providing shards in bulk on a
 * small network sends a few per shard to each peer. A flooding peer (259 req/s measured
 * raising honest lookups' p99 from 151 to 462 ms) is cut to this rate.
 */
export const INBOUND_PEER_REQUESTS_PER_SECOND = 100

/**
 * Burst of one remote peer's requests above its rate (token bucket capacity). It holds
 * what one honest NSN node sends a peer when it runs as many operations as it admits at
 * once: the node's API admits 64 (`API_MAX_CONCURRENT_QUERIES` in `@nsn/node`), and on a
 * small network each provide sends every peer 3 messages (FIND_NODE, ADD_PROVIDER,
 * GET_PROVIDERS), each lookup 1; 64 lookups then 64 provides sent each peer of a 3-node
 * network 256 requests in half a second. With a burst of 200 the peers cut the last
 * ones, and 6 of the 64 provides failed as "no peer confirmed the store" (503). Twice
 * that, rounded: a flood is still cut to the rate after it.
 */
export const INBOUND_PEER_REQUEST_BURST = 512

/** Requests per second this node handles from all peers together, on average. */
export const INBOUND_GLOBAL_REQUESTS_PER_SECOND = 1_000

/** Burst of all peers' requests together above the global rate. */
export const INBOUND_GLOBAL_REQUEST_BURST = 2_000

/**
 * How many remote peers' rate buckets (and warn-log times) are kept; the least recently
 * seen one is forgotten past it, so the limiter's memory is bounded whatever the number
 * of peer ids an attacker uses (the global limit still applies to them all).
 */
export const INBOUND_TRACKED_PEERS = 1_024

/**
 * Providers one answer of another peer may bring (GET_PROVIDERS); the rest are dropped.
 * NSN stores and serves at most this many providers per shard, as rust-libp2p's
 * `MemoryStore` (20 per key); plain kad-dht put 20 fake providers of one malicious
 * answer into a lookup result.
 */
export const ANSWER_MAX_PROVIDERS = 20

/**
 * Addresses kept per peer of an answer (closer peers and providers); the rest are
 * dropped before they reach the peer store. The same bound as an inbound message's.
 */
export const ANSWER_MAX_ADDRESSES_PER_PEER = INBOUND_MAX_ADDRESSES_PER_PEER

/** Largest address kept from an answer, in bytes; longer ones are dropped. As inbound. */
export const ANSWER_MAX_ADDRESS_BYTES = INBOUND_MAX_ADDRESS_BYTES

/**
 * A peer of an answer (the same id with the same addresses) is announced to kad-dht and
 * libp2p's peer store (kad-dht's `peer` event: a routing-table candidate, its addresses
 * merged into the peer store under a write lock) at most once per this many ms. Where
 * every table holds every peer, every answer names the same peers again: 100 idle
 * nodes in one process (`bench/idle-probe.mjs`) made 20 announcements per FIND_NODE,
 * each a routing-table job and a peer-store merge that changed nothing. A peer already
 * in the table is not added twice, one refused is not retried sooner than kad-dht's
 * 10 min ping threshold or the eviction quarantine allow, and new addresses are a new
 * announcement; a minute is well within all three. 0 announces every time.
 */
export const ANSWER_PEER_ANNOUNCE_INTERVAL = 1 * minute

/**
 * Announced peers of answers remembered (least recently announced forgotten past it:
 * announced again at their next mention), so the memory is bounded whatever the
 * network's size.
 */
export const ANSWER_PEER_ANNOUNCE_MEMORY = 1_024

/**
 * Largest answer this node reads from another peer, in bytes, for k = 20: the largest
 * legitimate answer, {@link K_BUCKET_SIZE} closer peers + {@link ANSWER_MAX_PROVIDERS}
 * providers, each with a 44-byte peer id and {@link ANSWER_MAX_ADDRESSES_PER_PEER}
 * addresses of {@link ANSWER_MAX_ADDRESS_BYTES} (`largestAnswer` in `answer-guard.ts`):
 * (20 + 20) x (4 + 46 + 32 x (3 + 512)) + 48 = 661,248 bytes, about 646 KiB, against
 * kad-dht's 4 MiB. `nsnKadDHT` computes it from the configured k and bounds; a longer
 * length prefix fails the request before a byte of the body is read.
 */
export const ANSWER_MAX_SIZE = (20 + 20) * (4 + 46 + 32 * (3 + 512)) + 48

/**
 * DHT streams a peer may have open to this node at once on one connection (kad-dht's
 * `maxInboundStreams`); libp2p resets the ones past it with
 * `TooManyInboundProtocolStreamsError`, which the sender reads as a closed stream.
 */
export const INBOUND_STREAMS_PER_CONNECTION = 32

/**
 * DHT streams this node opens to one peer at once (kad-dht's `maxOutboundStreams`, whose
 * own default is 64): what a peer with NSN's defaults accepts
 * ({@link INBOUND_STREAMS_PER_CONNECTION}), never more. With kad-dht's 64, 64 concurrent
 * lookups on a 3-node network opened 64 streams to each peer, the peers reset 32 of them,
 * and 32 lookups failed with "no peer answered" (503) on a healthy network.
 */
export const OUTBOUND_STREAMS_PER_CONNECTION = INBOUND_STREAMS_PER_CONNECTION

/**
 * DHT requests to one peer that wait for a free stream (one of
 * {@link OUTBOUND_STREAMS_PER_CONNECTION}) before one is refused with `OverloadedError`.
 * Each operation holds at most one stream to a given peer at a time (a query asks a peer
 * once; a provide's record goes after its lookup), so this queue holds every operation the
 * node admits beyond the open streams: the API's 64 (`API_MAX_CONCURRENT_QUERIES` in
 * `@nsn/node`), the republisher's {@link REPUBLISH_CONCURRENCY}, refreshes and
 * self-queries, with room to spare. A request waits under its query's deadline, and the
 * wait is no part of the peer's request timeout: a peer is never struck or evicted for
 * this node's own limit.
 */
export const OUTBOUND_STREAM_QUEUE_PER_PEER = 1_024

/** A peer whose messages are rejected is logged (warn) at most this often. */
export const INBOUND_WARN_INTERVAL = 1 * minute

/**
 * The `local` host profile (`@nsn/core/host`), for networks on one machine: tests, the
 * demo, benchmarks. Every value is a deliberate change from NSN's or libp2p's defaults:
 * - listen on a free TCP port of 127.0.0.1;
 * - every dial on one host arrives from 127.0.0.1, so libp2p's limit of 5 inbound
 *   connections per second per address would refuse most of a many-node network: the
 *   limit is raised and loopback is allow-listed;
 * - the connection monitor pings every connection: 100 idle nodes in one process used
 *   77 % of a core with it and 7 % without, so it is off;
 * - the routing-table diversity filter is off (`routingDiversity: false`): every peer of
 *   a loopback network is 127.0.0.1, one IP group, so the filter would keep at most
 *   {@link ROUTING_DIVERSITY_PER_TABLE} peers in any routing table;
 * - for the same reason the provider store's per-group cap is off
 *   (`providerStore.maxProvidersPerKeyPerGroup: false`): it would keep at most
 *   {@link MAX_PROVIDERS_PER_KEY_PER_GROUP} providers of any key.
 */
export const LOCAL_PROFILE = {
  listen: ['/ip4/127.0.0.1/tcp/0'],
  inboundConnectionThreshold: 100_000,
  maxIncomingPendingConnections: 1_000,
  allow: ['/ip4/127.0.0.1/ipcidr/8'],
  connectionMonitorInterval: 0,
  routingDiversity: false,
  maxProvidersPerKeyPerGroup: false,
} as const

/**
 * Shortest per-request timeout of this node's DHT requests, in ms, whatever a peer's
 * measured response times (RFC 6298's minimum RTO): a fast peer on loopback or a LAN is
 * not failed by one pause of the event loop or the garbage collector.
 */
export const REQUEST_TIMEOUT_MIN = 1 * second

/**
 * Longest per-request timeout, in ms (kad-dht's own adaptive timeout starts at 5 s): a
 * peer measured as slow still costs a lookup at most this, half the query deadline.
 */
export const REQUEST_TIMEOUT_MAX = 5 * second

/**
 * Per-request timeout of a peer without measured answers yet, in ms: well below the
 * query deadline ({@link QUERY_TIMEOUT}), so an unknown silent peer costs a lookup this
 * and not 10 s, and above a first request's dial (TCP, Noise, Yamux: about 3 round trips)
 * on a slow link.
 */
export const REQUEST_TIMEOUT_UNKNOWN_PEER = 2 * second

/**
 * What a request to a peer without an open connection gets on top of its timeout, in ms:
 * the dial. A first contact costs 8 to 9 round trips before the answer (TCP, two
 * multistream-select negotiations, Noise, identify, the request), measured under the
 * wide-area emulation; at 350 ms (Sao Paulo to Singapore) that is over 3 s, and a 2 s
 * timeout failed, and after three in a row evicted, healthy distant peers. A request's
 * response time is not sampled when it dialled (the dial is no part of the peer's RTT).
 */
export const REQUEST_TIMEOUT_DIAL = 3 * second

/**
 * A request timer that fires this many ms or more after it was due says this node's
 * event loop was stalled (a loaded host, a GC pause): the request's timeout restarts
 * rather than counting against the peer (`request-timeouts.ts`).
 */
export const REQUEST_TIMER_LATE = 250

/** How many times one request's timer restarts for firing late, at most. */
export const REQUEST_TIMER_LATE_RESTARTS = 2

/**
 * A peer whose requests time out this many times in a row (no answer between them) is
 * removed from the routing table.
 */
export const REQUEST_TIMEOUTS_BEFORE_EVICTION = 3

/**
 * How many peers' response-time estimates are kept; the least recently used one is
 * forgotten past it (it starts again from {@link REQUEST_TIMEOUT_UNKNOWN_PEER}).
 */
export const REQUEST_TIMEOUT_TRACKED_PEERS = 1_024

/**
 * How long a provider lookup's answer is served from the hot-shard provider cache, in ms.
 * Well below the record TTL ({@link PROVIDER_RECORD_TTL}, 12 h): the cache must not hide
 * what the network learns for long. A provider that leaves without withdrawing stays in
 * the network's records until their TTL anyway, so the cache adds nothing there; what it
 * does delay is a *new* provider of a shard (a relay that just fetched a hot shard), which
 * becomes visible to this node at most this long after it published. One minute keeps
 * that delay short next to a video's playback, and still answers every repeated lookup of
 * a hot shard within the minute from memory (tens of lookups per shard when many viewers
 * of one node watch the same video).
 */
export const PROVIDER_CACHE_TTL = 1 * minute

/**
 * Shards the provider cache holds at most; the least recently used entry is evicted past
 * it. Hot shards are the few looked up again within the TTL: two thousand is more than a
 * node serving many viewers repeats in a minute, and a flood of lookups of distinct shards
 * cycles through it without growing it.
 */
export const PROVIDER_CACHE_MAX_ENTRIES = 2_048

/** Unit: one mebibyte, in bytes. */
export const MiB = 1024 * KiB

/**
 * Heap the provider cache holds at most, as it charges its entries (their measured heap
 * cost: `provider-cache.ts`); least recently used entries are evicted past it. A typical
 * entry (a few providers with a few addresses each) is charged about 9 KiB, so the
 * entry bound ({@link PROVIDER_CACHE_MAX_ENTRIES}) and this one are reached together;
 * this one holds alone when answers carry many providers with many long addresses (up to
 * {@link ANSWER_MAX_ADDRESSES_PER_PEER} of {@link ANSWER_MAX_ADDRESS_BYTES} each).
 */
export const PROVIDER_CACHE_MAX_BYTES = 16 * MiB

/**
 * Routing-table peers of one IP group (IPv4 /16, IPv6 /32) per k-bucket (common prefix
 * length with this node's id), as go-libp2p-kad-dht's diversity filter on its public DHT:
 * 50 Sybil ids ground close to a key from one IP no longer fill the buckets near it.
 */
export const ROUTING_DIVERSITY_PER_BUCKET = 2

/** Routing-table peers of one IP group in the whole table (go-libp2p-kad-dht's 3). */
export const ROUTING_DIVERSITY_PER_TABLE = 3

/**
 * A refused IP group (or quarantined peer) is logged (warn) at most this often; the
 * refusals themselves are all counted.
 */
export const ROUTING_DIVERSITY_WARN_INTERVAL = 1 * minute

/** IP groups and peers whose last warn-log time is kept (least recently logged forgotten past it). */
export const ROUTING_DIVERSITY_WARN_KEYS = 1_024

/**
 * How long a peer evicted by request timeouts ({@link REQUEST_TIMEOUTS_BEFORE_EVICTION}
 * timeouts in a row) is kept out: kad-dht would re-add it at its next connection or its
 * next mention in an answer, and a silent peer would cost every lookup one timeout again.
 * Ten minutes: several lookups' worth, short enough that a peer which was only briefly
 * unreachable comes back.
 */
export const EVICTION_QUARANTINE = 10 * minute

/**
 * Quarantined peers remembered at most; past it the oldest quarantine is forgotten (that
 * peer may come back early), so the memory is bounded whatever the number of peer ids.
 */
export const EVICTION_QUARANTINE_MAX_PEERS = 1_024

// ---- optimistic provide and the network-size estimate (DESIGN: "Optimistic provide")

/**
 * Lookups the network-size estimate needs at least, per rank of the k closest peers,
 * before it gives a value (go-libp2p-kad-dht's `MinMeasurementsThreshold`).
 */
export const NETWORK_SIZE_MIN_SAMPLES = 5

/** Lookups the estimate keeps at most per rank, the newest (go's `MaxMeasurementsThreshold`). */
export const NETWORK_SIZE_MAX_SAMPLES = 150

/** Oldest lookup the estimate uses, in ms (go's `MaxMeasurementAge`). */
export const NETWORK_SIZE_MAX_AGE = 2 * hour

/**
 * A peer whose normalised XOR distance to the key is below this divided by the network
 * size gets the provider record at once, while the lookup still runs: about the 10 %
 * quantile of the k-th closest peer's distance (ProbeLab's optimistic provide).
 */
export const OPTIMISTIC_SEND_THRESHOLD = 14.5

/**
 * The lookup of an optimistic provide stops once the mean normalised distance of the k
 * closest peers it knows is below this divided by the network size (ProbeLab: the
 * expected mean of the true k closest is (k+1)/2/(N+1), 10.5/N for k = 20; 7.0/N is
 * reached only when the set is at least as close as the true one usually is).
 */
export const OPTIMISTIC_STOP_THRESHOLD = 7.0

/**
 * Confirmed stores after which an optimistic provide returns, of k (15 of 20: ProbeLab's
 * and go's `OptProvReturnRatio` 0.75); the rest finish in the background. On a network
 * with fewer than k peers, {@link PROVIDE_QUORUM} of the closest found.
 */
export const OPTIMISTIC_RETURN_CONFIRMATIONS = 15

/**
 * A routing table holding at least this share of the estimated network size knows the
 * network's k closest peers to any key: an optimistic provide then sends the record to
 * the table's k closest at once (`seedsComplete`), not only to those below the send
 * threshold (about 14.5 of them on average, so 15 confirmations often waited for the
 * lookup's end: 600 to 1,400 ms under the wide-area emulation at N = 50, against about
 * 250 ms once they sufficed).
 */
export const OPTIMISTIC_COMPLETE_TABLE = 0.9

/**
 * Record sends of optimistic provides left running in the background at most, over all
 * shards; past it an optimistic provide waits for its own sends, as the classic one does.
 */
export const OPTIMISTIC_BACKGROUND_SENDS = 256

/**
 * The network-wide gossipsub topic of shard announcements (`announcements/`): every node
 * with gossip on subscribes to it, and every provide is announced on it.
 */
export const SHARD_ANNOUNCEMENTS_TOPIC = '/nsn/shards/1'

/**
 * Prefix of the per-group announcement topics (one per video, say): group `v42` is the
 * topic `/nsn/shards/1/group/v42`. A provide names its groups; its announcement goes to
 * the network-wide topic and to each of them.
 */
export const GROUP_TOPIC_PREFIX = `${SHARD_ANNOUNCEMENTS_TOPIC}/group/`

/**
 * Group topics a node subscribes to at most: each one is a gossipsub mesh (up to D = 8
 * peers kept, heartbeat work, a metrics series), so their number is bounded like every
 * other collection.
 */
export const MAX_GROUP_TOPICS = 64

/** Longest group name, in characters (`[A-Za-z0-9._-]`). */
export const MAX_GROUP_NAME_LENGTH = 64

/**
 * Shards one announcement carries at most. A provider batches the shards it provides
 * within {@link ANNOUNCE_BATCH_WINDOW} into one announcement; more go into several.
 * 128 shards of 32 bytes keep an announcement near 4.5 KiB, well inside one gossipsub
 * RPC frame, and a subscriber's work per message bounded.
 */
export const ANNOUNCEMENT_MAX_SHARDS = 128

/** Addresses of the provider one announcement carries at most (as {@link ANSWER_MAX_ADDRESSES_PER_PEER}'s honest handful). */
export const ANNOUNCEMENT_MAX_ADDRESSES = 8

/** Longest address an announcement may carry, in bytes of its binary form. */
export const ANNOUNCEMENT_MAX_ADDRESS_BYTES = 128

/**
 * Largest announcement accepted, in bytes of its encoding: room for
 * {@link ANNOUNCEMENT_MAX_SHARDS} shards and {@link ANNOUNCEMENT_MAX_ADDRESSES} addresses
 * of {@link ANNOUNCEMENT_MAX_ADDRESS_BYTES} (about 5.6 KiB) with margin.
 */
export const ANNOUNCEMENT_MAX_BYTES = 8 * KiB

/**
 * How long an announcement says its providers hold (its expiry, from publication): the
 * provider cache's TTL ({@link PROVIDER_CACHE_TTL}), since the cache is where it lands.
 */
export const ANNOUNCEMENT_TTL = 1 * minute

/**
 * Furthest expiry accepted, from the receiver's clock: an announcement cannot pin a
 * provider in caches for longer (a replayed or forged far-future expiry is refused).
 */
export const ANNOUNCEMENT_MAX_TTL = 10 * minute

/** Clock skew between provider and subscriber tolerated on top of {@link ANNOUNCEMENT_MAX_TTL}. */
export const ANNOUNCEMENT_CLOCK_SKEW = 30 * second

/**
 * How long a provider collects the shards it provides before it announces them in one
 * message (a director publishing a segment provides its shards together).
 */
export const ANNOUNCE_BATCH_WINDOW = 50

/**
 * Announcements one author may publish per second, sustained, as a subscriber counts
 * them (its local rate limit); {@link ANNOUNCEMENT_BURST} at once. At the batch window a
 * busy provider sends at most 20 a second, each with up to 128 shards; past the limit
 * an author's own messages are rejected (a gossipsub penalty, see `announcements/scoring.ts`).
 */
export const ANNOUNCEMENTS_PER_PEER_PER_SECOND = 20

/** Announcements one author may publish at once before the rate limit applies. */
export const ANNOUNCEMENT_BURST = 40

/**
 * How long a subscriber refuses every announcement of an author that kept sending past
 * its rate limit (its overflow outran a second bucket of the same rate and burst), in
 * ms, whoever relays them: gossipsub graylists only the peer that delivered the spam.
 */
export const ANNOUNCEMENT_AUTHOR_QUARANTINE = 10 * minute

/** Authors whose rate buckets a subscriber keeps (least recently seen forgotten past it). */
export const ANNOUNCEMENT_RATE_PEERS = 10_000

/** gossipsub's heartbeat (mesh maintenance, gossip emission, score decay tick), in ms; its own default. */
export const GOSSIP_HEARTBEAT_INTERVAL = 1 * second

/**
 * IP addresses the `local` profile exempts from gossipsub's IP colocation penalty (more
 * than 10 peers of one address are scored down, then graylisted): every peer of a
 * loopback network has one address.
 */
export const LOCAL_GOSSIP_WHITELIST: readonly string[] = ['127.0.0.1', '::1']

// ---- the sweeping republisher (`sweep/`)

/** Lookups one region pass runs at most (`getClosestPeers` explorations). */
export const SWEEP_MAX_EXPLORATIONS = 16

/** A region's exploration stops after this many lookups in a row found no new peer. */
export const SWEEP_NO_NEW_PEER_LIMIT = 2

/** Peers a region pass sends records to at once. */
export const SWEEP_PEER_CONCURRENCY = 20

/** A peer whose batch failed this many times is dropped for the region. */
export const SWEEP_PEER_ATTEMPTS = 3

/** A region where fewer than this share of its peers confirmed is retried after {@link SWEEP_RETRY_DELAY}. */
export const SWEEP_MIN_REACHABLE = 0.2

/** When a region with too few reachable peers is retried (go-libp2p-kad-dht: 5 min). */
export const SWEEP_RETRY_DELAY = 5 * minute

/**
 * Lookups that estimate the prefix length L, once per cycle, aimed at the keyspace's
 * quarters (go-libp2p-kad-dht: 4 random ones).
 */
export const SWEEP_ESTIMATE_LOOKUPS = 4

/**
 * L is estimated again once older than this (go-libp2p-kad-dht: 5 min), or when the
 * routing table has doubled since (a node estimates at its start, knowing a few peers).
 */
export const SWEEP_ESTIMATE_VALIDITY = 5 * minute

/** The sweep's timer wakes at least this often (pending retries, regions that changed). */
export const SWEEP_CHECK_INTERVAL = 1 * minute

/**
 * ADD_PROVIDER messages on one stream at most: under a receiver's request burst
 * ({@link INBOUND_PEER_REQUEST_BURST}, 512) with room for its lookups; a longer batch
 * to one peer takes several streams, paced at {@link SWEEP_MESSAGES_PER_SECOND}.
 */
export const SWEEP_MAX_MESSAGES_PER_STREAM = 384

/**
 * Messages a second sent to one peer after a batch's first chunk: under a receiver's
 * request rate ({@link INBOUND_PEER_REQUESTS_PER_SECOND}, 100), so an NSN peer with the
 * default inbound guard never cuts a batch.
 */
export const SWEEP_MESSAGES_PER_SECOND = 80

/**
 * Deepest prefix (bits) a sweep exploration aims a random key at (2^16 sha2-256 hashes at
 * most, a few ms); a deeper uncovered part without a shard is aimed at through its first
 * bits.
 */
export const SWEEP_MAX_AIM_BITS = 16

/**
 * The host profiles of `@nsn/core/host` (DESIGN.md "Network profiles"): `public` (the
 * internet: public addresses only, DHT server once AutoNAT confirms reachability, NAT
 * traversal), `private` (a LAN: private addresses kept, DHT server), `local` (loopback:
 * {@link LOCAL_PROFILE}).
 */
export const HOST_PROFILES = ['public', 'private', 'local'] as const

/**
 * The `public` host profile: what it changes from libp2p's and kad-dht's defaults.
 * - only public addresses are announced (identify, provider records, DHT answers):
 *   loopback, RFC 1918/6598/5737... private addresses are filtered out of what this node
 *   says about itself (`announceFilter`) and of what it passes on or keeps about others
 *   (kad-dht's `peerInfoMapper: removePrivateAddressesMapper`);
 * - the DHT starts as a client and serves (`server` mode) only once it has a public
 *   address libp2p trusts: one AutoNAT confirmed, or one the operator announced
 *   (kad-dht's automatic mode: `clientMode` left unset);
 * - NAT traversal: AutoNAT, a circuit-relay client that takes
 *   {@link RELAY_RESERVATIONS} reservations on relays while the node is not reachable,
 *   DCUtR hole punching over relayed connections; UPnP port mapping and serving as a relay
 *   are opt-in;
 * - the routing-table diversity filter and the provider store's per-group cap stay on.
 */
export const PUBLIC_PROFILE = {
  announce: 'public',
  dhtMode: 'auto',
  nat: true,
} as const

/**
 * The `private` host profile (a LAN): every address but loopback's is announced and
 * kept, the DHT is a server from the start, no NAT traversal; the diversity filter stays on.
 */
export const PRIVATE_PROFILE = {
  announce: 'non-loopback',
  dhtMode: 'server',
  nat: false,
} as const

/**
 * Relay reservations a node that is not publicly reachable keeps at once (each one a
 * `/p2p-circuit` listen address): two, so that losing one relay does not make it unreachable.
 */
export const RELAY_RESERVATIONS = 2

/**
 * How long after start AutoNAT first asks peers to dial this node back, in ms (libp2p's: 5 s).
 * `@libp2p/autonat` 3.0.28 accepts the option but does not use it: it asks each peer that
 * connects (once identify has run), and looks for more peers every minute while an
 * address is unverified.
 */
export const AUTONAT_STARTUP_DELAY = 1 * second

/**
 * How often AutoNAT re-checks this node's addresses, in ms (libp2p's default). Accepted
 * but unused by `@libp2p/autonat` 3.0.28: a confirmed address is re-checked once its
 * verification lapses (libp2p's address manager: 10 min).
 */
export const AUTONAT_REFRESH_INTERVAL = 1 * minute

/**
 * How long after this node's addresses change AutoNAT asks the connected peers to check a
 * new public address (a UPnP mapping), in ms: changes come in bursts (see `autonat-recheck.ts`).
 */
export const AUTONAT_RECHECK_DELAY = 1 * second

/**
 * Least time between the starts of two lookups of a random walk (relay discovery,
 * AutoNAT looking for peers), in ms: libp2p's own walk starts the next at once, and spins
 * without yielding when lookups end with no peer (see `paced-random-walk.ts`).
 */
export const RANDOM_WALK_INTERVAL = 1 * second

/** Longest wait of a random walk after lookups that found no peer (it doubles from {@link RANDOM_WALK_INTERVAL}), in ms. */
export const RANDOM_WALK_MAX_BACKOFF = 30 * second

/**
 * What a node that serves as a circuit relay (`relayServer`, `--relay-server`) grants:
 * `@libp2p/circuit-relay-v2`'s defaults (those of go-libp2p's relay too), fixed here so a
 * library upgrade does not change them unnoticed. A relay carries signalling, not shards:
 * DHT RPCs (a few KiB each) and the DCUtR handshake fit in one relayed connection's limits,
 * and DCUtR moves the peers to a direct connection.
 *
 * - `maxReservations`: reservations held at once; more are refused (each node behind NAT
 *   keeps {@link RELAY_RESERVATIONS}, so one relay serves about 7 of them).
 * - `reservationTtl`: how long one lasts unless the client renews it (it does, before expiry).
 * - `defaultDurationLimit` / `defaultDataLimit`: each relayed connection is closed after
 *   2 minutes or 128 KiB, both directions counted together, whichever comes first.
 * - `hopTimeout`: how long a relay request (reserve or connect) may take.
 */
export const RELAY_SERVER_LIMITS = {
  maxReservations: 15,
  reservationTtl: 2 * hour,
  defaultDurationLimit: 2 * minute,
  defaultDataLimit: 128 * 1024,
  hopTimeout: 30 * second,
} as const

/**
 * Requests in flight at most in one of NSN's lookups (`lookup/lookup.ts`): kad-dht's
 * `ALPHA`. The first round asks the cheapest of the k closest peers known (open
 * connections, fastest first).
 */
export const LOOKUP_CONCURRENCY = 10

/**
 * A lookup ends once this many of the closest peers it knows have answered
 * (go-libp2p-kad-dht's `beta` resiliency parameter, its default 3).
 */
export const LOOKUP_BETA = 3

/**
 * Idle DHT streams kept per peer at most (`stream-pool.ts`): one request at a time per
 * peer is the common case; a second covers a lookup and a provide overlapping.
 */
export const STREAM_POOL_PER_PEER = 2

/**
 * Idle DHT streams kept in all at most: above a routing table's size (k = 20 per bucket,
 * a few hundred peers in a large network); each holds one of its peer's stream slots and
 * one of that peer's inbound streams.
 */
export const STREAM_POOL_MAX_IDLE = 512

/**
 * Peers whose last stream-opening time the pool remembers (the most recent ones): a new
 * stream on an open connection costs one round trip, so that time is a peer's RTT before
 * any request to it was answered, and a lookup tries the faster of the peers it never
 * asked first.
 */
export const STREAM_POOL_OPEN_TIMES = 1_024

/**
 * An idle DHT stream gets a kad PING on it after this many ms, below the listener's idle
 * timeout ({@link INBOUND_STREAM_IDLE_TIMEOUT}), so it stays open. Measured: with a ping
 * every 40 s, 100 idle daemon-configured nodes (about 57 warm streams each) used 16.9 %
 * of a core, against 6.1 % without warm streams; every 4 min keeps that cost a tenth.
 */
export const STREAM_POOL_KEEP_ALIVE = 4 * minute

/**
 * How long an inbound DHT stream may wait for its next message before this node closes
 * it, in ms. kad-dht's own `incomingMessageTimeout` is 10 s and go-libp2p-kad-dht's
 * `dhtStreamIdleTimeout` 1 min; warm streams (`stream-pool.ts`) are pinged before it
 * ({@link STREAM_POOL_KEEP_ALIVE}), and a longer one makes those pings rarer. The
 * per-connection inbound stream limit ({@link INBOUND_STREAMS_PER_CONNECTION}) still
 * bounds what idle streams one connection holds.
 */
export const INBOUND_STREAM_IDLE_TIMEOUT = 5 * minute
