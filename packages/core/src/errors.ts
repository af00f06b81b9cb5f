/**
 * Typed errors of @nsn/core, and the error convention of every NSN package. Each error
 * has a stable `name` and `code`; callers (the HTTP API, the CLI) map them by `code`,
 * never by message or class name.
 *
 * The convention is carried by a brand, {@link NSN_ERROR} (`Symbol.for('@nsn/error')`),
 * not by a class: {@link NsnError} sets it, and so does `@nsn/shard-registry`'s base
 * error, which must not depend on core. {@link isNsnError} recognises any branded error,
 * whichever package (or copy of a package) threw it; an error that merely has a `code`
 * property is not an NSN error.
 *
 * @packageDocumentation
 */

/**
 * The brand of every NSN error: a property keyed by this registered symbol whose value is
 * `true`. `Symbol.for` gives the same symbol in every package and every copy of a
 * package, so the brand needs no shared dependency.
 */
export const NSN_ERROR: unique symbol = Symbol.for('@nsn/error')

/** Codes of @nsn/core's own errors. */
export type CoreErrorCode =
  | 'ERR_INVALID_SHARD_KEY'
  | 'ERR_INVALID_OPTION'
  | 'ERR_QUERY_TIMEOUT'
  | 'ERR_QUERY_ABORTED'
  | 'ERR_NO_KNOWN_PEERS'
  | 'ERR_NO_PEER_ANSWERED'
  | 'ERR_PEER_NOT_FOUND'
  | 'ERR_NOT_STARTED'
  | 'ERR_UNSUPPORTED_KAD_DHT'
  | 'ERR_SHARD_EVICTED'
  | 'ERR_INBOUND_REJECTED'
  | 'ERR_ANSWER_REJECTED'
  | 'ERR_OVERLOADED'

/**
 * The stable code of an NSN error. Open: core's codes are listed for completion, and
 * every package adds its own (`ShardRegistryErrorCode`, `MetricsErrorCode`,
 * `NsnNodeErrorCode`).
 */
export type NsnErrorCode = CoreErrorCode | (string & {})

/** An NSN error as a plain object, for structured logs and JSON answers. */
export interface NsnErrorObject<Code extends string = NsnErrorCode> {
  name: string
  code: Code
  message: string
}

/** What every NSN error has, whichever package defined it (see {@link isNsnError}). */
export interface NsnErrorLike<Code extends string = NsnErrorCode> extends Error {
  readonly [NSN_ERROR]: true
  readonly code: Code
  toObject(): NsnErrorObject<Code>
}

/**
 * Base class of every NSN error of core, `@nsn/metrics` and `@nsn/node`: an explicit
 * `name`, a stable `code`, the data as fields, `toObject()`, and the {@link NSN_ERROR} brand.
 */
export abstract class NsnError<Code extends string = NsnErrorCode>
  extends Error
  implements NsnErrorLike<Code>
{
  abstract readonly code: Code

  /** The brand {@link isNsnError} looks for. */
  get [NSN_ERROR](): true {
    return true
  }

  /** A plain object for structured logs and JSON answers. */
  toObject(): NsnErrorObject<Code> {
    return { name: this.name, code: this.code, message: this.message }
  }
}

/**
 * True when `err` is an NSN error (it carries the {@link NSN_ERROR} brand and a string
 * `code`), of any NSN package, with the given code when one is given.
 */
export function isNsnError<Code extends string = NsnErrorCode>(
  err: unknown,
  code?: Code,
): err is NsnErrorLike<Code> {
  if (typeof err !== 'object' || err === null) return false
  const branded = err as { [NSN_ERROR]?: unknown; code?: unknown }
  return (
    branded[NSN_ERROR] === true && typeof branded.code === 'string' && (code == null || branded.code === code)
  )
}

/** A shard hash, key or CID that is malformed. Names the input and the rule it broke. */
export class InvalidShardKeyError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_INVALID_SHARD_KEY'
  override readonly name = 'InvalidShardKeyError'
  readonly code = InvalidShardKeyError.code
  /** The input as given (strings cut to 100 characters, bytes as their length). */
  readonly input: string
  /** The rule the input broke. */
  readonly rule: string

  constructor(input: string, rule: string) {
    super(`invalid shard key ${JSON.stringify(input)}: ${rule}`)
    this.input = input
    this.rule = rule
  }
}

/** An option that is out of range or of the wrong type. */
export class InvalidOptionError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_INVALID_OPTION'
  override readonly name = 'InvalidOptionError'
  readonly code = InvalidOptionError.code
  readonly option: string

  constructor(option: string, rule: string) {
    super(`invalid option ${option}: ${rule}`)
    this.option = option
  }
}

