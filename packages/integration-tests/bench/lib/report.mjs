// The bench report: machine description, latest.md (tables, ratios, explanations drawn
// from the measured figures) and the charts.
import { execFileSync } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import os from 'node:os'
import { cdfPoints, lineChart } from './svg.mjs'

const MiB = 2 ** 20

export function machineInfo() {
  const cpus = os.cpus()
  let commit
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    commit = undefined
  }
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    commit,
  }
}

// ---- number formatting

function ms(v) {
  if (v == null || !Number.isFinite(v)) return '–'
  if (v >= 10_000) return `${(v / 1000).toFixed(1)} s`
  if (v >= 10) return v.toFixed(0)
  return v.toFixed(1)
}

/** A duration with its unit: "850 ms" or "52.8 s". */
function dur(v) {
  if (v == null || !Number.isFinite(v)) return '–'
  return v >= 10_000 ? `${(v / 1000).toFixed(1)} s` : `${ms(v)} ms`
}

function num(v, digits = 1) {
  return v == null || !Number.isFinite(v) ? '–' : v.toFixed(digits)
}

function mib(bytes, digits = 2) {
  return bytes == null || !Number.isFinite(bytes) ? '–' : (bytes / MiB).toFixed(digits)
}

function pct(v) {
  return v == null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(0)} %`
}

function x(v) {
  return v == null || !Number.isFinite(v) ? '–' : `${v.toFixed(2)}×`
}

export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n')
}

const IMPL_LABEL = { nsn: 'NSN', plain: 'plain', 'nsn-noreg': 'NSN, no registry' }

function implsOf(entry) {
  return ['nsn', 'plain', 'nsn-noreg'].filter((impl) => entry[impl] != null)
}

// ---- charts

/** Writes one lookup-latency CDF per size; returns the file names. */
export async function writeCdfCharts(comparison, dir) {
  const files = []
  const colors = { nsn: '#1f77b4', plain: '#ff7f0e', 'nsn-noreg': '#2ca02c' }
  for (const entry of comparison) {
    const series = []
    for (const impl of implsOf(entry)) {
      const r = entry[impl]
      series.push({
        name: `${IMPL_LABEL[impl]}: to completion`,
        points: cdfPoints(r.lookup.msAll),
        color: colors[impl],
        step: true,
      })
      series.push({
        name: `${IMPL_LABEL[impl]}: to first provider`,
        points: cdfPoints(r.lookup.firstProviderMsAll.filter((v) => v != null)),
        color: colors[impl],
        dashed: true,
        step: true,
      })
    }
    const name = `lookup-cdf-n${entry.n}.svg`
    await writeFile(
      new URL(name, dir),
      lineChart({
        title: `Provider lookup latency CDF, ${entry.n} nodes (${entry.nsn.lookup.count} lookups each)`,
        xLabel: 'milliseconds (log scale)',
        yLabel: 'fraction of lookups',
        xScale: 'log',
        yRange: [0, 1],
        series,
      }),
    )
    files.push(name)
  }
  return files
}

// ---- explanations drawn from the figures

function explain(comparison) {
  const out = []
  const last = comparison[comparison.length - 1]
  if (last == null) return out
  const n = last.n
  const ours = last.nsn
  const plain = last.plain
  const noreg = last['nsn-noreg']

  // provide
  const pr = ours.provide
  const pp = plain.provide
  const provideRatio = last.ratios.provideP50
  let provide = `**Provide** (${n} nodes): ours ${ms(pr.ms.p50)} ms p50 vs plain ${ms(pp.ms.p50)} ms (${x(provideRatio)}). Ours sent ${num(pr.rpcsPerOp.mean)} RPCs per provide (FIND_NODE ${num(pr.findNodePerOp.mean)}, ADD_PROVIDER ${num(pr.addProviderPerOp.mean)}) against plain's ${num(pp.rpcsPerOp.mean)} (${num(pp.findNodePerOp.mean)} + ${num(pp.addProviderPerOp.mean)}); the CPU the whole network spent per provide was ${ms(pr.cpuMsPerOp)} ms vs ${ms(pp.cpuMsPerOp)} ms. Ours waits for every closest peer to confirm the store (a GET_PROVIDERS after the ADD_PROVIDER on the same stream, answered once the receiver has written the record: ${num(pr.confirmed?.mean)} of ${num(pr.sentTo?.mean)} confirmed per provide), so it ends at the slowest confirmation, where plain's ends once its messages are written and knows of no store at all; that wait, not RPCs, is most of the provide-time ratio. Returning at the quorum and finishing in the background (optimistic provide) is the planned way back.`
  if (pr.rpcsPerOp.mean > 1.5 * pp.rpcsPerOp.mean) {
    provide += ` Ours publishes every record **twice**: \`ShardRegistry.add\` makes a new shard due at once (\`republishAt = now\`), \`ShardRouting.provide\` then calls \`republisher.schedule()\`, whose timer fires at that deadline (0 ms) and republishes the shard concurrently with provide's own publication (the tally sees ${num(pr.addProviderOkPerOp.mean)} acknowledged ADD_PROVIDER per provide while provide reports \`sentTo\` ${num(pr.sentTo.mean)}). That is a defect of core, not a cost of the design.`
    if (noreg != null) {
      provide += ` Without a registry (variant "NSN, no registry") the same network needs ${num(noreg.provide.rpcsPerOp.mean)} RPCs and ${ms(noreg.provide.ms.p50)} ms p50 per provide (${x(last.ratiosNoRegistry?.provideP50)} of plain).`
    }
  } else {
    provide +=
      ' Both send the same kinds of RPC (one FIND_NODE lookup, then ADD_PROVIDER to the k closest peers); ours additionally writes the registry entry and the self-record first, counts the ADD_PROVIDER sends that succeeded, and runs under the deadline.'
    if (pr.findNodePerOp.mean > 1.05 * pp.findNodePerOp.mean) {
      provide += ` Ours needs ${num(pr.findNodePerOp.mean - pp.findNodePerOp.mean)} more FIND_NODE per provide and opens ${num(pr.dialsPerOp?.mean)} new connections per provide against ${num(pp.dialsPerOp?.mean)}: its routing tables are smaller (see "Routing tables").`
    }
  }
  out.push(provide)

  // bootstrap
  const jb = ours.join
  const jp = plain.join
  out.push(
    `**Bootstrap** (${n} nodes): ours ${ms(jb.bootstrapMs.p50)} ms p50 vs plain ${ms(jp.bootstrapMs.p50)} ms. Plain kad-dht (\`allowQueryWithZeroPeers: false\`) makes every query wait for its initial self-query, which starts 1 s after the node starts (\`initialQuerySelfInterval\`), so a node that joins right after starting waits about a second whatever the network; NSN sets \`allowQueryWithZeroPeers: true\` (an empty table fails at once with NoKnownPeersError instead), so its bootstrap is the dials plus one self-lookup. Every table held ≥ ${jb.threshold} peers ${jb.tablesReadyMs == null ? `not within the wait (${jb.tablesBelowThreshold} below)` : dur(jb.tablesReadyMs)} after the first node started for ours, ${jp.tablesReadyMs == null ? `not within the wait (${jp.tablesBelowThreshold} below)` : dur(jp.tablesReadyMs)} for plain: that is the sum of the join calls (${dur(jb.joinMs)} vs ${dur(jp.joinMs)}), the tables being full enough as soon as the last node joined. Join RPC errors (${jb.rpcs.errors} ours, ${jp.rpcs.errors} plain, ${Object.keys({ ...jb.rpcs.errorNames, ...jp.rpcs.errorNames }).join(', ') || 'none'}) are, as far as traced (stack traces on 20 nodes), kad-dht's own self-query cancelling itself: \`QuerySelf\` takes the first 20 query *events* (\`take(source, count)\` over every event, not over peers found) and the query manager then aborts the RPCs still in flight. Ours runs that self-query 1 s after start, when its bootstrap has already filled its table (more RPCs in flight to abort); plain's bootstrap waits for it while its table holds the bootstrap peers only.`,
  )

  // lookup
  const lr = ours.lookup
  const lp = plain.lookup
  out.push(
    `**Lookup** (${n} nodes): to completion ours ${ms(lr.ms.p50)} ms p50 / ${ms(lr.ms.p95)} ms p95 vs plain ${ms(lp.ms.p50)} / ${ms(lp.ms.p95)} ms (${x(last.ratios.lookupP50)} at p50); first provider ${ms(lr.firstProviderMs.p50)} vs ${ms(lp.firstProviderMs.p50)} ms p50. RPCs per lookup ${num(lr.rpcsPerOp.mean)} vs ${num(lp.rpcsPerOp.mean)}, new connections per lookup ${num(lr.dialsPerOp?.mean, 2)} vs ${num(lp.dialsPerOp?.mean, 2)}, success ${pct(lr.successRate)} vs ${pct(lp.successRate)}. Both run the same kad-dht query (alpha 10, 10 disjoint paths, k 20): \`findProviders\` only stops early at 20 providers, so with one provider per shard both walk the query to its end, and "to completion" is the query's convergence time; ${lr.localHits + lp.localHits > 0 ? `${lr.localHits} of ours and ${lp.localHits} of plain's lookups started on a node that itself stores the record (one of the k = 20 closest), where the first provider comes from the local store in well under a millisecond.` : 'no lookup started on a node that stores the record.'} ${lr.rpcsPerOp.mean > 1.03 * lp.rpcsPerOp.mean ? 'Ours needs more RPCs and new connections because its routing tables are smaller (see "Routing tables"). ' : ''}Beyond RPCs and connections, the difference is CPU (ShardRouting adds the deadline, the answer tally and a peer-store read of the providers' addresses: a fraction of a millisecond) and the noise of a shared 2-core machine; the tails (p95, p99) are where the noise shows most.`,
  )

  // routing tables
  const tb = ours.join.tableSizes
  const tp = plain.join.tableSizes
  if (tb.p50 < 0.95 * tp.p50) {
    out.push(
      `**Routing tables** (${n} nodes): ours end the join smaller (min / p50 / max ${tb.min} / ${tb.p50} / ${tb.max} vs ${tp.min} / ${tp.p50} / ${tp.max}; ${num(ours.join.connectionsPerNode?.mean)} vs ${num(plain.join.connectionsPerNode?.mean)} connections per node). Plain kad-dht refreshes its table when it starts (\`RoutingTableRefresh.afterStart\` runs \`refreshTable(true)\`: with an empty table that is one extra lookup, of a random key in the half of the keyspace away from the node's own id, run as soon as it knows a peer; plain's join sent ${plain.join.rpcs.total - ours.join.rpcs.total} more RPCs in all); NSN turns kad-dht's refresh loop off and runs its own ShardRouting refresh, whose first run comes one \`refreshInterval\` (5 min) after start, and its bootstrap looks up only its own id. Until then an NSN node knows the peers its bootstrap self-lookup and the queries it receives brought, so its lookups take a few more RPCs (${num(lr.rpcsPerOp.mean)} vs ${num(lp.rpcsPerOp.mean)} per lookup, ${num(ours.provide.findNodePerOp.mean)} vs ${num(plain.provide.findNodePerOp.mean)} FIND_NODE per provide) and open more new connections (each a TCP connect, a Noise handshake and Yamux setup: ${num(lr.dialsPerOp?.mean, 2)} vs ${num(lp.dialsPerOp?.mean, 2)} per lookup), which is the CPU behind the CPU-per-lookup ratio (${x(last.ratios.lookupCpuMs)}). (Not measured here: a refresh, or one lookup of a far key, right after a successful bootstrap should close the gap.)`,
    )
  }

  // memory
  const mr = ours.memory
  const mp = plain.memory
  out.push(
    `**Memory** (${n} nodes, each network alone in a fresh process): ${mib(mr.heapPerNode)} MiB of heap per node for ours vs ${mib(mp.heapPerNode)} MiB for plain once joined, ${mib(mr.heapPerNode + mr.workloadGrowthPerNode)} vs ${mib(mp.heapPerNode + mp.workloadGrowthPerNode)} MiB after the provides and lookups (${ours.provide.count} records, each stored on up to 20 peers, and the connections the lookups opened); RSS ${mib(mr.rssPerNode, 1)} vs ${mib(mp.rssPerNode, 1)} MiB per node. Most of a node's heap is the libp2p host, and it grows with the connections a node holds (the connections-per-node column: ~${num(ours.join.connectionsPerNode?.mean, 0)} at ${n} nodes), each with its Noise and Yamux state; ours adds the ShardRouting facade and an empty ShardRegistry, a few KiB${(ours.join.connectionsPerNode?.mean ?? 0) < 0.95 * (plain.join.connectionsPerNode?.mean ?? 0) ? `, and holds fewer connections here (${num(ours.join.connectionsPerNode?.mean)} vs ${num(plain.join.connectionsPerNode?.mean)} per node once joined: see "Routing tables"), hence the smaller figure` : ''}. The figure also carries the process's one-time costs (compiled code, caches: ~5–9 MiB) spread over N.`,
  )
  return out
}

