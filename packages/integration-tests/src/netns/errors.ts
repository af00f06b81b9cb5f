/**
 * Typed errors of the network-namespace topology: each has a stable `name` and `code`,
 * and a message that says what to do about it.
 *
 * @packageDocumentation
 */

/** Stable codes of the netns errors. */
export type NetnsErrorCode = 'ERR_NETNS_UNAVAILABLE' | 'ERR_NETNS_COMMAND' | 'ERR_NETNS_UNREACHABLE'

/** Base class of the netns errors. */
export abstract class NetnsError extends Error {
  abstract readonly code: NetnsErrorCode
}

/**
 * Network namespaces cannot be made here: `ip` (iproute2) is missing, `ip netns` fails,
 * or the process is not root. The eclipse scenario needs them; it fails with this error
 * rather than skipping.
 */
export class NetnsUnavailableError extends NetnsError {
  override readonly name = 'NetnsUnavailableError'
  readonly code = 'ERR_NETNS_UNAVAILABLE'

  constructor(reason: string, options?: ErrorOptions) {
    super(
      `network namespaces are not available: ${reason}. The netns scenarios need root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's \`ip netns\`; they never skip`,
      options,
    )
  }
}

/** An `ip` command failed; the message has the command line and its stderr. */
export class NetnsCommandError extends NetnsError {
  override readonly name = 'NetnsCommandError'
  readonly code = 'ERR_NETNS_COMMAND'
  readonly args: readonly string[]
  readonly stderr: string

  constructor(args: readonly string[], stderr: string, options?: ErrorOptions) {
    super(`\`ip ${args.join(' ')}\` failed: ${stderr.trim() || 'no stderr'}`, options)
    this.args = args
    this.stderr = stderr
  }
}

/** The topology was built but a host cannot be reached from the root namespace over TCP. */
export class NetnsUnreachableError extends NetnsError {
  override readonly name = 'NetnsUnreachableError'
  readonly code = 'ERR_NETNS_UNREACHABLE'
  readonly host: string

  constructor(host: string, detail: string, options?: ErrorOptions) {
    super(`netns host ${host} is not reachable over TCP from the root namespace: ${detail}`, options)
    this.host = host
  }
}
