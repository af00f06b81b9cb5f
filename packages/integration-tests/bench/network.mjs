// Child process of the comparison: builds ONE network size once per implementation
// (side by side, operations interleaved: see lib/compare.mjs) and writes the results as
// JSON. Started by lib/compare.mjs (runPairInChild) with --expose-gc; by hand:
//   pnpm exec node --expose-gc bench/network.mjs 20 '{"config":{"provides":10,"lookups":10}}' /tmp/out.json
import { writeFile } from 'node:fs/promises'
import { DEFAULTS, runPair } from './lib/compare.mjs'

const [size, optionsJson = '{}', out, quiet] = process.argv.slice(2)
if (size == null || out == null) {
  console.error(
    'usage: network.mjs <n> <{"config":{...},"implementations":[...],"buildOrder":[...]}> <out.json> [quiet]',
  )
  process.exit(2)
}
const options = JSON.parse(optionsJson)
const config = { ...DEFAULTS, ...options.config }
const result = await runPair(Number(size), config, {
  implementations: options.implementations,
  buildOrder: options.buildOrder,
  warm: options.warm !== false,
  quiet: quiet === 'quiet',
})
await writeFile(out, JSON.stringify(result))
// libp2p leaves timers behind after stop (about 10 s); do not wait for them
process.exit(0)
