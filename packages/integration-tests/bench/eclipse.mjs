#!/usr/bin/env node
// Attack f of `pnpm bench:attacks`: the eclipse attack of test/eclipse.test.ts, as a figure
// beside plain kad-dht 16.4.5. For each implementation in turn (NSN on createNsnHost's
// default options, the routing-table diversity filter on; plain kad-dht with the options
// lib/nodes.mjs gives it, on /nsn/kad/1.0.0), on separate hosts made of network namespaces
// (src/netns: each host its own IPv4 /16, one bridge):
//
//   1. 8 honest hosts, one per namespace (netns-host.mjs: the bench node, default profile,
//      listening on the namespace's address), each bootstrapped to the 7 others;
//   2. once every table holds the 7 others, the Sybil swarm (src/netns/sybil-swarm.ts) in a
//      9th namespace: 50 identities on ONE address, ground to share 8+ leading bits with the
//      key of a shard no honest node is near (< 6 bits), each dialling every honest host
//      (paced under libp2p's 5 inbound connections per second per IP), answering FIND_NODE
//      and GET_PROVIDERS with Sybils only and swallowing ADD_PROVIDER;
//   3. once the Sybils' dials ended and no table changed for a second, honest host 0
//      provides the shard and hosts 1..7 look it up (a deadline each).
//
// Figures per implementation: found by X of 7, Sybils in each honest table (and their
// median), the lookups' times (median), and NSN's routing refusals (the diversity filter's
// `bucket`/`table`/`answer` counts). Needs root and iproute2 (`ip netns`); every namespace
// and process is removed afterwards, on failure too (the topology module also does it at
// exit and on SIGINT/SIGTERM).
//
//   node bench/eclipse.mjs [--impl nsn,plain]    prints the table and the figures as JSON
//   pnpm bench:attacks -- --only f               the same as attack f, into results/attacks.json and .md
import { createHash } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { waitFor } from '@nsn/core/testing'
import './lib/ts-imports.mjs'
import {
  ECLIPSE_DIAL_RATE,
  ECLIPSE_GROUND_BITS,
  ECLIPSE_HONEST,
  ECLIPSE_HONEST_BITS_MAX,
  ECLIPSE_SYBILS,
  shardAwayFrom,
} from '../src/netns/eclipse.ts'
import { benchKey } from './lib/nodes.mjs'

/** Honest hosts: host 0 provides, the 7 others look the shard up. */
export const HONEST = ECLIPSE_HONEST
export const SYBILS = ECLIPSE_SYBILS
/** Each lookup's deadline. */
const LOOKUP_DEADLINE_MS = 20_000
/** The identities of the honest hosts: benchKey(LABEL, i), the same for both implementations. */
const LABEL = 'eclipse'
const P2P_PORT = 4001
const HOST_SCRIPT = fileURLToPath(new URL('./netns-host.mjs', import.meta.url))

