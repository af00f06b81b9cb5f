/**
 * Options shared by the client commands, and the API client they build.
 *
 * @packageDocumentation
 */

import { resolve } from 'node:path'
import { checkApiToken, readApiTokenFile } from '../api/auth.js'
import { NsnApiClient } from '../api/client.js'
import { parseDuration, parseHostPort } from '../config/fields.js'
import { API_LISTEN, CLIENT_REQUEST_TIMEOUT } from '../constants.js'
import type { CliArgs, CliIo, CliOptions } from './types.js'

/** Environment variable of the API token itself (the daemon reads it too). */
export const API_TOKEN_ENV = 'NSN_API_TOKEN'

/**
 * `--api`, `--api-token-file`, `--timeout` and `--json`: they may also come before the
 * verb (`nsn-node --api X id`).
 */
export const clientOptions = {
  api: {
    type: 'string',
    arg: '<host:port>',
    description: "the daemon's API address",
    defaultText: API_LISTEN,
    env: 'NSN_API',
  },
  'api-token-file': {
    type: 'string',
    arg: '<path>',
    description: `file holding the daemon's API bearer token (else the token itself from ${API_TOKEN_ENV})`,
    env: 'NSN_API_TOKEN_FILE',
  },
  timeout: {
    type: 'string',
    arg: '<ms>',
    description: 'give up when the daemon has not answered after this long (ms, or 500ms, 10s, 2m)',
    defaultText: `${CLIENT_REQUEST_TIMEOUT}`,
    env: 'NSN_TIMEOUT',
  },
  json: { type: 'boolean', description: "print the API's JSON answer instead of text" },
} as const satisfies CliOptions

/** A client option's value: its flag, else its environment variable; and where it came from. */
function optionValue(
  args: CliArgs,
  io: CliIo,
  name: 'api' | 'timeout' | 'api-token-file',
): { value?: string; from?: string } {
  const flag = args.values[name]
  if (typeof flag === 'string') return { value: flag, from: `--${name}` }
  const env = clientOptions[name].env
  const value = io.env[env]
  return value == null ? {} : { value, from: env }
}

/**
 * The API token a client verb sends: from `--api-token-file` (else `NSN_API_TOKEN_FILE`),
 * else `NSN_API_TOKEN`, else none. A token file others may read gets a warning on stderr.
 *
 * @throws {ApiTokenError} when the file is unreadable or the token unusable
 */
export function clientToken(args: CliArgs, io: CliIo): string | undefined {
  const file = optionValue(args, io, 'api-token-file')
  if (file.value != null) {
    const path = resolve(io.cwd, file.value)
    const read = readApiTokenFile(path)
    if (read.exposed) {
      io.stderr.write(
        `warning: the API token file ${path} is readable by other users (mode ${read.mode}): chmod 600 it\n`,
      )
    }
    return read.token
  }
  const token = io.env[API_TOKEN_ENV]
  return token == null || token === '' ? undefined : checkApiToken(token.trim())
}

/**
 * The API client for `--api` (else `NSN_API`, else the default address), giving up after
 * `--timeout` (else `NSN_TIMEOUT`, else {@link CLIENT_REQUEST_TIMEOUT}), sending the token
 * of {@link clientToken}.
 */
export function clientFrom(args: CliArgs, io: CliIo): NsnApiClient {
  const api = optionValue(args, io, 'api')
  const timeout = optionValue(args, io, 'timeout')
  const timeoutMs =
    timeout.value == null
      ? CLIENT_REQUEST_TIMEOUT
      : parseDuration('timeout', timeout.value, 1, { from: timeout.from, baseDir: io.cwd })
  return new NsnApiClient(parseHostPort('api', api.value ?? API_LISTEN, { from: api.from }), {
    timeoutMs,
    token: clientToken(args, io),
  })
}

/** True with `--json`. */
export function wantsJson(args: CliArgs): boolean {
  return args.values.json === true
}

/** Writes `value` as indented JSON. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
