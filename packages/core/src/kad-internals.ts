/**
 * Every internal of `@libp2p/kad-dht` 16.4.x and `libp2p` 3.3.x that this project
 * touches, in one place, each with the reason no public option or component serves.
 * Everything else in the project (core, the node, metrics, tests and benchmarks) goes
 * through the accessors here; `grep` finds no other reach into kad-dht or libp2p
 * internals.
 *
 * | internal | used for | why no public API serves |
 * | --- | --- | --- |
 * | `queryManager.run` | a deadline on every query, ours and background ones (DESIGN: 10 s) | kad-dht has no query-timeout option: a query without a signal gets a hard-coded 180 s, and the first self-query none at all (`QuerySelf`'s timeout is not an option either) |
 * | `reprovider.shouldReprovide` | turned off: NSN's `Republisher` is the one republish mechanism | `reprovide.threshold: 0` still republishes every self-record kad-dht considers expired (after a downtime longer than the TTL), racing the Republisher; `reprovide.interval` is also the cleanup interval of others' records, which must keep running |
 * | `routingTableRefresh.refreshTable` | kad-dht's own refresh loop turned off | the refresh interval is not passed through kad-dht's init |
 * | `routingTableRefresh._refreshCommonPrefixLength` | NSN's refresh: one awaitable lookup per bucket | `dht.refreshRoutingTable()` fires and forgets, has no result and no per-bucket error |
 * | `routingTable.kb.localPeer.kadId` and each entry's `kadId` | the refresh's highest common prefix length, in bits (`maxCommonPrefixBits`) | kad-dht's `_maxCommonPrefix` counts leading zero *bytes* of the XOR while `_refreshCommonPrefixLength` takes bits: below 256 peers it is 0, and a refresh looked up one bucket of about log2(N) |
 * | `refreshRoutingTable` (the public method) | replaced: runs NSN's refresh, or fails with `NotStartedError` | after the loop above is turned off it would be a silent no-op |
 * | `routingTable` (`size`, `kb.toIterable()`, `remove`, `find`, `peer:add`/`peer:remove` events) | table size and peers, refresh, the routing-table gauge | the `KadDHT` interface exposes no routing table |
 * | `routingTable.kb.lastPingThreshold` | configurable protection of recently pinged peers | hard-coded 10 min |
 * | `rpc.onIncomingStream` | replaced, before kad-dht starts (its `start()` registers `rpc.onIncomingStream.bind(rpc)` with the registrar), by the inbound guard's reader: a small maximum message size checked on the length prefix, rate limits, validation of every message | kad-dht reads inbound messages with a fixed 4 MiB limit (and a length-prefix reader that loops over any number of 0xff bytes), decodes the whole message before any check, and has no hook or option between reading and handling; unregistering its handler and registering another after start would be undone by every `setMode('server')` |
 * | `network._writeReadMessage` | replaced by the answer guard's reader of answers to this node's own requests: a maximum answer size checked on the length prefix, the codec of the inbound guard, and the answer caps (k closer peers, bounded providers, bounded valid addresses per peer, valid peer ids) applied before kad-dht or the peer store sees a peer | kad-dht reads answers with a fixed 4 MiB limit (and the length-prefix reader that loops over any number of 0xff bytes) and hands every closer peer and provider, with every address, to the peer store (its `peer` event, which libp2p merges) and to the query result; `sendRequest` has no hook between reading and using the answer |
 * | `network.sendRequest` | wrapped: every request this node sends (FIND_NODE, GET_PROVIDERS, PING) runs under the addressed peer's own timeout, from its measured response times (`request-timeouts.ts`); its answers and timeouts feed the estimate; a peer timing out `evictAfter` times in a row is removed from the routing table (`routingTable.remove`, `find`) | kad-dht's only per-request bound is one `AdaptiveTimeout` (`networkDialTimeout`) shared by all peers, which NSN sets to the query deadline; it keeps no per-peer times and removes no peer that never answers. The wrapper knows the peer (`to`) and covers the dial, which `_writeReadMessage` (it only sees the stream) does not; so an answer the answer guard rejected is logged against its sender (`AnswerGuard.watch`, a wrapper outside this one), once a minute per peer at most |
 * | `routingTable.add` (+ its `peer:remove` event) | wrapped by the routing admission (`routing-admission.ts`): a peer in its eviction quarantine, or one of an IP group that already has `perBucket` peers in its k-bucket or `perTable` in the table (`routing-diversity.ts`), is refused before kad-dht pings it or puts it in a bucket; `peer:remove` gives its slots back | every way into kad-dht's table (a connection, a peer in an answer, the peer store at start) goes through `routingTable.add` (`queueRoutingTableUpdate` calls `this.add`), and kad-dht has no admission hook, no diversity filter and no memory of evicted peers; the k-bucket's `add` is one level lower and sees the same calls |
 * | `network.components.connectionManager.openStream` (for the DHT protocol only) and `network.sendRequest` (a wrapper just outside the request timeouts) | the outbound stream slots (`stream-slots.ts`): at most `perPeer` DHT streams open to one peer, a request past it waits for a stream to close (bounded, then `OverloadedError`), the wait outside the peer's request timeout; the slot is handed from the `sendRequest` wrapper to the stream through the request options and freed by the stream's `close` event | kad-dht opens a stream per request without waiting: past libp2p's per-connection limits (the peer's `maxInboundStreams`, this node's `maxOutboundStreams`) the stream is reset or refused and the request fails as if the peer had; kad-dht has no queue for streams, and only `openStream` sees the stream whose close frees the slot |
 * | `network.sendRequest` (second wrapper, outermost) | the routing admission drops from each answer's closer peers the quarantined peers and the peers of an IP group that already gave this lookup `perTable` peers; the per-lookup state is keyed (weakly) by the `signal` kad-dht's query manager gives every request of one query, all paths included | the closer peers of answers drive kad-dht's lookup (`queryPath`) with no hook between the answer and the next hop; the wrapper must be outside the request-timeouts one, which gives the inner call a signal of its own |
 * | `peerRouting.getClosestPeers` | replaced by NSN's lookups (below) when they are on, so kad-dht's own closest-peer lookups (the refresh's per-bucket ones, the self-query, `putValue`'s and its `provide`'s) run on them too; else wrapped. Either way every completed lookup of k closest peers reports its key and closest peers to the network-size estimate of optimistic provide (`network-size.ts`) | the refresh and the self-query run their lookups inside kad-dht and only count the peers found; kad-dht has no event for a completed lookup |
 * | `network.safeDispatchEvent` | the answer guard announces the peers it kept as kad-dht's network does (its `peer` event: routing-table candidates, libp2p's peer store) | the event is how kad-dht learns of peers in answers; there is no other way in |
 * | `peerRouting.getClosestPeersOffline` | replaced (`offline-closest.ts`): the k closest table peers to a key and their addresses, which kad-dht's FIND_NODE and GET_PROVIDERS handlers answer with; NSN's lookups start from the same selection | kad-dht scans its sorted list for duplicates at each insert and reads each of the k peers from the peer store (a lock, a datastore read, a protobuf decode), 17 % of the CPU time of 100 idle nodes' refresh bursts; the handlers have no other source for closer peers |
 * | `rpc.handleMessage` | the guard hands each accepted message to kad-dht's handlers | the handlers (the routing table, provider store and peer store they answer from) are not public |
 * | `providers.addProvider` | replaced by NSN's bounded provider store (`provider-limits.ts`): per-key, per-key-per-IP-group, per-peer and total caps, counts kept in memory, each value written as an exactly sized copy. A record's IP group is that of the connection its ADD_PROVIDER arrived on: the inbound guard hands the connection to the `rpc.handleMessage` wrapper, which notes it per sender while kad-dht's handler runs (the handler checks, as the guard does, that the provider is the sender); without the guard, or for a call outside a message, the group of the provider's first open connection with an IP address (libp2p's connection manager) | kad-dht stores any number of records from anyone, has no cap option, writes a varint from `allocUnsafe` (a slice of Node's shared 64 KiB pool), and calls `addProvider(cid, peerId)` without the connection |
 * | `providers.addProvider` (called) | writing this node's own record before a provide publishes it (so it answers lookups at once), through the bounded store above when it is on | NSN publishes records itself (confirmed stores: ADD_PROVIDER then GET_PROVIDERS on one stream), so kad-dht's `provide()`, which wrote the self-record, is no longer called; kad-dht has no public method that writes a record without sending it |
 * | `reprovider.datastore` | replaced by a view of the same datastore whose `delete` updates the provider store's counts | kad-dht's cleanup of expired records of others deletes through it, with no event or hook |
 * | `providers.datastore` + the record format (key `<prefix>/provider/<base32 multihash>/<peer id>`, value: unsigned varint of epoch ms, which kad-dht reads with `uint8-varint`'s `decode`, ignoring any byte after it: NSN's bounded store appends the record's UTF-8 IP group there, old values without it still read) | inspecting stored records (when a record was stored, counting others' records, dropping self-records the registry does not hold) | kad-dht answers `GET_PROVIDERS` from this store but offers no read API for it |
 * | `findProviders`, `getClosestPeers` (the DHT's public methods, replaced on the instance), `routingTable.closestPeers`, `routingTable.queueRoutingTableUpdate`, `providers.getProviders` | NSN's lookups (`lookup/lookup.ts`): the same requests through the hooked `network.sendRequest` above, scheduled for latency (cheapest peers first: open connection, then measured response time), ended once the beta closest peers answered; the table's closest peers start a lookup, answering peers update the table as kad-dht's query manager does, and a provider lookup starts from this node's own records | kad-dht's `queryPath` queues a query's peers in a local `Queue` sorted by XOR distance, created per path with no option or hook, and its 20 disjoint paths each run until their own queue drains; "slow peers after fast ones" and an earlier end cannot be had without replacing the query, and replacing the public methods keeps every caller (ShardRouting, libp2p's content and peer routing, benchmarks' taps) on one path |
 * | `network.sendRequest` (innermost, replaced) | warm streams (`stream-pool.ts`, `pooled-requests.ts`): FIND_NODE, GET_PROVIDERS and PING go on an idle stream to the peer when there is one (one round trip instead of two: libp2p 3's multistream-select always waits for the protocol echo, its `negotiateFully: false` option is not implemented), their answers read by the answer guard; every wrapper above wraps it as it wrapped kad-dht's; other types go to kad-dht's own | kad-dht opens a new stream per request and closes it after the answer |
 *
 * With NSN's lookups on, kad-dht's query manager still runs `findPeer` and `getValue`;
 * with them off, every lookup.
 * Optimistic provide (`optimistic-provide.ts`) uses only the public `getClosestPeers`
 * events and the hooks above (`openDhtStream`, `addProvider`).
 *
 * Read by a test only, to prove the point above: `@nsn/metrics`' libp2p test reads
 * libp2p's `components.transportManager` and `components.upgrader` to assert that nothing
 * of them is patched.
 *
 * Replaced by public options or components (no longer internals):
 * - kad-dht's self-query schedule: `querySelfInterval` / `initialQuerySelfInterval`
 *   (NSN's bootstrap runs the first self-lookup itself, under its deadline).
 * - the empty-table check: `allowQueryWithZeroPeers` makes kad-dht's queries end at once
 *   with no peers, and `ShardRouting` fails them with `NoKnownPeersError`.
 * - failed connection counts (`@nsn/metrics`) and RPC counts (benchmarks): libp2p's
 *   `metrics` component, to which the upgrader, the TCP transport and kad-dht's network
 *   report, instead of wrapping the transport manager, the upgrader or kad-dht's network.
 *
 * {@link installKadHooks} and {@link routingTableOf} check that every internal exists and
 * throw an {@link UnsupportedKadDhtError} naming the missing one otherwise, so an
 * incompatible kad-dht fails loudly at construction, never silently.
 *
 * @packageDocumentation
 */

