/**
 * Options shared by the client commands, and the API client they build.
 *
 * @packageDocumentation
 */

import { NsnApiClient } from '../api/client.js'
import { parseDuration, parseHostPort } from '../config/fields.js'
import { API_LISTEN, CLIENT_REQUEST_TIMEOUT } from '../constants.js'
import type { CliArgs, CliIo, CliOptions } from './types.js'

/** `--api`, `--timeout` and `--json`: they may also come before the verb (`nsn-node --api X id`). */
export const clientOptions = {
  api: {
    type: 'string',
    arg: '<host:port>',
    description: "the daemon's API address",
    defaultText: API_LISTEN,
    env: 'NSN_API',
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
function optionValue(args: CliArgs, io: CliIo, name: 'api' | 'timeout'): { value?: string; from?: string } {
  const flag = args.values[name]
  if (typeof flag === 'string') return { value: flag, from: `--${name}` }
  const env = clientOptions[name].env
  const value = io.env[env]
  return value == null ? {} : { value, from: env }
}

/**
 * The API client for `--api` (else `NSN_API`, else the default address), giving up after
 * `--timeout` (else `NSN_TIMEOUT`, else {@link CLIENT_REQUEST_TIMEOUT}).
 */
export function clientFrom(args: CliArgs, io: CliIo): NsnApiClient {
  const api = optionValue(args, io, 'api')
  const timeout = optionValue(args, io, 'timeout')
  const timeoutMs =
    timeout.value == null
      ? CLIENT_REQUEST_TIMEOUT
      : parseDuration('timeout', timeout.value, 1, { from: timeout.from, baseDir: io.cwd })
  return new NsnApiClient(parseHostPort('api', api.value ?? API_LISTEN, { from: api.from }), { timeoutMs })
}

/** True with `--json`. */
export function wantsJson(args: CliArgs): boolean {
  return args.values.json === true
}

/** Writes `value` as indented JSON. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
