// Bench nodes: the daemon's libp2p host, built by the one host builder (@nsn/core/host)
// with its local profile (TCP on 127.0.0.1, Noise, Yamux, identify, ping, connection
// monitor off, loopback connection limits raised; the `host` option replaces the profile,
// as eclipse.mjs does on netns addresses), with either
//   - 'nsn':   nsnKadDHT() + ShardRouting (+ an in-memory ShardRegistry), NSN defaults, or
//   - 'plain': @libp2p/kad-dht 16.4.5 on its defaults, except clientMode: false and the
//              passthrough peer-info mapper, without which a loopback network cannot form
//              (plain's default mapper drops 127.0.0.1 addresses, and its default client
//              mode answers no queries).
// Identities are derived from a seed, so the two implementations run the SAME network
// (same peer ids, hence the same XOR geometry, same join order, same operations).
//
// Every node counts its outbound DHT RPCs by message type (into a shared counter, for
// network-wide totals per phase, through libp2p's metrics component: rpc-metrics.mjs) and taps its dht's findProviders/provide event streams
// (for per-operation figures: RPCs sent, first PROVIDER event).
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { tcp } from '@libp2p/tcp'
import { QUERY_TIMEOUT, republishTiming, routingTableOf, ShardRouting } from '@nsn/core'
import { createNsnHost, nsnHostOptions } from '@nsn/core/host'
import { ShardRegistry } from '@nsn/shard-registry'
import { createLibp2p } from 'libp2p'
import { rpcCountingMetrics } from './rpc-metrics.mjs'

/** 'nsn-noreg' is ShardRouting without a ShardRegistry (a diagnostic variant). */
export const IMPLEMENTATIONS = ['nsn', 'plain', 'nsn-noreg']

/** A deterministic Ed25519 key for node `index` of a network labelled `label`. */
export async function benchKey(label, index) {
  const seed = new Uint8Array(createHash('sha256').update(`nsn-dht-bench/${label}/${index}`).digest())
  return generateKeyPairFromSeed('Ed25519', seed)
}

/** Counts outbound RPCs by message type; `counter.byType` is shared by every node given it. */
export function createRpcCounter() {
  return {
    byType: {},
    errors: 0,
    errorNames: {},
    /** Outbound connections opened (a new connection: TCP, Noise handshake, Yamux). */
    dials: 0,
    reset() {
      this.byType = {}
      this.errors = 0
      this.errorNames = {}
      this.dials = 0
    },
    snapshot() {
      const total = Object.values(this.byType).reduce((a, v) => a + v, 0)
      return {
        total,
        errors: this.errors,
        byType: { ...this.byType },
        errorNames: { ...this.errorNames },
        dials: this.dials,
      }
    },
  }
}

/** A per-operation tally of the query events one dht method yields. */
export function newTally() {
  return {
    start: performance.now(),
    sends: 0,
    sendsByType: {},
    responses: 0,
    errors: 0,
    addProviderOk: 0,
    /** GET_PROVIDERS sent after an ADD_PROVIDER on its stream, confirming the store (NSN only). */
    confirmations: 0,
    firstProviderMs: undefined,
    localProvider: false,
    /** A plain lookup cut by the query deadline (NSN's end by it themselves). */
    deadline: false,
  }
}

function tapEvents(node, dht, method) {
  const original = dht[method]
  dht[method] = async function* tapped(...args) {
    for await (const event of original.apply(dht, args)) {
      const tally = node.tally
      if (tally != null) {
        if (event.name === 'SEND_QUERY') {
          tally.sends++
          tally.sendsByType[event.messageName] = (tally.sendsByType[event.messageName] ?? 0) + 1
        } else if (event.name === 'PEER_RESPONSE') {
          tally.responses++
          if (event.messageName === 'ADD_PROVIDER') tally.addProviderOk++
        } else if (event.name === 'QUERY_ERROR') tally.errors++
        else if (event.name === 'PROVIDER' && tally.firstProviderMs === undefined) {
          tally.firstProviderMs = performance.now() - tally.start
          tally.localProvider = event.from.equals(node.peerId)
        }
      }
      yield event
    }
  }
}

