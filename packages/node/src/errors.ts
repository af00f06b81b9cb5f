/**
 * Typed errors of @nsn/node. They extend `@nsn/core`'s `NsnError`: a stable `name` and
 * `code`, the data as fields, `toObject()` for structured logs and JSON answers, and the
 * NSN error brand. The HTTP API and the CLI map errors by `code` (`isNsnError(err, code)`),
 * never by message or class.
 *
 * @packageDocumentation
 */

import { NsnError } from '@nsn/core'

/** Stable codes of every @nsn/node error. */
export type NsnNodeErrorCode =
  | 'ERR_INVALID_CONFIG'
  | 'ERR_API_ADDRESS_IN_USE'
  | 'ERR_API_LISTEN'
  | 'ERR_DATA_DIR'
  | 'ERR_OVERLOADED'
  | 'ERR_SHARD_NOT_PROVIDED'
  | 'ERR_STARTING'
  | 'ERR_STOPPING'
  | 'ERR_NOT_FOUND'
  | 'ERR_METHOD_NOT_ALLOWED'
  | 'ERR_BAD_REQUEST'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_USAGE'
  | 'ERR_DAEMON_UNREACHABLE'
  | 'ERR_API_RESPONSE'
  | 'ERR_API_TIMEOUT'
  | 'ERR_DEMO_NETWORK'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_API_TOKEN'
  | 'ERR_API_TOKEN_REQUIRED'
  | 'ERR_GOSSIP_OFF'
  | 'ERR_TOPIC_NOT_SUBSCRIBED'

/** Base class of every @nsn/node error: `@nsn/core`'s {@link NsnError} with the node's codes. */
export abstract class NsnNodeError extends NsnError<NsnNodeErrorCode> {}

/** Where a config value came from. */
export type ConfigSource = 'flag' | 'env' | 'file' | 'default' | 'option'

/**
 * A configuration that cannot be used. The message names the field (`listen[0]`,
 * `api`...) or the config file and what is wrong with it.
 */
export class ConfigError extends NsnNodeError {
  static readonly code = 'ERR_INVALID_CONFIG'
  override readonly name = 'ConfigError'
  readonly code = ConfigError.code
  /** The field, e.g. `listen[0]`; undefined for a problem with the file as a whole. */
  readonly field?: string
  /** The config file, when the problem is in it. */
  readonly file?: string

  constructor(message: string, details: { field?: string; file?: string } = {}, options?: ErrorOptions) {
    super(message, options)
    this.field = details.field
    this.file = details.file
  }

  /** `invalid config: <field>: <rule>`, plus where the value came from. */
  static invalid(field: string, rule: string, from?: string): ConfigError {
    return new ConfigError(`invalid config: ${field}: ${rule}${from == null ? '' : ` (from ${from})`}`, {
      field,
    })
  }

  /** `config file <path>: <problem>`. */
  static file(path: string, problem: string, options?: ErrorOptions): ConfigError {
    return new ConfigError(`config file ${path}: ${problem}`, { file: path }, options)
  }
}

/** The API's address is taken (another daemon is probably running). */
export class ApiAddressInUseError extends NsnNodeError {
  static readonly code = 'ERR_API_ADDRESS_IN_USE'
  override readonly name = 'ApiAddressInUseError'
  readonly code = ApiAddressInUseError.code
  readonly host: string
  readonly port: number

  constructor(host: string, port: number, options?: ErrorOptions) {
    super(
      `API cannot listen on ${host}:${port}: the address is already in use (is another nsn-node running? choose another address with --api)`,
      options,
    )
    this.host = host
    this.port = port
  }
}

/** The API could not listen for another reason (unknown interface, permission...). */
export class ApiListenError extends NsnNodeError {
  static readonly code = 'ERR_API_LISTEN'
  override readonly name = 'ApiListenError'
  readonly code = ApiListenError.code

  constructor(host: string, port: number, cause: Error) {
    super(`API cannot listen on ${host}:${port}: ${cause.message}`, { cause })
  }
}

/** The data dir, its identity file or its datastore cannot be used. */
export class DataDirError extends NsnNodeError {
  static readonly code = 'ERR_DATA_DIR'
  override readonly name = 'DataDirError'
  readonly code = DataDirError.code
  readonly path: string

  constructor(path: string, problem: string, options?: ErrorOptions) {
    super(`data dir ${path}: ${problem}`, options)
    this.path = path
  }
}

