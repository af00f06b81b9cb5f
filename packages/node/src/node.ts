/**
 * The assembled NSN node: a libp2p host (TCP, Noise, Yamux, identify, ping, kad-dht in
 * server mode) with a persistent identity and LevelDB datastore, the shard registry,
 * `ShardRouting` with its refresh and republish schedules, the metrics server and the
 * HTTP API.
 *
 * @packageDocumentation
 */

import { join } from 'node:path'
import type { AbortOptions, PeerId, PrivateKey } from '@libp2p/interface'
import {
  type AnnouncementTopicInfo,
  type BootstrapResult,
  type ClosestPeer,
  type FindProvidersOptions,
  type FindProvidersResult,
  type FindProvidersSummary,
  LOCAL_GOSSIP_WHITELIST,
  LOCAL_PROFILE,
  NoKnownPeersError,
  NotStartedError,
  type NsnKadDHTInit,
  type ProvideManyOptions,
  type ProvideManyResult,
  type ProvideManyShardResult,
  type ProvideOptions,
  type ProvideResult,
  type RefreshResult,
  republishTiming,
  resolveStreamSlotsOptions,
  ShardAnnouncements,
  type ShardAnnouncementsInit,
  type ShardPeer,
  ShardRouting,
  type ShardRoutingLibp2p,
  type SweepSummary,
  UnsupportedGossipsubError,
} from '@nsn/core'
import { announcementPubSub, createNsnHost, type NsnGossipInit } from '@nsn/core/host'
import { DEFAULT_PREFIX, ShardRegistry } from '@nsn/shard-registry'
import { LevelDatastore } from 'datastore-level'
import type { Datastore } from 'interface-datastore'
import type { Libp2pOptions } from 'libp2p'
import { resolveApiToken } from './api/auth.js'
import { type ApiServer, startApiServer } from './api/server.js'
import type { ApiBackend, IdResponse, NsnNodeState, ShardListEntry, StatsResponse } from './api/types.js'
import { type BootstrapOutcome, Bootstrapper } from './bootstrapper.js'
import { formatHostPort } from './config/fields.js'
import { type ConfigValues, resolveConfig } from './config/load.js'
import type { HostPort, NsnNodeConfig } from './config/types.js'
import { API_DRAIN_TIMEOUT, API_MAX_CONCURRENT_QUERIES, DATASTORE_DIR } from './constants.js'
import { ConfigError, DataDirError, GossipOffError, TopicNotSubscribedError } from './errors.js'
import { ensureDataDir, loadOrCreateIdentity } from './identity.js'
import { libp2pComponentLogger } from './libp2p-logger.js'
import { createLogger, type Logger, toLibp2pLogger } from './logger.js'
import { NodeMetrics } from './metrics.js'
import { collectStats } from './stats.js'
import { loadTopicSubscriptions, saveTopicSubscriptions } from './topic-subscriptions.js'
import { VERSION } from './version.js'

