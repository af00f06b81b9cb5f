/**
 * Typed errors of @nsn/metrics: they extend `@nsn/core`'s `NsnError` (a stable `name`
 * and `code`, the data as fields, `toObject()` for structured logs, the NSN error brand
 * that `isNsnError` recognises).
 *
 * @packageDocumentation
 */

import { NsnError } from '@nsn/core'

/** Stable codes of every @nsn/metrics error. */
export type MetricsErrorCode =
  | 'ERR_METRICS_ADDRESS_IN_USE'
  | 'ERR_METRICS_LISTEN'
  | 'ERR_METRICS_INVALID_OPTION'

/** Base class of every @nsn/metrics error. */
export abstract class MetricsError extends NsnError<MetricsErrorCode> {}

/** The metrics server could not listen because another process holds the address. */
export class MetricsAddressInUseError extends MetricsError {
  static readonly code = 'ERR_METRICS_ADDRESS_IN_USE'
  override readonly name = 'MetricsAddressInUseError'
  readonly code = MetricsAddressInUseError.code
  readonly host: string
  readonly port: number

  constructor(host: string, port: number, options?: ErrorOptions) {
    super(
      `metrics server cannot listen on ${host}:${port}: the address is already in use (choose another port, or 0 for any free one)`,
      options,
    )
    this.host = host
    this.port = port
  }
}

/** The metrics server could not listen for another reason (permission, unknown interface...). */
export class MetricsListenError extends MetricsError {
  static readonly code = 'ERR_METRICS_LISTEN'
  override readonly name = 'MetricsListenError'
  readonly code = MetricsListenError.code
  readonly host: string
  readonly port: number

  constructor(host: string, port: number, cause: Error) {
    super(`metrics server cannot listen on ${host}:${port}: ${cause.message}`, { cause })
    this.host = host
    this.port = port
  }
}

/** An option of the metrics package that is out of range or of the wrong type. */
export class InvalidMetricsOptionError extends MetricsError {
  static readonly code = 'ERR_METRICS_INVALID_OPTION'
  override readonly name = 'InvalidMetricsOptionError'
  readonly code = InvalidMetricsOptionError.code
  readonly option: string

  constructor(option: string, rule: string) {
    super(`invalid option ${option}: ${rule}`)
    this.option = option
  }
}
