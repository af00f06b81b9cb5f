/**
 * The CLI's exit codes: documented and stable.
 *
 * @packageDocumentation
 */

import { isNsnError } from '@nsn/core'
import { EXIT_FAILURE, EXIT_UNREACHABLE, EXIT_USAGE } from './exit-code-values.js'

export {
  EXIT_CODES,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_UNREACHABLE,
  EXIT_UNSUPPORTED_RUNTIME,
  EXIT_USAGE,
} from './exit-code-values.js'

/** The exit code for an error a command threw. */
export function exitCodeOf(err: unknown): number {
  if (!isNsnError(err)) return EXIT_FAILURE
  switch (err.code) {
    case 'ERR_DAEMON_UNREACHABLE':
    case 'ERR_API_TIMEOUT':
      return EXIT_UNREACHABLE
    case 'ERR_USAGE':
    case 'ERR_INVALID_CONFIG':
    case 'ERR_INVALID_SHARD_KEY':
    case 'ERR_INVALID_SHARD_HASH':
    case 'ERR_INVALID_OPTION':
    case 'ERR_API_TOKEN':
    case 'ERR_API_TOKEN_REQUIRED':
      return EXIT_USAGE
    case 'ERR_API_RESPONSE':
      return (err as { status?: number }).status === 400 ? EXIT_USAGE : EXIT_FAILURE
    default:
      return EXIT_FAILURE
  }
}
