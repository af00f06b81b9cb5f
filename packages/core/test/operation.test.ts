import { describe, expect, it } from 'vitest'
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
  it('runs under the query deadline by default, and under its own `timeout` when given (a refresh)', async () => {
    // the default: the query deadline (20 ms) cuts the operation
    await expect(
      runOperation(context(20), 'refresh', {}, async (signal) => {
        await untilAborted(signal)
        signal.throwIfAborted()
      }),
    ).rejects.toBeInstanceOf(QueryTimeoutError)
    // its own deadline: the query deadline has long passed when it ends
    const started = performance.now()
    const result = await runOperation(context(20), 'refresh', { timeout: 10_000 }, async (signal) => {
      await Promise.race([untilAborted(signal), new Promise((resolve) => setTimeout(resolve, 80))])
      return signal.aborted ? 'cut' : 'done'
    })
    expect(result).toBe('done')
    expect(performance.now() - started).toBeGreaterThanOrEqual(60)
  })
})
