/**
 * The CLI's exit codes: documented and stable.
 *
 * @packageDocumentation
 */

import { isNsnError } from '@nsn/core'
import { isNodeError } from '../errors.js'

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
  if (isNodeError(err, 'ERR_DAEMON_UNREACHABLE')) return EXIT_UNREACHABLE
  if (isNodeError(err, 'ERR_USAGE') || isNodeError(err, 'ERR_INVALID_CONFIG')) return EXIT_USAGE
  if (isNsnError(err, 'ERR_INVALID_SHARD_KEY') || isNsnError(err, 'ERR_INVALID_OPTION')) return EXIT_USAGE
  if (isNodeError(err, 'ERR_API_RESPONSE') && (err as { status?: number }).status === 400) return EXIT_USAGE
  return EXIT_FAILURE
}
