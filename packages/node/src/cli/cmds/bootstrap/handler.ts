import { EXIT_OK } from '../../exit-codes.js'
import { plural } from '../../format.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const r = await clientFrom(args, io).bootstrap()
  if (wantsJson(args)) printJson(io, r)
  else {
    io.stdout.write(
      `bootstrap: connected to ${plural(r.connected, 'peer')}${r.failed > 0 ? `, ${r.failed} failed` : ''} in ${r.durationMs} ms; routing table: ${plural(r.routingTableSize, 'peer')}\n`,
    )
  }
  return EXIT_OK
}
