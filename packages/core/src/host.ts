/**
 * The one builder of an NSN libp2p host: transports (TCP), encryption (Noise), muxer
 * (Yamux), services (identify, ping and the DHT), connection manager, connection
 * monitor, gater, identity and datastore. The daemon, the demo, the test harnesses and
 * every benchmark build their hosts here, so "the daemon's stack" holds by
 * construction. A benchmark that compares with plain kad-dht swaps only the DHT
 * service (`dhtService`).
 *
 * Exported as `@nsn/core/host`; it needs the optional peer dependencies `libp2p`,
 * `@libp2p/tcp`, `@chainsafe/libp2p-noise`, `@chainsafe/libp2p-yamux`,
 * `@libp2p/identify` and `@libp2p/ping`, and `@libp2p/gossipsub` when shard announcements
 * are on (`gossip`).
 *
 * @packageDocumentation
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type GossipSub, type GossipsubOpts, gossipsub } from '@libp2p/gossipsub'
import { createTopicScoreParams } from '@libp2p/gossipsub/score'
import { type Identify, identify } from '@libp2p/identify'
import type { ComponentLogger, ConnectionGater, Metrics, PrivateKey } from '@libp2p/interface'
import type { KadDHT, KadDHTComponents } from '@libp2p/kad-dht'
import { passthroughMapper } from '@libp2p/kad-dht'
import { type Ping, ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import type { Datastore } from 'interface-datastore'
import { createLibp2p, type Libp2p, type Libp2pOptions } from 'libp2p'
import {
  type AnnounceScope,
  announceFilter,
  parseAddressList,
  publicPeerInfoMapper,
} from './address-filter.js'
import type { AnnouncementPubSub, AnnouncementValidatorFn } from './announcements/pubsub.js'
import { ANNOUNCEMENT_SCORE_THRESHOLDS } from './announcements/scoring.js'
import {
  CONNECTION_MONITOR_INTERVAL,
  CONNECTION_MONITOR_PING_TIMEOUT,
  GOSSIP_HEARTBEAT_INTERVAL,
  HOST_PROFILES,
  LOCAL_GOSSIP_WHITELIST,
  LOCAL_PROFILE,
  MUXER_KEEP_ALIVE_INTERVAL,
  PING_MAX_INBOUND_STREAMS,
  PING_MAX_OUTBOUND_STREAMS,
  PRIVATE_PROFILE,
  PUBLIC_PROFILE,
} from './constants.js'
import { InvalidOptionError, UnsupportedGossipsubError } from './errors.js'
import { type NsnKadDHTInit, nsnKadDHT } from './kad-dht-service.js'
import { type NatInit, natServices, publicNatInit } from './nat.js'
import { OwnedMemoryDatastore } from './owned-memory-datastore.js'

/** The services of every NSN host. */
export type NsnHostServices<D = KadDHT> = {
  identify: Identify
  ping: Ping
  dht: D
  /** gossipsub, for shard announcements: only with the `gossip` option. */
  pubsub?: GossipSub
}

/** Options of the gossipsub service of a host (the `gossip` option of {@link NsnHostInit}). */
export interface NsnGossipInit {
  /** gossipsub's heartbeat, ms. Default {@link GOSSIP_HEARTBEAT_INTERVAL} (tests shrink it). */
  heartbeatInterval?: number
  /**
   * IP addresses exempt from gossipsub's IP colocation penalty (many peers behind one
   * address are scored down). The `local` profile exempts loopback: every peer of a
   * loopback network has one address.
   */
  ipColocationWhitelist?: readonly string[]
  /** Further gossipsub options, applied last (for tests and tuning). */
  options?: Partial<GossipsubOpts>
}

/** A libp2p service factory of a DHT (`nsnKadDHT()`, or plain `kadDHT()` in benchmarks). */
export type DhtServiceFactory<D = KadDHT> = (components: KadDHTComponents) => D

/** A libp2p host built by {@link createNsnHost}. */
export type NsnHost<D = KadDHT> = Libp2p<NsnHostServices<D>>

/**
 * A named set of host settings (DESIGN.md "Network profiles"): `public` for the internet
 * ({@link PUBLIC_PROFILE}: public addresses only, DHT server once AutoNAT confirms
 * reachability, NAT traversal), `private` for a LAN ({@link PRIVATE_PROFILE}), `local` for
 * loopback networks (tests, the demo, benchmarks: {@link LOCAL_PROFILE}). Without a
 * profile a host announces every address and is a DHT server.
 */
export type HostProfile = (typeof HOST_PROFILES)[number]

