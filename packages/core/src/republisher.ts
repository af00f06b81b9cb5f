/**
 * The Republisher: the one mechanism that republishes this node's provider records,
 * driven by the shard registry's due-list. A shard's record is republished at its
 * `republishAt` (TTL minus a margin, minus jitter: see `REPUBLISH_MARGIN`), so
 * receivers always hold a fresh copy; a failed republish is retried after
 * `retryDelay`. It wakes at the registry's next deadline (or every `checkInterval` at
 * the latest), never scans the whole set, and `stop()` cancels the timer and aborts
 * in-flight publishes. A run takes at most `dueLimit` due shards (the rest wait for the
 * next run, at once), so its memory is bounded whatever the size of the set; a run over
 * every shard (`all`) streams them from the registry.
 *
 * @packageDocumentation
 */

import { REPUBLISH_DUE_LIMIT } from './constants.js'
import type { ProvidedShardEntry, ProvidedShards } from './provided-shards.js'

/** Publishes one shard; rejects when no peer confirmed the store (it is retried). */
export type PublishFn = (entry: ProvidedShardEntry, signal: AbortSignal) => Promise<unknown>

export interface RepublisherOptions {
  checkInterval: number
  concurrency: number
  retryDelay: number
  /** True for a shard published right now by someone else (a provide call): skipped. */
  isBusy?: (entry: ProvidedShardEntry) => boolean
  /** Called after each run with its figures. */
  onRun?: (run: RepublishRun) => void
  /** Called when a run itself failed (not a single publish). */
  onError?: (err: unknown) => void
  /** Most due shards one run takes; default {@link REPUBLISH_DUE_LIMIT}. */
  dueLimit?: number
}

/** What one run did. */
export interface RepublishRun {
  republished: number
  failed: number
  expired: number
  durationMs: number
}

export class Republisher {
  private readonly registry: ProvidedShards
  private readonly publish: PublishFn
  private readonly options: RepublisherOptions
  private timer?: ReturnType<typeof setTimeout>
  private controller?: AbortController
  private running?: Promise<RepublishRun>
  private started = false
  /** Bumped by every {@link schedule} call, so only the latest one arms the timer. */
  private generation = 0
  private readonly inFlight = new Map<string, AbortController>()

  constructor(registry: ProvidedShards, publish: PublishFn, options: RepublisherOptions) {
    this.registry = registry
    this.publish = publish
    this.options = options
  }

  start(): void {
    if (this.started) return
    this.started = true
    this.controller = new AbortController()
    this.schedule()
  }

  async stop(): Promise<void> {
    this.started = false
    this.generation++
    clearTimeout(this.timer)
    this.timer = undefined
    this.controller?.abort()
    await this.running?.catch(() => undefined)
  }

  /** Aborts the in-flight republish of a shard that left the registry. */
  cancel(hex: string): void {
    this.inFlight.get(hex)?.abort()
  }

  /** Re-arms the timer, e.g. after shards were added (once the registry told its next deadline). */
  schedule(): void {
    if (!this.started) return
    const generation = ++this.generation
    this.registry.nextDeadline().then(
      (next) => {
        if (!this.started || generation !== this.generation) return
        clearTimeout(this.timer)
        const now = Date.now()
        const at = Math.min(next ?? Number.POSITIVE_INFINITY, now + this.options.checkInterval)
        this.timer = setTimeout(() => this.tick(), Math.max(0, at - now))
        this.timer.unref?.()
      },
      (err: unknown) => {
        this.options.onError?.(err)
        if (!this.started || generation !== this.generation) return
        // the registry could not be read: try again at the next check
        clearTimeout(this.timer)
        this.timer = setTimeout(() => this.tick(), this.options.checkInterval)
        this.timer.unref?.()
      },
    )
  }

  private tick(): void {
    this.timer = undefined
    this.runNow()
      .catch((err: unknown) => this.options.onError?.(err))
      .finally(() => this.schedule())
  }

  /**
   * Runs now: expires lapsed shards, then republishes every due one (or every shard
   * when `all` is set, as after a restart). Concurrent calls join the running one.
   */
  runNow(options: { all?: boolean } = {}): Promise<RepublishRun> {
    if (this.running != null) return this.running
    const signal = (this.controller ?? new AbortController()).signal
    this.running = this.run(signal, options.all === true).finally(() => {
      this.running = undefined
    })
    return this.running
  }

  private async run(signal: AbortSignal, all: boolean): Promise<RepublishRun> {
    const start = performance.now()
    const expired = (await this.registry.expire()).length
    const source: AsyncIterator<ProvidedShardEntry> | Iterator<ProvidedShardEntry> = all
      ? this.registry.entries({ signal })[Symbol.asyncIterator]()
      : (await this.registry.due(Date.now(), this.options.dueLimit ?? REPUBLISH_DUE_LIMIT)).values()
    // workers pull one entry at a time; pulls are chained, as an async iterator requires
    let pulling: Promise<unknown> = Promise.resolve()
    let taken = 0
    const pull = (): Promise<ProvidedShardEntry | undefined> => {
      const next = pulling.then(async () => {
        const result = await source.next()
        if (result.done === true) return undefined
        taken++
        return result.value
      })
      pulling = next.catch(() => undefined)
      return next
    }
    let republished = 0
    let failed = 0
    const worker = async (): Promise<void> => {
      while (!signal.aborted) {
        const entry = await pull()
        if (entry === undefined) return
        if (!(await this.registry.has(entry.hash)) || this.options.isBusy?.(entry) === true) continue
        const controller = new AbortController()
        const onRunAbort = (): void => controller.abort(signal.reason)
        signal.addEventListener('abort', onRunAbort, { once: true })
        this.inFlight.set(entry.hex, controller)
        try {
          await this.publish(entry, controller.signal)
          await this.registry.markPublished(entry.hash)
          republished++
        } catch (err) {
          if (signal.aborted) throw err
          if (controller.signal.aborted) continue // the shard left the registry meanwhile
          failed++
          await this.registry.markPublished(entry.hash, {
            now: entry.publishedAt,
            republishAt: Date.now() + this.options.retryDelay,
          })
        } finally {
          signal.removeEventListener('abort', onRunAbort)
          this.inFlight.delete(entry.hex)
        }
      }
    }
    try {
      await Promise.all(Array.from({ length: this.options.concurrency }, worker))
    } finally {
      await source.return?.()
    }
    const result = { republished, failed, expired, durationMs: performance.now() - start }
    if (taken > 0 || expired > 0) this.options.onRun?.(result)
    return result
  }
}
