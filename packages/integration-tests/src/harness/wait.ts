/**
 * Bounded waits: they resolve when the condition holds and fail the test past their
 * limit. Never a sleep that passes whatever happens.
 *
 * @packageDocumentation
 */

/** Resolves when `predicate` holds; throws past `timeoutMs`. */
export async function waitUntil(
  predicate: () => boolean | Promise<boolean>,
  {
    timeoutMs = 10_000,
    what = 'condition',
    interval = 25,
  }: { timeoutMs?: number; what?: string; interval?: number } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, interval))
  }
}

/** Runs `fn` and returns its result (or error) with how long it took. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const start = performance.now()
  try {
    const value = await fn()
    return { ms: performance.now() - start, value }
  } catch (error) {
    return { ms: performance.now() - start, error }
  }
}
