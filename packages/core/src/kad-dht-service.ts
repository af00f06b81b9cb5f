/**
 * `nsnKadDHT(init)`: the kad-dht service with NSN defaults, to use as a libp2p
 * service (`services: { dht: nsnKadDHT() }`). Every default comes from
 * `constants.ts` and every one is overridable.
 *
 * @packageDocumentation
 */

import type { KadDHT, KadDHTComponents, KadDHTInit } from '@libp2p/kad-dht'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { type AnswerGuardInit, resolveAnswerGuardOptions } from './answer-guard.js'
import {
  INBOUND_STREAM_IDLE_TIMEOUT,
  INBOUND_STREAMS_PER_CONNECTION,
  K_BUCKET_SIZE,
  NSN_DHT_PROTOCOL,
  OUTBOUND_STREAMS_PER_CONNECTION,
  PROVIDER_CLEANUP_INTERVAL,
  PROVIDER_RECORD_TTL,
  QUERY_TIMEOUT,
  type ROUTING_DIVERSITY_PER_BUCKET,
  type ROUTING_DIVERSITY_PER_TABLE,
  SELF_QUERY_INTERVAL,
} from './constants.js'
import { InvalidOptionError } from './errors.js'
import { type InboundGuardInit, resolveInboundGuardOptions } from './inbound-guard.js'
import { installKadHooks } from './kad-internals.js'
import { type LookupInit, type ResolvedLookupOptions, resolveLookupOptions } from './lookup/lookup.js'
import { positiveInteger, positiveNumber } from './option-checks.js'
import {
  type ProviderStoreInit,
  type ResolvedProviderStoreOptions,
  resolveProviderStoreOptions,
} from './provider-limits.js'
import {
  type RequestTimeoutsInit,
  type ResolvedRequestTimeoutsOptions,
  resolveRequestTimeoutsOptions,
} from './request-timeouts.js'
import {
  type ResolvedRoutingDiversityOptions,
  type RoutingDiversityInit,
  resolveRoutingDiversityOptions,
} from './routing-diversity.js'
import {
  type ResolvedStreamPoolOptions,
  resolveStreamPoolOptions,
  type StreamPoolInit,
} from './stream-pool.js'
import {
  type ResolvedStreamSlotsOptions,
  resolveStreamSlotsOptions,
  type StreamSlotsInit,
} from './stream-slots.js'

