/**
 * The sweeping republisher (modelled on go-libp2p-kad-dht's sweep provider): instead of
 * one lookup per shard, it walks the keyspace region by region. Regions come from the
 * prefix trie of the peers it knows (`keyspace.ts`); each region's turn sits in the
 * republish interval at the XOR offset of its prefix from this node's id
 * (`schedule.ts`); one timer points at the next turn. A region's pass reads its shards
 * with one range read, explores it with a few lookups (`region-pass.ts`), allocates
 * each shard to its k closest explored peers, and sends each peer its records on one
 * stream confirmed by a GET_PROVIDERS (`batch-send.ts`), up to `peerConcurrency` peers at
 * once. A region where fewer than `minReachable` of its peers confirmed is retried after
 * `retryDelay`. The cycle start, L, the per-region history and the pending queue persist
 * in the datastore (`state-store.ts`): after a restart only the regions whose turn
 * passed are done, one after another.
 *
 * @packageDocumentation
 */

import type { Logger, PeerId } from '@libp2p/interface'
import type { Datastore } from 'interface-datastore'
import { mapBounded } from '../confirmed-provide.js'
import {
  SWEEP_CHECK_INTERVAL,
  SWEEP_ESTIMATE_LOOKUPS,
  SWEEP_ESTIMATE_VALIDITY,
  SWEEP_MAX_EXPLORATIONS,
  SWEEP_MAX_MESSAGES_PER_STREAM,
  SWEEP_MESSAGES_PER_SECOND,
  SWEEP_MIN_REACHABLE,
  SWEEP_NO_NEW_PEER_LIMIT,
  SWEEP_PEER_ATTEMPTS,
  SWEEP_PEER_CONCURRENCY,
  SWEEP_RETRY_DELAY,
} from '../constants.js'
import { InvalidOptionError } from '../errors.js'
import type { SweepRegionEvent } from '../observer.js'
import type { MarkPublishedOptions } from '../provided-shards.js'
import type { BatchSend, BatchSendOptions } from './batch-send.js'
import {
  compareXor,
  estimatePrefixLength,
  hasPrefix,
  kadKeyOf,
  prefixBytes,
  type Region,
  regionsFromPeers,
  splitToDepth,
} from './keyspace.js'
import {
  allocate,
  type ExploredPeer,
  type ExploreFn,
  exploreRegion,
  keyUnderPrefix,
  type PlaceableShard,
} from './region-pass.js'
import { dueRegions, nextEvent, type ScheduleParams } from './schedule.js'
import { type PendingRegion, type RegionHistory, SweepStateStore } from './state-store.js'

/** A shard of a region, as the shard store's range read yields it. */
export interface SweepShard {
  /** The 32 hash bytes. */
  readonly hash: Uint8Array
  /** Its Kademlia id: sha2-256 of the multihash. */
  readonly key: Uint8Array
  readonly hex: string
  /** When its record was last published (0 when never). */
  readonly publishedAt: number
}

/** What the sweep reads and writes of the provided shards (the shard store implements it). */
export interface SweepShardSource {
  /** The shards whose Kademlia id starts with the prefix, in key order, one range read. */
  shardsInRegion(
    prefix: Uint8Array,
    bitLength: number,
    options?: { signal?: AbortSignal },
  ): AsyncIterable<SweepShard>
  /** Records a publication of many shards at once. */
  markPublishedMany(hashes: Uint8Array[], options?: MarkPublishedOptions): Promise<void>
}

