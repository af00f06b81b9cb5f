import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'
import { options } from './options.js'

export const provide: CliCommand = {
  name: 'provide',
  summary: 'provide a shard (or a list of shards): add it to the registry and publish its provider record',
  description:
    'With --file <path> (or `-` for standard input) every listed shard is provided in one batch, split by keyspace region: a progress bar on a terminal, a line per shard in a pipe.',
  positionals: [
    {
      name: 'hash',
      description: 'shard hash: 64 hex characters (0x accepted); `-` reads a list from stdin',
      required: false,
    },
  ],
  options,
  examples: [
    `nsn-node provide ${'ab'.repeat(32)}`,
    'nsn-node provide --file shards.txt',
    'cat shards.txt | nsn-node provide -',
  ],
  handler,
}
