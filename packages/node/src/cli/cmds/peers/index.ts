import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const peers: CliCommand = {
  name: 'peers',
  summary: "list the daemon's routing-table peers",
  options: clientOptions,
  examples: ['nsn-node peers', 'nsn-node peers --json'],
  handler,
}
