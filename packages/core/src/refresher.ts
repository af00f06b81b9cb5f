/**
 * The routing-table refresh: drops peers that went away, looks up this node's own id,
 * then every bucket's region the self-lookup did not cover, for new peers. kad-dht
 * alone only evicts a stale peer when a full bucket
 * needs the room, and never on a schedule we control; this runs on NSN's interval,
 * is awaited, and is stopped cleanly.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { BucketRefreshBackoff } from './bucket-refresh-backoff.js'
import type { KadRoutingTable, KadTableAccess } from './kad-internals.js'
import { commonPrefixBits } from './sweep/keyspace.js'

/** What a refresh did. */
export interface RefreshResult {
  /** Peers that did not answer a ping and were removed from the table. */
  removed: number
  /** Peers in the table that were checked (those without an open connection). */
  checked: number
  /** Table size before and after. */
  sizeBefore: number
  sizeAfter: number
  /** Lookups run: this node's own id (when the hooks can), then one per bucket not covered by it. */
  lookups: number
  /** Bucket lookups left out by the backoff of a scheduled refresh (`BucketRefreshBackoff`). */
  skipped: number
  /** Lookups that failed (each error is in `errors`). */
  failedLookups: number
  errors: Error[]
  durationMs: number
}

/** What the refresher needs from libp2p. */
export interface RefresherComponents {
  hooks: KadTableAccess
  /** Open connections to a peer (a connected peer is alive and needs no ping). */
  connectionsTo(peer: PeerId): number
  ping(peer: PeerId, options?: AbortOptions): Promise<unknown>
}

export interface RefresherOptions {
  pingConcurrency: number
  /** Bucket lookups at once. */
  lookupConcurrency: number
  /**
   * The bucket lookups' backoff (`bucket-refresh-backoff.ts`): told of every bucket
   * lookup; unless `force`, the buckets whose last lookups found no new peer are skipped.
   * Without it every bucket is looked up.
   */
  backoff?: BucketRefreshBackoff
  /** Looks up every bucket whatever the backoff says (an explicit refresh). */
  force?: boolean
}

/**
 * The table's peers sharing exactly `cpl` leading bits of their Kademlia id with this
 * node; `undefined` when the table does not say its own id or a peer's.
 */
export function bucketPeers(table: Pick<KadRoutingTable, 'kb'>, cpl: number): number | undefined {
  const self = table.kb.localPeer?.kadId
  if (self == null) return undefined
  let count = 0
  for (const { kadId } of table.kb.toIterable()) {
    if (kadId == null) return undefined
    if (commonPrefixBits(self, kadId) === cpl) count++
  }
  return count
}

