import { parseShardKey } from '@nsn/core'
import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const key = parseShardKey(args.positionals[0] ?? '')
  const result = await clientFrom(args, io).provide(key.hex)
  if (wantsJson(args)) printJson(io, result)
  else {
    const quorum = result.belowQuorum ? `  below the quorum: ${result.quorum} confirmations needed\n` : ''
    io.stdout.write(
      `provided ${result.hash}\n  cid: ${result.cid}\n  record confirmed by ${result.confirmed} of ${result.sentTo} peer${result.sentTo === 1 ? '' : 's'} in ${result.durationMs} ms\n${quorum}`,
    )
  }
  return EXIT_OK
}
