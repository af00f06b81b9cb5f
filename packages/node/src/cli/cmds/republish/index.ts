import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const republish: CliCommand = {
  name: 'republish',
  summary: "run a whole republish cycle of the daemon's shards now (the sweep, region by region)",
  options: clientOptions,
  examples: ['nsn-node republish', 'nsn-node republish --json > cycle.ndjson'],
  handler,
}