/** Options of {@link createNsnNode}: any config field (validated like flags), plus programmatic ones. */
export interface NsnNodeInit extends Partial<Omit<NsnNodeConfig, 'api' | 'metrics'>> {
  /** `host:port` or `{ host, port }`; port 0 picks a free one. */
  api?: HostPort | string
  /** `host:port`, `{ host, port }`, or `null` for no metrics server. */
  metrics?: HostPort | string | null
  /** Default: a logger at `logLevel` (JSON with `logJson`) to stderr. */
  logger?: Logger
  /** DNS resolver libp2p uses for `/dnsaddr` and `/dns*` addresses (tests inject one). */
  dns?: Libp2pOptions['dns']
  /**
   * DHT operations the API runs at once at most (more: 429 `ERR_OVERLOADED`). Default
   * {@link API_MAX_CONCURRENT_QUERIES} (64). At most what the DHT's stream slots hold for
   * one peer (`perPeer` open + `queuePerPeer` waiting: each operation uses one stream to a
   * peer at a time), so that every admitted operation waits for a stream rather than fails.
   */
  maxConcurrentQueries?: number
  /** Collect process metrics into the node's registry. Default true. */
  processMetrics?: boolean
  /** Start at once (default true for {@link createNsnNode}). */
  start?: boolean
  /**
   * {@link createNsnNode} only: after starting, wait for the first bootstrap attempt to
   * end before resolving (see {@link NsnNode.bootstrapped}), so the node knows peers when
   * its caller first uses it. Default true; it has no effect without bootstrap peers.
   * `start()` itself never waits for peers.
   */
  waitForBootstrap?: boolean
  /**
   * The node's identity. Without it, the key in `<dataDir>/identity.key` is used, created
   * on first start; with it, that file is neither read nor written.
   */
  privateKey?: PrivateKey
  /**
   * Where libp2p (peer store, kad-dht records) and the shard registry keep their data.
   * Without it, the node opens a LevelDB datastore in `<dataDir>/datastore` and closes it
   * on stop. With it, the caller owns it: the node neither opens nor closes it (open it
   * before `start()` if it needs opening, close it after `stop()`), and it must not be
   * shared with another running node. With both `privateKey` and `datastore`, the data
   * dir is not used at all (not even created).
   */
  datastore?: Datastore
  /**
   * Further kad-dht options (e.g. `prefixLength`, `lastPingThreshold`), applied over the
   * config (a `routingDiversity` or `requestTimeouts` here replaces the config's); for
   * tests and tuning.
   */
  dht?: Omit<NsnKadDHTInit, 'queryTimeout' | 'providerRecordTtl' | 'kBucketSize'>
  /** libp2p connection gater (tests use it to cut a node off the network). */
  connectionGater?: Libp2pOptions['connectionGater']
  /**
   * Further options of the shard announcements (with `gossip: true`): their limits and
   * batch window (core's `ShardAnnouncementsInit`) and gossipsub's (`heartbeatInterval`,
   * `options`: core's `NsnGossipInit`); for tests and tuning.
   */
  announcements?: Omit<ShardAnnouncementsInit, 'groups' | 'reporter' | 'logger'> & NsnGossipInit
}

/** The node's host as built with `gossip`: its services include gossipsub. */
type NsnHostWithPubSub = ShardRoutingLibp2p & {
  services: { pubsub?: Parameters<typeof announcementPubSub>[0] }
}

/**
 * The host's gossipsub options from the node's `announcements` option. The `local`
 * profile exempts loopback from gossipsub's IP colocation penalty (every peer of a
 * loopback network has one address), as core's host profile does.
 */
function gossipInit(init: NsnNodeInit['announcements'], config: NsnNodeConfig): NsnGossipInit {
  return {
    ...(init?.heartbeatInterval == null ? {} : { heartbeatInterval: init.heartbeatInterval }),
    ipColocationWhitelist:
      init?.ipColocationWhitelist ?? (config.profile === 'local' ? LOCAL_GOSSIP_WHITELIST : []),
    ...(init?.options == null ? {} : { options: init.options }),
  }
}

/** Where a started node can be reached; logged as the `ready` line. */
export interface NsnNodeAddresses {
  peerId: string
  /** libp2p addresses, with `/p2p/<peerId>`. */
  addrs: string[]
  /** The API's `host:port`. */
  api: string
  /** The metrics server's `host:port`, or null without one. */
  metrics: string | null
}

interface Running {
  /** Closes the datastore the node opened in the data dir; a no-op for the caller's (`init.datastore`). */
  closeDatastore: () => Promise<void>
  registry: ShardRegistry
  libp2p: ShardRoutingLibp2p
  routing: ShardRouting
  metrics: NodeMetrics
  api: ApiServer
  metricsAddress: HostPort | null
  bootstrapper: Bootstrapper
  /** When the node became ready, epoch ms. */
  startedAt: number
  /** Shard announcements, with `gossip` on. */
  announcements?: ShardAnnouncements
  /** The node's datastore (the caller's or the data dir's): API topic subscriptions live in it. */
  datastore: Datastore
}

const PROGRAMMATIC = [
  'logger',
  'dns',
  'maxConcurrentQueries',
  'processMetrics',
  'start',
  'waitForBootstrap',
  'privateKey',
  'datastore',
  'dht',
  'connectionGater',
  'announcements',
] as const

/**
 * The API admits no more DHT operations than the DHT's stream slots hold for one peer
 * (each operation uses one stream to a given peer at a time): past that, admitted
 * operations would be refused by the node's own stream queue instead of answered 429.
 *
 * @throws {ConfigError} naming `maxConcurrentQueries`
 */
