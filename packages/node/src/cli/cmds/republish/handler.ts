import { EXIT_OK } from '../../exit-codes.js'
import { wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'
import { batchClient, batchProgress } from '../batch-progress.js'

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const client = batchClient(args, io)
  const json = wantsJson(args)
  // the total for the bar when the daemon's first page of shards holds them all
  const page = json ? undefined : await client.shards()
  const shards = page == null || (page as { next?: string }).next != null ? undefined : page.shards.length
  const progress = batchProgress(
    json ? io.stdout : io.stderr.isTTY === true ? io.stderr : io.stdout,
    shards,
    json,
  )
  const summary = await client.republish((line) => progress.shard(line))
  if (json) io.stdout.write(`${JSON.stringify({ summary })}\n`)
  else
    progress.done(
      `republished ${summary.shards - summary.failed} of ${summary.shards} shards (${summary.failed} failed) in ${summary.regions} regions with ${summary.lookups} lookups in ${Math.round(summary.durationMs)} ms; median ${summary.confirmedMedian} confirmations`,
    )
  return EXIT_OK
}
