/**
 * Deadlines: a signal that aborts at a time limit or when any parent signal aborts,
 * and that tells which of the two happened. Timers are cleared on `clear()`, and
 * listeners on the parents removed, so nothing outlives the operation.
 *
 * @packageDocumentation
 */

import { QueryAbortedError, QueryTimeoutError } from './errors.js'

/** A running deadline. */
export interface Deadline {
  /** Aborts at the deadline or with a parent. */
  readonly signal: AbortSignal
  /** True when the time limit, not a parent, aborted the signal. */
  readonly timedOut: boolean
  /** The limit in ms. */
  readonly timeoutMs: number
  /**
   * The error to raise for `err` thrown under this deadline: a {@link QueryTimeoutError}
   * when the deadline fired, a {@link QueryAbortedError} when a parent aborted, else `err`.
   */
  translate(err: unknown): unknown
  /** Stops the timer and detaches from the parents. Idempotent. */
  clear(): void
}

/**
 * Starts a deadline of `timeoutMs` combined with the given parent signals.
 */
export function startDeadline(timeoutMs: number, ...parents: Array<AbortSignal | undefined>): Deadline {
  const controller = new AbortController()
  let timedOut = false
  const onParentAbort = (event: Event): void => {
    const parent = event.target as AbortSignal
    controller.abort(parent.reason ?? new QueryAbortedError())
  }
  const attached: AbortSignal[] = []
  const timer = setTimeout(() => {
    timedOut = true
    controller.abort(new QueryTimeoutError(timeoutMs))
  }, timeoutMs)

  for (const parent of parents) {
    if (parent == null) continue
    if (parent.aborted) {
      controller.abort(parent.reason ?? new QueryAbortedError())
      break
    }
    parent.addEventListener('abort', onParentAbort, { once: true })
    attached.push(parent)
  }

  const clear = (): void => {
    clearTimeout(timer)
    for (const parent of attached) parent.removeEventListener('abort', onParentAbort)
    attached.length = 0
  }
  if (controller.signal.aborted) clear()

  return {
    signal: controller.signal,
    timeoutMs,
    get timedOut() {
      return timedOut
    },
    translate(err: unknown): unknown {
      if (timedOut) return err instanceof QueryTimeoutError ? err : new QueryTimeoutError(timeoutMs)
      if (controller.signal.aborted && !(err instanceof QueryTimeoutError)) {
        const reason: unknown = controller.signal.reason
        if (reason instanceof QueryTimeoutError) return reason
        return err instanceof QueryAbortedError ? err : new QueryAbortedError()
      }
      return err
    },
    clear,
  }
}
