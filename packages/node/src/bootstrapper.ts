/**
 * Background bootstrap of the daemon: dials the configured peers after start; when that
 * fails and the routing table is still empty, retries with exponential backoff (1 s
 * doubling to 1 min) until a peer is known. A failed bootstrap never fails the start.
 * {@link Bootstrapper.firstAttempt} tells how the first attempt ended, for callers that
 * want to wait for it (`createNsnNode` does).
 *
 * Right after the first successful attempt the routing table is refreshed once (one
 * lookup per bucket, as go-libp2p-kad-dht does after its bootstrap): the bootstrap's
 * self-lookup fills only the buckets near this node's id, and the refresh schedule's
 * first run is minutes away, so without it the first lookups of far keys walk from a
 * thin table. The refresh runs in the background: it delays no start and no
 * `firstAttempt`; its failure is logged.
 *
 * @packageDocumentation
 */

import { type BootstrapResult, NotStartedError, type RefreshResult } from '@nsn/core'
import { BOOTSTRAP_RETRY_MAX, BOOTSTRAP_RETRY_MIN } from './constants.js'
import type { Logger } from './logger.js'

/**
 * How the first bootstrap attempt after a start ended:
 * - `bootstrapped`: it succeeded (`result` says how many peers were dialled and the
 *   routing-table size);
 * - `failed`: it failed (`error`); while the routing table is empty the bootstrapper
 *   keeps retrying in the background;
 * - `none`: no bootstrap peers are configured, there was nothing to attempt.
 */
export type BootstrapOutcome =
  | { status: 'bootstrapped'; result: BootstrapResult }
  | { status: 'failed'; error: Error; routingTableSize: number }
  | { status: 'none' }

/** What the bootstrapper drives. */
export interface BootstrapTarget {
  bootstrap(addrs: string[], options: { signal: AbortSignal }): Promise<BootstrapResult>
  routingTableSize(): number
  /** Refreshes the routing table; run once right after the first successful attempt. */
  refresh?(options: { signal: AbortSignal }): Promise<RefreshResult>
}

export interface BootstrapperOptions {
  addrs: string[]
  log: Logger
  /** Called once an attempt ended with peers in the routing table. */
  onSettled?: () => void
  retryMin?: number
  retryMax?: number
}

export class Bootstrapper {
  private readonly target: BootstrapTarget
  private readonly options: BootstrapperOptions
  private readonly controller = new AbortController()
  private timer?: ReturnType<typeof setTimeout>
  private attempt = 0
  private running?: Promise<void>
  private stopped = false
  private refreshed = false
  private refreshing?: Promise<void>
  private readonly first: { promise: Promise<BootstrapOutcome>; resolve: (outcome: BootstrapOutcome) => void }

  constructor(target: BootstrapTarget, options: BootstrapperOptions) {
    this.target = target
    this.options = options
    let resolve: (outcome: BootstrapOutcome) => void = () => undefined
    const promise = new Promise<BootstrapOutcome>((r) => {
      resolve = r
    })
    this.first = { promise, resolve }
  }

  /**
   * Resolves, never rejects, once the first attempt has ended (see
   * {@link BootstrapOutcome}); at once with `none` when there are no bootstrap peers.
   * An attempt cut short by {@link Bootstrapper.stop} ends as `failed`.
   */
  get firstAttempt(): Promise<BootstrapOutcome> {
    return this.first.promise
  }

  /** Runs the first attempt in the background. */
  start(): void {
    if (this.options.addrs.length === 0) {
      this.first.resolve({ status: 'none' })
      return
    }
    if (this.stopped) return
    this.run()
  }

  /** Cancels the retry timer and aborts a running attempt. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.controller.abort()
    await this.running
    await this.refreshing
    this.first.resolve({
      status: 'failed',
      error: new NotStartedError('bootstrap'),
      routingTableSize: this.target.routingTableSize(),
    })
  }

  private run(): void {
    this.attempt++
    const { addrs, log } = this.options
    this.running = this.target.bootstrap(addrs, { signal: this.controller.signal }).then(
      (result) => {
        log.info('bootstrapped', { ...result, durationMs: Math.round(result.durationMs) })
        this.first.resolve({ status: 'bootstrapped', result })
        this.refreshOnce()
        this.settle()
      },
      (err: unknown) => {
        const size = this.target.routingTableSize()
        this.first.resolve({
          status: 'failed',
          error: err instanceof Error ? err : new Error(String(err)),
          routingTableSize: size,
        })
        if (this.stopped) return
        if (size > 0) {
          log.warn('bootstrap failed, but the routing table has peers', { err, routingTableSize: size })
          this.settle()
          return
        }
        const min = this.options.retryMin ?? BOOTSTRAP_RETRY_MIN
        const max = this.options.retryMax ?? BOOTSTRAP_RETRY_MAX
        const delay = Math.min(max, min * 2 ** (this.attempt - 1))
        log.warn('bootstrap failed; retrying while the routing table is empty', {
          err,
          attempt: this.attempt,
          retryInMs: delay,
        })
        this.timer = setTimeout(() => {
          this.timer = undefined
          if (this.stopped) return
          if (this.target.routingTableSize() > 0) this.settle()
          else this.run()
        }, delay)
        this.timer.unref?.()
      },
    )
  }

  /** The refresh after the first successful attempt: once per bootstrapper, in the background. */
  private refreshOnce(): void {
    const refresh = this.target.refresh
    if (this.refreshed || this.stopped || refresh == null) return
    this.refreshed = true
    const { log } = this.options
    this.refreshing = refresh.call(this.target, { signal: this.controller.signal }).then(
      (result) =>
        log.info('routing table refreshed after bootstrap', {
          sizeBefore: result.sizeBefore,
          sizeAfter: result.sizeAfter,
          lookups: result.lookups,
          failedLookups: result.failedLookups,
          durationMs: Math.round(result.durationMs),
        }),
      (err: unknown) => {
        if (!this.stopped) log.warn('routing table refresh after bootstrap failed', { err })
      },
    )
  }

  private settle(): void {
    if (!this.stopped) this.options.onSettled?.()
  }
}
