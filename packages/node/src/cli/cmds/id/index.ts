import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const id: CliCommand = {
  name: 'id',
  summary: "print the daemon's peer id and addresses",
  options: clientOptions,
  examples: ['nsn-node id', 'nsn-node id --api 127.0.0.1:5081 --json'],
  handler,
}
