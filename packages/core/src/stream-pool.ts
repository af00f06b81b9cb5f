/**
 * Warm DHT streams: the streams this node's requests ran on are kept open and reused
 * (go-libp2p-kad-dht's message sender keeps one stream per peer the same way), so a
 * request to a peer with an idle stream costs one round trip. A new stream costs two on
 * an open connection: libp2p 3's multistream-select waits for the listener's echo of
 * the protocol before the request can be written (its `negotiateFully: false` option is
 * documented but not implemented), measured under the latency emulation at 2.0 RTT per
 * request for NSN and plain kad-dht alike.
 *
 * - At most `perPeer` idle streams per peer and `maxIdle` in all (the least recently
 *   used closed past it): an idle stream holds one of the peer's stream slots and one of
 *   its inbound streams.
 * - An idle stream is kept alive with a kad `PING` on it after `keepAlive` ms idle,
 *   below the listener's idle timeout ({@link INBOUND_STREAM_IDLE_TIMEOUT}, go's
 *   `dhtStreamIdleTimeout`); a stream whose ping fails, or that the remote closed, is
 *   dropped.
 * - {@link DhtStreamPool.warm} opens a stream ahead of the first request (the routing
 *   table's peers: warm connections carry a warm stream).
 * - Opening a stream on an open connection takes one round trip (the echo above): the
 *   pool remembers it per peer ({@link DhtStreamPool.openTimeOf}), a peer's RTT before
 *   any request to it was answered.
 *
 * @packageDocumentation
 */

import type { AbortOptions, Logger, PeerId, Stream } from '@libp2p/interface'
import {
  STREAM_POOL_KEEP_ALIVE,
  STREAM_POOL_MAX_IDLE,
  STREAM_POOL_OPEN_TIMES,
  STREAM_POOL_PER_PEER,
} from './constants.js'
import type { FrameReader } from './inbound-guard.js'
import { positiveInteger, positiveNumber } from './option-checks.js'

/** Options of the warm stream pool (`nsnKadDHT({ streamPool })`). */
export interface StreamPoolInit {
  /** Idle streams kept per peer at most. Default {@link STREAM_POOL_PER_PEER}. */
  perPeer?: number
  /** Idle streams kept in all at most. Default {@link STREAM_POOL_MAX_IDLE}. */
  maxIdle?: number
  /** Idle time after which a stream is pinged to keep it open, in ms. Default {@link STREAM_POOL_KEEP_ALIVE}. */
  keepAlive?: number
}

export type ResolvedStreamPoolOptions = Required<StreamPoolInit>

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not positive
 */
export function resolveStreamPoolOptions(init: StreamPoolInit = {}): ResolvedStreamPoolOptions {
  return {
    perPeer: positiveInteger('streamPool.perPeer', init.perPeer ?? STREAM_POOL_PER_PEER),
    maxIdle: positiveInteger('streamPool.maxIdle', init.maxIdle ?? STREAM_POOL_MAX_IDLE),
    keepAlive: positiveNumber('streamPool.keepAlive', init.keepAlive ?? STREAM_POOL_KEEP_ALIVE, ' of ms'),
  }
}

/** A stream lent to one request. */
export interface StreamLease {
  readonly peer: PeerId
  readonly stream: Stream
  /** The stream's one reader of answers, for its whole life. */
  readonly reader: FrameReader
  /** True when the stream carried an exchange before. */
  readonly reused: boolean
}

/** What the pool uses. */
export interface StreamPoolComponents {
  /** Opens a DHT stream to `peer` (in the stream slots). */
  open(peer: PeerId, options: AbortOptions): Promise<Stream>
  /** The answer reader of a new stream. */
  reader(stream: Stream): FrameReader
  /** Sends a kad PING on a leased stream and reads its answer (the keep-alive). */
  ping(lease: StreamLease, options: AbortOptions): Promise<void>
  /** Whether this node has an open connection to `peer` (streams are warmed only over one). */
  connected(peer: PeerId): boolean
  /** The peers that should have a warm stream (the routing table's), warmed at each sweep. */
  wanted?(): Iterable<PeerId>
  log?: Logger
  /** The clock (tests). Default `Date.now`. */
  now?: () => number
}

interface Idle {
  lease: StreamLease
  since: number
}

/** `promise`, or the signal's reason once it aborts first. */
async function raceSignal(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal == null) return promise
  signal.throwIfAborted()
  let onAbort: (() => void) | undefined
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason)
        signal.addEventListener('abort', onAbort, { once: true })
      }),
    ])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}

