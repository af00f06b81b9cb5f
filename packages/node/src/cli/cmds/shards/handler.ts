import { EXIT_OK } from '../../exit-codes.js'
import { duration, plural, table, time } from '../../format.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo, now: () => number = Date.now): Promise<number> {
  // GET /v1/shards answers in pages (Kademlia key order); the verb lists them all.
  const shards = []
  for await (const shard of clientFrom(args, io).allShards()) shards.push(shard)
  if (wantsJson(args)) {
    printJson(io, { shards })
    return EXIT_OK
  }
  if (shards.length === 0) {
    io.stdout.write('no shards provided\n')
    return EXIT_OK
  }
  const at = now()
  io.stdout.write(`${plural(shards.length, 'shard')} provided:\n`)
  io.stdout.write(
    table([
      ['HASH', 'PROVIDED', 'NEXT REPUBLISH'],
      ...shards.map((s) => [
        s.hash,
        time(s.providedAt),
        `${time(s.republishAt)} (${s.republishAt > at ? `in ${duration(s.republishAt - at)}` : 'due'})`,
      ]),
    ]),
  )
  return EXIT_OK
}
