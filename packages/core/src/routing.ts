/**
 * `ShardRouting`: the NSN facade over a libp2p node whose `dht` service was built by
 * `nsnKadDHT`. Every operation runs under the node's deadline combined with the
 * caller's signal, reports to the observer, and fails with a typed error. The work is
 * done by parts named for their job: `operation.ts` (deadline and result accounting),
 * `registry-wiring.ts`, `provider-store.ts`, `provider-cache.ts` (the hot-shard provider
 * cache), `refresher.ts`, `republisher.ts`, `peer-addresses.ts`, `network-size.ts` and
 * `optimistic-provide.ts` (a single provide's record sent while its lookup runs).
 *
 * @packageDocumentation
 */

import type { AbortOptions, Libp2p, Logger, PeerId, Stream } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { AnswerGuard } from './answer-guard.js'
import { BucketRefreshBackoff } from './bucket-refresh-backoff.js'
import { addProviderMessage, mapBounded, sendConfirmedRecord } from './confirmed-provide.js'
import {
  BUCKET_REFRESH_MAX_GAP,
  FIND_PROVIDERS_LIMIT,
  K_BUCKET_SIZE,
  NSN_DHT_PROTOCOL,
  OPTIMISTIC_COMPLETE_TABLE,
  PROVIDE_CONCURRENCY,
  PROVIDE_QUORUM,
  PROVIDER_RECORD_TTL,
  REFRESH_INTERVAL,
  REFRESH_JITTER,
  REFRESH_LOOKUP_CONCURRENCY,
  REFRESH_ON_GROWTH_MIN_GAP,
  REFRESH_PING_CONCURRENCY,
  REFRESH_TIMEOUT,
  REPUBLISH_CHECK_INTERVAL,
  REPUBLISH_CONCURRENCY,
  REPUBLISH_RETRY_DELAY,
} from './constants.js'
import {
  InvalidOptionError,
  NoKnownPeersError,
  NoPeerAnsweredError,
  NotStartedError,
  OverloadedError,
  PeerNotFoundError,
  ShardEvictedError,
} from './errors.js'
import { hooksOf, type KadHooks } from './kad-internals.js'
import { NetworkSizeEstimator, type NetworkSizeOptions, normalisedDistance } from './network-size.js'
import type { DhtObserver, QueryType } from './observer.js'
import {
  AnswerTally,
  isLocalRefusal,
  type Notify,
  type OperationContext,
  observerNotifier,
  type RunOperationOptions,
  runOperation,
  runOperationStream,
} from './operation.js'
import { BackgroundSends, type OptimisticProvideOptions, optimisticWalk } from './optimistic-provide.js'
import { positiveInteger } from './option-checks.js'
import { compareDistance, dhtKeyOf, kadId, parsePeerId, uniqueAddrs, xorHex } from './peer-addresses.js'
import type { ProvidedShardEntry, ProvidedShards } from './provided-shards.js'
import { copyProviderForCache, ProviderCache, type ProviderCacheOptions } from './provider-cache.js'
import { ProviderStore, type StoredProviderRecord } from './provider-store.js'
import { type RefreshResult, RefreshSchedule, refreshRoutingTable } from './refresher.js'
import { RegistryWiring } from './registry-wiring.js'
import { republishTiming } from './republish-timing.js'
import { Republisher, type RepublishRun } from './republisher.js'
import { parseShardKey, type ShardKey, type ShardKeyInput } from './shard-key.js'
import { addProviderFrames, sendRecordBatch } from './sweep/batch-send.js'
import { kadKeyOf } from './sweep/keyspace.js'
import { shardSourceOf } from './sweep/registry-source.js'
import { type ShardPlacement, Sweeper, type SweepInit, type SweepSummary } from './sweep/sweeper.js'

export type { StoredProviderRecord }

/** A peer and the addresses it can be dialled on. */
export interface ShardPeer {
  peerId: PeerId
  multiaddrs: Multiaddr[]
}

/** A peer with its XOR distance to a lookup target. */
export interface ClosestPeer extends ShardPeer {
  /** XOR distance between the peer's and the target's Kademlia ids, as 64 hex. */
  distance: string
}

/** Options of every operation. */
export interface OperationOptions extends AbortOptions {}

/** Options of {@link ShardRouting.provide}. */
export interface ProvideOptions extends OperationOptions {
  /**
   * Group topics the provide is announced on besides the network-wide one, when shard
   * announcements are on (`announcements/`; see {@link ShardRouting.attachAnnouncer}).
   */
  groups?: readonly string[]
}

/**
 * Told of every provide as it begins (after the shard entered the registry, before the
 * DHT walk): the shard (64 hex) and the provide's groups. Must not throw (a throw is
 * logged, the provide goes on).
 */
export type ProvideAnnouncer = (shard: string, groups: readonly string[]) => void

export interface FindProvidersOptions extends OperationOptions {
  /** Stop once this many providers are known. Default {@link FIND_PROVIDERS_LIMIT}. */
  limit?: number
  /**
   * Answer from the provider cache when it can (default true). False asks the network
   * even when the cache holds an answer (after a dial of every cached provider failed,
   * say); the network's answer still refreshes the cache.
   */
  cache?: boolean
}

export interface FindProvidersResult {
  providers: ShardPeer[]
  /** True when the deadline cut the lookup short after some providers were found. */
  partial: boolean
  durationMs: number
  /** True when the answer came from the provider cache (no DHT query ran). */
  fromCache: boolean
}

/** How a streamed lookup ended: the return value of {@link ShardRouting.findProvidersStream}. */
export interface FindProvidersSummary {
  /** Providers yielded. */
  found: number
  /** True when the deadline cut the lookup short after peers answered. */
  partial: boolean
  durationMs: number
  /** True when the answer came from the provider cache (no DHT query ran). */
  fromCache: boolean
}

/** What {@link ShardRouting.providerCacheStats} tells. */
export interface ProviderCacheStats {
  /** Unexpired entries (shards with a cached answer). */
  entries: number
  /** Their estimated bytes. */
  bytes: number
  /** Lookups answered from the cache since the routing was created. */
  hits: number
  /** Lookups that consulted the cache and asked the network. */
  misses: number
}

/** What one publication of a provider record achieved. */
export interface Publication {
  /**
   * Peers that confirmed the store: after the ADD_PROVIDER, a GET_PROVIDERS on the same
   * stream (which the receiver handles after it) answered with this node as a provider.
   */
  confirmed: number
  /**
   * Peers the ADD_PROVIDER message was written to. ADD_PROVIDER has no reply, so this
   * counts messages sent, not records stored: a peer that drops every record counts
   * here and not in `confirmed`.
   */
  sentTo: number
  /** The closest peers found (at most k): the peers the record was meant for. */
  closest: number
  /**
   * Confirmations the provide needs to reach its quorum: `ceil(PROVIDE_QUORUM x closest)`,
   * at least 1 (see {@link PROVIDE_QUORUM}).
   */
  quorum: number
  /** True when fewer than `quorum` peers confirmed (the provide still succeeded). */
  belowQuorum: boolean
}

export interface ProvideResult extends Publication {
  shard: ShardKey
  durationMs: number
}

export interface BootstrapResult {
  connected: number
  failed: number
  routingTableSize: number
  durationMs: number
  /**
   * True when the deadline cut the lookup of this node's own id after the routing table
   * got peers: the node is joined (it has peers to ask) and its table fills on (the
   * refresh after the first bootstrap, kad-dht's self-query). Under wide-area latency a
   * first self-lookup, every contact a new connection, can take longer than the deadline.
   */
  partial: boolean
}

/** The libp2p node ShardRouting drives: its `dht` service must come from `nsnKadDHT`. */
export type ShardRoutingLibp2p = Libp2p<{
  dht: KadDHT
  ping: { ping(peer: PeerId | Multiaddr, options?: AbortOptions): Promise<number> }
}>