/** Open both ways: a stream whose remote closed its writing end can carry no answer. */
function usable(stream: Stream): boolean {
  return (
    stream.status === 'open' &&
    stream.writeStatus === 'writable' &&
    stream.readStatus === 'readable' &&
    stream.remoteWriteStatus === 'writable' &&
    stream.remoteReadStatus === 'readable'
  )
}

/** The warm DHT streams of one node: see the module docs. */
export class DhtStreamPool {
  readonly options: ResolvedStreamPoolOptions
  /** Idle streams per peer; the map's order is least recently used first. */
  private readonly idle = new Map<string, Idle[]>()
  private idleCount = 0
  /** Warm streams being opened, per peer. */
  private readonly warming = new Map<string, Promise<void>>()
  private readonly watched = new WeakSet<Stream>()
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly now: () => number
  private stopped = false
  /** Streams lent out per peer (a request or a keep-alive ping runs on them). */
  private readonly leased = new Map<string, number>()
  /** The last stream-opening time per peer over an open connection, the most recent peers. */
  private readonly openTimes = new Map<string, number>()
  /** Requests served on a reused stream, and on a new one (metrics, benchmarks). */
  readonly stats = { reused: 0, opened: 0, keptAlive: 0, dropped: 0 }

  constructor(
    private readonly components: StreamPoolComponents,
    init: StreamPoolInit = {},
  ) {
    this.options = resolveStreamPoolOptions(init)
    this.now = components.now ?? Date.now
  }

  /** Idle streams kept now. */
  get size(): number {
    return this.idleCount
  }

  /**
   * How long opening the last new stream to `peer` over an open connection took, in ms
   * (one round trip), if the pool opened one recently.
   */
  openTimeOf(peer: PeerId | string): number | undefined {
    return this.openTimes.get(peer.toString())
  }

  /** Idle streams kept to `peer` now. */
  idleTo(peer: PeerId): number {
    return this.idle.get(peer.toString())?.length ?? 0
  }

  /** Starts the keep-alive sweep. */
  start(): void {
    this.stopped = false
    if (this.timer != null) return
    this.timer = setInterval(() => this.sweep(), Math.max(1, this.options.keepAlive / 4))
    this.timer.unref?.()
  }

  /** Stops the sweep and closes every idle stream. */
  stop(): void {
    this.stopped = true
    clearInterval(this.timer)
    this.timer = undefined
    for (const list of this.idle.values()) {
      for (const { lease } of list) lease.stream.abort(new Error('the DHT stream pool stopped'))
    }
    this.idle.clear()
    this.idleCount = 0
  }

  /**
   * An idle stream to `peer`, or a new one. While a warm stream to `peer` is being
   * opened, the request waits for it rather than opening a second.
   */
  async lease(peer: PeerId, options: AbortOptions): Promise<StreamLease> {
    const id = peer.toString()
    const warming = this.warming.get(id)
    if (warming != null) await raceSignal(warming, options.signal)
    return this.take(peer, options)
  }

  private async take(peer: PeerId, options: AbortOptions): Promise<StreamLease> {
    const id = peer.toString()
    const list = this.idle.get(id)
    while (list != null && list.length > 0) {
      const { lease } = list.pop() as Idle
      this.idleCount--
      if (list.length === 0) this.idle.delete(id)
      if (usable(lease.stream)) {
        this.stats.reused++
        this.lend(id)
        return { ...lease, reused: true }
      }
      this.stats.dropped++
    }
    // over an open connection, the opening is one round trip (a dial would add its own)
    const connected = this.components.connected(peer)
    const started = performance.now()
    const stream = await this.components.open(peer, options)
    if (connected) this.noteOpenTime(id, performance.now() - started)
    this.stats.opened++
    this.lend(id)
    return { peer, stream, reader: this.components.reader(stream), reused: false }
  }

  /** Gives a stream back after a complete exchange: kept idle, or closed past the bounds. */
  release(lease: StreamLease): void {
    this.giveBack(lease)
    if (this.stopped || !usable(lease.stream)) {
      this.close(lease)
      return
    }
    const id = lease.peer.toString()
    let list = this.idle.get(id)
    if (list == null) {
      list = []
    } else {
      // most recently used last
      this.idle.delete(id)
    }
    this.idle.set(id, list)
    if (list.length >= this.options.perPeer) {
      this.close(lease)
      return
    }
    list.push({ lease, since: this.now() })
    this.idleCount++
    if (!this.watched.has(lease.stream)) {
      // once per stream: it leaves the pool when it closes or the remote ends its side
      this.watched.add(lease.stream)
      lease.stream.addEventListener('close', () => this.forget(lease), { once: true })
      lease.stream.addEventListener('remoteCloseWrite', () => this.forget(lease), { once: true })
    }
    while (this.idleCount > this.options.maxIdle) this.evictOldest()
  }