/** What the sweeper uses. */
export interface SweeperComponents {
  peerId: PeerId
  shards: SweepShardSource
  /** Where the schedule state persists; without it, in memory only. */
  datastore?: Datastore
  /** One `getClosestPeers` lookup, under the node's deadline. */
  explore: ExploreFn
  /** The peers this node knows (its routing table), with their Kademlia ids. */
  knownPeers(): ExploredPeer[]
  /** Framed ADD_PROVIDER messages of these DHT keys (this node with its current addresses). */
  frames(keys: readonly Uint8Array[]): Uint8Array[]
  /** Sends one peer its batch (`batch-send.ts`). */
  sendBatch(
    peer: PeerId,
    keys: readonly Uint8Array[],
    frames: readonly Uint8Array[],
    options: BatchSendOptions,
    signal: AbortSignal,
  ): Promise<BatchSend>
  /** Writes this node's own provider records (so it answers lookups itself); optional. */
  writeSelfRecords?(hashes: readonly Uint8Array[], signal: AbortSignal): Promise<void>
  /** Runs at each wake-up before the due regions (the registry's expiry). */
  beforeRun?(): Promise<unknown>
  /** Clock (epoch ms). Default `Date.now`. */
  now?(): number
  log?: Logger
}

/** Options of the sweep; every one has a default in `constants.ts`. */
export interface SweepInit {
  /** The republish interval (ms): every region takes its turn once per interval. */
  interval: number
  /** k: peers each shard is placed on. */
  k: number
  maxExplorations?: number
  noNewPeerLimit?: number
  peerConcurrency?: number
  retryDelay?: number
  minReachable?: number
  estimateLookups?: number
  /** L is estimated again past this age (ms), beside once per cycle. */
  estimateValidity?: number
  checkInterval?: number
  batch?: Partial<BatchSendOptions>
  /** Called after every region pass. */
  onRegion?(result: RegionPassResult): void
  /** Called when a scheduled region ends; `progress` in [0, 1] is the cycle's share done. */
  onProgress?(progress: SweepProgress): void
}

/** Where the current cycle is. */
export interface SweepProgress {
  /** Cycle number since the first cycle start. */
  cycle: number
  /** Share of the interval elapsed in this cycle, 0..1. */
  progress: number
  regions: number
  /** Regions queued (due or retried) now. */
  pending: number
  /** Lookups in this cycle so far. */
  lookups: number
}

/** One shard's outcome in a pass. */
export interface ShardPlacement {
  hash: Uint8Array
  hex: string
  /** Peers that confirmed its record. */
  confirmed: number
  /** Peers it was allocated to. */
  allocated: number
}

/** What one region pass did: the observer's event, with the failures and the placements. */
export interface RegionPassResult extends SweepRegionEvent {
  /** Why batches failed (message: count), at most 5 distinct messages. */
  sendErrors: Record<string, number>
  /** Per shard, in key order. */
  placements: ShardPlacement[]
}

/** What a whole cycle (or a batch) did. */
export interface SweepSummary {
  shards: number
  regions: number
  lookups: number
  /** Median of the shards' confirmed placements. */
  confirmedMedian: number
  /** Shards no peer confirmed. */
  failed: number
  durationMs: number
}

/** Median of numbers (0 for none). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** Adds up region passes into a {@link SweepSummary} (a whole cycle, or a bulk provide). */
class SweepTally {
  private readonly start = performance.now()
  private readonly confirmed: number[] = []
  private failed = 0
  private lookups = 0

  constructor(private readonly onShard?: (placement: ShardPlacement) => void) {}

  /** Counts one region pass; `onShard` hears each of its shards. */
  add(result: { lookups: number; placements: readonly ShardPlacement[] }): void {
    this.lookups += result.lookups
    for (const placement of result.placements) {
      this.confirmed.push(placement.confirmed)
      if (placement.confirmed === 0) this.failed++
      this.onShard?.(placement)
    }
  }

  summary(regions: number): SweepSummary {
    return {
      shards: this.confirmed.length,
      regions,
      lookups: this.lookups,
      confirmedMedian: median(this.confirmed),
      failed: this.failed,
      durationMs: performance.now() - this.start,
    }
  }
}

interface Resolved {
  interval: number
  k: number
  maxExplorations: number
  noNewPeerLimit: number
  peerConcurrency: number
  retryDelay: number
  minReachable: number
  estimateLookups: number
  estimateValidity: number
  checkInterval: number
  batch: BatchSendOptions
}