/** Options of {@link nsnHostOptions} and {@link createNsnHost}. */
export interface NsnHostInit<D = KadDHT> {
  /** Apply a named profile first; explicit options below override its values. */
  profile?: HostProfile
  /** Multiaddrs to listen on. Default: none (the `local` profile: a free 127.0.0.1 TCP port). */
  listen?: string[]
  /**
   * Multiaddrs announced instead of the listen addresses (libp2p's `addresses.announce`):
   * the operator's word that they reach this host (e.g. a public address in front of a
   * NAT with a forwarded port). On `public` they still pass the public-only filter.
   */
  announce?: string[]
  /** Multiaddrs never announced (libp2p's `addresses.noAnnounce`; `--no-announce`). */
  noAnnounce?: string[]
  /**
   * NAT traversal (see `nat.ts`): the `public` profile turns on AutoNAT, relay
   * reservations while unreachable and DCUtR; UPnP and serving as a relay are opt-in.
   * Fields given here override the profile's.
   */
  nat?: NatInit
  /** The host's identity. Default: a new Ed25519 key. */
  privateKey?: PrivateKey
  /**
   * Where libp2p (peer store) and the DHT (provider records) keep their data. Default: an
   * {@link OwnedMemoryDatastore} (memory, each value in its own buffer).
   */
  datastore?: Datastore
  /**
   * Options of {@link nsnKadDHT}, for the default DHT service. The `local` profile sets
   * `routingDiversity: false` and `providerStore.maxProvidersPerKeyPerGroup: false`, each
   * unless it is given here.
   */
  dht?: NsnKadDHTInit
  /**
   * Replaces the DHT service (benchmarks compare with plain `kadDHT()` this way, on an
   * otherwise identical host). `dht` options are then ignored.
   */
  dhtService?: DhtServiceFactory<D>
  /** Inbound connections per second accepted from one address (libp2p's default: 5). */
  inboundConnectionThreshold?: number
  /** Inbound connections being upgraded at once (libp2p's default). */
  maxIncomingPendingConnections?: number
  /** Multiaddrs (e.g. `/ip4/127.0.0.1/ipcidr/8`) exempt from connection limits. */
  allow?: string[]
  /**
   * Ping interval of libp2p's connection monitor in ms; 0 turns the monitor off. Default
   * {@link CONNECTION_MONITOR_INTERVAL} (libp2p's: 10 s).
   */
  connectionMonitorInterval?: number
  /**
   * Shortest time the connection monitor waits for a ping's answer before it aborts the
   * connection, in ms (the floor of libp2p's adaptive ping timeout, whose own floor is
   * 5 s), never more than half the interval. Default {@link CONNECTION_MONITOR_PING_TIMEOUT}:
   * a busy peer, or a busy process, answers a ping late, and libp2p aborts the whole
   * connection (every DHT request on it) at the first late answer.
   */
  connectionMonitorTimeout?: number
  /**
   * How often yamux pings each connection (a frame, no stream), in ms; 0 turns its
   * keep-alive off. Default {@link MUXER_KEEP_ALIVE_INTERVAL}: below `@libp2p/tcp`'s 2 min
   * socket inactivity timeout, which closes an idle connection.
   */
  muxerKeepAliveInterval?: number
  connectionGater?: ConnectionGater
  /** DNS resolver for `/dnsaddr` and `/dns*` addresses. */
  dns?: Libp2pOptions['dns']
  /** libp2p's metrics component (`@nsn/metrics` provides one). */
  metrics?: (components: never) => Metrics
  /** Name and version this host announces through identify. */
  nodeInfo?: { name: string; version: string }
  /** libp2p's `logger` component: where its components' debug lines go. Default: libp2p's (`DEBUG` to stderr). */
  logger?: ComponentLogger
  /** Start the host at once. Default true (libp2p's). */
  start?: boolean
  /**
   * Adds gossipsub (`services.pubsub`) for shard announcements (`ShardAnnouncements`,
   * through {@link announcementPubSub}): messages signed by their author (`StrictSign`),
   * peer scoring with NSN's thresholds, publishing allowed with no peer subscribed yet.
   * Default: off.
   */
  gossip?: NsnGossipInit | boolean
}

/** The gossipsub service factory of {@link NsnHostInit.gossip}. */
function gossipService(init: NsnGossipInit, local: boolean) {
  const heartbeatInterval = init.heartbeatInterval ?? GOSSIP_HEARTBEAT_INTERVAL
  if (!(Number.isFinite(heartbeatInterval) && heartbeatInterval > 0)) {
    throw new InvalidOptionError(
      'gossip.heartbeatInterval',
      `must be a positive finite number (ms), got ${heartbeatInterval}`,
    )
  }
  const whitelist = init.ipColocationWhitelist ?? (local ? LOCAL_GOSSIP_WHITELIST : [])
  return gossipsub({
    globalSignaturePolicy: 'StrictSign',
    allowPublishToZeroTopicPeers: true,
    emitSelf: false,
    fallbackToFloodsub: false,
    heartbeatInterval,
    scoreParams: { IPColocationFactorWhitelist: new Set(whitelist), topics: {} },
    scoreThresholds: { ...ANNOUNCEMENT_SCORE_THRESHOLDS },
    ...init.options,
  })
}

