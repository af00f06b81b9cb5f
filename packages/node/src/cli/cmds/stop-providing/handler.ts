import { parseShardKey } from '@nsn/core'
import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const key = parseShardKey(args.positionals[0] ?? '')
  const result = await clientFrom(args, io).stopProviding(key.hex)
  if (wantsJson(args)) printJson(io, result)
  else io.stdout.write(`stopped providing ${result.hash}\n`)
  return EXIT_OK
}