import type { AbortOptions, ComponentLogger, Connection, PeerId, PeerInfo, Stream } from '@libp2p/interface'
import { type KadDHT, MessageType, type QueryEvent } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { Key } from 'interface-datastore'
import type { CID } from 'multiformats/cid'
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { AnswerGuard, type AnswerGuardInit, type AnswerGuardReporter } from './answer-guard.js'
import {
  INBOUND_TRACKED_PEERS,
  INBOUND_WARN_INTERVAL,
  OFFLINE_CLOSEST_CACHE_CAPACITY,
  OFFLINE_CLOSEST_CACHE_TTL,
} from './constants.js'
import { startDeadline } from './deadline.js'
import { NotStartedError, UnsupportedKadDhtError } from './errors.js'
import { InboundGuard, type InboundGuardInit, type InboundGuardReporter } from './inbound-guard.js'
import { ipGroupOf } from './ip-groups.js'
import type { KadMessage } from './kad-message.js'
import { type LookupInit, Lookups } from './lookup/lookup.js'
import { IntervalGate } from './lru-map.js'
import { closestEntries, OfflineClosest, type OfflineClosestComponents } from './offline-closest.js'
import { kadId } from './peer-addresses.js'
import { exchange, pooledSendRequest } from './pooled-requests.js'
import { ProviderLimits, type ProviderStoreInit } from './provider-limits.js'
import {
  RequestTimeouts,
  type RequestTimeoutsInit,
  type RequestTimeoutsReporter,
  type SendRequest,
} from './request-timeouts.js'
import {
  RoutingAdmission,
  type RoutingAdmissionComponents,
  type RoutingAdmissionReporter,
} from './routing-admission.js'
import type { RoutingDiversityInit } from './routing-diversity.js'
import { DhtStreamPool, type StreamPoolInit } from './stream-pool.js'
import { StreamSlots, type StreamSlotsInit } from './stream-slots.js'
import { commonPrefixBits } from './sweep/keyspace.js'

