import { EXIT_FAILURE, EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const health = await clientFrom(args, io).health()
  if (wantsJson(args)) printJson(io, { status: health.status })
  else io.stdout.write(`${health.status}\n`)
  return health.ok ? EXIT_OK : EXIT_FAILURE
}
