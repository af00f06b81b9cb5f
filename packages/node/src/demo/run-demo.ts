/**
 * The local demo network behind `nsn-node demo` and `pnpm start`: a dozen assembled
 * NSN nodes on 127.0.0.1 (real TCP, Noise, Yamux, the NSN kad-dht, LevelDB in temp
 * dirs), bootstrapped from the first three, publishing shards from random nodes and
 * finding them from other random nodes, with live progress and a closing table of
 * what was measured. Everything it starts is stopped and its temp dirs are removed,
 * also when it fails.
 *
 * @packageDocumentation
 */

import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InvalidOptionError, parseShardKey, type ShardKey } from '@nsn/core'
import { DEMO_FORM_TIMEOUT, DEMO_NODES, DEMO_SHARDS } from '../constants.js'
import { DemoNetworkError } from '../errors.js'
import { createNsnNode, type NsnNode } from '../node.js'
import { type ProgressOutput, progressOn } from './progress.js'
import { formatMs, percentile, table } from './stats.js'

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** Nodes in the network, at least 4. Default 12. */
  nodes?: number
  /** Shards published (each found once from another node), at least 1. Default 24. */
  shards?: number
  /** How long the network may take to form before the demo gives up, ms. Default 30 s. */
  formTimeout?: number
  /** Seed of the shard hashes (random by default). */
  seed?: Uint8Array
}

/** What the demo measured. */
export interface DemoReport {
  nodes: number
  shards: number
  startMs: number
  formMs: number
  routingTable: { min: number; p50: number; max: number }
  provide: { p50: number; p95: number; ok: number; confirmedP50: number; sentToP50: number }
  lookup: { p50: number; p95: number; ok: number; attempted: number }
  successRate: number
  totalMs: number
}

/** Where the demo writes progress lines; `\r` frames only when `isTTY` is true. */
export interface DemoOutput extends ProgressOutput {}

const QUIET = {
  logLevel: 'error' as const,
  metrics: null,
  processMetrics: false,
  api: '127.0.0.1:0',
  // loopback: the inbound connection limit raised for 127.0.0.1, the connection monitor off
  profile: 'local' as const,
}

async function until(predicate: () => boolean, timeoutMs: number, onTick: () => void): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) return false
    onTick()
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return true
}

/**
 * Runs the demo and returns what it measured; progress goes to `out`.
 *
 * @throws {InvalidOptionError} for fewer than 4 nodes or no shard
 * @throws {DemoNetworkError} when the network does not form within `formTimeout`
 */