/** A DHT query ran into its deadline; its network requests were aborted. */
export class QueryTimeoutError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_QUERY_TIMEOUT'
  override readonly name = 'QueryTimeoutError'
  readonly code = QueryTimeoutError.code
  /** The deadline in ms that was exceeded. */
  readonly timeoutMs: number

  constructor(timeoutMs: number) {
    super('DHT query timeout')
    this.timeoutMs = timeoutMs
  }
}

/** The caller's signal aborted the query before its deadline. */
export class QueryAbortedError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_QUERY_ABORTED'
  override readonly name = 'QueryAbortedError'
  readonly code = QueryAbortedError.code

  constructor(message = 'DHT query aborted') {
    super(message)
  }
}

/** The routing table is empty: there is nobody to ask. */
export class NoKnownPeersError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_NO_KNOWN_PEERS'
  override readonly name = 'NoKnownPeersError'
  readonly code = NoKnownPeersError.code

  constructor(message = 'no known peers: the routing table is empty') {
    super(message)
  }
}

/**
 * Every peer the query contacted failed before the deadline; for a provide, also: no
 * peer confirmed the store (`contacted` is then the number of peers the record was sent to).
 */
export class NoPeerAnsweredError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_NO_PEER_ANSWERED'
  override readonly name = 'NoPeerAnsweredError'
  readonly code = NoPeerAnsweredError.code
  /** How many peers were contacted. */
  readonly contacted: number

  constructor(contacted: number, message = `no peer answered (${contacted} contacted)`) {
    super(message)
    this.contacted = contacted
  }
}

/**
 * This node has more DHT requests waiting for one peer than it queues
 * (`streamSlots.queuePerPeer`): a local overload, not a failure of the peer. An
 * operation whose every request met it fails with it (HTTP 429, retry later).
 */
export class OverloadedError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_OVERLOADED'
  override readonly name = 'OverloadedError'
  readonly code = OverloadedError.code
  constructor(
    message = 'overloaded: too many DHT requests are waiting, retry later',
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

/** A peer lookup completed without finding the peer. */
export class PeerNotFoundError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_PEER_NOT_FOUND'
  override readonly name = 'PeerNotFoundError'
  readonly code = PeerNotFoundError.code

  constructor(peerId: string) {
    super(`peer ${peerId} not found`)
  }
}

/** An operation was called before start or after stop. */
export class NotStartedError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_NOT_STARTED'
  override readonly name = 'NotStartedError'
  readonly code = NotStartedError.code

  constructor(what = 'shard routing') {
    super(`${what} is not started`)
  }
}

/** The installed @libp2p/kad-dht lacks an internal that NSN hooks into. */
export class UnsupportedKadDhtError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_UNSUPPORTED_KAD_DHT'
  override readonly name = 'UnsupportedKadDhtError'
  readonly code = UnsupportedKadDhtError.code

  constructor(missing: string) {
    super(`unsupported @libp2p/kad-dht: ${missing} is missing (NSN is tested with 16.4.x)`)
  }
}

/** A shard was evicted from the registry by concurrent provides before its own provide finished. */
export class ShardEvictedError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_SHARD_EVICTED'
  override readonly name = 'ShardEvictedError'
  readonly code = ShardEvictedError.code

  constructor(shard: string) {
    super(`shard ${shard} was evicted by concurrent provides before it was published (registry at capacity)`)
  }
}

/**
 * An inbound DHT message the inbound guard refused (the reason its stream was reset);
 * `reason` is one of {@link InboundRejectReason}.
 */
export class InboundRejectedError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_INBOUND_REJECTED'
  override readonly name = 'InboundRejectedError'
  readonly code = InboundRejectedError.code

  constructor(
    readonly reason: string,
    detail?: string,
  ) {
    super(`inbound DHT message rejected: ${reason}${detail == null ? '' : ` (${detail})`}`)
  }
}

/**
 * An answer of another peer that the answer guard refused: too large or malformed. The
 * one request fails (its stream reset) and the query moves on to other peers; `reason`
 * is one of {@link AnswerRejectReason}.
 */
export class AnswerRejectedError extends NsnError<CoreErrorCode> {
  static readonly code = 'ERR_ANSWER_REJECTED'
  override readonly name = 'AnswerRejectedError'
  readonly code = AnswerRejectedError.code

  constructor(
    readonly reason: string,
    detail?: string,
  ) {
    super(`DHT answer rejected: ${reason}${detail == null ? '' : ` (${detail})`}`)
  }
}

/** The installed gossipsub lacks a member NSN's shard announcements use (`score.params.topics`). */
export class UnsupportedGossipsubError extends NsnError<'ERR_UNSUPPORTED_GOSSIPSUB'> {
  static readonly code = 'ERR_UNSUPPORTED_GOSSIPSUB'
  override readonly name = 'UnsupportedGossipsubError'
  readonly code = UnsupportedGossipsubError.code

  constructor(missing: string) {
    super(`unsupported @libp2p/gossipsub: ${missing} is missing (NSN is tested with 17.1.x)`)
  }
}
