import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'
import { options } from './options.js'

export const find: CliCommand = {
  name: 'find',
  summary: "look up a shard's providers",
  description:
    'Prints each provider with its addresses; a lookup that completes and finds nobody exits 0. With --stream, each provider is printed as soon as the daemon finds it (with --limit 1, the lookup ends at the first), then a summary.',
  positionals: [{ name: 'hash', description: 'shard hash: 64 hex characters (0x accepted)' }],
  options,
  examples: [
    `nsn-node find ${'ab'.repeat(32)} --limit 5`,
    `nsn-node find ${'ab'.repeat(32)} --stream --limit 1`,
  ],
  handler,
}