/** Options of {@link nsnKadDHT}: kad-dht's own, plus NSN's. */
export interface NsnKadDHTInit extends KadDHTInit {
  /** Deadline of every query of this DHT in ms. Default {@link QUERY_TIMEOUT} (10 s). */
  queryTimeout?: number
  /**
   * How long this node keeps provider records received from others, in ms. Default
   * {@link PROVIDER_RECORD_TTL} (12 h).
   */
  providerRecordTtl?: number
  /**
   * How often expired records of others are deleted, in ms. Default
   * {@link PROVIDER_CLEANUP_INTERVAL}; a record lives at most TTL plus this.
   */
  providerCleanupInterval?: number
  /**
   * A routing-table peer pinged within this many ms is not pinged again when a full
   * bucket needs room for a new contact (kad-dht's 10 min default, which kad-dht itself
   * does not let callers change). Shrink it to let stale peers be replaced sooner.
   */
  lastPingThreshold?: number
  /**
   * The inbound guard in front of kad-dht's handlers (maximum message size, key and
   * peer validation, per-peer and global rate limits; see `inbound-guard.ts`), every
   * bound a named default. `false` turns it off and leaves kad-dht's own reader (for
   * comparisons only: a public node needs it). The per-connection stream limit is
   * kad-dht's own `maxInboundStreams`, default {@link INBOUND_STREAMS_PER_CONNECTION}.
   */
  inboundGuard?: InboundGuardInit | false
  /**
   * The bounded provider store (see `provider-limits.ts`): at most
   * `maxProvidersPerKey` providers per key (existing records kept, newcomers refused),
   * `maxProvidersPerKeyPerGroup` of them from one IP group (IPv4 /16, IPv6 /32) of the
   * connection the record arrived on (`false`: no per-group cap, which the host's
   * `local` profile sets), `maxRecordsPerPeer` records per providing peer and
   * `maxRecords` in total, each a named default. `false` leaves kad-dht's unbounded
   * store (for comparisons only).
   */
  providerStore?: ProviderStoreInit | false
  /**
   * The answer guard on this node's own requests (maximum answer size, at most k closer
   * peers and `maxProviders` providers, bounded valid addresses per peer, valid peer ids;
   * see `answer-guard.ts`), every bound a named default. `false` turns it off and leaves
   * kad-dht's own answer reader (for comparisons only).
   */
  answerGuard?: AnswerGuardInit | false
  /**
   * Per-peer request timeouts (see `request-timeouts.ts`): each request this node sends
   * is bounded by the addressed peer's own timeout, `srtt + 4 * rttvar` of its measured
   * response times clamped to [`min`, `max`] (defaults 1 s and 5 s), `unknownPeer` (2 s)
   * before its first answer; a peer timing out `evictAfter` (3) times in a row leaves
   * the routing table. `false` leaves every request under the query deadline only.
   */
  requestTimeouts?: RequestTimeoutsInit | false
  /**
   * Routing-table diversity (see `routing-diversity.ts`), as go-libp2p-kad-dht's public
   * DHT: at most `perBucket` ({@link ROUTING_DIVERSITY_PER_BUCKET}, 2) peers of one IP
   * group (IPv4 /16, IPv6 /32) per k-bucket and `perTable`
   * ({@link ROUTING_DIVERSITY_PER_TABLE}, 3) in the whole table, and at most `perTable`
   * peers of one group taken from answers during one lookup. On by default; `false`
   * turns it off, which the host's `local` profile does (every loopback peer is one
   * group). The eviction quarantine of `requestTimeouts` applies either way.
   */
  routingDiversity?: RoutingDiversityInit | false
  /**
   * Outbound DHT stream slots (see `stream-slots.ts`): at most `perPeer`
   * ({@link OUTBOUND_STREAMS_PER_CONNECTION}, 32: what a peer with NSN's defaults accepts)
   * DHT streams open to one peer at once; a request past it waits for a stream to close
   * (at most `queuePerPeer` wait per peer, then `OverloadedError`), outside the peer's
   * request timeout. `false` lets kad-dht open a stream per request without waiting, and
   * requests past a peer's inbound limit fail as if the peer had.
   */
  streamSlots?: StreamSlotsInit | false
  /**
   * NSN's lookups (`lookup/lookup.ts`) for the DHT's `findProviders` and
   * `getClosestPeers`: at most `concurrency` ({@link LOOKUP_CONCURRENCY}, 10) requests in
   * flight, cheapest peers first, ended once the `beta` ({@link LOOKUP_BETA}, 3) closest
   * peers answered. `false` keeps kad-dht's query manager (20 disjoint paths, each run
   * until its queue drains).
   */
  lookups?: LookupInit | false
  /**
   * Warm DHT streams (`stream-pool.ts`): a request reuses an idle stream to its peer (one
   * round trip instead of two), the routing table's peers get one as they enter it, and
   * idle ones are pinged to stay open. Needs the answer guard. `false` opens a stream per
   * request, as kad-dht does.
   */
  streamPool?: StreamPoolInit | false
}

/** The kad-dht options {@link nsnKadDHT} resolves, for inspection and tests. */
export interface ResolvedKadDHTOptions {
  kad: KadDHTInit
  queryTimeout: number
  providerRecordTtl: number
  datastorePrefix: string
  lastPingThreshold?: number
  inboundGuard: InboundGuardInit | false
  providerStore: ResolvedProviderStoreOptions | false
  answerGuard: AnswerGuardInit | false
  requestTimeouts: ResolvedRequestTimeoutsOptions | false
  routingDiversity: ResolvedRoutingDiversityOptions | false
  streamSlots: ResolvedStreamSlotsOptions | false
  lookups: ResolvedLookupOptions | false
  streamPool: ResolvedStreamPoolOptions | false
}

const positive = (name: string, value: number): number => positiveNumber(name, value, ' of ms')

/**
 * Merges NSN defaults with `init`.
 *
 * @throws {InvalidOptionError} for a non-positive timeout, TTL or bucket size, or a
 *   diversity bound that is not an integer >= 1
 */
