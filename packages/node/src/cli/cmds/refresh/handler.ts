import { EXIT_OK } from '../../exit-codes.js'
import { plural } from '../../format.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const r = await clientFrom(args, io).refresh()
  if (wantsJson(args)) {
    printJson(io, r)
    return EXIT_OK
  }
  io.stdout.write(
    [
      `refresh: checked ${plural(r.checked, 'peer')}, removed ${r.removed}, in ${r.durationMs} ms`,
      `  routing table: ${r.sizeBefore} → ${plural(r.sizeAfter, 'peer')}`,
      `  bucket lookups: ${r.lookups}${r.failedLookups > 0 ? ` (${r.failedLookups} failed)` : ''}`,
      ...r.errors.map((e) => `  error: ${e}`),
    ]
      .map((line) => `${line}\n`)
      .join(''),
  )
  return EXIT_OK
}