function checkConcurrency(init: NsnNodeInit): void {
  const max = init.maxConcurrentQueries ?? API_MAX_CONCURRENT_QUERIES
  if (!Number.isInteger(max) || max < 1) {
    throw new ConfigError(`maxConcurrentQueries must be an integer >= 1, got ${String(max)}`, {
      field: 'maxConcurrentQueries',
    })
  }
  const slots = init.dht?.streamSlots
  if (slots === false) return
  const { perPeer, queuePerPeer } = resolveStreamSlotsOptions(slots)
  if (max > perPeer + queuePerPeer) {
    throw new ConfigError(
      `maxConcurrentQueries (${max}) must be at most the DHT's stream slots per peer (${perPeer} open + ${queuePerPeer} waiting)`,
      { field: 'maxConcurrentQueries' },
    )
  }
}

async function openDatastore(datastore: LevelDatastore, path: string): Promise<void> {
  try {
    // what datastore.open() does, on the Level instance itself: datastore-level rewraps
    // open errors as strings, and the lock error's code would be lost
    await datastore.db.open({ createIfMissing: true, compression: false })
  } catch (err) {
    const { code, cause } = err as { code?: string; cause?: { code?: string; message?: string } }
    if (code === 'LEVEL_LOCKED' || cause?.code === 'LEVEL_LOCKED') {
      throw new DataDirError(
        path,
        'the datastore is locked by another process (is another nsn-node using this data dir?)',
        {
          cause: err,
        },
      )
    }
    throw new DataDirError(path, `cannot open the datastore (${cause?.message ?? (err as Error).message})`, {
      cause: err,
    })
  }
}

/** What a profile does, for the start log. */
function profileSummary(profile: NsnNodeConfig['profile']): Record<string, unknown> {
  if (profile === 'public') {
    return {
      announces: 'public addresses only',
      dhtMode: 'client until AutoNAT confirms a public address (or one is announced), then server',
      nat: 'AutoNAT, relay reservations while unreachable, DCUtR hole punching',
    }
  }
  if (profile === 'private') return { announces: 'all addresses but loopback', dhtMode: 'server', nat: 'off' }
  return { announces: 'all addresses', dhtMode: 'server', nat: 'off' }
}

/** An NSN node. Create it with {@link createNsnNode}, or construct it and call `start()`. */
export class NsnNode implements ApiBackend {
  /** The validated configuration. */
  readonly config: NsnNodeConfig
  readonly log: Logger
  private readonly init: NsnNodeInit
  private _state: NsnNodeState = 'created'
  private parts?: Running
  private starting?: Promise<void>
  private stopping?: Promise<void>
  private restoredShards = 0
  private republishedRestored = false

  /** @throws {ConfigError} naming the bad field */
  constructor(init: NsnNodeInit = {}) {
    const values: Record<string, unknown> = { ...init }
    for (const key of PROGRAMMATIC) delete values[key]
    this.config = resolveConfig(values as ConfigValues)
    checkConcurrency(init)
    this.init = init
    this.log = init.logger ?? createLogger({ level: this.config.logLevel, json: this.config.logJson })
  }

  /** `created`, `starting`, `running`, `stopping` or `stopped`. */
  get state(): NsnNodeState {
    return this._state
  }

  private get running(): Running {
    if (this.parts == null) throw new NotStartedError('nsn node')
    return this.parts
  }

  get libp2p(): ShardRoutingLibp2p {
    return this.running.libp2p
  }

  get routing(): ShardRouting {
    return this.running.routing
  }

  get registry(): ShardRegistry {
    return this.running.registry
  }

  get metrics(): NodeMetrics {
    return this.running.metrics
  }

  /** The shard announcements (gossipsub), or undefined when `gossip` is off. */
  get announcements(): ShardAnnouncements | undefined {
    return this.running.announcements
  }

  get peerId(): PeerId {
    return this.running.libp2p.peerId
  }

  /** The API's actual address (port resolved when 0 was configured). */
  get apiAddress(): HostPort {
    const { api } = this.running
    return { host: api.host, port: api.port }
  }

  /** The metrics server's actual address, or null without one. */
  get metricsAddress(): HostPort | null {
    return this.running.metricsAddress
  }

  /** Where the node can be reached. */
  addresses(): NsnNodeAddresses {
    const { libp2p, metricsAddress } = this.running
    return {
      peerId: libp2p.peerId.toString(),
      addrs: libp2p.getMultiaddrs().map((addr) => addr.toString()),
      api: formatHostPort(this.apiAddress),
      metrics: metricsAddress == null ? null : formatHostPort(metricsAddress),
    }
  }