export async function runDemo(
  options: DemoOptions = {},
  out: DemoOutput = process.stdout,
): Promise<DemoReport> {
  const count = options.nodes ?? DEMO_NODES.default
  const shardCount = options.shards ?? DEMO_SHARDS.default
  const formTimeout = options.formTimeout ?? DEMO_FORM_TIMEOUT
  if (!Number.isInteger(count) || count < DEMO_NODES.min) {
    throw new InvalidOptionError(
      'nodes',
      `the demo needs an integer >= ${DEMO_NODES.min}, got ${String(count)}`,
    )
  }
  if (!Number.isInteger(shardCount) || shardCount < DEMO_SHARDS.min) {
    throw new InvalidOptionError(
      'shards',
      `the demo needs an integer >= ${DEMO_SHARDS.min}, got ${String(shardCount)}`,
    )
  }
  const began = performance.now()
  const root = await mkdtemp(join(tmpdir(), 'nsn-demo-'))
  const nodes: NsnNode[] = []
  const progress = progressOn(out)
  const say = (line: string) => progress.line(line)
  try {
    say(`NSN demo: ${count} nodes on 127.0.0.1 over TCP, ${shardCount} shards (data in ${root})`)
    for (let i = 0; i < count; i++) {
      const seeds = nodes.slice(0, 3).flatMap((n) => n.addresses().addrs.slice(0, 1))
      nodes.push(await createNsnNode({ ...QUIET, dataDir: join(root, `node-${i}`), bootstrap: seeds }))
      progress.frame(`  started ${i + 1}/${count} nodes`)
    }
    const startMs = performance.now() - began
    say(`  started ${count}/${count} nodes (${formatMs(startMs)})`)

    const target = Math.min(count - 1, 8)
    const formed = await until(
      () => nodes.every((n) => n.routing.routingTableSize() >= target),
      formTimeout,
      () =>
        progress.frame(
          `  forming: routing tables ${nodes.map((n) => n.routing.routingTableSize()).join(' ')}`,
        ),
    )
    if (!formed) throw new DemoNetworkError(`the network did not form within ${formTimeout} ms`)
    const formMs = performance.now() - began - startMs
    const sizes = nodes.map((n) => n.routing.routingTableSize())
    say(`  formed in ${formatMs(formMs)}: routing tables ${sizes.join(' ')}`)

    const pick = (not?: number) => {
      let i = Math.floor(Math.random() * count)
      while (i === not) i = Math.floor(Math.random() * count)
      return i
    }
    const shards: Array<{ key: ShardKey; from: number }> = []
    const provideMs: number[] = []
    const sentTo: number[] = []
    const confirmed: number[] = []
    for (let s = 0; s < shardCount; s++) {
      const key = parseShardKey(options.seed == null ? randomBytes(32) : derive(options.seed, s))
      const from = pick()
      try {
        const result = await (nodes[from] as NsnNode).provide(key.hex)
        provideMs.push(result.durationMs)
        sentTo.push(result.sentTo)
        confirmed.push(result.confirmed)
        shards.push({ key, from })
        say(
          `  provide ${s + 1}/${shardCount} ${key.hex.slice(0, 12)}… from node ${from}: confirmed by ${result.confirmed} of ${result.sentTo} peers${result.belowQuorum ? ' (below quorum)' : ''} in ${formatMs(result.durationMs)}`,
        )
      } catch (err) {
        say(`  provide ${s + 1}/${shardCount} from node ${from} failed: ${(err as Error).message}`)
      }
    }

    const lookupMs: number[] = []
    let found = 0
    for (const [i, { key, from }] of shards.entries()) {
      const by = pick(from)
      const provider = (nodes[from] as NsnNode).peerId
      try {
        const result = await (nodes[by] as NsnNode).findProviders(key.hex, { limit: 1 })
        const hit = result.providers.some((p) => p.peerId.equals(provider))
        if (hit) {
          found++
          lookupMs.push(result.durationMs)
        }
        say(
          `  find ${i + 1}/${shards.length} ${key.hex.slice(0, 12)}… from node ${by}: ${hit ? 'found' : 'NOT found'} in ${formatMs(result.durationMs)}`,
        )
      } catch (err) {
        say(`  find ${i + 1}/${shards.length} from node ${by} failed: ${(err as Error).message}`)
      }
    }

    const report: DemoReport = {
      nodes: count,
      shards: shardCount,
      startMs,
      formMs,
      routingTable: { min: Math.min(...sizes), p50: percentile(sizes, 50), max: Math.max(...sizes) },
      provide: {
        p50: percentile(provideMs, 50),
        p95: percentile(provideMs, 95),
        ok: provideMs.length,
        confirmedP50: percentile(confirmed, 50),
        sentToP50: percentile(sentTo, 50),
      },
      lookup: {
        p50: percentile(lookupMs, 50),
        p95: percentile(lookupMs, 95),
        ok: found,
        attempted: shards.length,
      },
      successRate: shardCount === 0 ? 0 : found / shardCount,
      totalMs: 0,
    }
    report.totalMs = performance.now() - began
    say('')
    say(
      table([
        ['measure', 'value'],
        ['nodes', String(count)],
        ['network formed in', formatMs(formMs)],
        [
          'routing table min / p50 / max',
          `${report.routingTable.min} / ${report.routingTable.p50} / ${report.routingTable.max}`,
        ],
        ['provide p50 / p95', `${formatMs(report.provide.p50)} / ${formatMs(report.provide.p95)}`],
        ['records confirmed by (p50 peers)', String(report.provide.confirmedP50)],
        ['records sent to (p50 peers)', String(report.provide.sentToP50)],
        ['lookup p50 / p95', `${formatMs(report.lookup.p50)} / ${formatMs(report.lookup.p95)}`],
        ['shards published', `${report.provide.ok}/${shardCount}`],
        ['shards found from another node', `${found}/${shardCount}`],
        ['success rate', `${(report.successRate * 100).toFixed(1)} %`],
        ['total time', formatMs(report.totalMs)],
      ]),
    )
    return report
  } finally {
    const stopping = performance.now()
    await Promise.allSettled(nodes.map((n) => n.stop()))
    await rm(root, { recursive: true, force: true })
    say(`stopped ${nodes.length} nodes and removed their data in ${formatMs(performance.now() - stopping)}`)
  }
}

function derive(seed: Uint8Array, index: number): Uint8Array {
  const bytes = new Uint8Array(32)
  bytes.set(seed.subarray(0, 28))
  new DataView(bytes.buffer).setUint32(28, index)
  return bytes
}
