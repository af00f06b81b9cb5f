import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const provide: CliCommand = {
  name: 'provide',
  summary: 'provide a shard: add it to the registry and publish its provider record',
  positionals: [{ name: 'hash', description: 'shard hash: 64 hex characters (0x accepted)' }],
  options: clientOptions,
  examples: [`nsn-node provide ${'ab'.repeat(32)}`],
  handler,
}
