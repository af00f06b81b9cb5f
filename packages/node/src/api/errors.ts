/**
 * Maps errors to HTTP answers, by `code`: bad input 400, no or another API token 401
 * (with a `WWW-Authenticate` challenge), unknown route or unprovided
 * shard 404, wrong method 405, overload 429, timeout 504, no known peers / no peer
 * answered / starting / stopping 503, anything else 500 (and logged).
 *
 * @packageDocumentation
 */

import { isNsnError } from '@nsn/core'
import { BEARER_CHALLENGE } from './auth.js'

/** An error as the API answers it. */
export interface HttpError {
  status: number
  code: string
  message: string
  /** Extra headers (`Allow`, `Retry-After`). */
  headers?: Record<string, string>
  /** True for an unexpected error, to be logged. */
  internal: boolean
}

const STATUS_BY_CODE: Record<string, number> = {
  // bad input
  ERR_INVALID_SHARD_KEY: 400,
  ERR_INVALID_SHARD_HASH: 400,
  ERR_INVALID_OPTION: 400,
  ERR_BAD_REQUEST: 400,
  // no or another bearer token
  ERR_UNAUTHORIZED: 401,
  ERR_INVALID_GROUP: 400,
  ERR_PAYLOAD_TOO_LARGE: 413,
  // unknown
  ERR_NOT_FOUND: 404,
  ERR_SHARD_NOT_PROVIDED: 404,
  ERR_PEER_NOT_FOUND: 404,
  ERR_TOPIC_NOT_SUBSCRIBED: 404,
  ERR_METHOD_NOT_ALLOWED: 405,
  // a provide whose shard a concurrent provide evicted (registry at capacity)
  ERR_SHARD_EVICTED: 409,
  // topics on a node without shard announcements; more group topics than it takes
  ERR_GOSSIP_OFF: 409,
  ERR_TOO_MANY_GROUPS: 409,
  ERR_OVERLOADED: 429,
  ERR_QUERY_TIMEOUT: 504,
  // nobody to ask, nobody answered, or the node is not serving
  ERR_NO_KNOWN_PEERS: 503,
  ERR_NO_PEER_ANSWERED: 503,
  ERR_STARTING: 503,
  ERR_STOPPING: 503,
  ERR_NOT_STARTED: 503,
  ERR_QUERY_ABORTED: 503,
}

/**
 * The stable code of an NSN error of any package (core, shard registry, metrics, node:
 * they carry the NSN error brand); undefined for anything else, including a foreign
 * error that merely has a `code` property.
 */
function codeOf(err: unknown): string | undefined {
  return isNsnError(err) ? err.code : undefined
}

/** The HTTP answer for `err`. While the node stops, aborted queries answer `ERR_STOPPING`. */
export function toHttpError(err: unknown, stopping = false): HttpError {
  const code = codeOf(err)
  if (stopping && (code === 'ERR_QUERY_ABORTED' || code === 'ERR_NOT_STARTED')) {
    return { status: 503, code: 'ERR_STOPPING', message: 'node is stopping', internal: false }
  }
  const status = code == null ? undefined : STATUS_BY_CODE[code]
  if (code == null || status == null) {
    return {
      status: 500,
      code: 'ERR_INTERNAL',
      message: `internal error: ${err instanceof Error ? err.message : String(err)}`,
      internal: true,
    }
  }
  const headers: Record<string, string> = {}
  if (code === 'ERR_OVERLOADED') headers['retry-after'] = '1'
  if (code === 'ERR_UNAUTHORIZED') headers['www-authenticate'] = BEARER_CHALLENGE
  const allow = (err as { allow?: unknown }).allow
  if (code === 'ERR_METHOD_NOT_ALLOWED' && Array.isArray(allow)) headers.allow = allow.join(', ')
  return { status, code, message: (err as Error).message, headers, internal: false }
}