/** Runs `fn(signal)` with a safety-net time limit whose timer is cleared afterwards. */
async function bounded(ms, fn) {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error(`bench safety limit of ${ms} ms`)), ms)
  try {
    return await fn(controller.signal)
  } finally {
    clearTimeout(timer)
  }
}

async function drain(source) {
  for await (const _ of source) {
    // consume
  }
}

let latencyModule
/** The latency emulation's TypeScript module (src/latency), loaded on first use. */
export async function loadLatency() {
  if (latencyModule == null) {
    await import('./ts-imports.mjs')
    latencyModule = await import('../../src/latency/index.ts')
  }
  return latencyModule
}

/** createNsnHost's host with its TCP transport wrapped in the latency emulation. */
async function createLatencyHost(hostInit, latency) {
  const { latencyTransport } = await loadLatency()
  const options = nsnHostOptions(hostInit)
  return createLibp2p({ ...options, transports: [latencyTransport(tcp(), latency)] })
}

/**
 * Starts one bench node.
 *
 * @param {'nsn'|'plain'} impl
 * `host` replaces the local profile with other createNsnHost settings (bench/eclipse.mjs:
 * `{ listen: [...] }`, the default profile on a netns address, where NSN keeps its
 * routing-table diversity filter and libp2p its per-IP inbound limit).
 *
 * `latency` (`{ seed, distribution? }`) wraps the host's TCP transport in the wide-area
 * latency emulation (src/latency: every connection between two bench nodes pays the
 * seeded RTT of the pair, per peer id, so NSN and plain nodes of the same seeded network
 * get the same RTTs); the host is otherwise the same (`nsnHostOptions`, transports swapped).
 *
 * @param {{ privateKey: any, counter?: ReturnType<typeof createRpcCounter>, dht?: object, routing?: object, registry?: ShardRegistry|false, datastore?: object, host?: object, latency?: { seed: number|string, distribution?: object } }} options
 */
