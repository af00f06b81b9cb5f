import { parseShardKey } from '@nsn/core'
import { EXIT_OK } from '../../exit-codes.js'
import { plural, table } from '../../format.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

/** A shard hash in any accepted form is sent as its 64-hex form; anything else as a peer id (the daemon checks it). */
function keyOf(input: string): string {
  return /^(0x)?[0-9a-f]{64}$/i.test(input) ? parseShardKey(input).hex : input
}

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const key = keyOf(args.positionals[0] ?? '')
  const { peers } = await clientFrom(args, io).closestPeers(key)
  if (wantsJson(args)) {
    printJson(io, { peers })
    return EXIT_OK
  }
  if (peers.length === 0) {
    io.stdout.write(`no peers found closest to ${key}\n`)
    return EXIT_OK
  }
  io.stdout.write(`${plural(peers.length, 'peer')} closest to ${key}, nearest first (XOR distance):\n`)
  io.stdout.write(table(peers.map((p, i) => [String(i + 1).padStart(2), p.peerId, p.addrs.join(' ')])))
  return EXIT_OK
}
