/**
 * Typed errors of the shard registry. Each has a stable `name` and `code`; callers map
 * them by `code`, never by message or class name.
 *
 * They follow the error convention of every NSN package without depending on
 * `@nsn/core` (this package knows nothing of libp2p): they carry the same brand, a
 * property keyed by `Symbol.for('@nsn/error')` whose value is `true`, so core's
 * `isNsnError(err, code)` recognises them, and the same `toObject()`.
 *
 * @packageDocumentation
 */

/**
 * The brand of every NSN error: the registered symbol `Symbol.for('@nsn/error')`, the
 * same as `@nsn/core`'s `NSN_ERROR`.
 */
export const NSN_ERROR: unique symbol = Symbol.for('@nsn/error')

/** Stable codes of every shard registry error. */
export type ShardRegistryErrorCode =
  | 'ERR_INVALID_SHARD_HASH'
  | 'ERR_INVALID_OPTION'
  | 'ERR_CORRUPT_SHARD_RECORD'
  | 'ERR_REGISTRY_NOT_LOADED'

/** Base class of every shard registry error; branded as an NSN error. */
export abstract class ShardRegistryError extends Error {
  abstract readonly code: ShardRegistryErrorCode

  /** The NSN error brand (`@nsn/core`'s `isNsnError` looks for it). */
  get [NSN_ERROR](): true {
    return true
  }

  /** A plain object for structured logs and JSON answers. */
  toObject(): { name: string; code: ShardRegistryErrorCode; message: string } {
    return { name: this.name, code: this.code, message: this.message }
  }
}

/** A shard hash that is not a `Uint8Array` of exactly 32 bytes. */
export class InvalidShardHashError extends ShardRegistryError {
  static readonly code = 'ERR_INVALID_SHARD_HASH'
  override readonly name = 'InvalidShardHashError'
  readonly code = InvalidShardHashError.code
  /** What was given: its type, and its length when it has one. */
  readonly input: string
  /** The rule the input broke. */
  readonly rule: string

  constructor(input: string, rule: string) {
    super(`invalid shard hash (${input}): ${rule}`)
    this.input = input
    this.rule = rule
  }
}

/** An option (of the constructor or of a call) that is out of range or of the wrong type. */
export class InvalidOptionError extends ShardRegistryError {
  static readonly code = 'ERR_INVALID_OPTION'
  override readonly name = 'InvalidOptionError'
  readonly code = InvalidOptionError.code
  /** The option's name, e.g. `capacity`. */
  readonly option: string
  /** The rule the value broke. */
  readonly rule: string

  constructor(option: string, value: unknown, rule: string) {
    super(`invalid option ${option} (${describe(value)}): ${rule}`)
    this.option = option
    this.rule = rule
  }
}

/** A record found in the datastore under the registry's prefix that cannot be decoded. */
export class CorruptShardRecordError extends ShardRegistryError {
  static readonly code = 'ERR_CORRUPT_SHARD_RECORD'
  override readonly name = 'CorruptShardRecordError'
  readonly code = CorruptShardRecordError.code
  /** The datastore key of the record. */
  readonly key: string

  constructor(key: string, reason: string) {
    super(`corrupt shard record at ${key}: ${reason}`)
    this.key = key
  }
}

/** A mutation was attempted on a persistent registry before {@link ShardRegistry.load} was called. */
export class RegistryNotLoadedError extends ShardRegistryError {
  static readonly code = 'ERR_REGISTRY_NOT_LOADED'
  override readonly name = 'RegistryNotLoadedError'
  readonly code = RegistryNotLoadedError.code

  constructor(message = 'shard registry has a datastore but was not loaded: call load() or use open()') {
    super(message)
  }
}

/** A short description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'string')
    return `string ${JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value)}`
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    return `${typeof value} ${String(value)}`
  }
  if (typeof value === 'function') return 'function'
  if (value instanceof Uint8Array) return `${value.constructor.name} of ${value.length} bytes`
  if (Array.isArray(value)) return `array of length ${value.length}`
  if (typeof value === 'object') return 'object'
  return typeof value
}
