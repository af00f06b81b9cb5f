/**
 * Background bootstrap of the daemon: dials the configured peers after start; when that
 * fails and the routing table is still empty, retries with exponential backoff (1 s
 * doubling to 1 min) until a peer is known. A failed bootstrap never fails the start.
 *
 * @packageDocumentation
 */

import type { BootstrapResult } from '@nsn/core'
import { BOOTSTRAP_RETRY_MAX, BOOTSTRAP_RETRY_MIN } from './constants.js'
import type { Logger } from './logger.js'

/** What the bootstrapper drives. */
export interface BootstrapTarget {
  bootstrap(addrs: string[], options: { signal: AbortSignal }): Promise<BootstrapResult>
  routingTableSize(): number
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

  constructor(target: BootstrapTarget, options: BootstrapperOptions) {
    this.target = target
    this.options = options
  }

  /** Runs the first attempt in the background. */
  start(): void {
    if (this.options.addrs.length === 0 || this.stopped) return
    this.run()
  }

  /** Cancels the retry timer and aborts a running attempt. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.controller.abort()
    await this.running
  }

  private run(): void {
    this.attempt++
    const { addrs, log } = this.options
    this.running = this.target.bootstrap(addrs, { signal: this.controller.signal }).then(
      (result) => {
        log.info('bootstrapped', { ...result, durationMs: Math.round(result.durationMs) })
        this.settle()
      },
      (err: unknown) => {
        if (this.stopped) return
        const size = this.target.routingTableSize()
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

  private settle(): void {
    if (!this.stopped) this.options.onSettled?.()
  }
}