/**
 * The highest common prefix length, in bits, between this node's Kademlia id and a
 * routing-table peer's: the deepest bucket a refresh looks up (go-libp2p-kad-dht's
 * `maxCommonPrefix`). 0 for an empty table.
 */
export function maxCommonPrefixBits(table: Pick<KadRoutingTable, 'kb'>): number {
  const self = table.kb.localPeer?.kadId
  if (self == null) return 0
  let max = 0
  for (const { kadId } of table.kb.toIterable()) {
    if (kadId != null) max = Math.max(max, commonPrefixBits(self, kadId))
  }
  return max
}

/**
 * Starts `part` after the DHT starts and stops it before the DHT stops, by wrapping the
 * instance's `start` and `stop` (a hooked part that lives as long as the service).
 */
function runAlongside(dht: KadDHT, part: { start(): void; stop(): void }): void {
  const service = dht as unknown as { start?(): Promise<void>; stop?(): Promise<void> }
  const kadStart = service.start?.bind(dht)
  const kadStop = service.stop?.bind(dht)
  Object.assign(dht, {
    start: async () => {
      await kadStart?.()
      part.start()
    },
    stop: async () => {
      part.stop()
      await kadStop?.()
    },
  })
}

/** The shape of kad-dht's routing table that NSN uses. */
export interface KadRoutingTable extends EventTarget {
  readonly size: number
  readonly kBucketSize: number
  kb: {
    toIterable(): Iterable<{ peerId: PeerId; lastPing: number; kadId?: Uint8Array }>
    localPeer?: { kadId: Uint8Array }
  }
  remove(peer: PeerId, options?: AbortOptions): Promise<void>
  find(peer: PeerId, options?: AbortOptions): Promise<PeerId | undefined>
}

interface LookupRoutingTable extends KadRoutingTable {
  closestPeers(kadId: Uint8Array, options: { count: number }): PeerId[]
  queueRoutingTableUpdate(peer: PeerId): void
}

interface AddableRoutingTable extends KadRoutingTable {
  add(peer: PeerId, options?: AbortOptions): Promise<void>
}

interface QueryManagerLike {
  run(key: Uint8Array, queryFunc: unknown, options?: AbortOptions): AsyncGenerator<QueryEvent>
}

interface RoutingTableRefreshLike {
  refreshTable(force?: boolean, options?: AbortOptions): void
  _refreshCommonPrefixLength(
    cpl: number,
    lastRefresh: Date,
    force: boolean,
    options?: AbortOptions,
  ): Promise<void>
}

interface RpcLike {
  onIncomingStream(stream: Stream, connection: Connection): Promise<void>
  handleMessage(peer: PeerId, msg: KadMessage): Promise<KadMessage | undefined>
}

interface NetworkLike {
  sendRequest: SendRequest
  isStarted(): boolean
  components: { connectionManager: { openStream: OpenStream } }
  _writeReadMessage(stream: Stream, msg: Partial<KadMessage>, options: AbortOptions): Promise<KadMessage>
  safeDispatchEvent(type: 'peer', detail: { detail: PeerInfo }): boolean
}

type OpenStream = (peer: PeerId, protocol: string | string[], options?: AbortOptions) => Promise<Stream>

interface ReproviderLike {
  shouldReprovide(isSelf: boolean, expires: number): boolean
  datastore: Datastore
}

interface ProvidersLike {
  addProvider(
    cid: { multihash: { bytes: Uint8Array } },
    provider: PeerId,
    options?: AbortOptions,
  ): Promise<void>
}

/** The table refresh of one DHT: what NSN's refresher needs. */
export interface KadTableAccess {
  readonly routingTable: KadRoutingTable
  /** Runs one refresh lookup for a common prefix length (awaitable, unlike kad-dht's loop). */
  refreshCommonPrefixLength(cpl: number, options?: AbortOptions): Promise<void>
  /** Highest common prefix length present in the table. */
  maxCommonPrefix(): number
  /**
   * Looks up this node's own id (as kad-dht's self-query) and gives the common prefix
   * lengths, in bits, between this node and each of the closest peers found.
   */
  lookupSelf?(options?: AbortOptions): Promise<number[]>
}