/**
 * The announcement service's view of a host's gossipsub (see `announcements/pubsub.ts`).
 *
 * @throws {UnsupportedGossipsubError} when gossipsub lacks its score parameters (a version NSN does not know)
 */
export function announcementPubSub(pubsub: GossipSub): AnnouncementPubSub {
  const inner = pubsub as GossipSub & {
    getMeshPeers?: (topic: string) => string[]
    score?: { params?: { topics?: Record<string, unknown> } }
  }
  const topics = inner.score?.params?.topics
  if (typeof inner.getMeshPeers !== 'function') throw new UnsupportedGossipsubError('getMeshPeers')
  if (topics == null || typeof topics !== 'object') throw new UnsupportedGossipsubError('score.params.topics')
  const getMeshPeers = inner.getMeshPeers.bind(inner)
  return {
    subscribe: (topic) => pubsub.subscribe(topic),
    unsubscribe: (topic) => pubsub.unsubscribe(topic),
    getTopics: () => pubsub.getTopics(),
    getSubscribers: (topic) => pubsub.getSubscribers(topic),
    getMeshPeers: (topic) => getMeshPeers(topic),
    publish: (topic, data) => pubsub.publish(topic, data),
    // gossipsub's validators return its TopicValidatorResult enum, whose values are these strings
    topicValidators: pubsub.topicValidators as unknown as Map<string, AnnouncementValidatorFn>,
    addTopicScoreParams: (topic, params) => {
      topics[topic] ??= createTopicScoreParams(params)
    },
  }
}

function nonNegative(name: string, value: number | undefined): number | undefined {
  if (value != null && !(Number.isFinite(value) && value >= 0)) {
    throw new InvalidOptionError(name, `must be a finite number >= 0, got ${String(value)}`)
  }
  return value
}

/**
 * The libp2p options of an NSN host. Use it when you need to adjust something before
 * `createLibp2p`; otherwise call {@link createNsnHost}.
 *
 * @throws {InvalidOptionError} for a negative or non-finite limit
 */