/** Too many DHT operations are running through the API; retry later (HTTP 429). */
export class OverloadedError extends NsnNodeError {
  static readonly code = 'ERR_OVERLOADED'
  override readonly name = 'OverloadedError'
  readonly code = OverloadedError.code
  readonly limit: number

  constructor(limit: number) {
    super(`overloaded: ${limit} DHT operations are already running, retry later`)
    this.limit = limit
  }
}

/** `DELETE /v1/shards/{hash}` of a shard this node does not provide (HTTP 404). */
export class ShardNotProvidedError extends NsnNodeError {
  static readonly code = 'ERR_SHARD_NOT_PROVIDED'
  override readonly name = 'ShardNotProvidedError'
  readonly code = ShardNotProvidedError.code
  readonly hash: string

  constructor(hash: string) {
    super(`shard ${hash} is not provided by this node`)
    this.hash = hash
  }
}

/** The node is starting; the API answers 503 until it is up. */
export class NodeStartingError extends NsnNodeError {
  static readonly code = 'ERR_STARTING'
  override readonly name = 'NodeStartingError'
  readonly code = NodeStartingError.code

  constructor() {
    super('node is starting, retry shortly')
  }
}

/** The node is stopping or stopped; the API answers 503. */
export class NodeStoppingError extends NsnNodeError {
  static readonly code = 'ERR_STOPPING'
  override readonly name = 'NodeStoppingError'
  readonly code = NodeStoppingError.code

  constructor() {
    super('node is stopping')
  }
}

/** No such API route (HTTP 404). */
export class RouteNotFoundError extends NsnNodeError {
  static readonly code = 'ERR_NOT_FOUND'
  override readonly name = 'RouteNotFoundError'
  readonly code = RouteNotFoundError.code

  constructor(path: string) {
    super(`no such route: ${path}`)
  }
}

/** The route exists but not with this method (HTTP 405). */
export class MethodNotAllowedError extends NsnNodeError {
  static readonly code = 'ERR_METHOD_NOT_ALLOWED'
  override readonly name = 'MethodNotAllowedError'
  readonly code = MethodNotAllowedError.code
  readonly allow: readonly string[]

  constructor(method: string, path: string, allow: readonly string[]) {
    super(`method ${method} is not allowed on ${path} (allowed: ${allow.join(', ')})`)
    this.allow = allow
  }
}

/** A malformed request parameter (HTTP 400). */
export class BadRequestError extends NsnNodeError {
  static readonly code = 'ERR_BAD_REQUEST'
  override readonly name = 'BadRequestError'
  readonly code = BadRequestError.code

  constructor(message: string) {
    super(message)
  }
}

/** A request body over the API's bound (`API_MAX_BATCH_BYTES`): answered 413. */
export class PayloadTooLargeError extends NsnNodeError {
  static readonly code = 'ERR_PAYLOAD_TOO_LARGE'
  override readonly name = 'PayloadTooLargeError'
  readonly code = PayloadTooLargeError.code

  constructor(readonly limit: number) {
    super(`request body over ${limit} bytes`)
  }
}

/** Bad command-line usage: unknown flag or verb, missing argument (exit code 2). */
export class UsageError extends NsnNodeError {
  static readonly code = 'ERR_USAGE'
  override readonly name = 'UsageError'
  readonly code = UsageError.code
  /** The verb whose usage was wrong, for the `--help` hint. */
  readonly command?: string

  constructor(message: string, command?: string) {
    super(message)
    this.command = command
  }
}

/** The CLI could not reach a daemon's API (exit code 3). */
export class DaemonUnreachableError extends NsnNodeError {
  static readonly code = 'ERR_DAEMON_UNREACHABLE'
  override readonly name = 'DaemonUnreachableError'
  readonly code = DaemonUnreachableError.code
  readonly api: string

  constructor(api: string, reason: string, options?: ErrorOptions) {
    super(
      `cannot reach the nsn-node daemon at ${api} (${reason}): is it running? (start it with: nsn-node start)`,
      options,
    )
    this.api = api
  }
}

/**
 * A daemon took longer than the client's timeout to answer (`--timeout`): it accepted
 * the connection but did not answer in time (exit code 3, as an unreachable daemon).
 */
