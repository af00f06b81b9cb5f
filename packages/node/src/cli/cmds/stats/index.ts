import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const stats: CliCommand = {
  name: 'stats',
  summary: 'a summary of the daemon: uptime, routing table, connections, shards, operations, cache',
  description:
    'Read from what the daemon tracks (GET /v1/stats): operations count since start by how they ended, as nsn_p2p_kademlia_query_duration_seconds counts them; lookups the provider cache answered count as cache hits, not as lookups. Prometheus has the full picture on --metrics.',
  options: clientOptions,
  examples: ['nsn-node stats', 'nsn-node stats --json'],
  handler,
}
