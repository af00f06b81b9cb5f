/**
 * The CLI's exit codes as plain values, with no import: the bin reads them before it
 * knows that the running Node.js can load the rest of the CLI (see `runtime.ts`).
 *
 * @packageDocumentation
 */

/** Success. */
export const EXIT_OK = 0
/** The operation failed (timeout, no peers, daemon error, start failure...). */
export const EXIT_FAILURE = 1
/** Usage error or bad input (unknown flag, malformed hash, invalid config). */
export const EXIT_USAGE = 2
/** The daemon's API could not be reached, or did not answer within `--timeout`. */
export const EXIT_UNREACHABLE = 3
/** The running Node.js is older than the CLI needs; nothing else was loaded. */
export const EXIT_UNSUPPORTED_RUNTIME = 4

/** Exit codes with their meaning, for help and docs. */
export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [EXIT_OK, 'ok'],
  [EXIT_FAILURE, 'operation failed (timeout, no peers, daemon error)'],
  [EXIT_USAGE, 'usage error or bad input'],
  [EXIT_UNREACHABLE, 'daemon unreachable, or no answer within --timeout'],
  [EXIT_UNSUPPORTED_RUNTIME, 'unsupported Node.js version'],
]