function resolve(init: SweepInit): Resolved {
  const int = (name: string, value: number, min: number): number => {
    if (!Number.isFinite(value) || value < min) {
      throw new InvalidOptionError(`sweep.${name}`, `must be a number >= ${min}, got ${String(value)}`)
    }
    return value
  }
  return {
    interval: int('interval', init.interval, 1),
    k: int('k', init.k, 1),
    maxExplorations: int('maxExplorations', init.maxExplorations ?? SWEEP_MAX_EXPLORATIONS, 1),
    noNewPeerLimit: int('noNewPeerLimit', init.noNewPeerLimit ?? SWEEP_NO_NEW_PEER_LIMIT, 1),
    peerConcurrency: int('peerConcurrency', init.peerConcurrency ?? SWEEP_PEER_CONCURRENCY, 1),
    retryDelay: int('retryDelay', init.retryDelay ?? SWEEP_RETRY_DELAY, 0),
    minReachable: int('minReachable', init.minReachable ?? SWEEP_MIN_REACHABLE, 0),
    estimateLookups: int('estimateLookups', init.estimateLookups ?? SWEEP_ESTIMATE_LOOKUPS, 0),
    estimateValidity: int('estimateValidity', init.estimateValidity ?? SWEEP_ESTIMATE_VALIDITY, 1),
    checkInterval: int('checkInterval', init.checkInterval ?? SWEEP_CHECK_INTERVAL, 1),
    batch: {
      maxMessagesPerStream: int(
        'batch.maxMessagesPerStream',
        init.batch?.maxMessagesPerStream ?? SWEEP_MAX_MESSAGES_PER_STREAM,
        1,
      ),
      messagesPerSecond: int(
        'batch.messagesPerSecond',
        init.batch?.messagesPerSecond ?? SWEEP_MESSAGES_PER_SECOND,
        1,
      ),
      attempts: int('batch.attempts', init.batch?.attempts ?? SWEEP_PEER_ATTEMPTS, 1),
    },
  }
}

/** The multihash (DHT key) of a 32-byte sha2-256 digest. */
export function multihashOf(hash: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + hash.length)
  out[0] = 0x12
  out[1] = 0x20
  out.set(hash, 2)
  return out
}

/** The sweeping republisher: see the module docs. */
export class Sweeper {
  readonly options: Resolved
  private readonly store: SweepStateStore
  private readonly self: Uint8Array
  private readonly now: () => number
  private state?: { cycleStart: number; prefixLength: number }
  private history = new Map<string, RegionHistory>()
  private pending = new Map<string, PendingRegion>()
  private timer?: ReturnType<typeof setTimeout>
  private controller = new AbortController()
  private running?: Promise<unknown>
  private started = false
  /** When L was last estimated: its cycle, time and the number of peers known then. */
  private estimated = { cycle: -1, at: 0, known: 0 }
  private cycleLookups = 0
  private lookupsCycle = -1
  /** Peers found by explorations (Kademlia ids), beside the routing table, for the regions. */
  private readonly explored = new Map<string, Uint8Array>()
  private regionCount = 0
  /** L, the prefix length regions are split to (persisted in the state once started). */
  private prefixLength = 0

  constructor(
    private readonly components: SweeperComponents,
    private readonly init: SweepInit,
  ) {
    this.options = resolve(init)
    this.store = new SweepStateStore(components.datastore)
    this.self = kadKeyOf(components.peerId.toMultihash().bytes)
    this.now = components.now ?? Date.now
  }

  /** The schedule's state once started: cycle start and prefix-length estimate. */
  get schedule(): { cycleStart: number; prefixLength: number } | undefined {
    return this.state == null ? undefined : { ...this.state }
  }

