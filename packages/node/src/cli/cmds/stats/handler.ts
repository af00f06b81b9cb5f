import type { OperationCounts, StatsResponse } from '../../../api/types.js'
import { EXIT_OK } from '../../exit-codes.js'
import { duration, plural, table, time } from '../../format.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

function operations(counts: OperationCounts): string {
  const total = counts.ok + counts.timeout + counts.error
  return `${total} (${counts.ok} ok, ${counts.timeout} timed out, ${counts.error} failed)`
}

/** The summary as `name  value` lines. */
export function statsLines(s: StatsResponse): string {
  const cache = s.providerCache
  const ops = s.operations
  return table(
    [
      ['peer id', s.peerId],
      ['version', s.version],
      ['uptime', `${duration(s.uptimeMs)} (since ${time(s.startedAt)})`],
      ['routing table', plural(s.routingTableSize, 'peer')],
      ['connections', `${s.connections.open} open to ${plural(s.connections.peers, 'peer')}`],
      ['shards provided', `${s.shards.provided} (capacity ${s.shards.capacity})`],
      ['provider records', `${s.providerRecordsStored} stored for other peers`],
      ['lookups', operations(ops.find_providers)],
      ['provides', operations(ops.provide)],
      ['closest-peer lookups', operations(ops.closest_peers)],
      ['republish runs', operations(ops.republish)],
      ['bootstraps', operations(ops.bootstrap)],
      ['refreshes', operations(ops.refresh)],
      [
        'provider cache',
        cache == null
          ? 'off'
          : `${cache.hitRate == null ? 'no lookups yet' : `${(cache.hitRate * 100).toFixed(1)}% hit rate`} (${cache.hits} hits, ${cache.misses} misses), ${plural(cache.entries, 'entry', 'entries')}`,
      ],
    ],
    '',
  )
}

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const stats = await clientFrom(args, io).stats()
  if (wantsJson(args)) printJson(io, stats)
  else io.stdout.write(statsLines(stats))
  return EXIT_OK
}
