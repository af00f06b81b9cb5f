/**
 * The node's configuration, fully resolved (every field set and validated).
 *
 * @packageDocumentation
 */

import type { LogLevel } from '../logger.js'

/** A TCP address `host:port`. */
export interface HostPort {
  host: string
  /** 0 picks a free port (the daemon reports the one it got). */
  port: number
}

/** The diversity bounds of {@link NsnNodeConfig.routingDiversity}. */
export interface RoutingDiversityConfig {
  perBucket: number
  perTable: number
}

/** The request timeouts of {@link NsnNodeConfig.requestTimeouts} (durations in ms). */
export interface RequestTimeoutsConfig {
  min: number
  max: number
  unknownPeer: number
  /** Timeouts in a row that evict a peer from the routing table. */
  evictAfter: number
  /** How long an evicted peer is kept out of the table and of answers. */
  quarantine: number
}

/**
 * Host profiles (@nsn/core's `HOST_PROFILES`): `public` (the default: the internet;
 * public addresses only, DHT server once AutoNAT confirms reachability, NAT traversal),
 * `private` (a LAN: private addresses kept, DHT server), `local` (loopback networks).
 */
export const PROFILES = ['public', 'private', 'local'] as const

/** A host profile (see {@link PROFILES}). */
export type Profile = (typeof PROFILES)[number]

/** The resolved configuration of an NSN node. */
export interface NsnNodeConfig {
  /** Host profile; its values apply to the fields no source sets. */
  profile: Profile
  /** libp2p listen multiaddrs. */
  listen: string[]
  /** Multiaddrs announced instead of the listen addresses (`--announce`). */
  announce: string[]
  /** Multiaddrs never announced (`--no-announce`). */
  noAnnounce: string[]
  /** Ask the LAN's gateway for a port mapping over UPnP (`--upnp`; `public` profile only). */
  upnp: boolean
  /** Serve as a circuit relay for peers behind NAT (`--relay-server`). */
  relayServer: boolean
  /** Bootstrap multiaddrs (`/dnsaddr/...` included), dialled after start. */
  bootstrap: string[]
  /** Where the HTTP API listens. */
  api: HostPort
  /** Where the Prometheus endpoint listens; `null` turns it off. */
  metrics: HostPort | null
  /** Directory of the identity and the datastore (absolute). */
  dataDir: string
  /** Deadline of every DHT query, ms. */
  queryTimeout: number
  /** k: Kademlia bucket size and replication factor. */
  kBucketSize: number
  /** Registry capacity: shards provided at most (least recently used evicted past it). */
  maxShards: number
  /** Routing-table refresh interval, ms; 0 turns the schedule off. */
  refreshInterval: number
  /** Provider-record TTL, ms: how long records live on their receivers; republish runs before it lapses. */
  providerTtl: number
  /** Inbound connections accepted per remote address per second. */
  inboundConnectionThreshold: number
  /** Multiaddrs (e.g. `/ip4/127.0.0.1/ipcidr/8`) exempt from connection limits. */
  allow: string[]
  /** Connection-monitor ping interval, ms; 0 turns the monitor off. */
  connectionMonitorInterval: number
  /**
   * Routing-table diversity (@nsn/core's `routingDiversity`): at most `perBucket` peers
   * of one IP group (IPv4 /16, IPv6 /32) per k-bucket and `perTable` in the table (and
   * per lookup); `false` turns it off (the `local` profile does).
   */
  routingDiversity: RoutingDiversityConfig | false
  /**
   * Per-peer request timeouts (@nsn/core's `requestTimeouts`), ms, and the quarantine of
   * the peers they evict; `false` leaves every request under the query deadline only.
   */
  requestTimeouts: RequestTimeoutsConfig | false
  logLevel: LogLevel
  logJson: boolean
  /**
   * A file holding the API's bearer token (absolute); it wins over `apiToken`. With a
   * token, every API call but `GET /healthz` needs `Authorization: Bearer <token>`; an API
   * on an address other than loopback needs one.
   */
  apiTokenFile: string | null
  /** The API's bearer token itself (`NSN_API_TOKEN`; no flag: a command line is visible to every user). */
  apiToken: string | null
  /**
   * libp2p's debug namespaces written through the node's logger (`debug` syntax, e.g.
   * `libp2p:kad-dht*,libp2p:dialer`); null: the `DEBUG` environment variable's.
   */
  debug: string | null
  /** Shard announcements over gossipsub (@nsn/core's `ShardAnnouncements`). */
  gossip: boolean
  /** Group topics subscribed to at start (with `gossip`). */
  gossipGroups: string[]
}

/** Keys of {@link NsnNodeConfig}; also the keys a config file may contain. */
export type ConfigKey = keyof NsnNodeConfig
