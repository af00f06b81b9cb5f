import { DEMO_NODES, DEMO_SHARDS } from '../../../constants.js'
import type { CliCommand } from '../../types.js'
import { handler } from './demo.js'

export const demo: CliCommand = {
  name: 'demo',
  summary: 'start a local network on loopback, publish and find shards, print what was measured',
  description:
    'Starts the nodes in this process on 127.0.0.1 (data in a temp dir, removed at the end), bootstraps them from the first three, provides shards from random nodes and finds each from another node. Exits 1 unless every shard was found.',
  options: {
    nodes: {
      type: 'string',
      arg: '<n>',
      description: `nodes in the network (${DEMO_NODES.min}-${DEMO_NODES.max})`,
      defaultText: `${DEMO_NODES.default}`,
    },
    shards: {
      type: 'string',
      arg: '<n>',
      description: `shards to publish and find (${DEMO_SHARDS.min}-${DEMO_SHARDS.max})`,
      defaultText: `${DEMO_SHARDS.default}`,
    },
    json: { type: 'boolean', description: 'print the measurements as JSON (progress goes to stderr)' },
  },
  examples: ['nsn-node demo', 'nsn-node demo --nodes 20 --shards 50 --json'],
  handler,
}
