/**
 * Timing helpers of the scenarios. (The bounded wait is `@nsn/core/testing`'s `waitFor`,
 * re-exported: it re-checks on events where they exist, polls otherwise, and fails the
 * test past its limit.)
 *
 * @packageDocumentation
 */

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
