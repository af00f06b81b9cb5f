/**
 * The operation wrapper of the routing facade: every operation runs under the query
 * deadline combined with the caller's signal and the facade's shutdown, reports its
 * start and end (type, result, duration) to the observer, and turns an abort into the
 * typed timeout or abort error. {@link AnswerTally} tells "nobody answered" from "not
 * found".
 *
 * @packageDocumentation
 */

import type { AbortOptions, Logger } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import { type Deadline, startDeadline } from './deadline.js'
import { NoKnownPeersError, NoPeerAnsweredError, OverloadedError, QueryTimeoutError } from './errors.js'
import type { DhtObserver, QueryResult, QueryType } from './observer.js'

/** Calls one observer method; an observer that throws is logged, never propagated. */
export type Notify = <K extends keyof DhtObserver>(
  method: K,
  arg: Parameters<NonNullable<DhtObserver[K]>>[0],
) => void

/** A {@link Notify} for `observer`. */
export function observerNotifier(observer: DhtObserver, log?: Logger): Notify {
  return (method, arg) => {
    const fn = observer[method] as ((a: typeof arg) => void) | undefined
    if (fn == null) return
    try {
      fn.call(observer, arg)
    } catch (err) {
      log?.error('observer %s threw - %e', method, err)
    }
  }
}

/** What an operation runner needs from the facade. */
export interface OperationContext {
  /** The deadline of every operation, in ms. */
  readonly queryTimeout: number
  routingTableSize(): number
  /** Aborts every running operation when the facade stops. */
  readonly shutdown: AbortSignal
  notify: Notify
}

/** Options of {@link runOperation}. */
export interface RunOperationOptions extends AbortOptions {
  /**
   * Fail at once with {@link NoKnownPeersError} on an empty routing table. Default true;
   * false for operations that have work to do without peers (a bootstrap dials, a
   * provide writes this node's own record) and fail in their own way.
   */
  needsPeers?: boolean
  /** The operation's deadline in ms. Default: the query deadline. */
  timeout?: number
}

/**
 * Runs `fn` as one operation of `type` under the deadline, counted by the observer;
 * with an empty routing table it fails at once with {@link NoKnownPeersError} (unless
 * `needsPeers` is false).
 */
export async function runOperation<T>(
  context: OperationContext,
  type: QueryType,
  options: RunOperationOptions,
  fn: (signal: AbortSignal, deadline: Deadline) => Promise<T>,
): Promise<T> {
  const operation = beginOperation(context, type, options)
  try {
    return await fn(operation.deadline.signal, operation.deadline)
  } catch (err) {
    throw operation.fail(err)
  } finally {
    operation.end()
  }
}

/**
 * The part {@link runOperation} and {@link runOperationStream} share: the empty-table
 * check, the deadline, and the observer's `queryStarted`/`queryEnded` with the result.
 */
function beginOperation(
  context: OperationContext,
  type: QueryType,
  options: RunOperationOptions,
): { deadline: Deadline; fail(err: unknown): Error; end(): void } {
  if (options.needsPeers !== false && context.routingTableSize() === 0) {
    const err = new NoKnownPeersError()
    context.notify('queryEnded', { type, result: 'error', durationMs: 0, error: err })
    throw err
  }
  const deadline = startDeadline(options.timeout ?? context.queryTimeout, options.signal, context.shutdown)
  const start = performance.now()
  context.notify('queryStarted', { type })
  let result: QueryResult = 'ok'
  let error: Error | undefined
  return {
    deadline,
    fail(err) {
      error = deadline.translate(err) as Error
      result = error instanceof QueryTimeoutError ? 'timeout' : 'error'
      return error
    },
    end() {
      deadline.clear()
      context.notify('queryEnded', { type, result, durationMs: performance.now() - start, error })
    },
  }
}

/**
 * True for a request this node refused itself, before the peer had a say: its stream
 * queue to the peer was full (`OverloadedError`), or libp2p refused to open one more
 * stream on the connection (`TooManyOutboundProtocolStreamsError`).
 */
export function isLocalRefusal(err: unknown): boolean {
  return (
    err instanceof OverloadedError ||
    (err instanceof Error && err.name === 'TooManyOutboundProtocolStreamsError')
  )
}

/**
 * Counts answers and failures of one query, to tell "nobody answered" from "not found",
 * and both from "this node was too busy to ask".
 */
export class AnswerTally {
  answered = 0
  failed = 0
  contacted = 0
  /** Failures that were this node's own refusals (see {@link isLocalRefusal}). */
  refusedLocally = 0
  private overload?: Error

  add(event: QueryEvent): void {
    if (event.name === 'SEND_QUERY') this.contacted++
    else if (event.name === 'PEER_RESPONSE') this.answered++
    else if (event.name === 'QUERY_ERROR') {
      this.failed++
      if (isLocalRefusal(event.error)) {
        this.refusedLocally++
        this.overload ??= event.error
      }
    }
  }

  /**
   * @throws {OverloadedError} when no peer answered and every failure was a local refusal
   * @throws {NoPeerAnsweredError} when peers were asked and none answered
   */
  assertAnswered(): void {
    if (this.answered > 0 || this.failed === 0) return
    if (this.refusedLocally === this.failed) {
      throw this.overload instanceof OverloadedError
        ? this.overload
        : new OverloadedError(
            `overloaded: this node refused its own ${this.refusedLocally} DHT requests (too many streams open), retry later`,
            { cause: this.overload },
          )
    }
    throw new NoPeerAnsweredError(Math.max(this.contacted, this.failed))
  }
}

/**
 * {@link runOperation} for an operation that yields as it goes (a provider lookup
 * streamed): `fn`'s values pass through as they come, under the same deadline, counted
 * once by the observer when the stream ends. A consumer that stops early (`break`,
 * `return()`) ends the operation there, as `ok`: `fn`'s own iteration is closed, which
 * ends a kad-dht query it runs. Nothing runs before the first `next()`.
 */
export async function* runOperationStream<T, R>(
  context: OperationContext,
  type: QueryType,
  options: RunOperationOptions,
  fn: (signal: AbortSignal, deadline: Deadline) => AsyncGenerator<T, R, undefined>,
): AsyncGenerator<T, R, undefined> {
  const operation = beginOperation(context, type, options)
  try {
    return yield* fn(operation.deadline.signal, operation.deadline)
  } catch (err) {
    throw operation.fail(err)
  } finally {
    operation.end()
  }
}