export function nsnHostOptions<D = KadDHT>(init: NsnHostInit<D> = {}): Libp2pOptions<NsnHostServices<D>> {
  if (init.profile != null && !(HOST_PROFILES as readonly string[]).includes(init.profile)) {
    throw new InvalidOptionError(
      'profile',
      `must be one of ${HOST_PROFILES.join(', ')}, got ${JSON.stringify(init.profile)}`,
    )
  }
  const profile = init.profile === 'local' ? LOCAL_PROFILE : undefined
  const announceScope: AnnounceScope =
    init.profile === 'public'
      ? PUBLIC_PROFILE.announce
      : init.profile === 'private'
        ? PRIVATE_PROFILE.announce
        : 'all'
  const announce = parseAddressList('announce', init.announce).map((a) => a.toString())
  parseAddressList('noAnnounce', init.noAnnounce)
  const nat = natServices(init.profile === 'public' ? publicNatInit(init.nat) : (init.nat ?? {}))
  const listen = init.listen ?? profile?.listen ?? []
  const inboundConnectionThreshold = nonNegative(
    'inboundConnectionThreshold',
    init.inboundConnectionThreshold ?? profile?.inboundConnectionThreshold,
  )
  const maxIncomingPendingConnections = nonNegative(
    'maxIncomingPendingConnections',
    init.maxIncomingPendingConnections ?? profile?.maxIncomingPendingConnections,
  )
  const monitor =
    nonNegative(
      'connectionMonitorInterval',
      init.connectionMonitorInterval ?? profile?.connectionMonitorInterval,
    ) ?? CONNECTION_MONITOR_INTERVAL
  // libp2p's adaptive ping timeout, between the floor and half the interval: one monitor
  // ping per connection at a time (CONNECTION_MONITOR_PING_TIMEOUT says why)
  const halfInterval = Math.floor(monitor / 2)
  const pingTimeout = Math.min(
    nonNegative('connectionMonitorTimeout', init.connectionMonitorTimeout) ?? CONNECTION_MONITOR_PING_TIMEOUT,
    halfInterval,
  )
  const monitorTimeout = { minTimeout: pingTimeout, maxTimeout: halfInterval }
  const muxerKeepAlive =
    nonNegative('muxerKeepAliveInterval', init.muxerKeepAliveInterval) ?? MUXER_KEEP_ALIVE_INTERVAL
  const allow = init.allow ?? profile?.allow
  // the local profile turns the diversity filter and the provider store's per-group cap
  // off (every loopback peer is one IP group), each unless the caller set it: said by
  // LOCAL_PROFILE, never silently
  let dhtInit: NsnKadDHTInit | undefined = init.dht
  if (profile != null && dhtInit?.routingDiversity === undefined) {
    dhtInit = { ...dhtInit, routingDiversity: profile.routingDiversity }
  }
  const providerStore = dhtInit?.providerStore
  if (profile != null && providerStore !== false && providerStore?.maxProvidersPerKeyPerGroup === undefined) {
    dhtInit = {
      ...dhtInit,
      providerStore: { ...providerStore, maxProvidersPerKeyPerGroup: profile.maxProvidersPerKeyPerGroup },
    }
  }
  if (init.profile === 'public') {
    // kad-dht's own mode switch: client until a public address is trusted (AutoNAT or
    // announced), and no loopback or private address of a peer kept or passed on
    dhtInit = {
      ...dhtInit,
      clientMode: dhtInit?.clientMode,
      peerInfoMapper: dhtInit?.peerInfoMapper ?? publicPeerInfoMapper,
    }
  } else if (init.profile === 'private') {
    dhtInit = { clientMode: false, peerInfoMapper: passthroughMapper, ...dhtInit }
  }
  const dht = (init.dhtService ?? nsnKadDHT(dhtInit)) as (components: unknown) => D
  return {
    ...(init.start == null ? {} : { start: init.start }),
    ...(init.privateKey == null ? {} : { privateKey: init.privateKey }),
    // libp2p's own default keeps pooled views alive: see owned-memory-datastore.ts
    datastore: init.datastore ?? new OwnedMemoryDatastore(),
    ...(init.dns == null ? {} : { dns: init.dns }),
    ...(init.connectionGater == null ? {} : { connectionGater: init.connectionGater }),
    ...(init.metrics == null ? {} : { metrics: init.metrics as Libp2pOptions['metrics'] }),
    ...(init.nodeInfo == null ? {} : { nodeInfo: init.nodeInfo }),
    ...(init.logger == null ? {} : { logger: init.logger }),
    addresses: {
      listen: [...listen],
      ...(announce.length === 0 ? {} : { announce }),
      ...(init.noAnnounce == null || init.noAnnounce.length === 0
        ? {}
        : { noAnnounce: [...init.noAnnounce] }),
      announceFilter: announceFilter({ scope: announceScope, noAnnounce: init.noAnnounce }),
    },
    transports: [tcp(), ...(nat.transports as Array<NonNullable<Libp2pOptions['transports']>[number]>)],
    connectionEncrypters: [noise()],
    // yamux's keep-alive keeps an idle connection's socket under TCP's inactivity timeout
    // (MUXER_KEEP_ALIVE_INTERVAL says why)
    streamMuxers: [
      yamux(muxerKeepAlive > 0 ? { keepAliveInterval: muxerKeepAlive } : { enableKeepAlive: false }),
    ],
    connectionManager: {
      ...(inboundConnectionThreshold == null ? {} : { inboundConnectionThreshold }),
      ...(maxIncomingPendingConnections == null ? {} : { maxIncomingPendingConnections }),
      ...(allow == null ? {} : { allow: [...allow] }),
    },
    connectionMonitor:
      monitor > 0
        ? { enabled: true, pingInterval: monitor, pingTimeout: monitorTimeout }
        : { enabled: false },
    services: {
      identify: identify(),
      ping: ping({
        maxOutboundStreams: PING_MAX_OUTBOUND_STREAMS,
        maxInboundStreams: PING_MAX_INBOUND_STREAMS,
      }),
      dht,
      ...(init.gossip == null || init.gossip === false
        ? {}
        : { pubsub: gossipService(init.gossip === true ? {} : init.gossip, profile != null) }),
      ...(nat.services as Record<string, never>),
    },
  }
}

/**
 * Creates an NSN libp2p host (started unless `start: false`).
 *
 * @example
 * ```ts
 * import { createNsnHost } from '@nsn/core/host'
 * const host = await createNsnHost({ profile: 'local' })
 * ```
 */
export async function createNsnHost<D = KadDHT>(init: NsnHostInit<D> = {}): Promise<NsnHost<D>> {
  return createLibp2p(nsnHostOptions(init))
}

export {
  type NatInit,
  type NatObserver,
  natServices,
  publicNatInit,
  RELAY_GRACE,
  relayServerInit,
} from './nat.js'
