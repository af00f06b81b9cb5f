/**
 * The CLI's exit codes: documented and stable.
 *
 * @packageDocumentation
 */

import { isNsnError } from '@nsn/core'

/** Success. */
export const EXIT_OK = 0
/** The operation failed (timeout, no peers, daemon error, start failure...). */
export const EXIT_FAILURE = 1
/** Usage error or bad input (unknown flag, malformed hash, invalid config). */
export const EXIT_USAGE = 2
/** The daemon's API could not be reached. */
export const EXIT_UNREACHABLE = 3

/** Exit codes with their meaning, for help and docs. */
export const EXIT_CODES: ReadonlyArray<readonly [number, string]> = [
  [EXIT_OK, 'ok'],
  [EXIT_FAILURE, 'operation failed (timeout, no peers, daemon error)'],
  [EXIT_USAGE, 'usage error or bad input'],
  [EXIT_UNREACHABLE, 'daemon unreachable'],
]

/** The exit code for an error a command threw. */
export function exitCodeOf(err: unknown): number {
  if (!isNsnError(err)) return EXIT_FAILURE
  switch (err.code) {
    case 'ERR_DAEMON_UNREACHABLE':
      return EXIT_UNREACHABLE
    case 'ERR_USAGE':
    case 'ERR_INVALID_CONFIG':
    case 'ERR_INVALID_SHARD_KEY':
    case 'ERR_INVALID_SHARD_HASH':
    case 'ERR_INVALID_OPTION':
      return EXIT_USAGE
    case 'ERR_API_RESPONSE':
      return (err as { status?: number }).status === 400 ? EXIT_USAGE : EXIT_FAILURE
    default:
      return EXIT_FAILURE
  }
}
