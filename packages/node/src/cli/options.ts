/**
 * Options shared by the client commands, and the API client they build.
 *
 * @packageDocumentation
 */

import { NsnApiClient } from '../api/client.js'
import { parseHostPort } from '../config/fields.js'
import { API_LISTEN } from '../constants.js'
import type { CliArgs, CliIo, CliOptions } from './types.js'

/** `--api` and `--json`. */
export const clientOptions = {
  api: {
    type: 'string',
    arg: '<host:port>',
    description: "the daemon's API address",
    defaultText: API_LISTEN,
    env: 'NSN_API',
  },
  json: { type: 'boolean', description: "print the API's JSON answer instead of text" },
} as const satisfies CliOptions

/** The API client for `--api` (else `NSN_API`, else the default address). */
export function clientFrom(args: CliArgs, io: CliIo): NsnApiClient {
  const flag = args.values.api
  const text = typeof flag === 'string' ? flag : (io.env.NSN_API ?? API_LISTEN)
  const from = typeof flag === 'string' ? '--api' : io.env.NSN_API != null ? 'NSN_API' : undefined
  return new NsnApiClient(parseHostPort('api', text, { from }))
}

/** True with `--json`. */
export function wantsJson(args: CliArgs): boolean {
  return args.values.json === true
}

/** Writes `value` as indented JSON. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`)
}