/**
 * What ShardRouting uses, and nothing more (as kad-dht's parts declare theirs): a
 * libp2p node gives them through {@link shardRoutingComponents}; unit tests give stubs.
 */
export interface ShardRoutingComponents {
  peerId: PeerId
  /** The DHT's public operations. */
  dht: Pick<KadDHT, 'findProviders' | 'getClosestPeers' | 'findPeer' | 'cancelReprovide'>
  /** The kad-dht internals NSN uses (`kad-internals.ts`). */
  kad: KadHooks
  /** A peer's known addresses; rejects with a `NotFoundError` for an unknown peer. */
  peerAddresses(peer: PeerId): Promise<Multiaddr[]>
  dial(addr: Multiaddr, options?: AbortOptions): Promise<unknown>
  /** Opens a stream to a peer on the DHT protocol (`/nsn/kad/1.0.0`). */
  openDhtStream(peer: PeerId, options?: AbortOptions): Promise<Stream>
  /** This node's addresses, as its provider records announce them. */
  addresses(): Multiaddr[]
  /** Open connections to a peer. */
  connectionsTo(peer: PeerId): number
  ping(peer: PeerId, options?: AbortOptions): Promise<unknown>
}

/** The {@link ShardRoutingComponents} of a libp2p node whose `dht` came from `nsnKadDHT`. */
export function shardRoutingComponents(libp2p: ShardRoutingLibp2p): ShardRoutingComponents {
  const dht = libp2p.services.dht
  return {
    peerId: libp2p.peerId,
    dht,
    kad: hooksOf(dht),
    peerAddresses: async (peer) => (await libp2p.peerStore.get(peer)).addresses.map((a) => a.multiaddr),
    dial: (addr, options) => libp2p.dial(addr, options),
    openDhtStream: (peer, options) => libp2p.dialProtocol(peer, NSN_DHT_PROTOCOL, options),
    addresses: () => libp2p.getMultiaddrs(),
    connectionsTo: (peer) => libp2p.getConnections(peer).length,
    ping: (peer, options) => libp2p.services.ping.ping(peer, options),
  }
}

export interface ShardRoutingInit {
  /**
   * The set of provided shards (`@nsn/shard-registry`'s `ShardRegistry`). With it,
   * provide adds to it, its removals withdraw records, and the Republisher runs.
   */
  registry?: ProvidedShards
  observer?: DhtObserver
  /** Routing-table refresh interval in ms; 0 turns the schedule off. Default {@link REFRESH_INTERVAL} (5 min). */
  refreshInterval?: number
  /**
   * With the schedule on, a refresh also runs once the table has doubled since the last
   * one ended, at least this many ms after it. Default {@link REFRESH_ON_GROWTH_MIN_GAP}.
   */
  refreshOnGrowthMinGap?: number
  /**
   * Longest time, in ms, between two lookups of one bucket by the scheduled refreshes:
   * a bucket whose lookups found no new peer is skipped by 3, 7, 15... refreshes up to
   * this gap (`bucket-refresh-backoff.ts`); 0 looks up every bucket at every refresh.
   * Default {@link BUCKET_REFRESH_MAX_GAP} (1 h).
   */
  bucketRefreshMaxGap?: number
  /** Peers pinged at once during a refresh. */
  refreshPingConcurrency?: number
  /** How often the republisher wakes at the latest, in ms. */
  republishCheckInterval?: number
  republishConcurrency?: number
  /** Retry delay of a failed republish, in ms. */
  republishRetryDelay?: number
  /** Default `findProviders` limit. */
  findProvidersLimit?: number
  /**
   * Share of the closest peers that must confirm a provide's store (0 to 1). Default
   * {@link PROVIDE_QUORUM}.
   */
  provideQuorum?: number
  /** Closest peers a provide sends its record to at once. Default {@link PROVIDE_CONCURRENCY}. */
  provideConcurrency?: number
  /**
   * The hot-shard provider cache (`provider-cache.ts`): its bounds and TTL, or false to
   * turn it off (every lookup asks the network). Default: on, with
   * {@link PROVIDER_CACHE_MAX_ENTRIES} entries, {@link PROVIDER_CACHE_MAX_BYTES} and a TTL
   * of {@link PROVIDER_CACHE_TTL}.
   */
  providerCache?: ProviderCacheOptions | false
  /**
   * Optimistic provide (`optimistic-provide.ts`) for `provide()`: its thresholds and
   * background bound, or false for the classic provide only. Default: on; a provide
   * falls back to the classic one while the network-size estimate has too few lookups.
   * Republishes always run the classic provide.
   */
  optimisticProvide?: OptimisticProvideOptions | false
  /** The network-size estimate's bounds (`network-size.ts`). */
  networkSize?: NetworkSizeOptions
  logger?: Logger
  /**
   * Which mechanism republishes the registry's shards: `sweep` (default), the sweeping
   * republisher (`sweep/`: regions of the keyspace, a few lookups each, records batched
   * per peer), or `per-shard`, the Republisher (`republisher.ts`: one lookup per shard at
   * its due time).
   */
  republisher?: 'sweep' | 'per-shard'
  /** Where the sweep's schedule persists (the node's datastore); without it, in memory. */
  datastore?: Datastore
  /** Options of the sweep; the interval defaults to `republishTiming(PROVIDER_RECORD_TTL)`'s. */
  sweep?: Partial<SweepInit>
}

/** One shard's outcome in {@link ShardRouting.provideMany}. */
export interface ProvideManyShardResult {
  /** The shard hash, 64 hex (or the input as given when it did not parse). */
  hash: string
  /** Its CIDv1, when it parsed. */
  cid?: string
  /** Peers that confirmed its record. */
  confirmed: number
  /** Why it failed (no peer confirmed, or a bad hash). */
  error?: Error
}

/** Options of {@link ShardRouting.provideMany}. */
export interface ProvideManyOptions extends OperationOptions {
  /** Hears each shard as it completes (progress). */
  onShard?(result: ProvideManyShardResult): void
}

/** What {@link ShardRouting.provideMany} did. */
export interface ProvideManyResult {
  results: ProvideManyShardResult[]
  summary: {
    provided: number
    failed: number
    confirmedMedian: number
    lookups: number
    regions: number
    durationMs: number
  }
}

/** A shard hash in its canonical form (64 lower-case hex). */
const SHARD_HEX = /^[0-9a-f]{64}$/

/** The NSN DHT facade. */
export class ShardRouting {
  private readonly components: ShardRoutingComponents
  private readonly dht: ShardRoutingComponents['dht']
  private readonly kad: KadHooks
  private readonly registry?: ProvidedShards
  private readonly log?: Logger
  private readonly notify: Notify
  private readonly refreshPingConcurrency: number
  private readonly findProvidersLimit: number
  private readonly republishRetryDelay: number
  private readonly provideQuorum: number
  private readonly provideConcurrency: number
  private readonly answers: Pick<AnswerGuard, 'writeRead'>
  private readonly store: ProviderStore
  /** The hot-shard provider cache, unless it was turned off. */
  private readonly cache?: ProviderCache
  private readonly wiring?: RegistryWiring
  private readonly republisher?: Republisher
  /** The sweep: bulk provides, and the registry's republishing unless `per-shard`. */
  private readonly sweeper: Sweeper
  private readonly sweeping: boolean
  private readonly refreshSchedule: RefreshSchedule
  private readonly context: OperationContext
  /** The network size estimated from this node's lookups (optimistic provide). */
  private readonly networkSize: NetworkSizeEstimator
  private readonly optimistic?: OptimisticProvideOptions
  private readonly background: BackgroundSends
  private shutdown = new AbortController()
  private refreshing?: Promise<RefreshResult>
  private readonly bucketBackoff: BucketRefreshBackoff
  private announcer?: ProvideAnnouncer
  private started = false
  private estimateRefreshTimer?: ReturnType<typeof setTimeout>
  /** The table size when the last refresh ended, and when (0: no refresh yet). */
  private lastRefresh = { size: 0, at: 0 }
  private readonly refreshInterval: number
  private readonly refreshOnGrowthMinGap: number
  private readonly onTableChange = (): void => {
    const size = this.kad.routingTable.size
    this.notify('routingTableSizeChanged', size)
    this.refreshIfTableDoubled(size)
  }