/** Typed access to the kad-dht internals NSN uses. */
export interface KadHooks extends KadTableAccess {
  /** How long this node keeps provider records of others, in ms. */
  readonly providerRecordTtl: number
  /** The deadline every query of this DHT runs under, in ms. */
  readonly queryTimeout: number
  /** The datastore kad-dht keeps provider records in (libp2p's datastore). */
  readonly datastore: Datastore
  /** The datastore prefix of provider records, e.g. `/dht/provider`. */
  readonly providerPrefix: string
  /**
   * Makes `dht.refreshRoutingTable()` run `refresh` (NSN's refresh); `undefined` detaches
   * it again, after which the call fails with {@link NotStartedError}.
   */
  attachRefresh(refresh: ((options?: AbortOptions) => Promise<unknown>) | undefined): void
  /** The inbound guard in front of kad-dht's handlers, unless it was turned off. */
  readonly inboundGuard?: InboundGuard
  /**
   * Makes the inbound guard report its rejections and handled requests to `reporter`
   * (`ShardRouting` attaches its observer at start); `undefined` detaches it.
   */
  attachInboundReporter(reporter: InboundGuardReporter | undefined): void
  /**
   * The bounded provider store in front of kad-dht's records (its counts feed the stored
   * records gauge), unless it was turned off.
   */
  readonly providerLimits?: ProviderLimits
  /** The answer guard on this node's own requests, unless it was turned off. */
  readonly answerGuard?: AnswerGuard
  /**
   * Writes `provider`'s record for `cid` into this node's provider store, as kad-dht's
   * `provide()` wrote the self-record (through the bounded store when it is on).
   */
  addProvider(cid: CID, provider: PeerId, options?: AbortOptions): Promise<void>
  /**
   * Makes the answer guard report rejected answers and dropped peers and addresses to
   * `reporter` (`ShardRouting` attaches its observer at start); `undefined` detaches it.
   */
  attachAnswerReporter(reporter: AnswerGuardReporter | undefined): void
  /** The routing table's `count` closest peers to a Kademlia id (sha256 of a DHT key). */
  closestPeers(kadId: Uint8Array, count: number): PeerId[]
  /** The warm DHT streams, unless they were turned off. */
  readonly streamPool?: DhtStreamPool
  /** The per-peer request timeouts, unless they were turned off. */
  readonly requestTimeouts?: RequestTimeouts
  /**
   * Makes the request timeouts report evicted peers to `reporter` (`ShardRouting`
   * attaches its observer at start); `undefined` detaches it.
   */
  attachRequestTimeoutsReporter(reporter: RequestTimeoutsReporter | undefined): void
  /**
   * The outbound DHT stream slots (at most `perPeer` streams open to one peer, the rest
   * waiting), unless they were turned off. `ShardRouting` opens its own DHT streams
   * (confirmed stores) through {@link KadHooks.openDhtStream}, in the same slots.
   */
  readonly streamSlots?: StreamSlots
  /**
   * Opens a DHT stream to `peer` with `open` in one of the stream slots (freed when the
   * stream closes); `open` itself when the slots are off.
   */
  openDhtStream(
    peer: PeerId,
    options: AbortOptions,
    open: (options: AbortOptions) => Promise<Stream>,
  ): Promise<Stream>
  /**
   * The routing admission (diversity filter and eviction quarantine), unless both are
   * off.
   */
  readonly routingAdmission?: RoutingAdmission
  /**
   * Makes the routing admission report refused peers to `reporter` (`ShardRouting`
   * attaches its observer at start); `undefined` detaches it.
   */
  attachRoutingReporter(reporter: RoutingAdmissionReporter | undefined): void
  /**
   * Makes every completed lookup of closest peers (ours, kad-dht's self-query and the
   * refresh's) report its key and the peers it found to `observer` (`ShardRouting`'s
   * network-size estimate); `undefined` detaches it.
   */
  attachLookupObserver(observer: LookupObserver | undefined): void
}

/** Told of each completed lookup of closest peers: its key and the peers found. */
export type LookupObserver = (key: Uint8Array, closest: PeerId[]) => void

interface PeerRoutingLike {
  getClosestPeers(key: Uint8Array, options?: AbortOptions): AsyncGenerator<QueryEvent>
}

const HOOKS = Symbol.for('@nsn/core/kad-hooks')

type Hooked = KadDHT & { [HOOKS]?: KadHooks }

function need<T>(owner: unknown, path: string): T {
  let value: unknown = owner
  for (const part of path.split('.')) {
    value = value == null ? undefined : (value as Record<string, unknown>)[part]
  }
  if (value == null) throw new UnsupportedKadDhtError(path)
  return value as T
}

/** Options of {@link installKadHooks}. */
export interface KadHookOptions {
  queryTimeout: number
  providerRecordTtl: number
  datastorePrefix: string
  lastPingThreshold?: number
  /** The inbound guard's options, or false to leave kad-dht's own reader in place. */
  inboundGuard?: InboundGuardInit | false
  /** The answer guard's options, or false to leave kad-dht's own answer reader in place. */
  answerGuard?: AnswerGuardInit | false
  /**
   * The per-peer request timeouts' options, or false to leave every request under
   * kad-dht's shared `networkDialTimeout` only.
   */
  requestTimeouts?: RequestTimeoutsInit | false
  /**
   * The outbound stream slots' options (`stream-slots.ts`), or false to let kad-dht open
   * a stream per request without waiting.
   */
  streamSlots?: StreamSlotsInit | false
  /**
   * Warm DHT streams (`stream-pool.ts`): requests reuse idle streams, one round trip
   * instead of two; false opens a stream per request as kad-dht does. Needs the answer guard.
   */
  streamPool?: StreamPoolInit | false
  /**
   * NSN's lookups (`lookup/lookup.ts`) in place of kad-dht's query manager for the DHT's
   * public `findProviders` and `getClosestPeers`, or false to keep kad-dht's.
   */
  lookups?: LookupInit | false
  /** The DHT protocol (the one stream slots apply to). */
  protocol?: string
  /** The DHT's k (the answer guard's default bound on closer peers). */
  kBucketSize?: number
  /** How long an inbound stream may wait for its next message, in ms. */
  incomingMessageTimeout?: number
  /** kad-dht's component logger (the guard logs to `nsn:inbound-guard`). */
  logger?: ComponentLogger
  /** The bounds of the provider store, or false to leave kad-dht's unbounded store. */
  providerStore?: ProviderStoreInit | false
  /** This node's peer id: its own records are admitted and not counted; the diversity filter's buckets. */
  peerId?: PeerId
  /**
   * The routing-table diversity bounds (`routing-diversity.ts`), or false for none. The
   * eviction quarantine comes with `requestTimeouts`.
   */
  routingDiversity?: RoutingDiversityInit | false
  /**
   * libp2p's connection manager (the diversity filter, and the provider store without the
   * inbound guard, read connections' remote addresses).
   */
  connectionManager?: RoutingAdmissionComponents['connectionManager']
  /** libp2p's peer store (the diversity filter reads the addresses of unconnected peers). */
  peerStore?: RoutingAdmissionComponents['peerStore']
  /** libp2p's event bus: `peer:update` drops a peer's cached addresses (`offline-closest.ts`). */
  events?: Pick<EventTarget, 'addEventListener' | 'removeEventListener'>
}

