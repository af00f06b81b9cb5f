import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const shards: CliCommand = {
  name: 'shards',
  summary: 'list the shards the daemon provides, with when each is republished',
  description:
    'One line per shard: its hash, when it was first provided and when its record is republished next (UTC). Least recently used first, as the registry evicts them past --max-shards.',
  options: clientOptions,
  examples: ['nsn-node shards', 'nsn-node shards --json'],
  handler: (args, io) => handler(args, io),
}
