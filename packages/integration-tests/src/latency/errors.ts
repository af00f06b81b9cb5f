/**
 * Typed errors of the latency emulation: each has a stable `name` and `code`.
 *
 * @packageDocumentation
 */

/** Stable codes of the latency-emulation errors. */
export type LatencyErrorCode = 'ERR_LATENCY_OPTION' | 'ERR_LATENCY_CONNECTION'

/** Base class of the latency-emulation errors. */
export abstract class LatencyError extends Error {
  abstract readonly code: LatencyErrorCode
}

/** A latency option is not one this module understands (unknown distribution, negative RTT). */
export class InvalidLatencyOptionError extends LatencyError {
  override readonly name = 'InvalidLatencyOptionError'
  readonly code = 'ERR_LATENCY_OPTION'
  readonly option: string

  constructor(option: string, reason: string) {
    super(`invalid latency option ${option}: ${reason}`)
    this.option = option
  }
}

/**
 * The wrapped transport handed over a connection whose writes cannot be delayed (not a
 * libp2p `AbstractMultiaddrConnection`, e.g. another transport than `@libp2p/tcp`).
 */
export class UnsupportedConnectionError extends LatencyError {
  override readonly name = 'UnsupportedConnectionError'
  readonly code = 'ERR_LATENCY_CONNECTION'

  constructor(what: string) {
    super(
      `the latency transport cannot delay this connection (${what}): it wraps transports whose connections are libp2p AbstractMultiaddrConnections, such as @libp2p/tcp`,
    )
  }
}