  /**
   * Starts the API (answering 503 until the node is up), opens the data dir, starts
   * libp2p, the routing schedules and the metrics server, logs `ready`, then bootstraps
   * in the background: it resolves without waiting for peers ({@link NsnNode.bootstrapped}
   * tells when the first bootstrap attempt ended). On failure everything started is
   * stopped again.
   */
  async start(): Promise<void> {
    if (this._state === 'running') return
    if (this.starting != null) return this.starting
    if (this.stopping != null) await this.stopping
    this.starting = this.doStart().finally(() => {
      this.starting = undefined
    })
    return this.starting
  }

  private async doStart(): Promise<void> {
    const { config } = this
    const log = this.log.child({ module: 'node' })
    this._state = 'starting'
    this.republishedRestored = false
    const undo: Array<[string, () => Promise<unknown>]> = []
    try {
      const api = await startApiServer({
        backend: this,
        host: config.api.host,
        port: config.api.port,
        log: this.log.child({ module: 'api' }),
        maxConcurrentQueries: this.init.maxConcurrentQueries,
        token: resolveApiToken(config, log),
      })
      undo.push(['api', () => api.close()])

      // the data dir holds what the caller did not give: the identity, the datastore
      const { privateKey: givenKey, datastore: givenDatastore } = this.init
      if (givenKey == null || givenDatastore == null) await ensureDataDir(config.dataDir)
      const identity =
        givenKey == null ? await loadOrCreateIdentity(config.dataDir, log) : { privateKey: givenKey }
      let datastore: Datastore
      let closeDatastore = async (): Promise<void> => undefined
      if (givenDatastore == null) {
        const level = new LevelDatastore(join(config.dataDir, DATASTORE_DIR))
        await openDatastore(level, config.dataDir)
        closeDatastore = () => level.close()
        undo.push(['datastore', closeDatastore])
        datastore = level
      } else {
        datastore = givenDatastore
      }

      const metrics = new NodeMetrics({ processMetrics: this.init.processMetrics })
      undo.push(['metrics', () => metrics.close()])

      const timing = republishTiming(config.providerTtl)
      const registry = new ShardRegistry({
        capacity: config.maxShards,
        datastore,
        prefix: DEFAULT_PREFIX,
        republishInterval: timing.republishInterval,
        republishJitter: timing.republishJitter,
      })
      registry.on('removed', ({ entry, reason }) => {
        if (reason !== 'stopped') log.debug('shard removed from the registry', { hash: entry.hex, reason })
      })
      metrics.trackRegistry(registry)
      await registry.load()
      this.restoredShards = registry.size

      const libp2p: ShardRoutingLibp2p = await createNsnHost({
        start: false,
        privateKey: identity.privateKey,
        datastore,
        profile: config.profile,
        listen: config.listen,
        announce: config.announce,
        noAnnounce: config.noAnnounce,
        nat: {
          observer: metrics.natObserver,
          ...(config.profile === 'public' && config.upnp ? { upnp: true } : {}),
          ...(config.relayServer ? { relayServer: true } : {}),
        },
        inboundConnectionThreshold: config.inboundConnectionThreshold,
        allow: config.allow,
        connectionMonitorInterval: config.connectionMonitorInterval,
        nodeInfo: { name: 'nsn-node', version: VERSION },
        // libp2p's own debug output, for the namespaces asked, through the node's logger; a
        // silent one (tests) leaves libp2p's own logger, which DEBUG still drives
        logger: this.log.isEnabled('error')
          ? libp2pComponentLogger(this.log.child({ module: 'libp2p' }), config.debug ?? process.env.DEBUG)
          : undefined,
        metrics: metrics.libp2pMetrics,
        dns: this.init.dns,
        connectionGater: this.init.connectionGater,
        ...(config.gossip ? { gossip: gossipInit(this.init.announcements, config) } : {}),
        dht: {
          routingDiversity: config.routingDiversity,
          requestTimeouts: config.requestTimeouts,
          // the local profile's provider store: every loopback provider is one IP group
          ...(config.profile === 'local'
            ? { providerStore: { maxProvidersPerKeyPerGroup: LOCAL_PROFILE.maxProvidersPerKeyPerGroup } }
            : {}),
          ...this.init.dht,
          kBucketSize: config.kBucketSize,
          queryTimeout: config.queryTimeout,
          providerRecordTtl: config.providerTtl,
          providerCleanupInterval: timing.providerCleanupInterval,
        },
      })
      const routingDiversity = this.init.dht?.routingDiversity ?? config.routingDiversity
      // the profile decides what is announced, the DHT mode and NAT traversal: said at
      // every start, never silently
      log.info(`host profile ${config.profile}`, {
        ...profileSummary(config.profile),
        listen: config.listen,
        announce: config.announce,
        noAnnounce: config.noAnnounce,
        upnp: config.upnp,
        relayServer: config.relayServer,
        inboundConnectionThreshold: config.inboundConnectionThreshold,
        allow: config.allow,
        connectionMonitorInterval: config.connectionMonitorInterval,
        routingDiversity,
        maxProvidersPerKeyPerGroup:
          this.init.dht?.providerStore === false
            ? false
            : (this.init.dht?.providerStore?.maxProvidersPerKeyPerGroup ??
              (config.profile === 'local' ? LOCAL_PROFILE.maxProvidersPerKeyPerGroup : 'on')),
      })
      if (config.profile !== 'local' && routingDiversity === false) {
        log.warn(
          'routing-table diversity is off (routingDiversity: false): any number of peers of one IP group may enter the routing table',
          {
            routingDiversity,
          },
        )
      }
      if (config.upnp && config.profile !== 'public') {
        log.warn(`--upnp has no effect on the ${config.profile} profile (public only)`)
      }
      metrics.trackLibp2p(libp2p)
      metrics.trackNat(libp2p)
      await libp2p.start()
      undo.push(['libp2p', async () => libp2p.stop()])

      const observer = metrics.observer
      const sweepLog = this.log.child({ module: 'sweep' })
      const routing = new ShardRouting(libp2p, {
        registry,
        observer: {
          ...observer,
          routingTableSizeChanged: (size) => {
            observer.routingTableSizeChanged?.(size)
            if (size > 0 && config.bootstrap.length === 0) this.republishRestored()
          },
          // each region pass of the sweep, for an operator following a cycle (debug level)
          sweepRegionEnded: (event) => {
            observer.sweepRegionEnded?.(event)
            sweepLog.debug('sweep region done', {
              region: event.bits,
              origin: event.origin,
              shards: event.shards,
              lookups: event.lookups,
              confirmed: event.confirmedPlacements,
              failed: event.failedPlacements,
              retry: event.retry,
              durationMs: Math.round(event.durationMs),
            })
          },
          // after a scheduled region's pass is saved (its history, or its retry)
          sweepProgress: (progress) => {
            observer.sweepProgress?.(progress)
            sweepLog.debug('sweep progress', { ...progress })
          },
        },
        refreshInterval: config.refreshInterval,
        // the sweep's schedule (cycle start, L, region history, pending regions) persists here
        datastore,
        sweep: { interval: timing.republishInterval, k: config.kBucketSize },
        logger: toLibp2pLogger(this.log.child({ module: 'routing' })),
      })
      await routing.start()
      undo.push(['routing', () => routing.stop()])
      metrics.trackRouting(routing)

      const announcements = config.gossip
        ? this.startAnnouncements(
            libp2p as NsnHostWithPubSub,
            routing,
            metrics,
            await loadTopicSubscriptions(datastore),
          )
        : undefined
      if (announcements != null)
        undo.push(['announcements', async () => this.stopAnnouncements(routing, announcements)])

      const metricsAddress = config.metrics == null ? null : await metrics.listen(config.metrics, log)

      const bootstrapper = new Bootstrapper(
        {
          bootstrap: (addrs, options) => routing.bootstrap(addrs, options),
          routingTableSize: () => routing.routingTableSize(),
          // the refresh right after the first bootstrap, unless refreshes are off
          ...(config.refreshInterval > 0 ? { refresh: (options) => routing.refresh(options) } : {}),
        },
        {
          addrs: config.bootstrap,
          log: this.log.child({ module: 'bootstrap' }),
          onSettled: () => this.republishRestored(),
        },
      )
      this.parts = {
        closeDatastore,
        registry,
        libp2p,
        routing,
        metrics,
        api,
        metricsAddress,
        bootstrapper,
        startedAt: Date.now(),
        announcements,
        datastore,
      }
      this._state = 'running'
      log.info('ready', { ...this.addresses(), shards: registry.size, version: VERSION })
      bootstrapper.start()
      // without bootstrap peers, restored shards are republished once a peer shows up
      // (routingTableSizeChanged); one may have come in before the node was marked running
      if (config.bootstrap.length === 0 && routing.routingTableSize() > 0) this.republishRestored()
    } catch (err) {
      this._state = 'stopped'
      this.parts = undefined
      for (const [name, fn] of undo.reverse()) {
        await fn().catch((e: unknown) => log.debug(`could not stop ${name} after a failed start`, { err: e }))
      }
      throw err
    }
  }

