import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { QueryTimeoutError } from '../src/errors.js'
import { type OperationContext, runOperation } from '../src/operation.js'

function context(queryTimeout: number): OperationContext {
  return { queryTimeout, routingTableSize: () => 1, shutdown: new AbortController().signal, notify: () => {} }
}

/** Resolves once `signal` aborts (the operation's deadline), with how it ended. */
function untilAborted(signal: AbortSignal): Promise<'aborted'> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve('aborted')
    signal.addEventListener('abort', () => resolve('aborted'), { once: true })
  })
}

describe('runOperation deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('runs under the query deadline by default, and under its own `timeout` when given (a refresh)', async () => {
    // the default: the query deadline (20 ms) cuts the operation
    const cut = runOperation(context(20), 'refresh', {}, async (signal) => {
      await untilAborted(signal)
      signal.throwIfAborted()
    })
    const failed = expect(cut).rejects.toBeInstanceOf(QueryTimeoutError)
    await vi.advanceTimersByTimeAsync(20)
    await failed
    // its own deadline: 80 ms on, four query deadlines later, it still runs
    const result = runOperation(context(20), 'refresh', { timeout: 10_000 }, async (signal) => {
      await Promise.race([untilAborted(signal), new Promise((resolve) => setTimeout(resolve, 80))])
      return signal.aborted ? 'cut' : 'done'
    })
    await vi.advanceTimersByTimeAsync(80)
    expect(await result).toBe('done')
  })
})