// ---- the Markdown report

export function renderMarkdown(result) {
  const { machine, config, comparison = [], soak } = result
  const lines = []
  lines.push('# NSN shard DHT: benchmark report', '')
  lines.push(
    `Generated by \`pnpm bench\` (packages/integration-tests/bench) on ${result.date}. ${result.note ?? ''}`.trim(),
    '',
  )
  lines.push(
    table(
      ['machine', ''],
      [
        ['CPU', `${machine.cpuModel} (${machine.cores} cores)`],
        ['memory', `${machine.memoryGiB} GiB`],
        ['Node', machine.node],
        ['OS', machine.platform],
        ['commit', machine.commit ?? '–'],
        [
          'load average (1 min) at start / end',
          `${num(result.loadavg?.start, 2)} / ${num(result.loadavg?.end, 2)}`,
        ],
        [
          'run time',
          `${num(result.durationsSec?.comparison, 0)} s comparison, ${num(result.durationsSec?.soak, 0)} s soak`,
        ],
      ],
    ),
    '',
  )

  lines.push('## Method', '')
  lines.push(
    '- **Transport**: real TCP on 127.0.0.1 with Noise, Yamux, identify and ping, the stack the daemon runs: an in-memory transport would hide the cost of encryption, multiplexing and socket I/O, which is where a DHT node spends much of its CPU.',
    '- **One process per size**: all nodes of a network share one Node.js process (100 processes on 2 cores would measure the OS scheduler, not the DHT). Each size runs in a fresh child process holding both networks side by side.',
    "- **Interleaved operations**: provide j runs on one network, then the same provide j on the other (which goes first alternates with j), and likewise for lookups, so whatever else the machine does (other engineers' test runs) slows both implementations alike within seconds and the NSN/plain ratios stay meaningful on a busy machine. The other network is idle meanwhile (both have the connection monitor off; kad-dht's own 5-minute self-query and, for plain, table refresh may fire during a long run).",
    "- **Same host for both, by construction**: both are built by `createNsnHost({ profile: 'local' })` (`@nsn/core/host`, the daemon's builder), plain kad-dht swapped in as its DHT service: connection monitor off (DESIGN measured it at 77 % of a core for 100 idle nodes), libp2p's 5-inbound-connections-per-second-per-IP limit raised (`LOCAL_PROFILE`: every dial on loopback comes from 127.0.0.1). RPCs are counted through libp2p's metrics component (kad-dht's outbound request counter) for both; NSN's ADD_PROVIDER and its confirming GET_PROVIDERS, which NSN sends itself, are counted from its provide results, the confirmations apart.",
    '- **NSN**: `nsnKadDHT()` + `ShardRouting` with an in-memory `ShardRegistry` (the assembled configuration), every NSN default (protocol `/nsn/kad/1.0.0`, k 20, 10 s deadline on every query, refresh every 5 min).',
    "- **plain**: `kadDHT({ clientMode: false, peerInfoMapper: passthroughMapper })` from @libp2p/kad-dht 16.4.5, everything else default. These two changes are needed for a loopback network to exist at all: plain's default mapper (`removePrivateAddressesMapper`) strips 127.0.0.1 addresses, so no peer would ever enter a routing table, and its default client mode answers no queries. Plain has no bootstrap call; the bench runs what a plain user writes: dial the peers, wait for one to enter the routing table, look up our own id.",
    `- **The same network twice**: identities are derived from a seed, so both implementations get the same peer ids (same XOR geometry), the same join order, the same bootstrap peers, and the same provides and lookups from the same nodes (seed ${config.seed}). Which implementation is built first alternates by size.`,
    `- **Join**: node i starts, then bootstraps from ${config.bootstrapPeers} random earlier nodes, one node after the other. "Tables ready": time from the first node's start until every routing table holds ≥ min(N−1, ${config.tableThreshold}) peers (bounded wait ${config.tableWaitMs / 1000} s after the last join).`,
    `- **Provide**: ${config.provides} provides, one at a time, each of a new shard from a random node (after ${config.warmUpOps} unrecorded warm-up provides and lookups). NSN: \`ShardRouting.provide\`; plain: draining \`dht.provide\`.`,
    `- **Lookup**: ${config.lookups} lookups, one at a time, of a random provided shard from a random node other than its provider. "First provider" is the time of the first PROVIDER event of the dht's \`findProviders\` stream, "completion" the end of the call (NSN: \`ShardRouting.findProviders\`, default limit 20; plain: iterating \`dht.findProviders\` to its end). RPCs are the SEND_QUERY events of that stream. Success: the provider was among the providers returned.`,
    '- **CPU per operation** is the process CPU time during the operation: the work of the whole network (the requester and every peer answering it), including any background work at the time.',
    '- **Memory per node**: each network is built once more, alone, in a fresh process, running the same join and operations: (heapUsed after two forced GCs − the same in the process before its first node) / N, once joined and after the operations (each measured after 11 s of quiet, so the 5–10 s RPC timers of the last operations have run out); likewise RSS and arrayBuffers (RSS is the noisiest: the allocator keeps freed pages). Alone, because a network built second in a process costs ~40 % less per node at N = 20 (the first paid the one-time costs: compiled code, caches, pools, ~5–9 MiB); the figure therefore includes those costs spread over N, as a single daemon pays them.',
    '',
  )

  for (const [title, header, row] of [
    [
      'Joining the network',
      [
        'N',
        'impl',
        'bootstrap p50 ms',
        'p95 ms',
        'tables ready s',
        'table min / p50 / max',
        'connections / node',
        'join RPCs (errors)',
        'join CPU s',
      ],
      (r) => [
        r.n,
        IMPL_LABEL[r.impl],
        ms(r.join.bootstrapMs.p50),
        ms(r.join.bootstrapMs.p95),
        r.join.tablesReadyMs == null
          ? `not reached (${r.join.tablesBelowThreshold} below ${r.join.threshold})`
          : num(r.join.tablesReadyMs / 1000),
        `${r.join.tableSizes.min} / ${r.join.tableSizes.p50} / ${r.join.tableSizes.max}`,
        num(r.join.connectionsPerNode?.mean),
        `${r.join.rpcs.total} (${r.join.rpcs.errors})`,
        num(r.join.cpuMs / 1000),
      ],
    ],
    [
      'Provide',
      [
        'N',
        'impl',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'RPCs / provide',
        'FIND_NODE + ADD_PROVIDER',
        'confirmed / sent to',
        'new connections / provide',
        'CPU ms / provide',
        'failed',
      ],
      (r) => [
        r.n,
        IMPL_LABEL[r.impl],
        ms(r.provide.ms.p50),
        ms(r.provide.ms.p95),
        ms(r.provide.ms.p99),
        num(r.provide.rpcsPerOp.mean),
        `${num(r.provide.findNodePerOp.mean)} + ${num(r.provide.addProviderPerOp.mean)}`,
        r.provide.sentTo.n > 0
          ? `${num(r.provide.confirmed?.mean)} / ${num(r.provide.sentTo.mean)}`
          : `(${num(r.provide.addProviderOkPerOp.mean)} written, unconfirmed)`,
        num(r.provide.dialsPerOp?.mean),
        ms(r.provide.cpuMsPerOp),
        r.provide.count - r.provide.succeeded,
      ],
    ],
    [
      'Provider lookup',
      [
        'N',
        'impl',
        'first provider p50 ms',
        'p95 ms',
        'completion p50 ms',
        'p95 ms',
        'p99 ms',
        'RPCs / lookup',
        'success',
        'local hits',
        'new connections / lookup',
        'CPU ms / lookup',
      ],
      (r) => [
        r.n,
        IMPL_LABEL[r.impl],
        ms(r.lookup.firstProviderMs.p50),
        ms(r.lookup.firstProviderMs.p95),
        ms(r.lookup.ms.p50),
        ms(r.lookup.ms.p95),
        ms(r.lookup.ms.p99),
        num(r.lookup.rpcsPerOp.mean),
        pct(r.lookup.successRate),
        `${r.lookup.localHits}/${r.lookup.count}`,
        num(r.lookup.dialsPerOp?.mean),
        ms(r.lookup.cpuMsPerOp),
      ],
    ],
    [
      'Memory per node',
      [
        'N',
        'impl',
        'heap MiB, joined',
        'heap MiB, after the operations',
        'arrayBuffers MiB',
        'RSS MiB',
        'loop delay p99 ms: join / ops',
        'load avg: start → end',
      ],
      (r) => [
        r.n,
        IMPL_LABEL[r.impl],
        mib(r.memory.heapPerNode),
        mib(r.memory.heapPerNode + r.memory.workloadGrowthPerNode),
        mib(r.memory.arrayBuffersPerNode),
        mib(r.memory.rssPerNode, 1),
        `${num(r.eventLoopDelayMs.join.p99, 0)} / ${num(r.eventLoopDelayMs.operations.p99, 0)}`,
        `${num(r.loadavg.start, 2)} → ${num(r.loadavg.end, 2)}`,
      ],
    ],
  ]) {
    lines.push(`## ${title}`, '')
    const rows = []
    for (const entry of comparison) for (const impl of implsOf(entry)) rows.push(row(entry[impl]))
    lines.push(table(header, rows), '')
  }

  if (comparison.length > 0) {
    lines.push('## Ratios: NSN / plain (below 1: NSN is faster or smaller)', '')
    const figures = [
      ['bootstrap p50', 'bootstrapP50'],
      ['bootstrap p95', 'bootstrapP95'],
      ['tables ready', 'tablesReadyMs'],
      ['routing table p50', 'tableP50'],
      ['provide p50', 'provideP50'],
      ['provide p95', 'provideP95'],
      ['provide p99', 'provideP99'],
      ['RPCs per provide', 'provideRpcs'],
      ['CPU per provide', 'provideCpuMs'],
      ['lookup first provider p50', 'lookupFirstP50'],
      ['lookup first provider p95', 'lookupFirstP95'],
      ['lookup completion p50', 'lookupP50'],
      ['lookup completion p95', 'lookupP95'],
      ['lookup completion p99', 'lookupP99'],
      ['RPCs per lookup', 'lookupRpcs'],
      ['CPU per lookup', 'lookupCpuMs'],
      ['lookup success', 'lookupSuccess'],
      ['heap per node', 'heapPerNode'],
      ['RSS per node', 'rssPerNode'],
    ]
    lines.push(
      table(
        ['figure', ...comparison.map((e) => `N = ${e.n}`)],
        figures.map(([label, key]) => [label, ...comparison.map((e) => x(e.ratios[key]))]),
      ),
      '',
    )
    if (comparison.some((e) => e.ratiosNoRegistry != null)) {
      lines.push(
        '"NSN, no registry" / plain:',
        '',
        table(
          ['figure', ...comparison.map((e) => `N = ${e.n}`)],
          figures
            .filter(([, key]) => key.startsWith('provide') || key.startsWith('lookup'))
            .map(([label, key]) => [label, ...comparison.map((e) => x(e.ratiosNoRegistry?.[key]))]),
        ),
        '',
      )
    }
    lines.push('## Lookup latency', '')
    for (const file of result.charts?.cdf ?? []) lines.push(`![lookup latency CDF](${file})`, '')
    lines.push('## Why the figures differ', '')
    for (const item of explain(comparison)) lines.push(`- ${item}`, '')
  }

  const asm = result.assembled
  if (asm != null) {
    lines.push('## Memory per assembled node (@nsn/node)', '')
    if (asm.error != null) lines.push(`Not measured: ${asm.error}.`, '')
    else {
      const same = comparison.find((e) => e.n === asm.n)?.nsn
      lines.push(
        `${asm.n} nodes from \`createNsnNode\` (libp2p host, nsnKadDHT, ShardRouting, a ShardRegistry persisted in LevelDB, the HTTP API server, the Prometheus server with process metrics, a silent logger) in one process on 127.0.0.1, each bootstrapping from up to 3 earlier nodes; ${asm.provideMs.n} provides afterwards. Tables ${asm.tableSizes.min} / ${asm.tableSizes.p50} / ${asm.tableSizes.max} (min / p50 / max).`,
        '',
        table(
          ['', 'heap MiB', 'heap MiB after provides', 'arrayBuffers MiB', 'RSS MiB'],
          [
            [
              'assembled node',
              mib(asm.memory.heapPerNodeIdle),
              mib(asm.memory.heapPerNode),
              mib(asm.memory.arrayBuffersPerNode),
              mib(asm.memory.rssPerNode, 1),
            ],
            ...(same == null
              ? []
              : [
                  [
                    'bench NSN node (nsnKadDHT + ShardRouting), same N',
                    mib(same.memory.heapPerNode),
                    '–',
                    mib(same.memory.arrayBuffersPerNode),
                    mib(same.memory.rssPerNode, 1),
                  ],
                ]),
          ],
        ),
        '',
        'LevelDB keeps its caches outside the V8 heap: they show in RSS, not in heapUsed.',
        '',
      )
    }
  }

  if (soak != null) {
    const s = soak.memory.secondHalf
    lines.push("## Soak: an hour of a node's life in shrunk time", '')
    lines.push(
      `${soak.config.nodes} NSN nodes; the subject refreshes every ${soak.config.refreshInterval} ms (5 min in production), every node keeps records ${soak.config.providerRecordTtl} ms (12 h) and sweeps expired ones every ${soak.config.providerCleanupInterval} ms, the subject republishes ${soak.config.republishInterval} ms after each publication minus up to ${soak.config.republishJitter} ms (11 h minus up to 10 min). ${soak.config.hot} hot shards stay provided; ${soak.counts.churned.toLocaleString('en')} distinct shards churn through a registry of capacity ${soak.config.capacity.toLocaleString('en')} (persisted in the node's datastore), every ${soak.config.fullEvery}th with a full provide, the others with \`routing.provide\` under an already-aborted signal (registered, self-record written, publication failed at once: a full publication costs ~40 RPCs of CPU-bound work, so 100,000 would take hours; the aborted ones exercise the memory path: registry entry, datastore record, kad-dht self-record, and the withdrawal on eviction). Their retry is due after the retry delay, left at its production default of 1 min; churned shards are evicted long before (after ~15 s), so, as in a real hour (100,000 shards/h through 10,000 slots is 6 min in the registry against an 11 h republish interval), churned shards are not republished; the fully published ones are, every second, until evicted. A random peer looks up a random hot shard every ${soak.config.lookupEveryMs} ms and the subject's Prometheus registry (\`@nsn/metrics\`) is scraped every second. ${soak.config.peerChurnSec > 0 ? `Every ${soak.config.peerChurnSec} s a peer leaves and a fresh one joins.` : "The peers stay (`--peer-churn S` replaces one every S seconds: off by default, because a stopped libp2p node lingers ~10 s in the heap and every node keeps a departed peer in its peer store for 6 h, libp2p's own behaviour, which would blur the verdict)."} The verdict: over the second half, neither heapUsed nor arrayBuffers (after two forced GCs, whole process) may grow by more than max(4 MiB, 5 % of the mean heap), by a Theil–Sen fit (the median of pairwise slopes, robust to the spikes of transient work).`,
      '',
      table(
        ['', ''],
        [
          ['run', `${num(soak.runSec, 0)} s`],
          [
            'shards churned / fully published / evictions',
            `${soak.counts.churned.toLocaleString('en')} / ${soak.counts.fullProvides} / ${soak.counts.evictions.toLocaleString('en')}`,
          ],
          [
            'refresh cycles',
            `${soak.cycles.refresh} (${num(soak.cycles.refreshHoursEquivalent)} h of 5-min refreshes)`,
          ],
          [
            'republish runs / republishes per hot shard',
            `${soak.cycles.republishRuns} / ${num(soak.cycles.hotRepublishesPerShard)} (${num(soak.cycles.hotRepublishHoursEquivalent, 0)} h of 11-h republishes; one every ${ms(soak.cycles.meanHotRepublishPeriodMs)} ms)`,
          ],
          ['other republishes (churned shards)', soak.counts.otherRepublished],
          ['hot-shard lookups that found the subject', `${soak.counts.lookupsFound}/${soak.counts.lookups}`],
          ['peers replaced', soak.counts.peersReplaced],
          [
            'at the end: registry / registry records / kad-dht provider records / self-records',
            `${soak.end.registrySize} / ${soak.end.datastoreKeys.registry} / ${soak.end.datastoreKeys.kadDhtProviderRecords} / ${soak.end.selfRecords}`,
          ],
          [
            'records stored on each peer (p50 / max)',
            `${soak.end.recordsStoredOnPeers.p50} / ${soak.end.recordsStoredOnPeers.max}`,
          ],
          [
            'heap (after GC), whole process: min / p50 / max',
            `${num(soak.memory.heapMiB.min)} / ${num(soak.memory.heapMiB.p50)} / ${num(soak.memory.heapMiB.max)} MiB`,
          ],
          [
            'second half',
            `${num(s.fromSec, 0)}–${num(s.toSec, 0)} s, ${s.samples} samples, mean ${mib(s.meanHeapBytes, 1)} MiB`,
          ],
          [
            'heapUsed slope, second half (Theil–Sen)',
            `${num(s.slopeBytesPerSec / 1024, 2)} KiB/s: ${num(s.growthBytes / MiB, 2)} MiB over the half, limit ${mib(soak.memory.limitBytes, 1)} MiB (least squares ${num((s.leastSquaresSlopeBytesPerSec ?? s.slopeBytesPerSec) / 1024, 2)} KiB/s, r² ${num(s.r2, 2)})`,
          ],
          [
            'arrayBuffers slope, second half (Theil–Sen)',
            `${num((s.arrayBuffersSlopeBytesPerSec ?? Number.NaN) / 1024, 2)} KiB/s: ${num((s.arrayBuffersGrowthBytes ?? Number.NaN) / MiB, 2)} MiB over the half, same limit`,
          ],
          [
            'per cycle',
            `${num(s.bytesPerRefreshCycle, 0)} B per refresh cycle, ${num(s.bytesPerRepublishCycle, 0)} B per republish cycle, ${num(s.bytesPerChurnedShard, 1)} B per churned shard`,
          ],
          ['verdict', soak.memory.flat ? '**flat**' : '**NOT flat: memory grows**'],
        ],
      ),
      '',
      `Hot shards were republished every ${ms(soak.cycles.meanHotRepublishPeriodMs)} ms on average, against ${soak.config.republishInterval - soak.config.republishJitter / 2} ms asked for: the process is CPU-bound (${soak.config.nodes} nodes, a refresh every ${soak.config.refreshInterval} ms, the churn, the forced GCs of the samples), and a republish run publishes every due shard, 4 at a time, before the next run starts. The ${soak.counts.otherRepublished} other republishes are of the ${soak.counts.fullProvides} fully published churned shards, republished like the hot ones for as long as they stayed in the registry. ${soak.memory.steadyStateInSecondHalf === false ? '**The registry was still filling during the second half: the slope includes that; run longer.**' : `The registry was full from ${num(soak.memory.registryFullAtSec, 0)} s on, so the second half is steady state.`}`,
      '',
      '![soak heap](soak-heap.svg)',
      '',
    )
  }

  lines.push(
    '## Reproduce',
    '',
    '```sh',
    'pnpm bench                                   # build, comparison at 20/50/100 nodes, soak, this report',
    'pnpm --filter @nsn/integration-tests bench -- --sizes 20 --no-soak',
    'pnpm --filter @nsn/integration-tests bench -- --soak-only',
    'pnpm bench:check                             # fresh smaller comparison vs bench/results/baseline.json, by ratio',
    '```',
    '',
  )
  if (result.republish != null) lines.push(...renderRepublish(result.republish))
  return lines.join('\n')
}