export function resolveKadDHTOptions(init: NsnKadDHTInit = {}): ResolvedKadDHTOptions {
  const {
    queryTimeout,
    providerRecordTtl,
    providerCleanupInterval,
    lastPingThreshold,
    inboundGuard,
    providerStore,
    answerGuard,
    requestTimeouts,
    routingDiversity,
    streamSlots,
    lookups,
    streamPool,
    ...rest
  } = init
  if (lastPingThreshold != null && !(lastPingThreshold >= 0)) {
    throw new InvalidOptionError('lastPingThreshold', `must be >= 0 ms, got ${String(lastPingThreshold)}`)
  }
  const timeout = positive('queryTimeout', queryTimeout ?? QUERY_TIMEOUT)
  const ttl = positive('providerRecordTtl', providerRecordTtl ?? PROVIDER_RECORD_TTL)
  const cleanup = positive('providerCleanupInterval', providerCleanupInterval ?? PROVIDER_CLEANUP_INTERVAL)
  const k = positiveInteger('kBucketSize', rest.kBucketSize ?? K_BUCKET_SIZE)
  const datastorePrefix = rest.datastorePrefix ?? '/dht'
  const slots = streamSlots === false ? false : resolveStreamSlotsOptions(streamSlots)
  const maxOutboundStreams = rest.maxOutboundStreams ?? OUTBOUND_STREAMS_PER_CONNECTION
  if (slots !== false && slots.perPeer > maxOutboundStreams) {
    // libp2p would refuse the streams past its limit that the slots let through
    throw new InvalidOptionError(
      'streamSlots.perPeer',
      `must be <= maxOutboundStreams (${maxOutboundStreams}), got ${slots.perPeer}`,
    )
  }
  return {
    queryTimeout: timeout,
    providerRecordTtl: ttl,
    datastorePrefix,
    lastPingThreshold,
    inboundGuard: inboundGuard === false ? false : resolveInboundGuardOptions(inboundGuard),
    providerStore: providerStore === false ? false : resolveProviderStoreOptions(providerStore),
    answerGuard: answerGuard === false ? false : resolveAnswerGuardOptions(answerGuard, k),
    requestTimeouts: requestTimeouts === false ? false : resolveRequestTimeoutsOptions(requestTimeouts),
    routingDiversity: routingDiversity === false ? false : resolveRoutingDiversityOptions(routingDiversity),
    streamSlots: slots,
    lookups: lookups === false ? false : resolveLookupOptions({ k, ...lookups }),
    streamPool: streamPool === false ? false : resolveStreamPoolOptions(streamPool),
    kad: {
      protocol: NSN_DHT_PROTOCOL,
      clientMode: false,
      // with an empty table a query ends at once, asking nobody, instead of waiting for a
      // peer to appear; ShardRouting fails its operations with NoKnownPeersError then
      allowQueryWithZeroPeers: true,
      // NSN networks include LANs and loopback test networks: keep every address
      peerInfoMapper: passthroughMapper,
      // NSN's bootstrap runs the first self-lookup (under its deadline) as soon as a peer
      // is known; kad-dht's own self-query keeps the neighbourhood fresh after that
      querySelfInterval: SELF_QUERY_INTERVAL,
      initialQuerySelfInterval: rest.querySelfInterval ?? SELF_QUERY_INTERVAL,
      maxInboundStreams: INBOUND_STREAMS_PER_CONNECTION,
      // what a peer with NSN's defaults accepts (kad-dht's own default is 64); the stream
      // slots keep requests under it by making them wait, not fail
      maxOutboundStreams: OUTBOUND_STREAMS_PER_CONNECTION,
      // an inbound stream waits this long for its next message: warm streams (streamPool)
      // are reused by their dialer, pinged before it
      incomingMessageTimeout: INBOUND_STREAM_IDLE_TIMEOUT,
      // kad-dht's one adaptive per-request timeout, shared by all peers, is only a backstop
      // at the query deadline: each request is bounded by its peer's own timeout
      // (`requestTimeouts`), so a silent peer holds one of the alpha parallel slots for
      // one short timeout while the others keep the query moving
      ...rest,
      networkDialTimeout: { minTimeout: timeout, maxTimeout: timeout, ...rest.networkDialTimeout },
      kBucketSize: k,
      datastorePrefix,
      reprovide: {
        ...rest.reprovide,
        // the reprovider only expires other peers' records; NSN's Republisher republishes ours
        validity: ttl,
        interval: cleanup,
      },
    },
  }
}

/**
 * The kad-dht service with NSN defaults: protocol `/nsn/kad/1.0.0`, k = 20, server
 * mode, a 10 s deadline on every query, a 12 h record TTL, and the hooks that let
 * `ShardRouting` own refresh and republish scheduling.
 *
 * @example
 * ```ts
 * const libp2p = await createLibp2p({ ..., services: { identify: identify(), ping: ping(), dht: nsnKadDHT() } })
 * ```
 */
export function nsnKadDHT(init: NsnKadDHTInit = {}): (components: KadDHTComponents) => KadDHT {
  const resolved = resolveKadDHTOptions(init)
  const factory = kadDHT(resolved.kad)
  return (components) => {
    const dht = factory(components)
    installKadHooks(dht, {
      queryTimeout: resolved.queryTimeout,
      providerRecordTtl: resolved.providerRecordTtl,
      datastorePrefix: resolved.datastorePrefix,
      lastPingThreshold: resolved.lastPingThreshold,
      inboundGuard: resolved.inboundGuard,
      answerGuard: resolved.answerGuard,
      requestTimeouts: resolved.requestTimeouts,
      kBucketSize: resolved.kad.kBucketSize,
      incomingMessageTimeout: resolved.kad.incomingMessageTimeout,
      logger: components.logger,
      providerStore: resolved.providerStore,
      peerId: components.peerId,
      routingDiversity: resolved.routingDiversity,
      streamSlots: resolved.streamSlots,
      lookups: resolved.lookups,
      streamPool: resolved.streamPool,
      protocol: resolved.kad.protocol,
      connectionManager: components.connectionManager,
      peerStore: components.peerStore,
      events: components.events,
    })
    return dht
  }
}
