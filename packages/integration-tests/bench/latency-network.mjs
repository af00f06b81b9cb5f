// Child process of the latency section (bench/latency.mjs): one network size, loopback or
// wide-area latency, both implementations (lib/latency-pair.mjs); writes the result as JSON.
//   pnpm exec node --expose-gc bench/latency-network.mjs 30 '{"config":{"provides":4},"latency":{"seed":13}}' /tmp/out.json
import { writeFile } from 'node:fs/promises'
import { LATENCY_DEFAULTS, runLatencyPair } from './lib/latency-pair.mjs'

const [size, optionsJson = '{}', out, quiet] = process.argv.slice(2)
if (size == null || out == null) {
  console.error(
    'usage: latency-network.mjs <n> <{"config":{...},"latency":{seed,distribution}|null}> <out.json> [quiet]',
  )
  process.exit(2)
}
const options = JSON.parse(optionsJson)
const result = await runLatencyPair(
  Number(size),
  { ...LATENCY_DEFAULTS, ...options.config },
  { latency: options.latency ?? null, quiet: quiet === 'quiet' },
)
await writeFile(out, JSON.stringify(result))
// libp2p leaves timers behind after stop (about 10 s); do not wait for them
process.exit(0)