/** The republish section: NSN's sweep against plain kad-dht's reprovider (bench/republish.mjs). */
function renderRepublish(r) {
  const lines = ['', "## Republishing at scale: the sweep against plain kad-dht's reprovider", '']
  if (r.error != null) return [...lines, `Not measured: ${r.error}.`, '']
  if (r.note != null) lines.push(r.note, '')
  lines.push(
    `${r.nodes} nodes over TCP on 127.0.0.1 (${r.date}); load average ${num(r.loadavg?.start, 1)} at start, ${num(r.loadavg?.end, 1)} at end. ` +
      `Plain republished a sample of ${r.plain?.shards ?? '–'} shards (its per-shard figures are compared). ` +
      (r.config?.raisedRates
        ? "Receivers' inbound rate limits raised, as said in bench/republish.mjs."
        : 'Default inbound rate limits.'),
    '',
  )
  const regionsOf = (x) =>
    x.regionPasses == null
      ? `${x.lookups} / ${x.regions}`
      : `${x.lookups} / ${x.regionPasses.map((p) => `${p.bits === '' ? "''" : p.bits}: ${p.peers} peers`).join(', ')}`
  const nsnRow = (x, label) => [
    label,
    num(x.wallMs / 1000, 1),
    num(x.shardsPerSec, 1),
    num(x.findNodePerShard, 4),
    num(x.addProviderPerShard, 1),
    `${num(x.trueClosestShare * 100, 1)} %`,
    `${num(x.cpuMs / 1000, 1)} (${num(x.cpuMs / x.shards, 2)} ms/shard)`,
    regionsOf(x),
  ]
  const rows = (r.nsn ?? []).map((x) => nsnRow(x, `NSN sweep, ${x.shards} shards`))
  if (r.plain != null) {
    rows.push([
      `plain reprovider, ${r.plain.shards} shards (10,000: ~${num((r.plain.extrapolatedSecFor10000 ?? 0) / 60, 0)} min)`,
      num(r.plain.wallMs / 1000, 1),
      num(r.plain.shardsPerSec, 2),
      num(r.plain.findNodePerShard, 1),
      num(r.plain.addProviderPerShard, 1),
      `${num(r.plain.trueClosestShare * 100, 1)} %`,
      `${num(r.plain.cpuMs / 1000, 1)} (${num(r.plain.cpuMs / r.plain.shards, 0)} ms/shard)`,
      '–',
    ])
  }
  if (r.small != null)
    rows.push(nsnRow(r.small, `NSN sweep, ${r.small.shards} shards on ${r.small.nodes} nodes`))
  lines.push(
    table(
      [
        'run',
        'wall s',
        'shards/s',
        'FIND_NODE/shard',
        'ADD_PROVIDER/shard',
        'on true k closest',
        'CPU s',
        'lookups / regions (peers each holds)',
      ],
      rows,
    ),
    '',
  )
  if (r.ratios != null) {
    lines.push(
      `NSN/plain per shard: FIND_NODE ${num(r.ratios.findNodePerShard, 4)}, ADD_PROVIDER ${num(r.ratios.addProviderPerShard, 2)}, CPU ${num(r.ratios.cpuPerShard, 3)}, throughput x${num(r.ratios.shardsPerSec, 1)}.`,
      '',
    )
  }
  if (r.targets != null) {
    lines.push(
      table(
        ['target', 'met'],
        Object.entries(r.targets).map(([k, v]) => [k, v == null ? '–' : v ? 'yes' : 'no']),
      ),
      '',
    )
  }
  const heap = r.storeHeap
  if (heap != null)
    lines.push(
      heap.skipped != null
        ? `Heap at 1,000,000 shards: ${heap.skipped}.`
        : `Heap at 1,000,000 shards: ${JSON.stringify(heap)}`,
      '',
    )
  return lines
}