/**
 * The routing table of any kad-dht (one built by `nsnKadDHT` or a plain one, as
 * benchmarks compare with).
 *
 * @throws {UnsupportedKadDhtError} when kad-dht has no routing table where NSN expects it
 */
export function routingTableOf(dht: KadDHT): KadRoutingTable {
  const table = need<KadRoutingTable>(dht, 'routingTable')
  need(table, 'kb.toIterable')
  return table
}

/**
 * Installs the NSN hooks on a freshly constructed (not yet started) kad-dht.
 *
 * @throws {UnsupportedKadDhtError} when an internal is missing
 */
export function installKadHooks(dht: KadDHT, options: KadHookOptions): KadHooks {
  const hooked = dht as Hooked
  const existing = hooked[HOOKS]
  if (existing != null) return existing

  const queryManager = need<QueryManagerLike>(dht, 'queryManager')
  need(dht, 'queryManager.run')
  const routingTable = routingTableOf(dht)
  const refresh = need<RoutingTableRefreshLike>(dht, 'routingTableRefresh')
  need(dht, 'routingTableRefresh.refreshTable')
  need(dht, 'routingTableRefresh._refreshCommonPrefixLength')
  const reprovider = need<ReproviderLike>(dht, 'reprovider')
  need(dht, 'reprovider.shouldReprovide')
  need(dht, 'refreshRoutingTable')
  const datastore = need<Datastore>(dht, 'providers.datastore')
  const rpc = need<RpcLike>(dht, 'rpc')
  need(dht, 'rpc.onIncomingStream')
  need(dht, 'rpc.handleMessage')
  const providers = need<ProvidersLike>(dht, 'providers')
  need(dht, 'providers.addProvider')
  const peerRouting = need<PeerRoutingLike>(dht, 'peerRouting')
  need(dht, 'peerRouting.getClosestPeers')
  need(dht, 'reprovider.datastore')
  const needsAdmission = options.routingDiversity !== false || options.requestTimeouts !== false
  const needsNetwork = options.answerGuard !== false || needsAdmission || options.streamSlots !== false
  const network = needsNetwork ? need<NetworkLike>(dht, 'network') : undefined
  if (options.answerGuard !== false) {
    need(dht, 'network._writeReadMessage')
    need(dht, 'network.safeDispatchEvent')
    need(dht, 'network.sendRequest')
  }
  if (options.requestTimeouts !== false) {
    need(dht, 'network.sendRequest')
    need(dht, 'routingTable.remove')
    need(dht, 'routingTable.find')
  }
  if (options.streamSlots !== false) {
    need(dht, 'network.sendRequest')
    need(dht, 'network.components.connectionManager.openStream')
    if (options.protocol == null) throw new UnsupportedKadDhtError('the DHT protocol option')
  }
  if (needsAdmission) {
    need(dht, 'network.sendRequest')
    need(dht, 'routingTable.add')
    need(dht, 'routingTable.find')
    need(dht, 'routingTable.addEventListener')
  }

  const run = queryManager.run.bind(queryManager)
  const { queryTimeout } = options
  queryManager.run = async function* nsnRun(key, queryFunc, runOptions: AbortOptions = {}) {
    const deadline = startDeadline(queryTimeout, runOptions.signal)
    try {
      yield* run(key, queryFunc, { ...runOptions, signal: deadline.signal })
    } catch (err) {
      throw deadline.translate(err)
    } finally {
      deadline.clear()
    }
  }

  if (options.lastPingThreshold != null) {
    const kb = need<{ lastPingThreshold: number }>(dht, 'routingTable.kb')
    need(dht, 'routingTable.kb.lastPingThreshold')
    kb.lastPingThreshold = options.lastPingThreshold
  }

  let reporter: InboundGuardReporter | undefined
  // the connection each sender's ADD_PROVIDER is being handled from (the provider store's IP group)
  const arrivals = new Map<string, Connection>()
  let providerLimits: ProviderLimits | undefined
  let inboundGuard: InboundGuard | undefined
  if (options.inboundGuard !== false) {
    if (options.logger == null) throw new UnsupportedKadDhtError('the component logger')
    const kadHandle = rpc.handleMessage.bind(rpc)
    const handleMessage = async (peer: PeerId, msg: KadMessage, connection: Connection) => {
      if (msg.type !== MessageType.ADD_PROVIDER || providerLimits?.groupsCounted !== true) {
        return kadHandle(peer, msg)
      }
      const sender = peer.toString()
      arrivals.set(sender, connection)
      try {
        return await kadHandle(peer, msg)
      } finally {
        // a later message of the sender on another connection may have taken the entry
        if (arrivals.get(sender) === connection) arrivals.delete(sender)
      }
    }
    const guard = new InboundGuard(
      { logger: options.logger, handleMessage, reporter: () => reporter },
      options.inboundGuard,
      options.incomingMessageTimeout,
    )
    rpc.onIncomingStream = (stream, connection) => guard.onIncomingStream(stream, connection)
    inboundGuard = guard
  }

  const providerPrefix = `${options.datastorePrefix}/provider`
  /** The IP group of the connection `provider`'s record arrived on (see the table above). */
  const groupOf = (provider: PeerId): string | undefined => {
    const arrival = arrivals.get(provider.toString())
    if (arrival != null) return ipGroupOf(arrival.remoteAddr)
    for (const connection of options.connectionManager?.getConnections(provider) ?? []) {
      const group = ipGroupOf(connection.remoteAddr)
      if (group != null) return group
    }
    return undefined
  }
  if (options.providerStore !== false) {
    if (options.peerId == null) throw new UnsupportedKadDhtError('the peer id component')
    const limits = new ProviderLimits(
      {
        datastore,
        providerPrefix,
        self: options.peerId.toString(),
        providerRecordTtl: options.providerRecordTtl,
        // a lower bound of the network's size: the per-peer cap it gives never refuses an
        // honest provider (see provider-limits.ts)
        networkSize: () => (routingTable.size > 0 ? routingTable.size + 1 : undefined),
      },
      options.providerStore,
    )
    const storeLog = options.logger?.forComponent('nsn:provider-store')
    const warnings = new IntervalGate(INBOUND_WARN_INTERVAL, INBOUND_TRACKED_PEERS)
    const self = options.peerId.toString()
    providers.addProvider = async (cid, provider, addOptions) => {
      const group = limits.groupsCounted && provider.toString() !== self ? groupOf(provider) : undefined
      const admission = await limits.add(cid.multihash.bytes, provider.toString(), { ...addOptions, group })
      // ADD_PROVIDER has no answer: a refusal is only reported (and kad-dht goes on to
      // merge the sender's addresses, which the inbound guard has bounded)
      if (!admission.stored) {
        reporter?.rejected(admission.reason, provider)
        if (warnings.pass(provider.toString())) {
          // libp2p's logger has no warn level: its error level is the one shown by default
          storeLog?.error(
            'refused a provider record of %p: %s%s; its next refusals are not logged for %d ms',
            provider,
            admission.reason,
            admission.group == null ? '' : ` (IP group ${admission.group})`,
            warnings.interval,
          )
        }
      }
    }
    reprovider.datastore = limits.countedDatastore(reprovider.datastore)
    providerLimits = limits
  }

  let answerReporter: AnswerGuardReporter | undefined
  let answerGuard: AnswerGuard | undefined
  if (network != null && options.answerGuard !== false) {
    const guard = new AnswerGuard(
      {
        dispatchPeer: (peer) => network.safeDispatchEvent('peer', { detail: peer }),
        reporter: () => answerReporter,
        log: options.logger?.forComponent('nsn:answer-guard'),
        warnings: new IntervalGate(INBOUND_WARN_INTERVAL, INBOUND_TRACKED_PEERS),
      },
      options.answerGuard,
      options.kBucketSize,
    )
    network._writeReadMessage = (stream, msg, abortOptions) => guard.writeRead(stream, msg, abortOptions)
    answerGuard = guard
  }

  // innermost: kad-dht's own request replaced by one over warm streams; every wrapper
  // below (timeouts, slots, the guard's log, the admission) wraps it as it wrapped kad-dht's
  let streamPool: DhtStreamPool | undefined
  if (network != null && answerGuard != null && options.streamPool !== false && options.protocol != null) {
    need(dht, 'network.isStarted')
    const guard = answerGuard
    const protocol = options.protocol
    const kadNetwork = network
    const pool = new DhtStreamPool(
      {
        // read at each open: the stream slots' view of the connection manager (below)
        open: (peer, openOptions) =>
          kadNetwork.components.connectionManager.openStream(peer, protocol, openOptions),
        reader: (stream) => guard.reader(stream),
        ping: async (lease, pingOptions) => {
          await exchange(guard, lease, { type: MessageType.PING }, pingOptions)
        },
        connected: (peer) => options.connectionManager?.getConnections(peer).length !== 0,
        wanted: () => Array.from(routingTable.kb.toIterable(), (entry) => entry.peerId),
        log: options.logger?.forComponent('nsn:stream-pool'),
      },
      options.streamPool,
    )
    network.sendRequest = pooledSendRequest({
      pool,
      answerGuard: guard,
      fallback: network.sendRequest.bind(network),
      running: () => kadNetwork.isStarted(),
    })
    // the routing table's peers get a warm stream as they enter it
    routingTable.addEventListener('peer:add', (evt) => pool.warm((evt as CustomEvent<PeerId>).detail))
    runAlongside(dht, pool)
    streamPool = pool
  }

  let timeoutsReporter: RequestTimeoutsReporter | undefined
  let requestTimeouts: RequestTimeouts | undefined
  let routingAdmission: RoutingAdmission | undefined
  if (network != null && options.requestTimeouts !== false) {
    const timeouts = new RequestTimeouts(
      {
        sendRequest: network.sendRequest.bind(network),
        evict: async (peer) => {
          // quarantined first: a re-add racing the removal is refused
          routingAdmission?.evicted(peer)
          if ((await routingTable.find(peer)) == null) return false
          await routingTable.remove(peer)
          return true
        },
        reporter: () => timeoutsReporter,
        connected:
          options.connectionManager == null
            ? undefined
            : (peer) => options.connectionManager?.getConnections(peer).length !== 0,
        log: options.logger?.forComponent('nsn:request-timeouts'),
      },
      options.requestTimeouts,
    )
    network.sendRequest = (to, msg, sendOptions) => timeouts.sendRequest(to, msg, sendOptions)
    requestTimeouts = timeouts
  }

  let streamSlots: StreamSlots | undefined
  if (network != null && options.streamSlots !== false && options.protocol != null) {
    const slots = new StreamSlots(options.streamSlots)
    const components = network.components
    const connectionManager = components.connectionManager
    const openStream = slots.openStream(
      connectionManager.openStream.bind(connectionManager),
      options.protocol,
    )
    // kad-dht's network reads `components.connectionManager` at each request: its own view
    // of both, the rest of libp2p's components untouched
    const slotted = new Proxy(connectionManager, {
      get: (target, prop) => (prop === 'openStream' ? openStream : Reflect.get(target, prop, target)),
    })
    network.components = new Proxy(components, {
      get: (target, prop) => (prop === 'connectionManager' ? slotted : Reflect.get(target, prop, target)),
    })
    // outside the request timeouts: the wait for a slot is no part of the peer's timeout
    network.sendRequest = slots.sendRequest(network.sendRequest.bind(network))
    streamSlots = slots
  }

  // outside the request timeouts: a rejected answer is logged against the peer the request went to
  if (network != null && answerGuard != null)
    network.sendRequest = answerGuard.watch(network.sendRequest.bind(network))

  let routingReporter: RoutingAdmissionReporter | undefined
  if (network != null && needsAdmission) {
    if (options.peerId == null) throw new UnsupportedKadDhtError('the peer id component')
    if (options.connectionManager == null)
      throw new UnsupportedKadDhtError('the connection manager component')
    if (options.peerStore == null) throw new UnsupportedKadDhtError('the peer store component')
    const table = routingTable as AddableRoutingTable
    const add = table.add.bind(table)
    const admission = new RoutingAdmission(
      {
        peerId: options.peerId,
        connectionManager: options.connectionManager,
        peerStore: options.peerStore,
        add,
        contains: async (peer) => (await routingTable.find(peer)) != null,
        tablePeers: () => Array.from(routingTable.kb.toIterable(), (p) => p.peerId.toString()),
        tableSize: () => routingTable.size,
        // installed after the request timeouts: this wrapper is the outermost one and
        // sees the query's own signal
        sendRequest: network.sendRequest.bind(network),
        reporter: () => routingReporter,
        log: options.logger?.forComponent('nsn:routing-admission'),
      },
      {
        diversity: options.routingDiversity,
        quarantine:
          options.requestTimeouts === false
            ? false
            : {
                duration: options.requestTimeouts?.quarantine,
                maxPeers: options.requestTimeouts?.quarantinedPeers,
              },
      },
    )
    table.add = (peer, addOptions) => admission.add(peer, addOptions)
    routingTable.addEventListener('peer:remove', (evt) => {
      admission.removed((evt as CustomEvent<PeerId>).detail)
    })
    network.sendRequest = (to, msg, sendOptions) => admission.sendRequest(to, msg, sendOptions)
    routingAdmission = admission
  }

  // the answers to FIND_NODE and GET_PROVIDERS, and the start of NSN's lookups: the k
  // closest table peers without kad-dht's sorted-list scans and peer-store reads
  let offlineClosest: OfflineClosest | undefined
  if (options.peerStore != null) {
    const routing = peerRouting as PeerRoutingLike & { getClosestPeersOffline?: unknown }
    need(dht, 'peerRouting.getClosestPeersOffline')
    const offline = new OfflineClosest(
      {
        peerStore: options.peerStore,
        table: routingTable as unknown as OfflineClosestComponents['table'],
        ...(options.events == null ? {} : { events: options.events }),
      },
      { capacity: OFFLINE_CLOSEST_CACHE_CAPACITY, ttl: OFFLINE_CLOSEST_CACHE_TTL },
    )
    routing.getClosestPeersOffline = (key: Uint8Array, closestOptions?: AbortOptions) =>
      offline.closest(key, closestOptions)
    runAlongside(dht, offline)
    offlineClosest = offline
  }

  let lookupObserver: LookupObserver | undefined
  const getClosestPeers = peerRouting.getClosestPeers.bind(peerRouting)
  peerRouting.getClosestPeers = async function* observed(key, lookupOptions) {
    const closest: PeerId[] = []
    for await (const event of getClosestPeers(key, lookupOptions)) {
      if (event.name === 'FINAL_PEER') closest.push(event.peer.id)
      yield event
    }
    // only a lookup that ran to its end: a stopped one knows no final closest peers
    lookupObserver?.(key, closest)
  }

  let lookups: Lookups | undefined
  if (options.lookups !== false && network != null) {
    need(dht, 'routingTable.closestPeers')
    need(dht, 'routingTable.queueRoutingTableUpdate')
    need(dht, 'providers.getProviders')
    need(dht, 'network.components.connectionManager.isDialable')
    if (options.peerStore == null) throw new UnsupportedKadDhtError('the peer store component')
    const table = routingTable as LookupRoutingTable
    const kadProviders = providers as ProvidersLike & {
      getProviders(cid: CID, options?: AbortOptions): Promise<PeerId[]>
    }
    const peerStore = options.peerStore
    const connectionManager = network.components.connectionManager as unknown as {
      isDialable(addrs: Multiaddr[], options?: AbortOptions): Promise<boolean>
      getConnections(peer?: PeerId): unknown[]
    }
    lookups = new Lookups(
      {
        self: need<PeerId>(options, 'peerId'),
        // read at each request: the outermost of the wrappers above
        sendRequest: (to, msg, sendOptions) => (network as NetworkLike).sendRequest(to, msg, sendOptions),
        closestInTable: (target, count) =>
          offlineClosest == null
            ? table.closestPeers(target, { count })
            : closestEntries(table.kb.toIterable(), target, count),
        connected: (peer) => connectionManager.getConnections(peer).length !== 0,
        // measured response times first; else the time a stream to it took to open (one
        // round trip), for peers this node warmed a stream to but never asked
        responseTime: (peer) =>
          requestTimeouts?.times.responseTimeOf(peer.toString()) ?? streamPool?.openTimeOf(peer),
        isDialable: (addrs, dialOptions) => connectionManager.isDialable(addrs, dialOptions),
        answered: (peer) => table.queueRoutingTableUpdate(peer),
        localProviders: async (cid, providerOptions) => {
          const out: PeerInfo[] = []
          for (const id of await kadProviders.getProviders(cid, providerOptions)) {
            const addrs = await peerStore.get(id, providerOptions).then(
              (peer) => peer.addresses.map((a) => a.multiaddr),
              () => undefined,
            )
            if (addrs != null) out.push({ id, multiaddrs: addrs })
          }
          return out
        },
        completed: (key, closest) => lookupObserver?.(key, closest),
        queryTimeout,
      },
      { ...options.lookups, ...(options.kBucketSize == null ? {} : { k: options.kBucketSize }) },
    )
    const engine = lookups
    dht.findProviders = (key, findOptions) => engine.findProviders(key, findOptions)
    dht.getClosestPeers = (key, closestOptions) => engine.getClosestPeers(key, closestOptions)
    // kad-dht's own closest-peer lookups too (the refresh's per-bucket ones, the self-query):
    // under wide-area latency its query manager's lookups ran for seconds, so a node that
    // had just joined had no network-size estimate yet (24 of 50 bench nodes at the end
    // of a run), and its provides were not optimistic. The engine reports each completed
    // lookup to the observer itself.
    peerRouting.getClosestPeers = (key, closestOptions) => engine.getClosestPeers(key, closestOptions)
  }

  reprovider.shouldReprovide = () => false
  refresh.refreshTable = () => {}
  let nsnRefresh: ((options?: AbortOptions) => Promise<unknown>) | undefined
  dht.refreshRoutingTable = async (abortOptions?: AbortOptions): Promise<void> => {
    if (nsnRefresh == null) {
      throw new NotStartedError('the routing-table refresh (start a ShardRouting on this node)')
    }
    await nsnRefresh(abortOptions)
  }

  const hooks: KadHooks = {
    routingTable,
    queryTimeout,
    providerRecordTtl: options.providerRecordTtl,
    datastore,
    providerPrefix,
    maxCommonPrefix: () => maxCommonPrefixBits(routingTable),
    refreshCommonPrefixLength: (cpl, abortOptions) =>
      refresh._refreshCommonPrefixLength(cpl, new Date(0), true, abortOptions),
    lookupSelf: async (abortOptions) => {
      const self = need<PeerId>(options, 'peerId')
      const selfKad = await kadId(self.toMultihash().bytes)
      const cpls: number[] = []
      for await (const event of peerRouting.getClosestPeers(self.toMultihash().bytes, abortOptions)) {
        if (event.name === 'FINAL_PEER' && !event.peer.id.equals(self)) {
          cpls.push(commonPrefixBits(selfKad, await kadId(event.peer.id.toMultihash().bytes)))
        }
      }
      return cpls
    },
    attachRefresh(fn) {
      nsnRefresh = fn
    },
    inboundGuard,
    attachInboundReporter(next) {
      reporter = next
    },
    providerLimits,
    answerGuard,
    addProvider: (cid, provider, addOptions) => providers.addProvider(cid, provider, addOptions),
    attachAnswerReporter(next) {
      answerReporter = next
    },
    requestTimeouts,
    streamPool,
    closestPeers: (kadId, count) =>
      (routingTable as LookupRoutingTable).closestPeers?.(kadId, { count }) ?? [],
    attachRequestTimeoutsReporter(next) {
      timeoutsReporter = next
    },
    streamSlots,
    openDhtStream: (peer, openOptions, open) =>
      streamSlots == null
        ? open(openOptions)
        : streamSlots.openStream((_peer, _protocol, o) => open(o ?? {}), options.protocol ?? '')(
            peer,
            options.protocol ?? '',
            openOptions,
          ),
    routingAdmission,
    attachRoutingReporter(next) {
      routingReporter = next
    },
    attachLookupObserver(next) {
      lookupObserver = next
    },
  }
  Object.defineProperty(hooked, HOOKS, { value: hooks, enumerable: false })
  return hooks
}

