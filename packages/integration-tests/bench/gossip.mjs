#!/usr/bin/env node
// `pnpm bench:gossip`: shard announcements over gossipsub (bench/lib/gossip-section.mjs),
// with and without announcements on one network. Writes results/gossip.json and prints
// the summary; `pnpm bench -- --only gossip` runs the same section into latest.json.
//
//   pnpm --filter @nsn/integration-tests bench:gossip [-- options]
//     --nodes 30 --mode wan|loopback --provides 10 --heartbeat 1000
//     --out results/gossip.json
import { mkdir, writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { GOSSIP_DEFAULTS, gossipMarkdown, runGossipSection } from './lib/gossip-section.mjs'

const { values } = parseArgs({
  args: process.argv.slice(2).filter((arg) => arg !== '--'),
  options: {
    nodes: { type: 'string', default: String(GOSSIP_DEFAULTS.n) },
    mode: { type: 'string', default: GOSSIP_DEFAULTS.mode },
    provides: { type: 'string', default: String(GOSSIP_DEFAULTS.provides) },
    heartbeat: { type: 'string', default: String(GOSSIP_DEFAULTS.heartbeatMs) },
    out: { type: 'string', default: 'gossip.json' },
    quiet: { type: 'boolean', default: false },
  },
})
if (!['wan', 'loopback'].includes(values.mode))
  throw new Error(`--mode must be wan or loopback, got ${values.mode}`)
const section = await runGossipSection({
  n: Number(values.nodes),
  mode: values.mode,
  provides: Number(values.provides),
  heartbeatMs: Number(values.heartbeat),
  quiet: values.quiet,
})
const resultsDir = new URL('./results/', import.meta.url)
await mkdir(resultsDir, { recursive: true })
await writeFile(new URL(values.out, resultsDir), `${JSON.stringify(section, null, 2)}\n`)
console.log(gossipMarkdown(section))
// libp2p leaves timers behind after stop; do not wait for them
process.exit(0)