export const ECLIPSE_CONFIG = {
  honest: HONEST,
  sybils: SYBILS,
  groundBits: ECLIPSE_GROUND_BITS,
  honestBitsMax: ECLIPSE_HONEST_BITS_MAX,
  dialRate: ECLIPSE_DIAL_RATE,
  lookupDeadlineMs: LOOKUP_DEADLINE_MS,
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

export function median(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return undefined
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** One netns-host.mjs child: JSON lines both ways. */
class HonestHost {
  constructor(topology, host, impl, logFd, logFile) {
    this.host = host
    this.logFile = logFile
    this.pending = new Map()
    this.nextId = 0
    this.child = topology.spawn(
      host,
      process.execPath,
      [HOST_SCRIPT, impl, LABEL, String(host.index), host.ip, String(P2P_PORT)],
      { stdio: ['pipe', 'pipe', logFd] },
    )
    this.ready = new Promise((resolve, reject) => {
      this.onReady = resolve
      this.onEarlyExit = reject
    })
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let message
      try {
        message = JSON.parse(line)
      } catch {
        return
      }
      if (message.ready != null) return this.onReady(message.ready)
      const call = this.pending.get(message.id)
      if (call == null) return
      this.pending.delete(message.id)
      if (message.error != null) call.reject(new Error(`honest ${host.index}: ${message.error}`))
      else call.resolve(message.result)
    })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        const err = new Error(`honest ${host.index} exited (${code ?? signal})`)
        this.onEarlyExit(err)
        for (const call of this.pending.values()) call.reject(err)
        this.pending.clear()
        resolve()
      })
    })
    this.child.stdin.on('error', () => {}) // a write after its exit: the exit rejects the call
  }

  static async start(topology, host, impl) {
    const logFile = join(topology.workDir, `honest-${host.index}.log`)
    const log = await open(logFile, 'a')
    try {
      return new HonestHost(topology, host, impl, log.fd, logFile)
    } finally {
      await log.close()
    }
  }

  call(cmd, args = {}, timeoutMs = 60_000) {
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(new Error(`honest ${this.host.index}: no answer to ${cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer)
          resolve(v)
        },
        reject: (e) => {
          clearTimeout(timer)
          reject(e)
        },
      })
      this.child.stdin.write(`${JSON.stringify({ id, cmd, args })}\n`)
    })
  }

  async tail(lines = 15) {
    const text = await readFile(this.logFile, 'utf8').catch((err) => `(no log: ${err})`)
    return text.trimEnd().split('\n').slice(-lines).join('\n')
  }

  /** `stop`, then SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 5_000) {
    if (this.exit != null) return
    this.call('stop', {}, timeoutMs).catch(() => {})
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.exited.finally(() => clearTimeout(timer))
  }
}

/** The honest peer ids and a shard whose key none of them is near (deterministic). */
async function plan() {
  const keys = await Promise.all(Array.from({ length: HONEST }, (_, i) => benchKey(LABEL, i)))
  const ids = keys.map((k) => k.publicKey.toString())
  let n = 0
  const { shard, nearestBits } = await shardAwayFrom(
    keys.map((k) => k.publicKey.toMultihash().bytes),
    () => createHash('sha256').update(`nsn-eclipse-bench/${n++}`).digest('hex'),
  )
  return { ids, shard, honestBitsNearest: nearestBits }
}

/** The eclipse attack against `impl` ('nsn' or 'plain'), on a topology of its own. */
export async function eclipseOn(impl, { log = console.error } = {}) {
  const { Topology, SybilSwarm } = await import('../src/netns/index.ts')
  const { ids, shard, honestBitsNearest } = await plan()
  const started = performance.now()
  const phases = {}
  const phase = (name) => {
    phases[name] = Math.round(performance.now() - started)
    log(`  f ${impl}: ${name} (${(phases[name] / 1000).toFixed(1)} s)`)
  }
  let topology
  const hosts = []
  let swarm
  let failed = true
  try {
    // hosts 0..7 honest, host 8 the attacker
    topology = await Topology.create({ hosts: HONEST + 1 })
    const attacker = topology.hosts[HONEST]
    const addrOf = (i) => `/ip4/${topology.hosts[i].ip}/tcp/${P2P_PORT}/p2p/${ids[i]}`
    for (let i = 0; i < HONEST; i++) hosts.push(await HonestHost.start(topology, topology.hosts[i], impl))
    const ready = await Promise.all(
      hosts.map((h) =>
        Promise.race([h.ready, sleep(30_000).then(() => Promise.reject(new Error('no ready line')))]),
      ),
    )
    ready.forEach((r, i) => {
      if (r.peerId !== ids[i]) throw new Error(`honest ${i} is ${r.peerId}, expected ${ids[i]}`)
    })
    phase('honest hosts listening')
    await Promise.all(
      hosts.map((h, i) =>
        h.call('bootstrap', { addrs: ids.flatMap((_, j) => (j === i ? [] : [addrOf(j)])) }, 60_000),
      ),
    )
    const tables = () => Promise.all(hosts.map((h) => h.call('table', {}, 10_000)))
    let seen = []
    await waitFor(
      async () => {
        seen = await tables()
        return seen.every((t) => t.length >= HONEST - 1)
      },
      {
        timeoutMs: 30_000,
        pollMs: 250,
        what: () =>
          `every honest table to hold the ${HONEST - 1} others (sizes ${seen.map((t) => t.length).join(' ')})`,
      },
    )
    phase('honest tables full')

    swarm = await SybilSwarm.start(
      topology,
      attacker,
      {
        ip: attacker.ip,
        shard,
        count: SYBILS,
        bits: ECLIPSE_GROUND_BITS,
        rate: ECLIPSE_DIAL_RATE,
        targets: ids.map((_, i) => addrOf(i)),
      },
      join(topology.workDir, 'sybils.log'),
    )
    const { sybils } = await swarm.next('listening', 60_000)
    phase('Sybils listening')
    const swarmReady = await swarm.next('ready', 90_000)
    phase('Sybils dialled')

    // admission is asynchronous (identify, then kad-dht's ping): until no table changed for a second
    const sybilIds = new Set(sybils.map((s) => s.peerId))
    const honestIds = new Set(ids)
    let last = ''
    let stableSince = performance.now()
    await waitFor(
      async () => {
        seen = await tables()
        const now = JSON.stringify(seen.map((t) => [...t].sort()))
        if (now !== last) {
          last = now
          stableSince = performance.now()
        }
        return performance.now() - stableSince >= 1_000
      },
      { timeoutMs: 30_000, pollMs: 250, what: () => 'the honest tables to settle' },
    )
    const tablesSettled = seen.map((t) => ({
      size: t.length,
      sybils: t.filter((p) => sybilIds.has(p)).length,
      honest: t.filter((p) => honestIds.has(p)).length,
    }))
    phase('tables settled')

    const provide = await hosts[0].call('provide', { shard }, 120_000).then(
      (result) => result,
      (err) => ({ error: err.message }),
    )
    phase('provided')
    const lookups = await Promise.all(
      hosts.slice(1).map(async (h, i) => {
        const r = await h.call('find', { shard, deadlineMs: LOOKUP_DEADLINE_MS }, LOOKUP_DEADLINE_MS + 10_000)
        return {
          node: i + 1,
          found: r.providers.includes(ids[0]),
          providers: r.providers.length,
          ms: r.ms,
          ...(r.error == null ? {} : { error: r.error }),
        }
      }),
    )
    phase('looked up')
    const refusals = await Promise.all(hosts.map((h) => h.call('refusals', {}, 10_000)))
    const diversity = refusals.map((r) => (r.bucket ?? 0) + (r.table ?? 0) + (r.answer ?? 0))
    failed = false
    const found = lookups.filter((l) => l.found).length
    return {
      impl,
      shard,
      honestBitsNearest,
      sybilBitsNearest: sybils.slice(0, 3).map((s) => s.commonBits),
      attackerIp: attacker.ip,
      dials: swarmReady.dials,
      tables: tablesSettled,
      sybilsPerTable: tablesSettled.map((t) => t.sybils),
      sybilsPerTableMedian: median(tablesSettled.map((t) => t.sybils)),
      provide,
      lookups,
      found,
      lookupsRun: lookups.length,
      lookupMsMedian: median(lookups.map((l) => l.ms)),
      foundMsMedian: median(lookups.filter((l) => l.found).map((l) => l.ms)),
      refusals,
      diversityRefusals: impl === 'plain' ? undefined : diversity,
      diversityRefusalsMedian: impl === 'plain' ? undefined : median(diversity),
      phasesMs: phases,
      wallMs: performance.now() - started,
    }
  } finally {
    if (failed) {
      for (const h of hosts) log(`--- f ${impl}: honest ${h.host.index} log tail ---\n${await h.tail()}`)
      if (swarm != null) log(`--- f ${impl}: Sybil swarm log tail ---\n${await swarm.tail(15)}`)
    }
    await Promise.allSettled([swarm?.stop(), ...hosts.map((h) => h.stop())])
    await topology?.destroy()
  }
}

/** The attack against each implementation in turn; an implementation that failed has `error`. */
export async function runEclipse({ impls = ['nsn', 'plain'], log = console.error } = {}) {
  const { assertNetnsAvailable, ip } = await import('../src/netns/index.ts')
  try {
    await assertNetnsAvailable()
  } catch (err) {
    return { config: ECLIPSE_CONFIG, skipped: err.message }
  }
  const started = performance.now()
  const result = { config: ECLIPSE_CONFIG }
  for (const impl of impls) {
    log(`f. eclipse: ${SYBILS} Sybils from one IP vs ${HONEST} honest hosts, ${impl}`)
    try {
      result[impl] = await eclipseOn(impl, { log })
    } catch (err) {
      log(`f ${impl} failed: ${err.stack ?? err}`)
      result[impl] = { impl, error: err.message }
    }
  }
  // every namespace of this process's topologies is gone (the topology module removes them)
  const prefix = `nsn-${process.pid}-`
  result.netnsLeft = (await ip(['netns', 'list']))
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter((name) => name.startsWith(prefix))
  if (result.netnsLeft.length > 0) log(`f: namespaces left after the run: ${result.netnsLeft.join(', ')}`)
  result.wallMs = performance.now() - started
  return result
}

const fmtMs = (v) => (v == null ? '–' : v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${v.toFixed(0)} ms`)

/** "found by X of N honest nodes" */
export function foundByText(r) {
  if (r == null) return '–'
  if (r.error != null) return `error: ${r.error}`
  return `found by ${r.found} of ${r.lookupsRun} honest nodes`
}

/** The table rows (figure, NSN, plain) of a result. */
export function eclipseRows(f) {
  const { nsn, plain } = f
  const cell = (r, fn) => (r == null ? '–' : r.error != null ? 'error' : fn(r))
  return [
    ['shard provided after the Sybils joined', foundByText(nsn), foundByText(plain)],
    [
      'Sybils in each honest table (median)',
      cell(nsn, (r) => `${r.sybilsPerTable.join(' ')} (${r.sybilsPerTableMedian})`),
      cell(plain, (r) => `${r.sybilsPerTable.join(' ')} (${r.sybilsPerTableMedian})`),
    ],
    [
      'lookup time, median (of the found)',
      cell(nsn, (r) => `${fmtMs(r.lookupMsMedian)} (${fmtMs(r.foundMsMedian)})`),
      cell(plain, (r) => `${fmtMs(r.lookupMsMedian)} (${fmtMs(r.foundMsMedian)})`),
    ],
    [
      'diversity refusals per honest node (median)',
      cell(nsn, (r) => `${r.diversityRefusals.join(' ')} (${r.diversityRefusalsMedian})`),
      'no filter',
    ],
    [
      'Sybil dials ok / failed; wall time',
      cell(nsn, (r) => `${r.dials.ok} / ${r.dials.failed}; ${fmtMs(r.wallMs)}`),
      cell(plain, (r) => `${r.dials.ok} / ${r.dials.failed}; ${fmtMs(r.wallMs)}`),
    ],
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: { impl: { type: 'string', default: 'nsn,plain' } },
  })
  const { table } = await import('./lib/report.mjs')
  const f = await runEclipse({ impls: values.impl.split(',') })
  if (f.skipped != null) {
    console.error(`f skipped: ${f.skipped}`)
    process.exit(2)
  }
  console.log(table(['figure', 'NSN', 'plain kad-dht 16.4.5'], eclipseRows(f)))
  console.log(JSON.stringify(f, null, 2))
  process.exit(f.nsn?.found != null && f.nsn.found === f.nsn.lookupsRun ? 0 : 1)
}
