import { parseShardKey } from '@nsn/core'
import { MAX_FIND_PROVIDERS_LIMIT } from '../../../constants.js'
import { UsageError } from '../../../errors.js'
import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

function parseLimit(value: unknown): number | undefined {
  if (value === undefined) return undefined
  const limit = typeof value === 'string' && /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN
  if (!(limit >= 1 && limit <= MAX_FIND_PROVIDERS_LIMIT)) {
    throw new UsageError(
      `invalid --limit ${JSON.stringify(value)}: must be an integer from 1 to ${MAX_FIND_PROVIDERS_LIMIT}`,
      'find',
    )
  }
  return limit
}

/** `--stream`: one line per provider as the daemon finds it, then a summary. */
async function streamed(args: CliArgs, io: CliIo, hex: string, limit: number | undefined): Promise<number> {
  const json = wantsJson(args)
  const stream = clientFrom(args, io).findProvidersStream(hex, { limit })
  let step = await stream.next()
  while (step.done !== true) {
    const p = step.value
    io.stdout.write(json ? `${JSON.stringify(p)}\n` : `${p.peerId}  ${p.addrs.join(' ')}\n`)
    step = await stream.next()
  }
  const end = step.value
  if (json) {
    io.stdout.write(`${JSON.stringify(end)}\n`)
    return EXIT_OK
  }
  const n = end.found
  const from = end.fromCache ? ' (from the provider cache)' : ''
  io.stdout.write(
    n === 0
      ? `no providers found for ${hex} (lookup completed in ${end.durationMs} ms)\n`
      : `found ${n} provider${n === 1 ? '' : 's'} for ${hex} in ${end.durationMs} ms${from}\n`,
  )
  if (end.partial) io.stdout.write('(partial: the query deadline cut the lookup short)\n')
  return EXIT_OK
}

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const key = parseShardKey(args.positionals[0] ?? '')
  const limit = parseLimit(args.values.limit)
  if (args.values.stream === true) return streamed(args, io, key.hex, limit)
  const result = await clientFrom(args, io).findProviders(key.hex, { limit })
  if (wantsJson(args)) {
    printJson(io, result)
    return EXIT_OK
  }
  const n = result.providers.length
  if (n === 0)
    io.stdout.write(`no providers found for ${key.hex} (lookup completed in ${result.durationMs} ms)\n`)
  else {
    io.stdout.write(`found ${n} provider${n === 1 ? '' : 's'} for ${key.hex} in ${result.durationMs} ms\n`)
    for (const p of result.providers) io.stdout.write(`  ${p.peerId}  ${p.addrs.join(' ')}\n`)
  }
  if (result.partial) io.stdout.write('(partial: the query deadline cut the lookup short)\n')
  return EXIT_OK
}