  /**
   * Resolves once the first bootstrap attempt after `start()` has ended, with how it
   * ended: `bootstrapped` (with what it did), `failed` (with the error; while the routing
   * table is empty the node keeps retrying in the background), or `none` when no
   * bootstrap peers are configured. A stop during the attempt ends it as `failed`.
   * {@link createNsnNode} awaits it unless `waitForBootstrap: false`; `start()` does not,
   * so a daemon is up (and `/healthz` answers 200) before it knows peers.
   *
   * @throws {NotStartedError} (rejects) when the node is neither started nor starting
   *
   * @example
   * ```ts
   * const node = new NsnNode({ bootstrap: ['/dnsaddr/bootstrap.example.org'] })
   * await node.start()
   * const outcome = await node.bootstrapped()
   * if (outcome.status === 'failed') console.warn('no peers yet:', outcome.error.message)
   * ```
   */
  async bootstrapped(): Promise<BootstrapOutcome> {
    if (this.starting != null) await this.starting
    return this.running.bootstrapper.firstAttempt
  }

  /**
   * Stops gracefully: the API stops accepting requests (healthz 503), running queries
   * are aborted, in-flight requests answer, then libp2p stops and the datastore is
   * closed (flushed), in that order; a datastore the caller passed (`init.datastore`) is
   * left open. Idempotent.
   */
  async stop(): Promise<void> {
    if (this.starting != null) await this.starting.catch(() => undefined)
    if (this.stopping != null) return this.stopping
    if (this.parts == null) return
    this.stopping = this.doStop().finally(() => {
      this.stopping = undefined
    })
    return this.stopping
  }

