import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const bootstrap: CliCommand = {
  name: 'bootstrap',
  summary: 'bootstrap the daemon now: dial its bootstrap peers and look up its own id',
  description:
    'Without bootstrap peers configured, looks up its own id through the peers it knows; with neither, fails with ERR_NO_KNOWN_PEERS (exit 1). Prints how many bootstrap peers were reached and the routing-table size after.',
  options: clientOptions,
  examples: ['nsn-node bootstrap', 'nsn-node bootstrap --json'],
  handler,
}