export async function createBenchNode(
  impl,
  {
    privateKey,
    counter,
    dht: dhtInit = {},
    routing: routingInit = {},
    registry,
    datastore,
    host = { profile: 'local' },
    latency,
  },
) {
  if (!IMPLEMENTATIONS.includes(impl)) throw new Error(`unknown implementation ${impl}`)
  const nsn = impl !== 'plain'
  // the republish timing of an assembled node, for the TTL this node's DHT uses
  const timing = republishTiming(dhtInit.providerRecordTtl)
  // the same host for both: only the DHT service is swapped
  const hostInit = {
    ...host,
    privateKey,
    datastore,
    // RPCs are counted through libp2p's public metrics component, for both alike
    ...(counter == null ? {} : { metrics: rpcCountingMetrics(counter) }),
    ...(nsn
      ? { dht: { providerCleanupInterval: timing.providerCleanupInterval, ...dhtInit } }
      : { dhtService: kadDHT({ clientMode: false, peerInfoMapper: passthroughMapper, ...dhtInit }) }),
  }
  const libp2p = latency == null ? await createNsnHost(hostInit) : await createLatencyHost(hostInit, latency)
  const dht = libp2p.services.dht
  const table = routingTableOf(dht)
  const node = {
    impl,
    libp2p,
    dht,
    peerId: libp2p.peerId,
    addr: libp2p.getMultiaddrs()[0],
    /** Set by the bench around one operation: see newTally(). */
    tally: null,
    routing: undefined,
    registry: undefined,
  }
  if (counter != null) {
    libp2p.addEventListener('connection:open', (event) => {
      if (event.detail.direction === 'outbound') counter.dials++
    })
  }
  tapEvents(node, dht, 'findProviders')
  tapEvents(node, dht, 'provide')
  // NSN's provide finds the closest peers with the public getClosestPeers (plain's runs
  // the same query inside kad-dht's provide, which the tap above sees)
  if (nsn) tapEvents(node, dht, 'getClosestPeers')
  if (nsn) {
    node.registry =
      registry === false || impl === 'nsn-noreg'
        ? undefined
        : (registry ??
          new ShardRegistry({
            republishInterval: timing.republishInterval,
            republishJitter: timing.republishJitter,
          }))
    node.routing = new ShardRouting(libp2p, {
      ...routingInit,
      registry: node.registry,
      // what each optimistic provide did (early sends, stopped early), into the tally
      observer: {
        ...routingInit.observer,
        optimisticProvideEnded(event) {
          routingInit.observer?.optimisticProvideEnded?.(event)
          if (node.tally != null) node.tally.optimistic = event
        },
      },
    })
    await node.routing.start()
  }

  node.tableSize = () => table.size

  /**
   * NSN: ShardRouting.bootstrap. Plain has no bootstrap call; the same procedure a plain
   * user writes: dial the peers, wait for one to enter the routing table (kad-dht adds a
   * peer after identify and a ping), then look up our own id to fill the table.
   */
  node.bootstrap = async (addrs) => {
    if (nsn) {
      // as the daemon's bootstrapper does: a refresh of the table right after the first
      // successful bootstrap, in the background
      const result = await node.routing.bootstrap(addrs)
      if (!node.refreshed) {
        node.refreshed = true
        node.routing.refresh().catch(() => undefined)
      }
      return result
    }
    // the time limit is a safety net only: never reached in practice
    return bounded(60_000, async (signal) => {
      const dials = await Promise.allSettled(addrs.map((addr) => libp2p.dial(addr, { signal })))
      if (dials.every((d) => d.status === 'rejected')) throw dials[0].reason
      while (table.size === 0) {
        signal.throwIfAborted()
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      await drain(dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, { signal }))
      return { routingTableSize: table.size }
    })
  }

  /** NSN: ShardRouting.provide (registry, self-record, publish, sentTo). Plain: drain dht.provide. */
  node.provide = async (shard) => {
    if (nsn) {
      const result = await node.routing.provide(shard.hex)
      // NSN sends each closest peer its ADD_PROVIDER and a confirming GET_PROVIDERS on one
      // stream itself (not through kad-dht's provide, whose events the tally taps): count
      // them here, the confirmations apart, since plain kad-dht cannot confirm at all
      const tally = node.tally
      if (tally != null) {
        tally.sends += result.sentTo
        tally.sendsByType.ADD_PROVIDER = (tally.sendsByType.ADD_PROVIDER ?? 0) + result.sentTo
        tally.addProviderOk += result.confirmed
        tally.confirmations += result.sentTo
      }
      if (counter != null) {
        counter.byType.ADD_PROVIDER = (counter.byType.ADD_PROVIDER ?? 0) + result.sentTo
        counter.byType.GET_PROVIDERS = (counter.byType.GET_PROVIDERS ?? 0) + result.sentTo
      }
      return result
    }
    await bounded(180_000, (signal) => drain(dht.provide(shard.cid, { signal })))
    return {}
  }

  /**
   * NSN: ShardRouting.findProviders (default limit 20, its query deadline QUERY_TIMEOUT).
   * Plain: iterate dht.findProviders to its end or to the same deadline. NSN asks the network every time (`cache: false`) unless `{ cache: true }`: the
   * comparison measures DHT lookups, and a lookup the seeded draws repeat on the same node
   * would otherwise come from NSN's provider cache (bench/cache.mjs measures that apart).
   */
  node.findProviders = async (shard, { cache = false, signal: callerSignal } = {}) => {
    if (nsn) {
      const result = await node.routing.findProviders(shard.hex, { cache, signal: callerSignal })
      return result.providers.map((p) => p.peerId)
    }
    // NSN's query deadline: plain kad-dht has none of its own (3 of its lookups of the
    // wide-area N = 100 network were still running at the bench's old 180 s limit); a
    // plain lookup cut there ends as NSN's do, with the providers it found
    const deadline = AbortSignal.timeout(QUERY_TIMEOUT)
    const signal = callerSignal == null ? deadline : AbortSignal.any([deadline, callerSignal])
    const found = []
    try {
      for await (const event of dht.findProviders(shard.cid, { signal })) {
        if (event.name === 'PROVIDER') for (const info of event.providers) found.push(info.id)
      }
    } catch (err) {
      if (!deadline.aborted || callerSignal?.aborted) throw err
      if (node.tally != null) node.tally.deadline = true
    }
    return found
  }

  node.stop = async () => {
    if (node.routing != null) await node.routing.stop()
    await libp2p.stop()
  }
  return node
}
