import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const id = await clientFrom(args, io).id()
  if (wantsJson(args)) printJson(io, id)
  else io.stdout.write(`peer id: ${id.peerId}\naddrs:\n${id.addrs.map((a) => `  ${a}\n`).join('')}`)
  return EXIT_OK
}