  private async doStop(): Promise<void> {
    const parts = this.running
    const log = this.log.child({ module: 'node' })
    this._state = 'stopping'
    log.info('stopping')
    const steps: Array<[string, () => Promise<unknown>]> = [
      ['bootstrap', () => parts.bootstrapper.stop()],
      [
        'announcements',
        async () =>
          parts.announcements == null
            ? undefined
            : this.stopAnnouncements(parts.routing, parts.announcements),
      ],
      ['routing', () => parts.routing.stop()],
      ['api requests', () => parts.api.drain(API_DRAIN_TIMEOUT)],
      ['api', () => parts.api.close()],
      ['metrics', () => parts.metrics.close()],
      ['libp2p', async () => parts.libp2p.stop()],
      // a datastore the caller passed is the caller's to close
      ['datastore', () => parts.closeDatastore()],
    ]
    let failure: unknown
    for (const [name, step] of steps) {
      try {
        const t = Date.now()
        await step()
        log.debug(`stopped ${name}`, { ms: Date.now() - t })
      } catch (err) {
        log.error(`could not stop ${name}`, { err })
        failure ??= err
      }
    }
    this.parts = undefined
    this._state = 'stopped'
    log.info('stopped')
    if (failure != null) throw failure
  }

  /**
   * Starts the shard announcements: subscribes to the network-wide topic and the
   * configured groups, puts the providers of valid announcements into the routing's
   * provider cache, and announces every provide as it begins.
   */
  private startAnnouncements(
    libp2p: NsnHostWithPubSub,
    routing: ShardRouting,
    metrics: NodeMetrics,
    savedGroups: readonly string[],
  ): ShardAnnouncements {
    const pubsub = libp2p.services.pubsub
    if (pubsub == null) throw new UnsupportedGossipsubError('services.pubsub')
    const {
      heartbeatInterval: _h,
      ipColocationWhitelist: _w,
      options: _o,
      ...init
    } = this.init.announcements ?? {}
    const announcements = new ShardAnnouncements(
      {
        peerId: libp2p.peerId,
        pubsub: announcementPubSub(pubsub),
        addresses: () => libp2p.getMultiaddrs(),
        sink: (announcement) => {
          const provider = { peerId: announcement.provider, multiaddrs: announcement.multiaddrs }
          for (const shard of announcement.shards)
            routing.cacheAnnounced(shard, provider, announcement.expiresAt)
        },
      },
      {
        ...init,
        // the configured groups, and those subscribed through the API before a restart
        groups: [...new Set([...this.config.gossipGroups, ...savedGroups])],
        reporter: metrics.announcementsReporter,
        logger: toLibp2pLogger(this.log.child({ module: 'announcements' })),
      },
    )
    announcements.start()
    routing.attachAnnouncer((shard, groups) => announcements.announce(shard, groups))
    metrics.trackAnnouncements(announcements)
    return announcements
  }

