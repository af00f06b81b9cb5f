import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const refresh: CliCommand = {
  name: 'refresh',
  summary: 'refresh the routing table now: check stale peers, look up each bucket',
  description:
    'Runs what the refresh schedule (--refresh-interval) runs: peers that do not answer are removed, a lookup in each bucket finds new ones. Bucket lookups that failed are listed; the verb still exits 0 (the refresh ran).',
  options: clientOptions,
  examples: ['nsn-node refresh', 'nsn-node refresh --json'],
  handler,
}