  /**
   * The regions the sweep would use now: the prefix trie of the known peers (the routing
   * table and peers found by explorations), split down to L where it is shallower.
   */
  regions(): Region[] {
    const peers = this.components.knownPeers().map((peer) => peer.key)
    const seen = new Set(peers.map((p) => Buffer.from(p).toString('hex')))
    for (const [hex, key] of this.explored) if (!seen.has(hex)) peers.push(key)
    const { k } = this.options
    const regions = splitToDepth(regionsFromPeers(peers, k), this.prefixLength, { peers, k })
    this.regionCount = regions.length
    return regions
  }

  /** Loads (or creates) the persisted state and arms the timer. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.state = await this.store.state()
    if (this.state == null) {
      this.state = { cycleStart: this.now(), prefixLength: this.prefixLength }
      await this.store.saveState(this.state)
    }
    this.prefixLength = this.state.prefixLength
    this.history = await this.store.history()
    this.pending = await this.store.pending()
    this.arm(0)
  }

  /** Stops the timer and aborts a running pass (its region stays pending). */
  async stop(): Promise<void> {
    this.started = false
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller.abort()
    await this.running?.catch(() => undefined)
  }

  private params(): ScheduleParams {
    return { cycleStart: this.state?.cycleStart ?? 0, interval: this.options.interval, self: this.self }
  }

  private cycleOf(now: number): number {
    return Math.floor((now - this.params().cycleStart) / this.options.interval)
  }