  /**
   * Runs one exchange on a leased stream: `fn` writes and reads on it, the stream goes
   * back to the pool after, and is dropped when `fn` fails. A reused stream that fails
   * (the remote closed it idle) is replaced by a new one once, unless `retry(err)` says
   * the failure was not the stream's or the caller gave up.
   */
  async run<T>(
    peer: PeerId,
    options: AbortOptions,
    fn: (lease: StreamLease) => Promise<T>,
    retry: (err: unknown) => boolean = () => true,
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.lease(peer, options)
      try {
        const result = await fn(lease)
        this.release(lease)
        return result
      } catch (err) {
        this.discard(lease, err as Error)
        if (!lease.reused || attempt > 0 || options.signal?.aborted === true || !retry(err)) throw err
      }
    }
  }

  /** Drops a stream that failed (aborted by the caller or the request). */
  discard(lease: StreamLease, err: Error): void {
    this.giveBack(lease)
    lease.stream.abort(err)
  }

  private lend(id: string): void {
    this.leased.set(id, (this.leased.get(id) ?? 0) + 1)
  }

  private giveBack(lease: StreamLease): void {
    const id = lease.peer.toString()
    const count = (this.leased.get(id) ?? 0) - 1
    if (count > 0) this.leased.set(id, count)
    else this.leased.delete(id)
  }

  /**
   * Opens an idle stream to `peer` ahead of its first request, unless one is idle, lent
   * out (a request or a keep-alive ping runs on it: it comes back) or being opened, or
   * there is no open connection to it.
   */
  warm(peer: PeerId): void {
    const id = peer.toString()
    if (
      this.stopped ||
      this.idle.has(id) ||
      this.leased.has(id) ||
      this.warming.has(id) ||
      !this.components.connected(peer)
    )
      return
    const opening = (async () => {
      try {
        const lease = await this.take(peer, { signal: AbortSignal.timeout(this.options.keepAlive) })
        this.release(lease)
      } catch (err) {
        this.components.log?.('could not warm a DHT stream to %p - %e', peer, err)
      } finally {
        this.warming.delete(id)
      }
    })()
    this.warming.set(id, opening)
  }

  private noteOpenTime(id: string, ms: number): void {
    this.openTimes.delete(id)
    this.openTimes.set(id, ms)
    if (this.openTimes.size > STREAM_POOL_OPEN_TIMES)
      this.openTimes.delete(this.openTimes.keys().next().value as string)
  }

  private close(lease: StreamLease): void {
    lease.stream.close().catch((err: Error) => lease.stream.abort(err))
  }

  private forget(lease: StreamLease): void {
    const id = lease.peer.toString()
    const list = this.idle.get(id)
    if (list == null) return
    const at = list.findIndex((entry) => entry.lease.stream === lease.stream)
    if (at < 0) return
    list.splice(at, 1)
    this.idleCount--
    this.stats.dropped++
    if (list.length === 0) this.idle.delete(id)
  }

  private evictOldest(): void {
    const [id, list] = this.idle.entries().next().value as [string, Idle[]]
    const oldest = list.shift() as Idle
    this.idleCount--
    if (list.length === 0) this.idle.delete(id)
    this.close(oldest.lease)
  }

  /** Pings the streams idle past `keepAlive` (each is leased while its ping runs). */
  private sweep(): void {
    for (const peer of this.components.wanted?.() ?? []) this.warm(peer)
    const due = this.now() - this.options.keepAlive
    const stale: Idle[] = []
    for (const [id, list] of this.idle) {
      const keep = list.filter((entry) => {
        if (entry.since > due) return true
        stale.push(entry)
        return false
      })
      this.idleCount -= list.length - keep.length
      if (keep.length === 0) this.idle.delete(id)
      else this.idle.set(id, keep)
    }
    for (const { lease } of stale) {
      this.lend(lease.peer.toString())
      void this.components.ping(lease, { signal: AbortSignal.timeout(this.options.keepAlive) }).then(
        () => {
          this.stats.keptAlive++
          this.release(lease)
        },
        (err: Error) => {
          this.stats.dropped++
          this.discard(lease, err)
        },
      )
    }
  }
}
