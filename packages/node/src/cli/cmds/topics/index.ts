import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const topics: CliCommand = {
  name: 'topics',
  summary: "list, subscribe to or unsubscribe from the daemon's shard-announcement topics",
  description:
    'Needs a daemon started with --gossip. Without an action, lists the subscribed topics: the network-wide /nsn/shards/1 and the group topics /nsn/shards/1/group/<name>, with their gossipsub mesh sizes. A group name is 1 to 64 characters of A-Z a-z 0-9 . _ -',
  positionals: [
    { name: 'action', description: 'list (default), subscribe or unsubscribe', required: false },
    { name: 'name', description: 'group name (subscribe, unsubscribe)', required: false },
  ],
  options: clientOptions,
  examples: [
    'nsn-node topics',
    'nsn-node topics subscribe video-42',
    'nsn-node topics unsubscribe video-42 --json',
  ],
  handler,
}