export class ApiTimeoutError extends NsnNodeError {
  static readonly code = 'ERR_API_TIMEOUT'
  override readonly name = 'ApiTimeoutError'
  readonly code = ApiTimeoutError.code
  readonly api: string
  readonly timeoutMs: number

  constructor(api: string, timeoutMs: number, options?: ErrorOptions) {
    super(
      `the nsn-node daemon at ${api} did not answer within ${timeoutMs} ms (is it stuck or overloaded? wait longer with --timeout)`,
      options,
    )
    this.api = api
    this.timeoutMs = timeoutMs
  }
}

/** The daemon answered an API call with an error. */
export class ApiResponseError extends NsnNodeError {
  static readonly code = 'ERR_API_RESPONSE'
  override readonly name = 'ApiResponseError'
  readonly code = ApiResponseError.code
  /** HTTP status. */
  readonly status: number
  /** The error code the daemon sent (`ERR_QUERY_TIMEOUT`...). */
  readonly remoteCode: string

  constructor(status: number, remoteCode: string, message: string) {
    super(message)
    this.status = status
    this.remoteCode = remoteCode
  }
}

/** The demo's local network did not form in time. */
export class DemoNetworkError extends NsnNodeError {
  static readonly code = 'ERR_DEMO_NETWORK'
  override readonly name = 'DemoNetworkError'
  readonly code = DemoNetworkError.code
}

/** Why an API request was refused by the bearer-token check. */
export type UnauthorizedReason = 'missing' | 'malformed' | 'wrong'

/**
 * An API request without the daemon's bearer token, or with another one (HTTP 401, with
 * a `WWW-Authenticate: Bearer` challenge). The token itself is never part of the message.
 */
export class UnauthorizedError extends NsnNodeError {
  static readonly code = 'ERR_UNAUTHORIZED'
  override readonly name = 'UnauthorizedError'
  readonly code = UnauthorizedError.code
  readonly reason: UnauthorizedReason

  constructor(reason: UnauthorizedReason) {
    const what =
      reason === 'missing'
        ? 'no API token was sent'
        : reason === 'malformed'
          ? 'the Authorization header is not "Bearer <token>"'
          : 'the API token is wrong'
    super(
      `unauthorized: ${what}; this daemon's API needs "Authorization: Bearer <token>" (nsn-node client verbs: --api-token-file <path> or NSN_API_TOKEN)`,
    )
    this.reason = reason
  }
}

/**
 * The API token cannot be used: its file is unreadable or empty, or the token has
 * characters an HTTP header cannot carry or is too short. The token is never quoted.
 */
export class ApiTokenError extends NsnNodeError {
  static readonly code = 'ERR_API_TOKEN'
  override readonly name = 'ApiTokenError'
  readonly code = ApiTokenError.code
  /** The token file, when the token came from one. */
  readonly file?: string

  constructor(problem: string, file?: string, options?: ErrorOptions) {
    super(`API token${file == null ? '' : ` file ${file}`}: ${problem}`, options)
    this.file = file
  }
}

/**
 * The API would listen on an address other hosts can reach without a bearer token: the
 * daemon refuses to start.
 */
export class ApiTokenRequiredError extends NsnNodeError {
  static readonly code = 'ERR_API_TOKEN_REQUIRED'
  override readonly name = 'ApiTokenRequiredError'
  readonly code = ApiTokenRequiredError.code
  readonly host: string

  constructor(host: string) {
    super(
      `the API would listen on ${host}, which is not a loopback address, without a token: set one with --api-token-file <path> (or NSN_API_TOKEN), or listen on 127.0.0.1`,
    )
    this.host = host
  }
}

/** A topics call on a node started without shard announcements (`--gossip`); HTTP 409. */
export class GossipOffError extends NsnNodeError {
  static readonly code = 'ERR_GOSSIP_OFF'
  override readonly name = 'GossipOffError'
  readonly code = GossipOffError.code

  constructor() {
    super('shard announcements are off on this node (start it with --gossip)')
  }
}

/** `GET` or `DELETE /v1/topics/{name}` of a group this node is not subscribed to; HTTP 404. */
export class TopicNotSubscribedError extends NsnNodeError {
  static readonly code = 'ERR_TOPIC_NOT_SUBSCRIBED'
  override readonly name = 'TopicNotSubscribedError'
  readonly code = TopicNotSubscribedError.code

  constructor(readonly group: string) {
    super(`not subscribed to the topic of group ${group}`)
  }
}
