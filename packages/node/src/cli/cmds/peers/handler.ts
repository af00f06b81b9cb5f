import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const { peers } = await clientFrom(args, io).peers()
  if (wantsJson(args)) printJson(io, { peers })
  else if (peers.length === 0) io.stdout.write('no peers in the routing table\n')
  else {
    io.stdout.write(`${peers.length} peer${peers.length === 1 ? '' : 's'} in the routing table:\n`)
    for (const peer of peers) io.stdout.write(`  ${peer.peerId}  ${peer.addrs.join(' ')}\n`)
  }
  return EXIT_OK
}
