import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const stopProviding: CliCommand = {
  name: 'stop-providing',
  summary: 'stop providing a shard (exit 1 when it was not provided)',
  description:
    "Removes the shard from the registry and this node's own record; copies on other peers lapse at their TTL.",
  positionals: [{ name: 'hash', description: 'shard hash: 64 hex characters (0x accepted)' }],
  options: clientOptions,
  examples: [`nsn-node stop-providing ${'ab'.repeat(32)}`],
  handler,
}
