// Idle cost of daemon-configured nodes: N `createNsnNode` nodes in this one process, each
// as the daemon configures them with its `local` profile (the one for many nodes on one
// host: loopback listen address, allow-list and inbound limit, the routing-table
// diversity filter off, since every peer is one IP group) but with the daemon's default
// connection monitor interval (the profile turns the monitor off), an API on a free
// port, no metrics server (N HTTP servers that nobody scrapes cost nothing idle), the
// daemon's logger at its default level with its lines dropped, and an in-memory datastore; refresh and republish on the daemon's defaults. Every node bootstraps from node 0; then, after a settling time,
// the process's CPU time (`process.cpuUsage()`) over the measuring window is reported
// as a share of one core, with the connections and routing-table sizes per node.
//
//   node packages/integration-tests/bench/idle-probe.mjs [--nodes 100] [--seconds 60]
//        [--settle 20] [--monitor <ms>] [--load <lookups/s>] [--windows 1]
//        [--profile <file.cpuprofile>]
//
// --windows measures that many consecutive windows of --seconds each (the figure of
// each in `windows`, the whole in `cpuShareOfOneCore`): a network still converging
// shows as a falling figure. --profile writes a V8 CPU profile of the measuring windows
// only (not the start and settle), through the inspector.
// --monitor sets the connection monitor's interval (0: off; default: the daemon's).
// --load runs that many lookups per second spread over the nodes while measuring (the
// "under load" case of the connection-monitor question); 0 (default) measures idle.
// Prints one JSON line.
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { CONNECTION_MONITOR_INTERVAL, createLogger, createNsnNode } from '@nsn/node'
import { MemoryDatastore } from 'datastore-core'

