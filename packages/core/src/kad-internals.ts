/**
 * The few internals of `@libp2p/kad-dht` 16.4.x that NSN hooks into, in one place.
 * kad-dht exposes no option for them, and each closes a defect of plain kad-dht that
 * DESIGN.md requires us to fix:
 *
 * - `queryManager.run`: every query (ours, the self-query, table refreshes) gets the
 *   NSN deadline (kad-dht's default is 180 s) and fails at once with an empty table
 *   instead of waiting for a peer to appear.
 * - `reprovider.shouldReprovide`: turned off, because the NSN `Republisher`, driven by
 *   the shard registry, is the one republish mechanism. The reprovider keeps its other
 *   job: deleting records of other peers once they are older than the TTL.
 * - `routingTableRefresh.refreshTable`: kad-dht's fixed 5-minute loop is turned off;
 *   the NSN `Refresher` runs refreshes on our schedule and awaits them.
 * - `routingTable.kb.lastPingThreshold`: made configurable (`lastPingThreshold`), so
 *   tests can shrink how long a pinged peer is protected from replacement.
 *
 * {@link hooksOf} checks that every internal exists and throws an
 * {@link UnsupportedKadDhtError} naming the missing one otherwise, so an incompatible
 * kad-dht fails loudly at construction, never silently.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { KadDHT, QueryEvent } from '@libp2p/kad-dht'
import type { Datastore } from 'interface-datastore'
import type { CID } from 'multiformats/cid'
import { startDeadline } from './deadline.js'
import { NoKnownPeersError, UnsupportedKadDhtError } from './errors.js'

/** The shape of kad-dht's routing table that NSN uses. */
export interface KadRoutingTable extends EventTarget {
  readonly size: number
  readonly kBucketSize: number
  kb: { toIterable(): Iterable<{ peerId: PeerId; lastPing: number }> }
  remove(peer: PeerId, options?: AbortOptions): Promise<void>
  find(peer: PeerId, options?: AbortOptions): Promise<PeerId | undefined>
}

interface QueryManagerLike {
  run(key: Uint8Array, queryFunc: unknown, options?: QueryRunOptions): AsyncGenerator<QueryEvent>
}

interface QueryRunOptions extends AbortOptions {
  isSelfQuery?: boolean
  [key: string]: unknown
}

interface RoutingTableRefreshLike {
  refreshTable(force?: boolean, options?: AbortOptions): void
  _maxCommonPrefix(): number
  _refreshCommonPrefixLength(
    cpl: number,
    lastRefresh: Date,
    force: boolean,
    options?: AbortOptions,
  ): Promise<void>
}

interface ProvidersLike {
  addProvider(cid: CID, provider: PeerId, options?: AbortOptions): Promise<void>
  datastore: Datastore
}

interface ReproviderLike {
  shouldReprovide(isSelf: boolean, expires: number): boolean
}

/** Typed access to the kad-dht internals NSN uses. */
export interface KadHooks {
  readonly routingTable: KadRoutingTable
  /** Runs one refresh lookup for a common prefix length (awaitable, unlike kad-dht's loop). */
  refreshCommonPrefixLength(cpl: number, options?: AbortOptions): Promise<void>
  /** Highest common prefix length present in the table. */
  maxCommonPrefix(): number
  /** How long this node keeps provider records of others, in ms. */
  readonly providerRecordTtl: number
  /** The deadline every query of this DHT runs under, in ms. */
  readonly queryTimeout: number
  /** Writes this node's own provider record for a key, as kad-dht's provide does first. */
  addSelfRecord(cid: CID, options?: AbortOptions): Promise<void>
  /** The datastore kad-dht keeps provider records in (libp2p's datastore). */
  readonly datastore: Datastore
  /** The datastore prefix of provider records, e.g. `/dht/provider`. */
  readonly providerPrefix: string
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
  const routingTable = need<KadRoutingTable>(dht, 'routingTable')
  const refresh = need<RoutingTableRefreshLike>(dht, 'routingTableRefresh')
  need(dht, 'routingTableRefresh._refreshCommonPrefixLength')
  need(dht, 'routingTableRefresh._maxCommonPrefix')
  const reprovider = need<ReproviderLike>(dht, 'reprovider')
  need(dht, 'reprovider.shouldReprovide')

  const run = queryManager.run.bind(queryManager)
  const { queryTimeout } = options
  queryManager.run = async function* nsnRun(key, queryFunc, runOptions: QueryRunOptions = {}) {
    if (runOptions.isSelfQuery !== true && routingTable.size === 0) {
      throw new NoKnownPeersError()
    }
    const deadline = startDeadline(queryTimeout, runOptions.signal)
    try {
      yield* run(key, queryFunc, { ...runOptions, signal: deadline.signal })
    } catch (err) {
      throw deadline.translate(err)
    } finally {
      deadline.clear()
    }
  }

  const providers = need<ProvidersLike>(dht, 'providers')
  need(dht, 'providers.addProvider')
  const datastore = need<Datastore>(dht, 'providers.datastore')
  const selfId = need<PeerId>(dht, 'components.peerId')

  if (options.lastPingThreshold != null) {
    const kb = need<{ lastPingThreshold: number }>(dht, 'routingTable.kb')
    need(dht, 'routingTable.kb.lastPingThreshold')
    kb.lastPingThreshold = options.lastPingThreshold
  }

  reprovider.shouldReprovide = () => false
  refresh.refreshTable = () => {}

  const hooks: KadHooks = {
    routingTable,
    queryTimeout,
    providerRecordTtl: options.providerRecordTtl,
    datastore,
    addSelfRecord: (cid, abortOptions) => providers.addProvider(cid, selfId, abortOptions),
    providerPrefix: `${options.datastorePrefix}/provider`,
    maxCommonPrefix: () => refresh._maxCommonPrefix(),
    refreshCommonPrefixLength: (cpl, abortOptions) =>
      refresh._refreshCommonPrefixLength(cpl, new Date(0), true, abortOptions),
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
