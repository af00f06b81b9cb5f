import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const closest: CliCommand = {
  name: 'closest',
  summary: 'find the peers closest to a shard hash or a peer id (a DHT lookup)',
  description:
    'Runs a lookup of the key through the network and prints the k closest peers found, nearest first by XOR distance, with their addresses. These are the peers a provider record of that shard is stored on.',
  positionals: [
    { name: 'key', description: 'shard hash (64 hex characters, 0x accepted) or peer id (12D3KooW…)' },
  ],
  options: clientOptions,
  examples: [`nsn-node closest ${'ab'.repeat(32)}`, 'nsn-node closest 12D3KooWExample --json'],
  handler,
}
