/**
 * `nsn-node demo`: a local network on loopback that publishes and finds shards, shows
 * progress and prints what it measured (see `../../../demo/run-demo.ts`).
 *
 * @packageDocumentation
 */

import { DEMO_NODES, DEMO_SHARDS } from '../../../constants.js'
import { runDemo } from '../../../demo/index.js'
import { UsageError } from '../../../errors.js'
import { EXIT_FAILURE, EXIT_OK } from '../../exit-codes.js'
import { printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

function count(
  name: string,
  value: unknown,
  { default: fallback, min, max }: { default: number; min: number; max: number },
): number {
  if (value === undefined) return fallback
  const n = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN
  if (!(n >= min && n <= max)) {
    throw new UsageError(
      `invalid --${name} ${JSON.stringify(value)}: must be an integer from ${min} to ${max}`,
      'demo',
    )
  }
  return n
}

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const nodes = count('nodes', args.values.nodes, DEMO_NODES)
  const shards = count('shards', args.values.shards, DEMO_SHARDS)
  const json = wantsJson(args)
  const report = await runDemo({ nodes, shards }, json ? io.stderr : io.stdout)
  if (json) printJson(io, report)
  return report.successRate === 1 ? EXIT_OK : EXIT_FAILURE
}