function stringArg(name) {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : process.argv[i + 1]
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  if (i < 0) return fallback
  const value = Number(process.argv[i + 1])
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} needs a number >= 0`)
  return value
}

const count = arg('nodes', 100)
const seconds = arg('seconds', 60)
const settle = arg('settle', 20)
const monitor = arg('monitor', CONNECTION_MONITOR_INTERVAL)
const load = arg('load', 0)
const windowCount = Math.max(1, arg('windows', 1))
const profilePath = stringArg('profile')

let logLines = 0
const base = {
  profile: 'local',
  api: '127.0.0.1:0',
  metrics: null,
  // the daemon's logger at its default level, its lines dropped: with a silent logger
  // libp2p keeps its own debug logger, which the daemon never runs
  logger: createLogger({
    level: 'info',
    stream: {
      write: () => {
        logLines++
      },
    },
  }),
  connectionMonitorInterval: monitor,
}

async function makeNode(bootstrap) {
  return createNsnNode({
    ...base,
    privateKey: await generateKeyPair('Ed25519'),
    datastore: new MemoryDatastore(),
    bootstrap,
  })
}

const nodes = []
try {
  const seed = await makeNode([])
  nodes.push(seed)
  const seedAddr = seed.addresses().addrs[0]
  for (let i = 1; i < count; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, count - i) }, () => makeNode([seedAddr])),
    )
    nodes.push(...batch)
  }
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  await sleep(settle * 1000)

  let lookups = 0
  let lookupErrors = 0
  let loadTimer
  if (load > 0) {
    loadTimer = setInterval(
      () => {
        const node = nodes[Math.floor(Math.random() * nodes.length)]
        lookups++
        node.routing.findProviders(randomBytes(32), { limit: 1 }).catch(() => {
          lookupErrors++
        })
      },
      Math.max(1, Math.round(1000 / load)),
    )
  }
  // counters summed over every node (each node's own prom-client registry)
  const total = async (name, labels = {}) => {
    let sum = 0
    for (const node of nodes) {
      const metric = node.metrics.register.getSingleMetric(name)
      if (metric == null) continue
      for (const v of (await metric.get()).values) {
        if (Object.entries(labels).every(([k, want]) => v.labels[k] === want)) sum += v.value
      }
    }
    return sum
  }
  const poolStat = (name) => nodes.reduce((sum, n) => sum + (n.routing.kad?.streamPool?.stats[name] ?? 0), 0)
  const counters = async () => ({
    connectionsClosed: await total('nsn_p2p_connections_closed_total'),
    connectionsOpened: await total('nsn_p2p_connections_established_total', { direction: 'outbound' }),
    peersEvicted: await total('nsn_p2p_kademlia_peers_evicted_total'),
    quarantineRefusals: await total('nsn_p2p_routing_diversity_refusals_total', { reason: 'quarantine' }),
    // DHT requests the nodes answered, by type (every request of one node is answered by another here)
    inboundFindNode: await total('nsn_p2p_kademlia_inbound_requests_total', { type: 'find_node' }),
    inboundPing: await total('nsn_p2p_kademlia_inbound_requests_total', { type: 'ping' }),
    inboundGetProviders: await total('nsn_p2p_kademlia_inbound_requests_total', { type: 'get_providers' }),
    inboundAddProvider: await total('nsn_p2p_kademlia_inbound_requests_total', { type: 'add_provider' }),
    // the warm stream pools (a bench-only look inside ShardRouting): streams opened, kept alive by a ping
    poolOpened: poolStat('opened'),
    poolKeptAlive: poolStat('keptAlive'),
  })
  const before = await counters()
  let session
  if (profilePath != null) {
    const { Session } = await import('node:inspector/promises')
    session = new Session()
    session.connect()
    await session.post('Profiler.enable')
    await session.post('Profiler.start')
  }
  const wall = performance.now()
  const cpu = process.cpuUsage()
  const windows = []
  for (let w = 0; w < windowCount; w++) {
    const windowWall = performance.now()
    const windowCpu = process.cpuUsage()
    await sleep(seconds * 1000)
    const u = process.cpuUsage(windowCpu)
    windows.push(Number(((u.user + u.system) / 1000 / (performance.now() - windowWall)).toFixed(4)))
  }
  const used = process.cpuUsage(cpu)
  const elapsed = performance.now() - wall
  if (session != null) {
    const { profile } = await session.post('Profiler.stop')
    const { writeFile } = await import('node:fs/promises')
    await writeFile(profilePath, JSON.stringify(profile))
    session.disconnect()
  }
  clearInterval(loadTimer)
  const after = await counters()
  const during = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - before[k]]))

  // after the window: one refresh on three nodes, for its lookup count (the self-lookup
  // and the buckets it did not cover)
  const refreshLookups = []
  for (const node of nodes.slice(1, 4)) {
    refreshLookups.push(
      await node.routing.refresh().then(
        (r) => r.lookups,
        (err) => err.name,
      ),
    )
  }
  const connections = nodes.map((n) => n.libp2p.getConnections().length).sort((a, b) => a - b)
  const tableOf = nodes.map((n) => n.routing.routingTableSize())
  const tables = [...tableOf].sort((a, b) => a - b)
  // nodes (by creation order, 0 the seed) that know fewer than k peers: not joined
  const notJoined = tableOf.flatMap((size, i) => (size < 20 ? [{ node: i, table: size }] : []))
  const median = (xs) => xs[Math.floor(xs.length / 2)]
  console.log(
    JSON.stringify({
      nodes: count,
      seconds,
      connectionMonitorInterval: monitor,
      loadPerSecond: load,
      lookups,
      lookupErrors,
      cpuShareOfOneCore: Number(((used.user + used.system) / 1000 / elapsed).toFixed(4)),
      windows,
      userMs: Math.round(used.user / 1000),
      systemMs: Math.round(used.system / 1000),
      connections: { min: connections[0], median: median(connections), max: connections.at(-1) },
      routingTable: { min: tables[0], median: median(tables), max: tables.at(-1) },
      notJoined,
      // over the measuring window, all nodes: outbound connections opened (dials) and
      // connections closed, peers evicted by the request timeouts, quarantine refusals,
      // DHT requests answered by type, warm streams opened and kept alive
      during,
      sinceStart: after,
      refreshLookups,
      // lines the nodes logged at info and above, since the start
      logLines,
      dialsPerLookup: lookups > 0 ? Number((during.connectionsOpened / lookups).toFixed(2)) : undefined,
    }),
  )
} finally {
  await Promise.allSettled(nodes.map((n) => n.stop()))
}
