/**
 * Typed errors of @nsn/core. Each has a stable `name` and `code`; callers (the HTTP
 * API, the CLI) map them by `code`, never by message.
 *
 * @packageDocumentation
 */

/** Stable codes of every NSN error. */
export type NsnErrorCode =
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

/** Base class of every NSN error. */
export abstract class NsnError extends Error {
  abstract readonly code: NsnErrorCode

  /** A plain object for structured logs and JSON answers. */
  toObject(): { name: string; code: NsnErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message }
  }
}

/** A shard hash, key or CID that is malformed. Names the input and the rule it broke. */
export class InvalidShardKeyError extends NsnError {
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
export class InvalidOptionError extends NsnError {
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
export class QueryTimeoutError extends NsnError {
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
export class QueryAbortedError extends NsnError {
  static readonly code = 'ERR_QUERY_ABORTED'
  override readonly name = 'QueryAbortedError'
  readonly code = QueryAbortedError.code

  constructor(message = 'DHT query aborted') {
    super(message)
  }
}

/** The routing table is empty: there is nobody to ask. */
export class NoKnownPeersError extends NsnError {
  static readonly code = 'ERR_NO_KNOWN_PEERS'
  override readonly name = 'NoKnownPeersError'
  readonly code = NoKnownPeersError.code

  constructor(message = 'no known peers: the routing table is empty') {
    super(message)
  }
}

/** Every peer the query contacted failed before the deadline. */
export class NoPeerAnsweredError extends NsnError {
  static readonly code = 'ERR_NO_PEER_ANSWERED'
  override readonly name = 'NoPeerAnsweredError'
  readonly code = NoPeerAnsweredError.code
  /** How many peers were contacted. */
  readonly contacted: number

  constructor(contacted: number) {
    super(`no peer answered (${contacted} contacted)`)
    this.contacted = contacted
  }
}

/** A peer lookup completed without finding the peer. */
export class PeerNotFoundError extends NsnError {
  static readonly code = 'ERR_PEER_NOT_FOUND'
  override readonly name = 'PeerNotFoundError'
  readonly code = PeerNotFoundError.code

  constructor(peerId: string) {
    super(`peer ${peerId} not found`)
  }
}

/** An operation was called before start or after stop. */
export class NotStartedError extends NsnError {
  static readonly code = 'ERR_NOT_STARTED'
  override readonly name = 'NotStartedError'
  readonly code = NotStartedError.code

  constructor(what = 'shard routing') {
    super(`${what} is not started`)
  }
}

/** The installed @libp2p/kad-dht lacks an internal that NSN hooks into. */
export class UnsupportedKadDhtError extends NsnError {
  static readonly code = 'ERR_UNSUPPORTED_KAD_DHT'
  override readonly name = 'UnsupportedKadDhtError'
  readonly code = UnsupportedKadDhtError.code

  constructor(missing: string) {
    super(`unsupported @libp2p/kad-dht: ${missing} is missing (NSN is tested with 16.4.x)`)
  }
}

/** True when `err` is an NSN error with the given code. */
export function isNsnError(err: unknown, code?: NsnErrorCode): err is NsnError {
  return err instanceof NsnError && (code == null || err.code === code)
}

/** A shard was evicted from the registry by concurrent provides before its own provide finished. */
export class ShardEvictedError extends NsnError {
  static readonly code = 'ERR_SHARD_EVICTED'
  override readonly name = 'ShardEvictedError'
  readonly code = ShardEvictedError.code

  constructor(shard: string) {
    super(`shard ${shard} was evicted by concurrent provides before it was published (registry at capacity)`)
  }
}