/**
 * The hooks of a DHT built by `nsnKadDHT`.
 *
 * @throws {UnsupportedKadDhtError} when `dht` was not built by `nsnKadDHT`
 */
export function hooksOf(dht: KadDHT): KadHooks {
  const hooks = (dht as Hooked)[HOOKS]
  if (hooks == null) throw new UnsupportedKadDhtError('NSN hooks (build the DHT service with nsnKadDHT())')
  return hooks
}

// ---- kad-dht's provider-record format in its datastore

/** kad-dht's datastore key of `provider`'s record for the key `multihash`. */
export function providerRecordKey(
  providerPrefix: string,
  multihash: Uint8Array,
  provider: PeerId | string,
): Key {
  return new Key(`${providerPrefix}/${uint8ArrayToString(multihash, 'base32')}/${provider}`)
}

/**
 * The multihash and provider of a provider-record key, or undefined for a key that is
 * not one (foreign data under the prefix).
 */
export function parseProviderRecordKey(
  providerPrefix: string,
  key: Key,
): { multihash: Uint8Array; provider: string } | undefined {
  const text = key.toString()
  if (!text.startsWith(`${providerPrefix}/`)) return undefined
  const [encoded, provider, ...rest] = text.slice(providerPrefix.length + 1).split('/')
  if (encoded == null || provider == null || provider === '' || rest.length > 0) return undefined
  try {
    return { multihash: uint8ArrayFromString(encoded, 'base32'), provider }
  } catch {
    return undefined // not base32: not a record kad-dht wrote
  }
}

/** Longest IP group read back from a record value; a longer tail is no group NSN wrote. */
const MAX_GROUP_BYTES = 64

/**
 * The IP group NSN wrote after the varint of a record value (`provider-limits.ts`), or
 * undefined for a value without one (kad-dht's own, or NSN's before the per-group cap or
 * while it was off).
 */
export function decodeProviderRecordGroup(value: Uint8Array): string | undefined {
  let end = 0
  while (end < value.byteLength && ((value[end] as number) & 0x80) !== 0) end++
  end++ // the varint's last byte
  const rest = value.byteLength - end
  if (rest <= 0 || rest > MAX_GROUP_BYTES) return undefined
  return uint8ArrayToString(value.subarray(end))
}

/** When a provider record was stored (epoch ms): kad-dht writes an unsigned varint. */
export function decodeProviderRecordTime(value: Uint8Array): number {
  let time = 0
  let scale = 1
  for (const byte of value) {
    time += (byte & 0x7f) * scale
    if ((byte & 0x80) === 0) break
    scale *= 128
  }
  return time
}
