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
 * `@libp2p/identify` and `@libp2p/ping`.
 *
 * @packageDocumentation
 */

import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type Identify, identify } from '@libp2p/identify'
import type { ConnectionGater, Metrics, PrivateKey } from '@libp2p/interface'
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
import {
  HOST_PROFILES,
  LOCAL_PROFILE,
  PING_MAX_INBOUND_STREAMS,
  PING_MAX_OUTBOUND_STREAMS,
  PRIVATE_PROFILE,
  PUBLIC_PROFILE,
} from './constants.js'
import { InvalidOptionError } from './errors.js'
import { type NsnKadDHTInit, nsnKadDHT } from './kad-dht-service.js'
import { type NatInit, natServices, publicNatInit } from './nat.js'

/** The services of every NSN host. */
export type NsnHostServices<D = KadDHT> = {
  identify: Identify
  ping: Ping
  dht: D
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
  /** Where libp2p (peer store) and the DHT (provider records) keep their data. Default: memory. */
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
  /** Ping interval of libp2p's connection monitor in ms; 0 turns the monitor off. Default: libp2p's. */
  connectionMonitorInterval?: number
  connectionGater?: ConnectionGater
  /** DNS resolver for `/dnsaddr` and `/dns*` addresses. */
  dns?: Libp2pOptions['dns']
  /** libp2p's metrics component (`@nsn/metrics` provides one). */
  metrics?: (components: never) => Metrics
  /** Name and version this host announces through identify. */
  nodeInfo?: { name: string; version: string }
  /** Start the host at once. Default true (libp2p's). */
  start?: boolean
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
  const monitor = nonNegative(
    'connectionMonitorInterval',
    init.connectionMonitorInterval ?? profile?.connectionMonitorInterval,
  )
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
    ...(init.datastore == null ? {} : { datastore: init.datastore }),
    ...(init.dns == null ? {} : { dns: init.dns }),
    ...(init.connectionGater == null ? {} : { connectionGater: init.connectionGater }),
    ...(init.metrics == null ? {} : { metrics: init.metrics as Libp2pOptions['metrics'] }),
    ...(init.nodeInfo == null ? {} : { nodeInfo: init.nodeInfo }),
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
    streamMuxers: [yamux()],
    connectionManager: {
      ...(inboundConnectionThreshold == null ? {} : { inboundConnectionThreshold }),
      ...(maxIncomingPendingConnections == null ? {} : { maxIncomingPendingConnections }),
      ...(allow == null ? {} : { allow: [...allow] }),
    },
    ...(monitor == null
      ? {}
      : { connectionMonitor: monitor > 0 ? { enabled: true, pingInterval: monitor } : { enabled: false } }),
    services: {
      identify: identify(),
      ping: ping({
        maxOutboundStreams: PING_MAX_OUTBOUND_STREAMS,
        maxInboundStreams: PING_MAX_INBOUND_STREAMS,
      }),
      dht,
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

export { type NatInit, type NatObserver, natServices, publicNatInit, RELAY_GRACE } from './nat.js'