  private async stopAnnouncements(routing: ShardRouting, announcements: ShardAnnouncements): Promise<void> {
    routing.attachAnnouncer(undefined)
    announcements.stop()
  }

  /** The announcements, or a {@link GossipOffError} when `gossip` is off. */
  private get gossip(): ShardAnnouncements {
    const { announcements } = this.running
    if (announcements == null) throw new GossipOffError()
    return announcements
  }

  /** Republishes every shard restored from the data dir, once, when peers are known. */
  private republishRestored(): void {
    if (this.republishedRestored || this.restoredShards === 0 || this.parts == null) return
    this.republishedRestored = true
    const { routing } = this.parts
    const log = this.log.child({ module: 'node' })
    routing.republish({ all: true }).then(
      (run) =>
        log.info('republished restored shards', {
          restored: this.restoredShards,
          republished: run.republished,
          failed: run.failed,
          durationMs: Math.round(run.durationMs),
        }),
      (err: unknown) => {
        if (this._state === 'running') log.warn('republishing restored shards failed', { err })
      },
    )
  }

  // ---- the API's operations (ApiBackend)

  /** This node's peer id and addresses. */
  id(): IdResponse {
    const { libp2p } = this.running
    return { peerId: libp2p.peerId.toString(), addrs: libp2p.getMultiaddrs().map((addr) => addr.toString()) }
  }

  /** The routing-table peers. */
  peers(): Promise<ShardPeer[]> {
    return this.running.routing.routingTablePeers()
  }

  /**
   * The provided shards in Kademlia key order (one range read of the shard store), from
   * above `after` (a 32-byte Kademlia key) when given.
   */
  shards(options: { after?: Uint8Array; signal?: AbortSignal } = {}): AsyncIterable<ShardListEntry> {
    return this.running.registry.shardsInRegion(new Uint8Array(0), 0, options)
  }

  /**
   * Provides a shard and publishes its record; with `gossip` on, announces it on the
   * network-wide topic and on the topics of `options.groups`.
   */
  provide(hash: string, options: ProvideOptions = {}): Promise<ProvideResult> {
    return this.running.routing.provide(hash, options)
  }

  /**
   * The announcement topics this node is subscribed to, with their mesh sizes.
   *
   * @throws {GossipOffError} when `gossip` is off
   */
  topics(): AnnouncementTopicInfo[] {
    return this.gossip.topics()
  }

  /**
   * Subscribes to a group's topic; `created` is false when it was subscribed already.
   *
   * @throws {GossipOffError} when `gossip` is off
   * @throws {InvalidGroupNameError} for a bad name; {@link TooManyGroupsError} past the bound
   */
  async subscribeTopic(group: string): Promise<{ topic: AnnouncementTopicInfo; created: boolean }> {
    const created = this.gossip.subscribe(group)
    // saved before answering, so a restart resubscribes it
    if (created) await this.saveTopicSubscriptions()
    return { topic: this.topic(group), created }
  }

  /**
   * The topic of a subscribed group.
   *
   * @throws {GossipOffError} when `gossip` is off; {@link TopicNotSubscribedError} when not subscribed
   */
  topic(group: string): AnnouncementTopicInfo {
    const info = this.gossip.topics().find((t) => t.group === group)
    if (info == null) throw new TopicNotSubscribedError(group)
    return info
  }

  /**
   * Unsubscribes from a group's topic.
   *
   * @throws {GossipOffError} when `gossip` is off; {@link TopicNotSubscribedError} when not subscribed
   */
  async unsubscribeTopic(group: string): Promise<void> {
    if (!this.gossip.unsubscribe(group)) throw new TopicNotSubscribedError(group)
    await this.saveTopicSubscriptions()
  }