  /**
   * @param node - a libp2p node whose `dht` service came from `nsnKadDHT`, or the
   * components ShardRouting uses (see {@link shardRoutingComponents})
   * @throws {UnsupportedKadDhtError} when the DHT was not built by `nsnKadDHT`
   * @throws {InvalidOptionError} for an out-of-range option
   */
  constructor(node: ShardRoutingLibp2p | ShardRoutingComponents, init: ShardRoutingInit = {}) {
    this.components = 'services' in node ? shardRoutingComponents(node) : node
    this.dht = this.components.dht
    this.kad = this.components.kad
    this.registry = init.registry
    this.log = init.logger
    this.notify = observerNotifier(init.observer ?? {}, this.log)
    const refreshInterval = init.refreshInterval ?? REFRESH_INTERVAL
    if (!(refreshInterval >= 0)) throw new InvalidOptionError('refreshInterval', 'must be >= 0')
    this.refreshInterval = refreshInterval
    this.refreshOnGrowthMinGap = init.refreshOnGrowthMinGap ?? REFRESH_ON_GROWTH_MIN_GAP
    if (!(this.refreshOnGrowthMinGap >= 0))
      throw new InvalidOptionError('refreshOnGrowthMinGap', 'must be >= 0')
    const bucketRefreshMaxGap = init.bucketRefreshMaxGap ?? BUCKET_REFRESH_MAX_GAP
    if (!(bucketRefreshMaxGap >= 0)) throw new InvalidOptionError('bucketRefreshMaxGap', 'must be >= 0')
    this.bucketBackoff = new BucketRefreshBackoff(
      refreshInterval > 0 ? Math.floor(bucketRefreshMaxGap / refreshInterval) - 1 : 0,
    )
    this.refreshPingConcurrency = init.refreshPingConcurrency ?? REFRESH_PING_CONCURRENCY
    this.findProvidersLimit = init.findProvidersLimit ?? FIND_PROVIDERS_LIMIT
    this.republishRetryDelay = init.republishRetryDelay ?? REPUBLISH_RETRY_DELAY
    this.provideQuorum = init.provideQuorum ?? PROVIDE_QUORUM
    if (!(this.provideQuorum >= 0 && this.provideQuorum <= 1)) {
      throw new InvalidOptionError(
        'provideQuorum',
        `must be between 0 and 1, got ${String(this.provideQuorum)}`,
      )
    }
    this.provideConcurrency = init.provideConcurrency ?? PROVIDE_CONCURRENCY
    if (!Number.isInteger(this.provideConcurrency) || this.provideConcurrency < 1) {
      throw new InvalidOptionError(
        'provideConcurrency',
        `must be an integer >= 1, got ${String(this.provideConcurrency)}`,
      )
    }
    // with the answer guard turned off, confirmations are still read by a bounded reader
    this.answers =
      this.kad.answerGuard ?? new AnswerGuard({ dispatchPeer: () => {}, reporter: () => undefined })
    this.store = new ProviderStore(this.kad, this.components.peerId)
    if (init.providerCache !== false) {
      this.cache = new ProviderCache({
        ...init.providerCache,
        reporter: {
          hit: () => this.notify('providerCacheLookup', { result: 'hit' }),
          miss: () => this.notify('providerCacheLookup', { result: 'miss' }),
          evicted: (reason, count) => this.notify('providerCacheEvicted', { reason, count }),
          sizeChanged: (entries, bytes) => this.notify('providerCacheSizeChanged', { entries, bytes }),
        },
      })
    }
    this.networkSize = new NetworkSizeEstimator(init.networkSize)
    if (init.optimisticProvide !== false) this.optimistic = init.optimisticProvide ?? {}
    this.background = new BackgroundSends(this.optimistic?.maxBackgroundSends, (send) => {
      this.notify('optimisticBackgroundSendEnded', { confirmed: send.confirmed })
      if (!send.confirmed) {
        this.log?.(
          'background record send to %p not confirmed - %s',
          send.peer,
          send.error?.message ?? 'not listed',
        )
      }
    })
    const self = this
    this.context = {
      queryTimeout: this.kad.queryTimeout,
      routingTableSize: () => this.routingTableSize(),
      get shutdown() {
        return self.shutdown.signal
      },
      notify: this.notify,
    }
    this.refreshSchedule = new RefreshSchedule(
      {
        refresh: () => this.runRefresh({}, true),
        routingTableSize: () => this.routingTableSize(),
        log: this.log,
      },
      refreshInterval,
      { jitter: REFRESH_JITTER },
    )
    if (this.registry != null) {
      const wiring = new RegistryWiring({
        registry: this.registry,
        withdraw: (entry) => {
          // this node no longer provides it: its cached answer must not say otherwise
          this.cache?.dropProvider(this.components.peerId, entry.hex)
          return this.dht.cancelReprovide(parseShardKey(entry.hash).cid)
        },
        cancelRepublish: (hex) => this.republisher?.cancel(hex),
        dropSelfRecords: (keep) => this.store.dropSelfRecords(keep),
        log: this.log,
      })
      this.wiring = wiring
    }
    const registry = this.registry
    this.sweeping = registry != null && init.republisher !== 'per-shard'
    const peerKeys = new Map<string, Uint8Array>()
    this.sweeper = new Sweeper(
      {
        peerId: this.components.peerId,
        shards:
          registry == null
            ? { shardsInRegion: async function* () {}, markPublishedMany: async () => {} }
            : shardSourceOf(registry),
        datastore: init.datastore,
        explore: (target, signal) => this.explore(target, signal),
        knownPeers: () => {
          const out: Array<{ peerId: PeerId; key: Uint8Array }> = []
          for (const { peerId } of this.kad.routingTable.kb.toIterable()) {
            const id = peerId.toString()
            let key = peerKeys.get(id)
            if (key == null) {
              key = kadKeyOf(peerId.toMultihash().bytes)
              if (peerKeys.size > 8192) peerKeys.clear()
              peerKeys.set(id, key)
            }
            out.push({ peerId, key })
          }
          return out
        },
        frames: (keys) =>
          addProviderFrames(
            keys,
            this.components.peerId,
            this.components.addresses().map((addr) => addr.bytes),
          ),
        sendBatch: (peer, keys, frames, options, signal) =>
          sendRecordBatch(
            {
              openDhtStream: (to, openOptions) =>
                this.kad.openDhtStream(to, openOptions, (o) => this.components.openDhtStream(to, o)),
              answerGuard: this.answers,
            },
            peer,
            this.components.peerId,
            keys,
            frames,
            options,
            signal,
          ),
        writeSelfRecords: async (hashes, signal) => {
          await mapBounded([...hashes], 16, (hash) =>
            this.kad.addProvider(parseShardKey(hash).cid, this.components.peerId, { signal }),
          )
        },
        beforeRun: async () => registry?.expire(),
        log: this.log,
      },
      {
        interval: republishTiming(PROVIDER_RECORD_TTL).republishInterval,
        k: K_BUCKET_SIZE,
        ...init.sweep,
        onRegion: (result) => {
          // the event is the pass's result without its failures and placements
          const { sendErrors: _errors, placements: _placements, ...event } = result
          this.notify('sweepRegionEnded', event)
          init.sweep?.onRegion?.(result)
        },
        onProgress: (progress) => {
          this.notify('sweepProgress', progress)
          init.sweep?.onProgress?.(progress)
        },
      },
    )
    if (this.registry != null && this.wiring != null && !this.sweeping) {
      const wiring = this.wiring
      this.republisher = new Republisher(
        this.registry,
        (entry, signal) => this.publish(entry, 'republish', { signal }),
        {
          checkInterval: init.republishCheckInterval ?? REPUBLISH_CHECK_INTERVAL,
          concurrency: init.republishConcurrency ?? REPUBLISH_CONCURRENCY,
          retryDelay: this.republishRetryDelay,
          isBusy: (entry) => wiring.isProviding(entry.hex),
          onRun: (run) => this.notify('republishRunEnded', run),
          onError: (err) => this.log?.error('republish run failed - %e', err),
        },
      )
    }
  }

