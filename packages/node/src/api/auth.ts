/**
 * The API's optional bearer token: where it comes from (a file or a value), how it is
 * checked (every request but `GET /healthz`, in constant time), and when it is required
 * (an API listening on an address other than loopback). The server calls
 * {@link BearerAuth.check} before it routes a request. The token is never logged nor
 * quoted in an error.
 *
 * @packageDocumentation
 */

import { createHash, timingSafeEqual } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { isIPv4, isIPv6 } from 'node:net'
import { API_AUTH_REALM, API_TOKEN_MIN_LENGTH } from '../constants.js'
import { ApiTokenError, UnauthorizedError } from '../errors.js'
import type { Logger } from '../logger.js'

/** What an HTTP header value can carry, without spaces: visible ASCII. */
const TOKEN_CHARS = /^[\x21-\x7e]+$/

/**
 * True when `host` is a loopback address (`127.0.0.0/8`, `::1`, `localhost`): only then
 * may the API listen without a token. `0.0.0.0`, `::` and any other name are not.
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  if (isIPv4(h)) return h.startsWith('127.')
  if (isIPv6(h)) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)
    return mapped != null && (mapped[1] as string).startsWith('127.')
  }
  return false
}

/**
 * Checks a token: visible ASCII only (it travels in a header), at least
 * {@link API_TOKEN_MIN_LENGTH} characters. Returns it.
 *
 * @throws {ApiTokenError} naming the rule, never the token
 */
export function checkApiToken(token: string, file?: string): string {
  if (token === '') throw new ApiTokenError('is empty', file)
  if (!TOKEN_CHARS.test(token)) {
    throw new ApiTokenError('must be visible ASCII characters only (no spaces or control characters)', file)
  }
  if (token.length < API_TOKEN_MIN_LENGTH) {
    throw new ApiTokenError(
      `must be at least ${API_TOKEN_MIN_LENGTH} characters, got ${token.length} (make one with: openssl rand -hex 32)`,
      file,
    )
  }
  return token
}

/** A token read from its file. */
export interface ApiTokenFile {
  token: string
  /** True when group or others may read the file (its mode has 0o044 bits). */
  exposed: boolean
  /** The file's permission bits, e.g. `0644`. */
  mode: string
}

/**
 * Reads a token file: its content without the surrounding whitespace (a trailing newline
 * is usual), checked by {@link checkApiToken}. Synchronous: the daemon reads it once at
 * start and a client verb once per run.
 *
 * @throws {ApiTokenError} when the file is unreadable or the token unusable
 */
export function readApiTokenFile(path: string): ApiTokenFile {
  let text: string
  let mode: number
  try {
    mode = statSync(path).mode & 0o777
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw new ApiTokenError(`unreadable (${code})`, path, { cause: err })
  }
  return {
    token: checkApiToken(text.trim(), path),
    exposed: (mode & 0o044) !== 0,
    mode: `0${mode.toString(8).padStart(3, '0')}`,
  }
}

/** What {@link resolveApiToken} reads: the config's `apiTokenFile` and `apiToken`. */
export interface ApiTokenSources {
  /** A file holding the token; it wins over `apiToken`. */
  apiTokenFile?: string | null
  apiToken?: string | null
}

/**
 * The daemon's token, from `apiTokenFile` (a warning is logged when others may read it)
 * or `apiToken`; undefined without either.
 *
 * @throws {ApiTokenError} when the file is unreadable or the token unusable
 */
export function resolveApiToken(sources: ApiTokenSources, log?: Logger): string | undefined {
  if (sources.apiTokenFile != null) {
    const file = readApiTokenFile(sources.apiTokenFile)
    if (file.exposed) {
      log?.warn('the API token file is readable by other users: chmod 600 it', {
        file: sources.apiTokenFile,
        mode: file.mode,
      })
    }
    return file.token
  }
  if (sources.apiToken != null) return checkApiToken(sources.apiToken)
  return undefined
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest()

/** The bearer-token check of the API. */
export interface BearerAuth {
  /**
   * Checks a request's `Authorization` header.
   *
   * @throws {UnauthorizedError} when it is missing, malformed or carries another token
   */
  check(authorization: string | undefined): void
}

/** The `WWW-Authenticate` challenge of a 401 answer. */
export const BEARER_CHALLENGE = `Bearer realm="${API_AUTH_REALM}"`

/**
 * A check of `Authorization: Bearer <token>` against `token`. Both sides are hashed
 * (SHA-256) and compared with `timingSafeEqual`, so the time taken tells nothing of the
 * token, its length included.
 *
 * @throws {ApiTokenError} when `token` itself is unusable
 */
export function bearerAuth(token: string): BearerAuth {
  const expected = digest(checkApiToken(token))
  return {
    check(authorization) {
      if (authorization == null || authorization.trim() === '') throw new UnauthorizedError('missing')
      const match = /^Bearer +(\S+) *$/i.exec(authorization)
      if (match == null) throw new UnauthorizedError('malformed')
      if (!timingSafeEqual(digest(match[1] as string), expected)) throw new UnauthorizedError('wrong')
    },
  }
}

/** True for the requests that need no token: `GET` and `HEAD` of `/healthz`. */
export function isPublicRequest(method: string, path: string): boolean {
  return path === '/healthz' && (method === 'GET' || method === 'HEAD')
}
