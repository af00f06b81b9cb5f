import { parseShardKey } from '@nsn/core'
import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const key = parseShardKey(args.positionals[0] ?? '')
  const result = await clientFrom(args, io).provide(key.hex)
  if (wantsJson(args)) printJson(io, result)
  else {
    io.stdout.write(
      `provided ${result.hash}\n  cid: ${result.cid}\n  record sent to ${result.sentTo} peer${result.sentTo === 1 ? '' : 's'} in ${result.durationMs} ms\n`,
    )
  }
  return EXIT_OK
}