  /**
   * The network size estimated from this node's lookups (`network-size.ts`), or
   * undefined while too few lookups were made; optimistic provide uses it.
   */
  networkSizeEstimate(): number | undefined {
    return this.networkSize.estimate()
  }

  /** Record sends of optimistic provides still running in the background. */
  get backgroundSends(): number {
    return this.background.pending
  }

  /** The deadline of every query, in ms. */
  get queryTimeout(): number {
    return this.kad.queryTimeout
  }

  /**
   * Starts the schedules (refresh, republish) and the registry wiring, and makes
   * `dht.refreshRoutingTable()` run this facade's refresh. Idempotent.
   */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.shutdown = new AbortController()
    const table = this.kad.routingTable
    table.addEventListener('peer:add', this.onTableChange)
    table.addEventListener('peer:remove', this.onTableChange)
    this.onTableChange()
    this.kad.attachRefresh((options) => this.refresh(options))
    this.kad.attachInboundReporter({
      handled: (type) => this.notify('inboundRequestHandled', { type }),
      rejected: (reason, peer) => this.notify('inboundRejected', { reason, peer: peer.toString() }),
    })
    this.kad.attachAnswerReporter({
      rejected: (reason) => this.notify('answerRejected', { reason }),
      trimmed: (reason, dropped) => this.notify('answerTrimmed', { reason, dropped }),
    })
    this.kad.attachRequestTimeoutsReporter({
      evicted: (reason, peer) => {
        // its requests timed out again and again: no longer offered as a provider
        this.cache?.dropProvider(peer)
        this.notify('peerEvicted', { reason, peer: peer.toString() })
      },
    })
    this.kad.attachLookupObserver((key, closest) => {
      this.trackLookup(key, closest).catch((err: unknown) =>
        this.log?.error('network-size sample failed - %e', err),
      )
    })
    this.kad.attachRoutingReporter({
      refused: (reason, peer, group) =>
        this.notify('routingRefused', { reason, peer: peer.toString(), ...(group == null ? {} : { group }) }),
    })
    if (this.wiring != null) {
      await this.wiring.start()
      this.republisher?.start()
      if (this.sweeping) await this.sweeper.start()
    }
    this.refreshSchedule.start()
  }

  /** Stops schedules and aborts every running operation. Idempotent. */
  async stop(): Promise<void> {
    if (!this.started) return
    this.started = false
    this.refreshSchedule.stop()
    clearTimeout(this.estimateRefreshTimer)
    this.estimateRefreshTimer = undefined
    this.kad.attachRefresh(undefined)
    this.kad.attachInboundReporter(undefined)
    this.kad.attachAnswerReporter(undefined)
    this.kad.attachRequestTimeoutsReporter(undefined)
    this.kad.attachRoutingReporter(undefined)
    this.kad.attachLookupObserver(undefined)
    this.shutdown.abort(new NotStartedError())
    const table = this.kad.routingTable
    table.removeEventListener('peer:add', this.onTableChange)
    table.removeEventListener('peer:remove', this.onTableChange)
    await this.republisher?.stop()
    await this.sweeper.stop()
    await this.refreshing?.catch(() => undefined)
    await this.background.drain()
    await this.wiring?.stop()
    this.cache?.clear()
  }

  /** Number of peers in the routing table. */
  routingTableSize(): number {
    return this.kad.routingTable.size
  }

  /** The routing-table peers with their known addresses. */
  async routingTablePeers(): Promise<ShardPeer[]> {
    const peers: ShardPeer[] = []
    for (const { peerId } of this.kad.routingTable.kb.toIterable()) {
      peers.push({ peerId, multiaddrs: await this.addressesOf(peerId) })
    }
    return peers
  }

  /**
   * Provides a shard: adds it to the registry (evicting the least recently used one
   * past capacity), writes this node's own record (so it answers lookups at once), then
   * publishes the record to the k closest peers and counts the stores they confirm (see
   * {@link Publication}). Fewer confirmations than the quorum is reported
   * (`belowQuorum`), not an error.
   *
   * @throws {NoKnownPeersError} with an empty routing table (the shard stays registered and is retried)
   * @throws {NoPeerAnsweredError} when no peer confirmed the store (the record was sent
   * to none, or every receiver dropped it): the shard stays registered and is retried
   * @throws {QueryTimeoutError} past the deadline
   * @throws {ShardEvictedError} when concurrent provides evicted the shard before it was published
   */
  async provide(shard: ShardKeyInput, options: ProvideOptions = {}): Promise<ProvideResult> {
    const key = parseShardKey(shard)
    this.assertStarted()
    const { registry, wiring } = this
    wiring?.providingStarted(key.hex)
    // this node becomes a provider: a cached answer without it is out of date
    this.cache?.delete(key.hex)
    try {
      const entry = registry == null ? undefined : await registry.add(key.bytes)
      // announced as the provide begins: subscribers know at once, the DHT walk follows
      if (this.announcer != null) {
        try {
          this.announcer(key.hex, options.groups ?? [])
        } catch (err) {
          this.log?.error('the provide announcer threw - %e', err)
        }
      }
      const start = performance.now()
      let publication: Publication
      try {
        publication = await this.publish(entry ?? key, 'provide', options)
      } catch (err) {
        if (registry == null) throw err
        if (await registry.has(key.bytes)) {
          // keep the intent; the republisher retries soon
          await registry.markPublished(key.bytes, {
            now: entry?.publishedAt ?? 0,
            republishAt: Date.now() + this.republishRetryDelay,
          })
        } else {
          await this.dht.cancelReprovide(key.cid)
        }
        throw err
      }
      if (registry != null) {
        if (!(await registry.has(key.bytes))) {
          // evicted by a concurrent provide while kad-dht wrote our record: leave no orphan
          await this.dht.cancelReprovide(key.cid)
          throw new ShardEvictedError(key.hex)
        }
        await registry.markPublished(key.bytes)
      }
      return { shard: key, ...publication, durationMs: performance.now() - start }
    } finally {
      wiring?.providingEnded(key.hex)
      this.republisher?.schedule()
    }
  }

  /**
   * Stops providing a shard: removes it from the registry and this node's own
   * provider record from the DHT store (copies on other peers lapse at their TTL).
   * Resolves false when the shard was not provided.
   */
  async stopProviding(shard: ShardKeyInput): Promise<boolean> {
    const key = parseShardKey(shard)
    if (this.registry == null || this.wiring == null) {
      this.cache?.dropProvider(this.components.peerId, key.hex)
      await this.dht.cancelReprovide(key.cid)
      return true
    }
    if (!(await this.registry.has(key.bytes))) return false
    await this.registry.delete(key.bytes)
    await this.wiring.withdrawal(key.hex)
    return true
  }

  /** True when this node holds its own provider record for the shard in the DHT store. */
  async hasSelfRecord(shard: ShardKeyInput): Promise<boolean> {
    return this.store.hasSelfRecord(parseShardKey(shard))
  }

  /**
   * The provider record this node holds for `shard` from `provider` (another peer, or
   * itself): when it was stored, and when it lapses here. Undefined when it holds none.
   */
  async storedProviderRecord(
    shard: ShardKeyInput,
    provider: PeerId,
  ): Promise<StoredProviderRecord | undefined> {
    return this.store.record(parseShardKey(shard), provider)
  }

  /**
   * How many provider records this node stores for other peers: the bounded provider
   * store's maintained count (O(1) once its counts are built at first use), or a walk
   * of the datastore when the store was turned off (`providerStore: false`).
   */
  async storedProviderRecords(options: AbortOptions = {}): Promise<number> {
    const limits = this.kad.providerLimits
    if (limits == null) return this.store.countOthers(options)
    await limits.ready(options)
    return limits.stored
  }

  /**
   * Finds providers of a shard; ends as soon as `limit` are known or the query
   * completes. Past the deadline, providers found so far are returned with
   * `partial: true`; with none, it fails with {@link QueryTimeoutError}.
   *
   * A repeated lookup answers from the hot-shard provider cache (`fromCache: true`, no DHT
   * query, nothing reported as a query) while the shard's entry is unexpired and holds
   * `limit` providers or came from a lookup that ran to its end; `cache: false` asks the
   * network anyway. Every lookup that finds providers refreshes the cache.
   */
  async findProviders(
    shard: ShardKeyInput,
    options: FindProvidersOptions = {},
  ): Promise<FindProvidersResult> {
    const key = parseShardKey(shard)
    const limit = options.limit ?? this.findProvidersLimit
    positiveInteger('limit', limit)
    const start = performance.now()
    const cached = this.fromCache(key, limit, options)
    if (cached != null) {
      return { providers: cached, partial: false, durationMs: performance.now() - start, fromCache: true }
    }
    const found = new Map<string, ShardPeer>()
    const result = await this.operation('find_providers', options, async (signal, deadline) => {
      const tally = new AnswerTally()
      try {
        for await (const event of this.dht.findProviders(key.cid, { signal })) {
          tally.add(event)
          if (event.name !== 'PROVIDER') continue
          for (const info of event.providers) {
            const id = info.id.toString()
            const known = found.get(id)
            if (known == null) found.set(id, { peerId: info.id, multiaddrs: uniqueAddrs(info.multiaddrs) })
            else if (known.multiaddrs.length === 0) known.multiaddrs = uniqueAddrs(info.multiaddrs)
          }
          if (found.size >= limit) break
        }
      } catch (err) {
        // cut by the deadline after peers answered: what was found so far (nothing is
        // "not found"), marked partial since the walk did not complete; the timeout
        // error only when no peer answered at all
        if (deadline.timedOut && (found.size > 0 || tally.answered > 0)) {
          return {
            providers: await this.withAddresses([...found.values()]),
            partial: true,
            durationMs: performance.now() - start,
            fromCache: false,
          }
        }
        throw err
      }
      if (found.size === 0) tally.assertAnswered()
      return {
        providers: await this.withAddresses([...found.values()].slice(0, limit)),
        partial: false,
        durationMs: performance.now() - start,
        fromCache: false,
      }
    })
    // complete: the walk ended on its own (not at the limit, not at the deadline)
    this.cache?.set(key.hex, result.providers, { complete: !result.partial && found.size < limit })
    return result
  }

  /**
   * {@link ShardRouting.findProviders} as a stream: yields each provider (with its
   * addresses) as the lookup finds it, and returns a {@link FindProvidersSummary} when it
   * ends. The DHT query ends as soon as `limit` providers are known (with `limit: 1`, at
   * the first provider: kad-dht's query is closed, its pending requests aborted), or when
   * the consumer stops iterating. A cached answer is yielded at once (`fromCache`).
   * Errors are those of `findProviders`, raised by the `next()` that meets them; past the
   * deadline a stream that found providers or heard answers ends with `partial: true`.
   *
   * @example
   * ```ts
   * for await (const provider of routing.findProvidersStream(hash, { limit: 1 })) {
   *   await libp2p.dial(provider.peerId)
   * }
   * ```
   */
  async *findProvidersStream(
    shard: ShardKeyInput,
    options: FindProvidersOptions = {},
  ): AsyncGenerator<ShardPeer, FindProvidersSummary, undefined> {
    const key = parseShardKey(shard)
    const limit = options.limit ?? this.findProvidersLimit
    positiveInteger('limit', limit)
    this.assertStarted()
    const start = performance.now()
    const cached = this.fromCache(key, limit, options)
    if (cached != null) {
      yield* cached
      return { found: cached.length, partial: false, durationMs: performance.now() - start, fromCache: true }
    }
    const self = this
    const yielded: ShardPeer[] = []
    const summary = (partial: boolean): FindProvidersSummary => ({
      found: yielded.length,
      partial,
      durationMs: performance.now() - start,
      fromCache: false,
    })
    const ended = yield* runOperationStream(
      this.context,
      'find_providers',
      options,
      async function* (signal, deadline) {
        const tally = new AnswerTally()
        const seen = new Set<string>()
        let last: ShardPeer[] = []
        try {
          for await (const event of self.dht.findProviders(key.cid, { signal })) {
            tally.add(event)
            if (event.name !== 'PROVIDER') continue
            const fresh: ShardPeer[] = []
            for (const info of event.providers) {
              const id = info.id.toString()
              if (seen.has(id) || seen.size >= limit) continue
              seen.add(id)
              fresh.push({ peerId: info.id, multiaddrs: uniqueAddrs(info.multiaddrs) })
            }
            if (seen.size >= limit) {
              // enough: leaving the loop closes kad-dht's query before the last are yielded
              last = fresh
              break
            }
            for (const peer of fresh) {
              const [withAddrs] = await self.withAddresses([peer])
              yielded.push(withAddrs as ShardPeer)
              yield withAddrs as ShardPeer
            }
          }
        } catch (err) {
          if (deadline.timedOut && (yielded.length > 0 || tally.answered > 0)) return summary(true)
          throw err
        }
        for (const peer of await self.withAddresses(last)) {
          yielded.push(peer)
          yield peer
        }
        if (yielded.length === 0) tally.assertAnswered()
        return summary(false)
      },
    )
    this.cache?.set(key.hex, yielded, { complete: !ended.partial && yielded.length < limit })
    return ended
  }

  /**
   * Sets (or, with undefined, removes) the function told of every provide as it begins:
   * the shard announcements (`ShardAnnouncements.announce`). Republishes are not
   * announced: subscribers already had their chance, and the DHT holds the records.
   */
  attachAnnouncer(announcer: ProvideAnnouncer | undefined): void {
    this.announcer = announcer
  }

  /**
   * Puts a provider that announced `shard` (over gossip, validated) into the hot-shard
   * provider cache until `expiresAt` (ms since the epoch) at the latest, so that a lookup
   * of the shard answers from memory at once (see `ProviderCache.addAnnounced`). This
   * node's own announcements are not cached. `shard` may be every shard of one
   * announcement (the provider is copied once for all). Returns how many were cached (0:
   * cache off, self, expired, or too large).
   */
  cacheAnnounced(
    shard: ShardKeyInput | readonly ShardKeyInput[],
    provider: ShardPeer,
    expiresAt: number,
  ): number {
    const cache = this.cache
    if (cache == null || provider.peerId.equals(this.components.peerId)) return 0
    const shards = Array.isArray(shard) ? shard : [shard as ShardKeyInput]
    // one copy for every shard of the announcement
    const copy = copyProviderForCache(provider)
    let cached = 0
    for (const s of shards) {
      // the validator's shards are 64 lower-case hex already: no CID to build for them
      const hex = typeof s === 'string' && SHARD_HEX.test(s) ? s : parseShardKey(s).hex
      if (cache.addAnnounced(hex, copy, expiresAt, true)) cached++
    }
    return cached
  }

  /**
   * True when the provider cache holds an unexpired answer for `shard` (not counted as a
   * lookup; for tests and diagnostics).
   */
  isCached(shard: ShardKeyInput): boolean {
    return this.cache?.has(parseShardKey(shard).hex) ?? false
  }

  /**
   * Tells the routing a provider could not be reached (a dial of it failed): it is dropped
   * from the cached answers of every shard, or of `shard` only, so the next lookup asks
   * the network. Returns the number of cached answers it was dropped from.
   */
  reportUnreachable(peer: PeerId | string, shard?: ShardKeyInput): number {
    const id = typeof peer === 'string' ? parsePeerId(peer) : peer
    return this.cache?.dropProvider(id, shard == null ? undefined : parseShardKey(shard).hex) ?? 0
  }

  /**
   * The provider cache's size and counts, with expired entries pruned first (what a
   * metrics scrape reads); undefined when the cache is off.
   */
  providerCacheStats(): ProviderCacheStats | undefined {
    const cache = this.cache
    if (cache == null) return undefined
    cache.prune()
    return { entries: cache.size, bytes: cache.bytes, hits: cache.hits, misses: cache.misses }
  }

  /**
   * The k peers closest to a key (a shard or a peer id), sorted by XOR distance.
   */
  async closestPeers(key: ShardKeyInput | PeerId, options: OperationOptions = {}): Promise<ClosestPeer[]> {
    const target = dhtKeyOf(key)
    return this.operation('closest_peers', options, async (signal) => {
      const tally = new AnswerTally()
      const peers = new Map<string, ShardPeer>()
      for await (const event of this.dht.getClosestPeers(target, { signal })) {
        tally.add(event)
        if (event.name === 'FINAL_PEER') {
          peers.set(event.peer.id.toString(), {
            peerId: event.peer.id,
            multiaddrs: [...event.peer.multiaddrs],
          })
        }
      }
      if (peers.size === 0) tally.assertAnswered()
      const targetId = await kadId(target)
      const withDistance = await Promise.all(
        [...peers.values()].map(async (peer) => ({
          ...peer,
          multiaddrs: peer.multiaddrs.length > 0 ? peer.multiaddrs : await this.addressesOf(peer.peerId),
          distance: xorHex(await kadId(peer.peerId.toMultihash().bytes), targetId),
        })),
      )
      return withDistance.sort((a, b) => compareDistance(a.distance, b.distance))
    })
  }

  /**
   * Finds a peer's addresses through the DHT.
   *
   * @throws {PeerNotFoundError} when the lookup completes without it
   */
  async findPeer(peer: PeerId | string, options: OperationOptions = {}): Promise<ShardPeer> {
    const peerId = typeof peer === 'string' ? parsePeerId(peer) : peer
    return this.operation('find_peer', options, async (signal) => {
      const tally = new AnswerTally()
      for await (const event of this.dht.findPeer(peerId, { signal })) {
        tally.add(event)
        if (event.name === 'FINAL_PEER' && event.peer.id.equals(peerId)) {
          return { peerId, multiaddrs: uniqueAddrs(event.peer.multiaddrs) }
        }
      }
      tally.assertAnswered()
      throw new PeerNotFoundError(peerId.toString())
    })
  }

  /**
   * Dials the given peers, waits for the routing table to hold one, then looks up
   * this node's own id to fill the table.
   *
   * @throws {NoPeerAnsweredError} when no bootstrap peer could be dialled
   */
  async bootstrap(
    addrs: Array<Multiaddr | string>,
    options: OperationOptions = {},
  ): Promise<BootstrapResult> {
    const targets = addrs.map((addr) => (typeof addr === 'string' ? multiaddr(addr) : addr))
    const start = performance.now()
    let connected = 0
    let failed = 0
    try {
      const result = await this.operation(
        'bootstrap',
        { ...options, needsPeers: false },
        async (signal, deadline) => {
          const dials = await Promise.allSettled(
            targets.map((addr) => this.components.dial(addr, { signal })),
          )
          for (const dial of dials) {
            if (dial.status === 'fulfilled') connected++
            else failed++
          }
          signal.throwIfAborted()
          if (connected === 0 && targets.length > 0) throw new NoPeerAnsweredError(targets.length)
          await this.waitForTablePeer(signal)
          let partial = false
          try {
            await drain(this.dht.getClosestPeers(this.components.peerId.toMultihash().bytes, { signal }))
          } catch (err) {
            // joined, with peers to ask: the deadline only cut the self-lookup short
            if (!deadline.timedOut || this.routingTableSize() === 0) throw err
            partial = true
          }
          return {
            connected,
            failed,
            routingTableSize: this.routingTableSize(),
            durationMs: performance.now() - start,
            partial,
          }
        },
      )
      this.notify('bootstrapSucceeded', result)
      return result
    } catch (err) {
      this.notify('bootstrapFailed', {
        connected,
        failed,
        routingTableSize: this.routingTableSize(),
        error: err as Error,
      })
      throw err
    }
  }

  /**
   * Refreshes the routing table now (joins a running refresh), every bucket looked up:
   * only the schedule's refreshes skip the buckets whose lookups found no one new
   * (`bucket-refresh-backoff.ts`), this one's lookups count there too.
   */
  async refresh(options: OperationOptions = {}): Promise<RefreshResult> {
    return this.runRefresh(options, false)
  }

  private runRefresh(options: OperationOptions, scheduled: boolean): Promise<RefreshResult> {
    this.assertStarted()
    if (this.refreshing != null) return this.refreshing
    this.refreshing = this.operation('refresh', { timeout: REFRESH_TIMEOUT, ...options }, (signal) =>
      refreshRoutingTable(
        { hooks: this.kad, connectionsTo: this.components.connectionsTo, ping: this.components.ping },
        {
          pingConcurrency: this.refreshPingConcurrency,
          lookupConcurrency: REFRESH_LOOKUP_CONCURRENCY,
          backoff: this.bucketBackoff,
          force: !scheduled,
        },
        { signal },
      ),
    ).finally(() => {
      this.refreshing = undefined
      this.lastRefresh = { size: this.routingTableSize(), at: Date.now() }
      this.refreshWhileNoEstimate()
    })
    return this.refreshing
  }

  /**
   * While this node has no network-size estimate and knows at least k peers, the next
   * refresh comes `refreshOnGrowthMinGap` after the last one rather than at the schedule's
   * interval (with the schedule on): a refresh run while the node joined a loaded network
   * can leave its lookups short of the k closest, and until the next one its provides are
   * not optimistic (11 of 100 nodes had an estimate a minute after a wide-area join).
   */
  private refreshWhileNoEstimate(): void {
    clearTimeout(this.estimateRefreshTimer)
    this.estimateRefreshTimer = undefined
    if (!this.started || this.refreshInterval === 0 || this.optimistic == null) return
    if (this.networkSize.estimate() != null || this.routingTableSize() < this.networkSize.k) return
    this.estimateRefreshTimer = setTimeout(() => {
      this.estimateRefreshTimer = undefined
      if (!this.started || this.refreshing != null || this.networkSize.estimate() != null) return
      this.refresh().catch((err: unknown) =>
        this.log?.('refresh for a network-size estimate failed - %e', err),
      )
    }, this.refreshOnGrowthMinGap)
    this.estimateRefreshTimer.unref?.()
  }

  /**
   * Refreshes once the table has doubled since the last refresh ended (not sooner than
   * `refreshOnGrowthMinGap` after it), while the refresh schedule is on: a node
   * that joined a small network looks up its buckets again as the network grows.
   */
  private refreshIfTableDoubled(size: number): void {
    const last = this.lastRefresh
    if (!this.started || this.refreshInterval === 0 || this.refreshing != null || last.at === 0) return
    if (size < 2 * Math.max(1, last.size) || Date.now() - last.at < this.refreshOnGrowthMinGap) return
    this.refresh().catch((err: unknown) => this.log?.('refresh after the table doubled failed - %e', err))
  }

  /**
   * Republishes due shards now, or every shard with `all` (as after a restart). With the
   * sweep (the default), runs the regions whose turn passed, `all` or not: a restart
   * resumes the cycle rather than republishing the whole set; {@link republishCycle}
   * runs a whole cycle.
   */
  async republish(options: { all?: boolean } = {}): Promise<RepublishRun> {
    this.assertStarted()
    if (this.sweeping) {
      // the sweep resumes: only the regions whose turn passed, never the whole set at once
      const run = await this.sweeper.runDueNow()
      return { republished: run.republished, failed: run.failed, expired: 0, durationMs: run.durationMs }
    }
    if (this.republisher == null) throw new InvalidOptionError('registry', 'republishing needs a registry')
    return this.republisher.runNow(options)
  }

  /**
   * Provides many shards at once: adds them to the registry, then publishes them as the
   * sweep does (split by keyspace region, a few lookups per region instead of one per
   * shard, each peer's records on one stream confirmed by a GET_PROVIDERS). Resolves with
   * a result per shard (in input order); `onShard` hears each as its region completes. A
   * hash that does not parse fails alone (its result has the error); a shard no peer
   * confirmed stays registered and is republished at its region's turn.
   */
  async provideMany(
    hashes: readonly ShardKeyInput[],
    options: ProvideManyOptions = {},
  ): Promise<ProvideManyResult> {
    this.assertStarted()
    const start = performance.now()
    const results: ProvideManyShardResult[] = new Array(hashes.length)
    const keys = new Map<string, { key: ShardKey; at: number[] }>()
    hashes.forEach((input, i) => {
      try {
        const key = parseShardKey(input)
        const known = keys.get(key.hex)
        if (known == null) keys.set(key.hex, { key, at: [i] })
        else known.at.push(i)
      } catch (err) {
        const result = {
          hash: typeof input === 'string' ? input : String(input),
          confirmed: 0,
          error: err as Error,
        }
        results[i] = result
        options.onShard?.(result)
      }
    })
    for (const { key } of keys.values()) this.cache?.delete(key.hex)
    const registry = this.registry
    if (registry != null) {
      // durable before anything is published (write-through, batched)
      await registry.addMany([...keys.values()].map(({ key }) => key.bytes))
    }
    const signal =
      options.signal == null ? this.shutdown.signal : AbortSignal.any([options.signal, this.shutdown.signal])
    const summary = await this.sweeper.provideBatch(
      [...keys.values()].map(({ key }) => key.bytes),
      {
        signal,
        onShard: (placement: ShardPlacement) => {
          const known = keys.get(placement.hex)
          if (known == null) return
          const result: ProvideManyShardResult = {
            hash: placement.hex,
            cid: known.key.cid.toString(),
            confirmed: placement.confirmed,
            ...(placement.confirmed === 0
              ? {
                  error: new NoPeerAnsweredError(
                    placement.allocated,
                    `no peer confirmed the store (${placement.allocated} allocated, 0 confirmed)`,
                  ),
                }
              : {}),
          }
          for (const i of known.at) results[i] = result
          if (placement.confirmed > 0) {
            this.notify('providerRecordPublished', {
              shard: placement.hex,
              confirmed: placement.confirmed,
              sentTo: placement.allocated,
              belowQuorum:
                placement.confirmed < Math.max(1, Math.ceil(this.provideQuorum * placement.allocated)),
              republish: false,
            })
          }
          options.onShard?.(result)
        },
      },
    )
    const provided = results.filter((r) => r != null && r.error == null).length
    return {
      results,
      summary: {
        provided,
        failed: results.length - provided,
        confirmedMedian: summary.confirmedMedian,
        lookups: summary.lookups,
        regions: summary.regions,
        durationMs: performance.now() - start,
      },
    }
  }

  /**
   * Runs a whole republish cycle of the sweep now: every region of the registry, one
   * after another; `onShard` hears each shard as its region completes.
   *
   * @throws {InvalidOptionError} without a registry
   */
  async republishCycle(
    options: OperationOptions & { onShard?: (result: ProvideManyShardResult) => void } = {},
  ): Promise<SweepSummary> {
    this.assertStarted()
    if (this.registry == null) throw new InvalidOptionError('registry', 'republishing needs a registry')
    return this.sweeper.runCycle({
      ...(options.signal == null ? {} : { signal: options.signal }),
      onShard: (placement) =>
        options.onShard?.({
          hash: placement.hex,
          cid: parseShardKey(placement.hash).cid.toString(),
          confirmed: placement.confirmed,
          ...(placement.confirmed === 0 ? { error: new NoPeerAnsweredError(placement.allocated) } : {}),
        }),
    })
  }

  /** Where the sweep's current cycle is (for metrics). */
  sweepProgress(): ReturnType<Sweeper['progress']> {
    return this.sweeper.progress()
  }

  // ---- internals

  /** One exploration of the sweep: a `getClosestPeers` under the deadline, its peers with their Kademlia ids. */
  private async explore(
    target: Uint8Array,
    signal: AbortSignal,
  ): Promise<Array<{ peerId: PeerId; key: Uint8Array }>> {
    return this.operation('republish', { signal }, async (inner) => {
      const tally = new AnswerTally()
      const peers = new Map<string, { peerId: PeerId; key: Uint8Array }>()
      for await (const event of this.dht.getClosestPeers(target, { signal: inner })) {
        tally.add(event)
        if (event.name === 'FINAL_PEER' && !event.peer.id.equals(this.components.peerId)) {
          peers.set(event.peer.id.toString(), {
            peerId: event.peer.id,
            key: kadKeyOf(event.peer.id.toMultihash().bytes),
          })
        }
      }
      if (peers.size === 0) tally.assertAnswered()
      return [...peers.values()]
    })
  }

  /**
   * Publishes a shard's record: writes this node's own record, finds the k closest peers,
   * and sends each (a bounded number at once) the ADD_PROVIDER then a GET_PROVIDERS on
   * the same stream, whose answer confirms the store when it lists this node.
   */
  private async publish(
    shard: ShardKey | ProvidedShardEntry,
    type: QueryType,
    options: OperationOptions,
  ): Promise<Publication> {
    const key = 'cid' in shard ? shard : parseShardKey(shard.hash)
    const estimate = type === 'provide' && this.optimistic != null ? this.networkSize.estimate() : undefined
    // never below the peers this node knows: an estimate from lookups cut short (peers
    // that did not answer in time leave farther ones among the "closest") came out at 26
    // to 29 for a 50-node network whose tables held 48 peers, and a threshold of 14.5/26
    // sent the early records to peers well outside the 20 closest
    const networkSize = estimate == null ? undefined : Math.max(estimate, this.routingTableSize() + 1)
    if (networkSize != null) return this.publishOptimistic(key, networkSize, options)
    const self = this.components.peerId
    const target = key.cid.multihash.bytes
    // with no peers, the own record is still written (so this node answers lookups at
    // once) and nobody is asked: then it fails with NoKnownPeersError
    const publication = await this.operation(type, { ...options, needsPeers: false }, async (signal) => {
      await this.kad.addProvider(key.cid, self, { signal })
      const tally = new AnswerTally()
      const closest = new Map<string, PeerId>()
      for await (const event of this.dht.getClosestPeers(target, { signal })) {
        tally.add(event)
        if (event.name === 'FINAL_PEER' && !event.peer.id.equals(self)) {
          closest.set(event.peer.id.toString(), event.peer.id)
        }
      }
      if (closest.size === 0) {
        if (tally.contacted === 0 && this.routingTableSize() === 0) throw new NoKnownPeersError()
        tally.assertAnswered()
        throw new NoPeerAnsweredError(tally.contacted)
      }
      const message = addProviderMessage(target, self, this.components.addresses())
      const sends = await mapBounded([...closest.values()], this.provideConcurrency, (peer) =>
        sendConfirmedRecord(
          {
            // in the DHT's stream slots: a record waits for a free stream to the peer
            openDhtStream: (to, openOptions) =>
              this.kad.openDhtStream(to, openOptions, (o) => this.components.openDhtStream(to, o)),
            answerGuard: this.answers,
            pool: this.kad.streamPool,
          },
          peer,
          self,
          message,
          { signal },
        ),
      )
      // a send cut by the deadline or a stop fails the operation (QueryTimeoutError...)
      signal.throwIfAborted()
      let sentTo = 0
      let confirmed = 0
      for (const send of sends) {
        if (send.sent) sentTo++
        if (send.confirmed) confirmed++
        else
          this.log?.(
            'record of %s not confirmed by %p - %s',
            key.hex,
            send.peer,
            send.error?.message ?? 'not listed',
          )
      }
      if (confirmed === 0) {
        const refused = sends.find((send) => isLocalRefusal(send.error))
        if (refused != null && sends.every((send) => isLocalRefusal(send.error))) {
          throw refused.error instanceof OverloadedError
            ? refused.error
            : new OverloadedError(undefined, { cause: refused.error })
        }
        throw new NoPeerAnsweredError(
          closest.size,
          `no peer confirmed the store (${closest.size} closest, ${sentTo} sent, 0 confirmed)`,
        )
      }
      const quorum = Math.max(1, Math.ceil(this.provideQuorum * closest.size))
      return { confirmed, sentTo, closest: closest.size, quorum, belowQuorum: confirmed < quorum }
    })
    this.notify('providerRecordPublished', {
      shard: key.hex,
      confirmed: publication.confirmed,
      sentTo: publication.sentTo,
      belowQuorum: publication.belowQuorum,
      republish: type === 'republish',
    })
    return publication
  }

  /**
   * Publishes a fresh provide's record optimistically (`optimistic-provide.ts`): sent to
   * peers already certain to be among the closest while the lookup runs, the call
   * returning once the confirmations reach the return quorum; the sends still running
   * then finish in the background (bounded; past the bound this call waits for them).
   */
  private async publishOptimistic(
    key: ShardKey,
    networkSize: number,
    options: OperationOptions,
  ): Promise<Publication> {
    const self = this.components.peerId
    const target = key.cid.multihash.bytes
    // the sends outlive the call (the background): their own deadline, cut by a stop
    // and by a failure of the call before the hand-off
    const sends = new AbortController()
    const sendSignal = AbortSignal.any([
      sends.signal,
      this.shutdown.signal,
      AbortSignal.timeout(this.kad.queryTimeout),
    ])
    const message = addProviderMessage(target, self, this.components.addresses())
    let started = 0
    const result = await this.operation('provide', { ...options, needsPeers: false }, async (signal) => {
      await this.kad.addProvider(key.cid, self, { signal })
      const targetId = await kadId(target)
      try {
        const walk = await optimisticWalk(
          {
            self,
            walk: (walkSignal) => this.dht.getClosestPeers(target, { signal: walkSignal }),
            // the table's closest: those certain to be among the k closest get the record at once
            seeds: this.kad.closestPeers(targetId, this.kad.routingTable.kBucketSize),
            seedsComplete: this.routingTableSize() + 1 >= OPTIMISTIC_COMPLETE_TABLE * networkSize,
            distanceTo: async (peer) => normalisedDistance(await kadId(peer.toMultihash().bytes), targetId),
            send: (peer) => {
              started++
              return sendConfirmedRecord(
                {
                  openDhtStream: (to, openOptions) =>
                    this.kad.openDhtStream(to, openOptions, (o) => this.components.openDhtStream(to, o)),
                  answerGuard: this.answers,
                  pool: this.kad.streamPool,
                },
                peer,
                self,
                message,
                { signal: sendSignal },
              )
            },
          },
          { ...this.optimistic, networkSize, quorumShare: this.provideQuorum },
          signal,
        )
        if (walk.confirmed === 0 && walk.pending.length === 0) {
          const tally = new AnswerTally()
          for (const event of walk.events) tally.add(event)
          if (walk.sentTo === 0) {
            if (tally.contacted === 0 && this.routingTableSize() === 0) throw new NoKnownPeersError()
            tally.assertAnswered()
            throw new NoPeerAnsweredError(tally.contacted)
          }
          if (walk.settled.every((send) => isLocalRefusal(send.error))) {
            const refused = walk.settled[0]?.error
            throw refused instanceof OverloadedError
              ? refused
              : new OverloadedError(undefined, { cause: refused })
          }
          throw new NoPeerAnsweredError(
            walk.sentTo,
            `no peer confirmed the store (${walk.closest} closest, ${walk.sentTo} sent, 0 confirmed)`,
          )
        }
        let settled = walk.settled
        let background = walk.pending.length
        if (background > 0 && !this.background.adopt(walk.pending)) {
          // past the background bound: this call waits for its own sends
          settled = [...settled, ...(await Promise.all(walk.pending))]
          background = 0
        }
        const confirmed = settled.filter((send) => send.confirmed).length
        return { walk, confirmed, background }
      } catch (err) {
        sends.abort(err)
        throw err
      }
    })
    const { walk, confirmed, background } = result
    this.notify('optimisticProvideEnded', {
      shard: key.hex,
      networkSize,
      early: walk.early,
      sentTo: walk.sentTo,
      confirmed,
      background,
      stoppedEarly: walk.stoppedEarly,
    })
    this.log?.(
      'optimistic provide of %s: %d sent (%d early, %d started), %d confirmed, %d in the background',
      key.hex,
      walk.sentTo,
      walk.early,
      started,
      confirmed,
      background,
    )
    const publication: Publication = {
      confirmed,
      sentTo: walk.sentTo,
      closest: walk.closest,
      quorum: walk.quorum,
      belowQuorum: confirmed < walk.quorum,
    }
    this.notify('providerRecordPublished', {
      shard: key.hex,
      confirmed,
      sentTo: walk.sentTo,
      belowQuorum: publication.belowQuorum,
      republish: false,
    })
    return publication
  }

  /**
   * Adds a completed lookup's closest peers to the network-size estimate (every lookup of
   * this DHT reports here: `KadHooks.attachLookupObserver`).
   */
  private async trackLookup(key: Uint8Array, peers: readonly PeerId[]): Promise<void> {
    if (peers.length < this.networkSize.k) return
    const targetId = await kadId(key)
    const distances = await Promise.all(
      peers.map(async (peer) => normalisedDistance(await kadId(peer.toMultihash().bytes), targetId)),
    )
    if (!this.networkSize.track(distances)) return
    const size = this.networkSize.estimate()
    if (size != null) this.notify('networkSizeEstimated', { size, samples: this.networkSize.sampleCount })
  }

  private operation<T>(
    type: QueryType,
    options: RunOperationOptions,
    fn: Parameters<typeof runOperation<T>>[3],
  ): Promise<T> {
    this.assertStarted()
    return runOperation(this.context, type, options, fn)
  }

  private async waitForTablePeer(signal: AbortSignal): Promise<void> {
    const table = this.kad.routingTable
    if (table.size > 0) return
    await new Promise<void>((resolve, reject) => {
      const done = (): void => {
        table.removeEventListener('peer:add', done)
        signal.removeEventListener('abort', fail)
        resolve()
      }
      const fail = (): void => {
        table.removeEventListener('peer:add', done)
        reject(signal.reason)
      }
      table.addEventListener('peer:add', done)
      signal.addEventListener('abort', fail, { once: true })
    })
  }

  private async addressesOf(peerId: PeerId): Promise<Multiaddr[]> {
    try {
      return uniqueAddrs(await this.components.peerAddresses(peerId))
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return []
      throw err
    }
  }

  /** A cached answer for a lookup of `limit` providers, when the cache may give one. */
  private fromCache(key: ShardKey, limit: number, options: FindProvidersOptions): ShardPeer[] | undefined {
    this.assertStarted()
    // an aborted caller gets the operation's own error (QueryAbortedError), not a cached answer
    if (options.cache === false || options.signal?.aborted === true) return undefined
    return this.cache?.get(key.hex, limit)
  }

  private async withAddresses(peers: ShardPeer[]): Promise<ShardPeer[]> {
    return Promise.all(
      peers.map(async (peer) =>
        peer.multiaddrs.length > 0 ? peer : { ...peer, multiaddrs: await this.addressesOf(peer.peerId) },
      ),
    )
  }

  private assertStarted(): void {
    if (!this.started) throw new NotStartedError()
  }
}

async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // consume
  }
}