/** Runs one refresh: liveness check of unconnected table peers, then bucket lookups. */
export async function refreshRoutingTable(
  components: RefresherComponents,
  options: RefresherOptions,
  abort: AbortOptions,
): Promise<RefreshResult> {
  const start = performance.now()
  const { hooks } = components
  const table = hooks.routingTable
  const sizeBefore = table.size

  const candidates: PeerId[] = []
  for (const peer of table.kb.toIterable()) {
    if (components.connectionsTo(peer.peerId) === 0) candidates.push(peer.peerId)
  }
  let removed = 0
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < candidates.length) {
      abort.signal?.throwIfAborted()
      const peer = candidates[next++] as PeerId
      const alive = await components.ping(peer, abort).then(
        () => true,
        () => false, // a failed ping is the answer we are after: the peer went away
      )
      abort.signal?.throwIfAborted()
      if (!alive) {
        await table.remove(peer, abort)
        removed++
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.pingConcurrency, candidates.length) }, worker))

  let lookups = 0
  let skipped = 0
  const errors: Error[] = []
  if (table.size > 0) {
    // the buckets below the self-neighbourhood: deeper ones (a common prefix past
    // log2(table / k) + 1) hold the peers closest to this node, which its self-lookup
    // keeps; looking each of them up too, 50 freshly joined nodes of one host evicted
    // 54 healthy peers in a minute through request timeouts (4 lookups: see the bench)
    const neighbourhood = Math.ceil(Math.log2(Math.max(1, table.size / table.kBucketSize))) + 1
    let maxCpl = Math.min(hooks.maxCommonPrefix(), neighbourhood, 15)
    // the self-lookup first, in the refresh itself (kad-dht's self-query runs only every
    // SELF_QUERY_INTERVAL): the k closest peers to this node hold every peer of the
    // buckets deeper than the farthest of them, so those buckets need no lookup of their
    // own (Kademlia, section 2.3: a node refreshes the buckets farther than its closest
    // neighbour). On 100 idle nodes in one process (bench/idle-probe.mjs) the farthest
    // of the 20 closest shared 2 bits with the node: 3 bucket lookups a refresh.
    if (hooks.lookupSelf != null) {
      lookups++
      try {
        const closest = await hooks.lookupSelf(abort)
        // fewer than k found: the neighbourhood is not known to be whole
        if (closest.length >= table.kBucketSize) maxCpl = Math.min(maxCpl, ...closest)
      } catch (err) {
        abort.signal?.throwIfAborted()
        errors.push(err as Error)
      }
    }
    // a few bucket lookups at a time (go-libp2p-kad-dht runs them one after another):
    // all at once, 50 freshly joined nodes of one host made their peers' answers late
    // enough for 36 request-timeout evictions of healthy peers
    let nextCpl = 0
    const lookupWorker = async (): Promise<void> => {
      while (nextCpl <= maxCpl) {
        const cpl = nextCpl++
        const before = options.backoff == null ? undefined : bucketPeers(table, cpl)
        if (before != null && options.force !== true && options.backoff?.due(cpl, before) === false) {
          skipped++
          continue
        }
        lookups++
        let failed = false
        try {
          await hooks.refreshCommonPrefixLength(cpl, abort)
        } catch (err) {
          failed = true
          errors.push(err as Error)
        }
        abort.signal?.throwIfAborted()
        if (before != null) options.backoff?.looked(cpl, before, bucketPeers(table, cpl) ?? 0, failed)
      }
    }
    await Promise.all(Array.from({ length: Math.min(options.lookupConcurrency, maxCpl + 1) }, lookupWorker))
  }

  return {
    removed,
    checked: candidates.length,
    sizeBefore,
    sizeAfter: table.size,
    lookups,
    skipped,
    failedLookups: errors.length,
    errors,
    durationMs: performance.now() - start,
  }
}

/** What the refresh schedule needs. */
export interface RefreshScheduleComponents {
  /** Runs one refresh (joining a running one). */
  refresh(): Promise<RefreshResult>
  routingTableSize(): number
  log?: { error(message: string, ...args: unknown[]): void }
}

/**
 * Runs a refresh every `interval` ms while started: the next one is armed when the
 * previous one ends, so refreshes never overlap; with an empty table a turn is skipped
 * (there is nobody to look up through). `stop()` clears the timer; an interval of 0
 * schedules nothing.
 */
export class RefreshSchedule {
  private readonly components: RefreshScheduleComponents
  private readonly interval: number
  private readonly jitter: number
  private readonly random: () => number
  private timer?: ReturnType<typeof setTimeout>
  private started = false

  /**
   * @param interval - ms between the end of a refresh and the start of the next
   * @param options - `jitter`: each wait is drawn from `interval x (1 ± jitter)` (a
   *   fraction, default 0: exactly `interval`), so that nodes started together do not
   *   refresh together for ever; `random`: the source of the draws (tests)
   */
  constructor(
    components: RefreshScheduleComponents,
    interval: number,
    options: { jitter?: number; random?: () => number } = {},
  ) {
    this.components = components
    this.interval = interval
    this.jitter = Math.min(1, Math.max(0, options.jitter ?? 0))
    this.random = options.random ?? Math.random
  }

  /** The next wait: the interval, moved by up to `jitter` of it either way. */
  private nextWait(): number {
    return Math.round(this.interval * (1 + this.jitter * (2 * this.random() - 1)))
  }

  start(): void {
    if (this.started) return
    this.started = true
    this.arm()
  }

  stop(): void {
    this.started = false
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private arm(): void {
    if (!this.started || this.interval === 0) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.components.routingTableSize() === 0) return this.arm()
      this.components
        .refresh()
        .catch((err: unknown) => this.components.log?.error('routing table refresh failed - %e', err))
        .finally(() => this.arm())
    }, this.nextWait())
    this.timer.unref?.()
  }
}
