/**
 * The node's metrics wiring, in one place: a per-node prom-client `Registry` with every
 * `nsn_p2p_` metric (and the process metrics), core's observer, libp2p's metrics component
 * (failed connections) and connection tracking, registry and routing gauges, and the
 * `/metrics` server.
 *
 * @packageDocumentation
 */

import type { Metrics } from '@libp2p/interface'
import type { DhtObserver } from '@nsn/core'
import {
  type AnnouncementsReporterLike,
  announcementsReporter,
  connectionFailureMetrics,
  createMetricsObserver,
  createNatObserver,
  createNsnMetrics,
  type Libp2pLike,
  type MetricsServer,
  type NatLibp2pLike,
  type NatMetricsObserver,
  type NsnMetrics,
  type ShardAnnouncementsLike,
  type ShardRegistryLike,
  type ShardRoutingLike,
  startMetricsServer,
  trackLibp2pConnections,
  trackNat,
  trackShardAnnouncements,
  trackShardRegistry,
  trackShardRouting,
} from '@nsn/metrics'
import { Registry } from 'prom-client'
import type { HostPort } from './config/types.js'
import type { Logger } from './logger.js'

/** Options of {@link NodeMetrics}. */
export interface NodeMetricsOptions {
  /** Also collect process and Node.js metrics. Default true. */
  processMetrics?: boolean
}

/** A node's metrics and their wiring. */
export class NodeMetrics {
  /** The node's own registry (never prom-client's global one). */
  readonly register: Registry
  readonly metrics: NsnMetrics
  /** Pass to `ShardRouting` as its `observer`. */
  readonly observer: DhtObserver
  /** Pass to the host's NAT services (`nat.observer`): AutoNAT verdicts, port mappings, hole punches. */
  readonly natObserver: NatMetricsObserver
  /**
   * Pass to `createLibp2p` as its `metrics` component: libp2p reports failed connection
   * attempts through it (`nsn_p2p_connections_failed_total`).
   */
  readonly libp2pMetrics: (components: unknown) => Metrics
  /** Pass to `ShardAnnouncements` as its `reporter` (gossipsub messages published, received, rejected). */
  readonly announcementsReporter: AnnouncementsReporterLike
  private server?: MetricsServer
  private readonly undo: Array<() => void> = []

  constructor(options: NodeMetricsOptions = {}) {
    this.register = new Registry()
    this.metrics = createNsnMetrics(this.register, { processMetrics: options.processMetrics ?? true })
    this.observer = createMetricsObserver(this.metrics)
    this.natObserver = createNatObserver(this.metrics)
    this.libp2pMetrics = connectionFailureMetrics(this.metrics)
    this.announcementsReporter = announcementsReporter(this.metrics)
  }

  /** The gossipsub mesh size per announcement topic, read at scrape time. */
  trackAnnouncements(announcements: ShardAnnouncementsLike): void {
    this.undo.push(trackShardAnnouncements(announcements, this.metrics))
  }

  /** Counts a libp2p node's connections; call before `libp2p.start()`. */
  trackLibp2p(libp2p: Libp2pLike): void {
    this.undo.push(trackLibp2pConnections(libp2p, this.metrics))
  }

  /** Reachability, relay reservations, relayed connections and public addresses, read at scrape time. */
  trackNat(libp2p: NatLibp2pLike): void {
    this.undo.push(trackNat(libp2p, this.metrics))
  }

  /** Size, capacity and evictions of the shard registry. */
  trackRegistry(registry: ShardRegistryLike): void {
    this.undo.push(trackShardRegistry(registry, this.metrics))
  }

  /** Routing-table size and stored provider records, read at scrape time. */
  trackRouting(routing: ShardRoutingLike): void {
    this.undo.push(trackShardRouting(routing, this.metrics))
  }

  /** Starts the `/metrics` server; resolves with its actual address. */
  async listen(address: HostPort, log?: Logger): Promise<HostPort> {
    this.server = await startMetricsServer({
      register: this.register,
      host: address.host,
      port: address.port,
      onError: (err) => log?.error('metrics collection failed', { err }),
    })
    return { host: this.server.host, port: this.server.port }
  }

  /** The URL of the `/metrics` endpoint, when the server runs. */
  get url(): string | undefined {
    return this.server?.url
  }

  /** Closes the server and removes every listener and collector. Idempotent. */
  async close(): Promise<void> {
    for (const fn of this.undo.splice(0).reverse()) fn()
    const server = this.server
    this.server = undefined
    await server?.close()
  }
}