  /** Saves the subscribed groups in the node's datastore (see `topic-subscriptions.ts`). */
  private async saveTopicSubscriptions(): Promise<void> {
    const groups = this.gossip.topics().flatMap((t) => (t.group == null ? [] : [t.group]))
    await saveTopicSubscriptions(this.running.datastore, groups)
  }

  /** Stops providing a shard; false when it was not provided. */
  stopProviding(hash: string): Promise<boolean> {
    return this.running.routing.stopProviding(hash)
  }

  /** Looks up a shard's providers. */
  findProviders(hash: string, options: FindProvidersOptions = {}): Promise<FindProvidersResult> {
    return this.running.routing.findProviders(hash, options)
  }

  /**
   * Looks up a shard's providers as a stream: each provider as it is found, the summary
   * as the return value (see `ShardRouting.findProvidersStream`).
   */
  findProvidersStream(
    hash: string,
    options: FindProvidersOptions = {},
  ): AsyncGenerator<ShardPeer, FindProvidersSummary, undefined> {
    return this.running.routing.findProvidersStream(hash, options)
  }

  /** The peers closest to a shard hash or a peer id, by XOR distance. */
  closestPeers(key: string, options: AbortOptions = {}): Promise<ClosestPeer[]> {
    return this.running.routing.closestPeers(key, options)
  }

  /**
   * Bootstraps now from the configured peers (or, without any, looks up this node's own
   * id through the peers it knows).
   *
   * @throws {NoKnownPeersError} with no bootstrap peers configured and an empty routing table
   */
  bootstrap(options: AbortOptions = {}): Promise<BootstrapResult> {
    const { routing } = this.running
    if (this.config.bootstrap.length === 0 && routing.routingTableSize() === 0) {
      return Promise.reject(
        new NoKnownPeersError(
          'no known peers: no bootstrap peers are configured and the routing table is empty',
        ),
      )
    }
    return routing.bootstrap(this.config.bootstrap, options)
  }

  /** Refreshes the routing table now. */
  refresh(options: AbortOptions = {}): Promise<RefreshResult> {
    return this.running.routing.refresh(options)
  }

  /** A summary of the node: uptime, routing table, connections, shards, operations (see `stats.ts`). */
  stats(): Promise<StatsResponse> {
    const { libp2p, routing, registry, metrics, startedAt } = this.running
    return collectStats({
      peerId: libp2p.peerId.toString(),
      version: VERSION,
      startedAt,
      routing,
      registry,
      connections: () => libp2p.getConnections(),
      queryDuration: metrics.metrics.kademlia.queryDuration,
    })
  }

  /** Provides many shards at once: see `ShardRouting.provideMany` (`POST /v1/shards`). */
  provideMany(hashes: string[], options: ProvideManyOptions = {}): Promise<ProvideManyResult> {
    return this.running.routing.provideMany(hashes, options)
  }

  /** Runs a whole republish cycle of the sweep now (`POST /v1/republish`). */
  republishCycle(
    options: AbortOptions & { onShard?: (result: ProvideManyShardResult) => void } = {},
  ): Promise<SweepSummary> {
    return this.running.routing.republishCycle(options)
  }
}

/**
 * Creates an NSN node, starts it (unless `start: false`) and, when bootstrap peers are
 * configured, waits for its first bootstrap attempt to end (unless
 * `waitForBootstrap: false`), so that the node it resolves with knows peers and can
 * provide and look up at once. A failed bootstrap does not fail the creation: the node
 * keeps retrying in the background, and its operations fail with `NoKnownPeersError`
 * until a peer is known; `await node.bootstrapped()` tells how the attempt ended. The
 * wait is bounded by the query deadline (`queryTimeout`, 10 s by default).
 *
 * @throws {ConfigError} for an invalid option, naming the field
 * @throws {ApiAddressInUseError} when the API's address is taken
 * @throws {DataDirError} when the data dir cannot be used (e.g. locked by another node)
 *
 * @example
 * ```ts
 * const node = await createNsnNode({ dataDir: '/var/lib/nsn', bootstrap: ['/dnsaddr/bootstrap.example.org'] })
 * await node.provide('ab'.repeat(32))
 * await node.stop()
 * ```
 */
export async function createNsnNode(init: NsnNodeInit = {}): Promise<NsnNode> {
  const node = new NsnNode(init)
  if (init.start !== false) {
    await node.start()
    if (init.waitForBootstrap !== false) await node.bootstrapped()
  }
  return node
}