  private arm(delay: number): void {
    if (!this.started) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => this.tick(), Math.max(0, delay))
    this.timer.unref?.()
  }

  private tick(): void {
    this.timer = undefined
    if (this.running != null) {
      this.arm(this.options.checkInterval)
      return
    }
    const run = this.runDue(this.controller.signal)
    this.running = run
    run
      .catch((err: unknown) => {
        if (!this.controller.signal.aborted) this.components.log?.error('sweep failed - %e', err)
      })
      .finally(() => {
        if (this.running === run) this.running = undefined
        this.armNext()
      })
  }

  private armNext(): void {
    if (!this.started) return
    const now = this.now()
    const regions = this.regions()
    let next = nextEvent(regions, this.params(), now) ?? now + this.options.checkInterval
    for (const entry of this.pending.values()) next = Math.min(next, Math.max(now, entry.retryAt))
    this.arm(Math.min(next - now, this.options.checkInterval))
  }

  private countLookup(): void {
    const cycle = this.cycleOf(this.now())
    if (cycle !== this.lookupsCycle) {
      this.lookupsCycle = cycle
      this.cycleLookups = 0
    }
    this.cycleLookups++
  }

  private explore(): ExploreFn {
    return async (target, signal) => {
      this.countLookup()
      const peers = await this.components.explore(target, signal)
      for (const peer of peers) {
        this.explored.set(Buffer.from(peer.key).toString('hex'), peer.key)
        if (this.explored.size > 8192) this.explored.delete(this.explored.keys().next().value as string)
      }
      return peers
    }
  }

  /**
   * Re-estimates L from a few lookups of keys spread over the keyspace (once per cycle,
   * after `estimateValidity`, or once the routing table has doubled): the whole cycle,
   * the timer's passes and bulk provides all split the keyspace with it. The lookups'
   * peers also join the known peers the regions come from. Without known peers nothing
   * is asked (and the estimate stays due).
   */
  private async estimate(signal: AbortSignal): Promise<void> {
    const now = this.now()
    const cycle = this.cycleOf(now)
    const known = this.components.knownPeers().length
    if (this.options.estimateLookups === 0 || known === 0) return
    // once per cycle, and again when stale or when the routing table has doubled since (a
    // node estimates at its start, when it knows a handful of peers)
    const fresh =
      cycle === this.estimated.cycle &&
      now - this.estimated.at < this.options.estimateValidity &&
      known < 2 * this.estimated.known
    if (fresh) return
    this.estimated = { cycle, at: now, known }
    const samples: Uint8Array[][] = []
    const lookups = this.options.estimateLookups
    // aimed at evenly spread parts of the keyspace (lookup i of 4 at the i-th quarter), so
    // that together they meet the peers of every part, not a random few
    const spread = Math.ceil(Math.log2(lookups))
    for (let i = 0; i < lookups; i++) {
      const target = keyUnderPrefix(spread === 0 ? '' : i.toString(2).padStart(spread, '0'))
      try {
        const key = kadKeyOf(target)
        const peers = await this.explore()(target, signal)
        // the sweep's k closest: regions are to hold k peers (a lookup may return more)
        samples.push(
          peers
            .map((p) => p.key)
            .sort((a, b) => compareXor(key, a, b))
            .slice(0, this.options.k),
        )
      } catch (err) {
        signal.throwIfAborted()
        this.components.log?.('prefix-length lookup failed - %e', err)
      }
    }
    if (samples.length === 0) return
    this.prefixLength = estimatePrefixLength(samples, this.options.k)
    if (this.state != null) {
      this.state.prefixLength = this.prefixLength
      await this.store.saveState(this.state)
    }
  }

  /** Progress of the current cycle. */
  progress(): SweepProgress {
    const now = this.now()
    const params = this.params()
    const elapsed = (now - params.cycleStart) / this.options.interval
    const cycle = Math.max(0, Math.floor(elapsed))
    return {
      cycle,
      progress: Math.min(1, Math.max(0, elapsed - cycle)),
      regions: this.regionCount,
      pending: this.pending.size,
      lookups: this.lookupsCycle === this.cycleOf(now) ? this.cycleLookups : 0,
    }
  }

  /** Does the regions due now (and the pending ones whose retry time came), one after another. */
  /**
   * Does the regions due now (their turn passed since their last pass, or pending), one
   * after another, as the timer does; joins a running one.
   */
  async runDueNow(): Promise<{ republished: number; failed: number; regions: number; durationMs: number }> {
    while (this.running != null) await this.running.catch(() => undefined)
    const run = this.runDue(this.controller.signal)
    this.running = run
    try {
      return await run
    } finally {
      if (this.running === run) this.running = undefined
    }
  }

  private async runDue(
    signal: AbortSignal,
  ): Promise<{ republished: number; failed: number; regions: number; durationMs: number }> {
    const start = performance.now()
    const totals = { republished: 0, failed: 0, regions: 0, durationMs: 0 }
    await this.components.beforeRun?.()
    if (this.components.knownPeers().length === 0) return totals
    // a node that provides nothing has nothing to place: no prefix-length lookups either
    // (100 idle nodes without shards sent 4 lookups each every 5 min for them)
    if (this.pending.size === 0 && !(await this.hasShards(signal))) return totals
    await this.estimate(signal)
    const now = this.now()
    const regions = this.regions()
    for (const region of dueRegions(regions, this.history, this.params(), now)) {
      if (!this.pending.has(region.bits)) {
        const entry = { since: now, retryAt: 0 }
        this.pending.set(region.bits, entry)
        await this.store.savePending(region.bits, entry)
      }
    }
    const queue = [...this.pending.entries()]
      .filter(([, entry]) => entry.retryAt <= now)
      .sort((a, b) => a[1].since - b[1].since)
    for (const [bits] of queue) {
      signal.throwIfAborted()
      const result = await this.runScheduledRegion(bits, signal)
      totals.regions++
      for (const placement of result.placements) {
        if (placement.confirmed > 0) totals.republished++
        else totals.failed++
      }
    }
    totals.durationMs = performance.now() - start
    return totals
  }

  private async runScheduledRegion(bits: string, signal: AbortSignal): Promise<RegionPassResult> {
    const shards = await this.readRegion(bits, signal)
    const result = await this.pass(bits, shards, signal)
    await this.settle(bits, result)
    this.init.onProgress?.(this.progress())
    return result
  }

  /** Records a pass: history and no longer pending, or pending with a retry time. */
  private async settle(bits: string, result: RegionPassResult): Promise<void> {
    if (result.retry) {
      const entry = {
        since: this.pending.get(bits)?.since ?? this.now(),
        retryAt: this.now() + this.options.retryDelay,
      }
      this.pending.set(bits, entry)
      await this.store.savePending(bits, entry)
      return
    }
    const entry: RegionHistory = {
      at: this.now(),
      shards: result.shards,
      confirmed: result.confirmedPlacements,
      failed: result.failedPlacements,
    }
    // a region's history replaces that of the smaller regions it holds now
    for (const old of [...this.history.keys()]) {
      if (old !== bits && old.startsWith(bits)) {
        this.history.delete(old)
        await this.store.deleteHistory(old)
      }
    }
    this.history.set(bits, entry)
    await this.store.saveHistory(bits, entry)
    if (this.pending.delete(bits)) await this.store.deletePending(bits)
  }

  /** Whether this node provides any shard (the first of one range read of every shard). */
  private async hasShards(signal: AbortSignal): Promise<boolean> {
    for await (const shard of this.components.shards.shardsInRegion(new Uint8Array(0), 0, { signal })) {
      if (shard != null) return true
    }
    return false
  }

  private async readRegion(bits: string, signal: AbortSignal): Promise<SweepShard[]> {
    const { prefix, bitLength } = prefixBytes(bits)
    const out: SweepShard[] = []
    for await (const shard of this.components.shards.shardsInRegion(prefix, bitLength, { signal }))
      out.push(shard)
    return out
  }

  /**
   * Runs a whole cycle now: every region, one after another; each region's history is
   * updated (its next turn stays where the schedule puts it). `onShard` hears each shard
   * as its region ends.
   */
  async runCycle(
    options: { signal?: AbortSignal; onShard?: (placement: ShardPlacement) => void } = {},
  ): Promise<SweepSummary> {
    const signal = this.withStop(options.signal)
    await this.estimate(signal)
    const regions = this.regions()
    const tally = new SweepTally(options.onShard)
    for (const region of regions) {
      const shards = await this.readRegion(region.bits, signal)
      if (shards.length === 0) continue
      const result = await this.pass(region.bits, shards, signal)
      await this.settle(region.bits, result)
      tally.add(result)
    }
    return tally.summary(regions.length)
  }

  /**
   * Publishes a batch of shards now (a bulk provide): split by region, one exploration
   * per region (not one lookup per shard). The regions' schedule is not touched.
   */
  async provideBatch(
    hashes: readonly Uint8Array[],
    options: { signal?: AbortSignal; onShard?: (placement: ShardPlacement) => void } = {},
  ): Promise<SweepSummary> {
    const signal = this.withStop(options.signal)
    await this.estimate(signal)
    const regions = this.regions()
    const byRegion = new Map<string, SweepShard[]>()
    for (const hash of hashes) {
      const key = kadKeyOf(multihashOf(hash))
      // the regions partition the keyspace: exactly one holds the key
      const region = regions.find((r) => hasPrefix(key, r.bits)) as Region
      const list = byRegion.get(region.bits) ?? []
      list.push({ hash, key, hex: Buffer.from(hash).toString('hex'), publishedAt: 0 })
      byRegion.set(region.bits, list)
    }
    const tally = new SweepTally(options.onShard)
    for (const [bits, shards] of byRegion) tally.add(await this.pass(bits, shards, signal, 'provide'))
    return tally.summary(byRegion.size)
  }

  /** The caller's signal joined with the sweeper's own (aborted by `stop()`). */
  private withStop(signal: AbortSignal | undefined): AbortSignal {
    return signal == null ? this.controller.signal : AbortSignal.any([signal, this.controller.signal])
  }

  /** One region's pass over `shards`: explore, allocate, send, mark published. */
  async pass(
    bits: string,
    input: readonly SweepShard[],
    signal: AbortSignal,
    origin: 'republish' | 'provide' = 'republish',
  ): Promise<RegionPassResult> {
    const start = performance.now()
    const now = this.now()
    const { k } = this.options
    const shards = [...input].sort((a, b) => Buffer.compare(a.key, b.key))
    const placeable = shards.map((shard) => ({ ...shard, target: multihashOf(shard.hash) }))
    const base: Omit<RegionPassResult, 'retry' | 'durationMs'> = {
      bits,
      origin,
      sendErrors: {},
      shards: shards.length,
      peers: 0,
      reachablePeers: 0,
      lookups: 0,
      confirmedPlacements: 0,
      failedPlacements: 0,
      overdue: shards.filter((s) => s.publishedAt > 0 && s.publishedAt + this.options.interval < now).length,
      placements: [],
    }
    if (shards.length === 0)
      return this.report({ ...base, retry: false, durationMs: performance.now() - start })
    if (this.components.writeSelfRecords != null)
      await this.components.writeSelfRecords(
        shards.map((s) => s.hash),
        signal,
      )
    const exploration = await exploreRegion(
      bits,
      placeable,
      this.explore(),
      { k, maxExplorations: this.options.maxExplorations, noNewPeerLimit: this.options.noNewPeerLimit },
      signal,
      this.components.knownPeers(),
    )
    const self = this.components.peerId.toString()
    exploration.peers.delete(self)
    base.lookups = exploration.lookups
    const allocation = allocate<PlaceableShard & SweepShard & { target: Uint8Array }>(
      placeable,
      exploration.peers.values() as Iterable<ExploredPeer>,
      k,
    )
    base.peers = allocation.size
    const index = new Map(placeable.map((shard, i) => [shard, i]))
    const frames = this.components.frames(placeable.map((s) => s.target))
    const confirmedCount = new Array<number>(placeable.length).fill(0)
    const allocatedCount = new Array<number>(placeable.length).fill(0)
    const sends = await mapBounded(
      [...allocation.values()],
      this.options.peerConcurrency,
      async ({ peer, shards: mine }) => {
        const ids = mine.map((s) => index.get(s) as number)
        for (const i of ids) allocatedCount[i] = (allocatedCount[i] ?? 0) + 1
        const send = await this.components.sendBatch(
          peer.peerId,
          ids.map((i) => (placeable[i] as { target: Uint8Array }).target),
          ids.map((i) => frames[i] as Uint8Array),
          this.options.batch,
          signal,
        )
        send.confirmedKeys.forEach((ok, j) => {
          if (ok) {
            const i = ids[j] as number
            confirmedCount[i] = (confirmedCount[i] ?? 0) + 1
          }
        })
        if (send.error != null) {
          this.components.log?.('batch to %p: %s', peer.peerId, send.error.message)
          const message = send.error.message.slice(0, 200)
          if (message in base.sendErrors || Object.keys(base.sendErrors).length < 5) {
            base.sendErrors[message] = (base.sendErrors[message] ?? 0) + send.failures
          }
        }
        return send
      },
    )
    signal.throwIfAborted()
    base.reachablePeers = sends.filter((s) => s.confirmed > 0).length
    for (let i = 0; i < placeable.length; i++) {
      base.confirmedPlacements += confirmedCount[i] ?? 0
      base.failedPlacements += (allocatedCount[i] ?? 0) - (confirmedCount[i] ?? 0)
      const shard = placeable[i] as SweepShard
      base.placements.push({
        hash: shard.hash,
        hex: shard.hex,
        confirmed: confirmedCount[i] ?? 0,
        allocated: allocatedCount[i] ?? 0,
      })
    }
    const retry = allocation.size === 0 || base.reachablePeers < this.options.minReachable * allocation.size
    const published = base.placements.filter((p) => p.confirmed > 0).map((p) => p.hash)
    if (published.length > 0) await this.components.shards.markPublishedMany(published, { now: this.now() })
    return this.report({ ...base, retry, durationMs: performance.now() - start })
  }

  private report(result: RegionPassResult): RegionPassResult {
    try {
      this.init.onRegion?.(result)
    } catch (err) {
      this.components.log?.error('sweep region observer threw - %e', err)
    }
    return result
  }
}
