/**
 * The network harness: N assembled NSN nodes (`@nsn/node`) in this process, over real
 * TCP on 127.0.0.1, each with its own LevelDB data dir, bootstrapped from up to three
 * earlier nodes. It waits for routing tables, stops or isolates nodes, and reads their
 * metrics. Tests and benchmarks use it; every node, port and temp dir it starts is
 * released by {@link Network.close}.
 *
 * @packageDocumentation
 */

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { routingTableEvents, type SeededRandom, seededRandom, testSeed } from '@nsn/core/testing'
import { createNsnNode, type NsnNode, type NsnNodeInit } from '@nsn/node'
import { waitFor } from '@nsn/node/testing'
import type { Registry } from 'prom-client'

/** Options of every node of a harness network (any `@nsn/node` option but its addresses). */
export type HarnessNodeOptions = Omit<
  NsnNodeInit,
  'dataDir' | 'listen' | 'api' | 'connectionGater' | 'bootstrap'
>

/**
 * Settings every harness node gets: the local host profile (DESIGN.md pitfalls: the
 * inbound connection limit raised for 127.0.0.1, the connection monitor off), and no
 * metrics server, process metrics or logs.
 */
export const LOOPBACK_NODE_OPTIONS = {
  profile: 'local',
  metrics: null,
  processMetrics: false,
  logLevel: 'error',
} as const satisfies HarnessNodeOptions

/** One node of a harness network. */
export class HarnessNode {
  readonly name: string
  readonly node: NsnNode
  /** The node's peer id (kept after it stopped). */
  readonly peerId: PeerId
  /** The node's libp2p addresses with `/p2p/<id>` (as it started with them). */
  readonly addrs: string[]
  private cutOff = false
  private stopped = false

  constructor(name: string, node: NsnNode, gate: { isolated: () => boolean; set: (v: boolean) => void }) {
    this.name = name
    this.node = node
    this.gate = gate
    this.peerId = node.peerId
    this.addrs = node.addresses().addrs
  }

  private readonly gate: { isolated: () => boolean; set: (v: boolean) => void }

  get isStopped(): boolean {
    return this.stopped
  }

  get isIsolated(): boolean {
    return this.cutOff
  }

  routingTableSize(): number {
    return this.node.routing.routingTableSize()
  }

  /** The node's Prometheus registry. */
  get register(): Registry {
    return this.node.metrics.register
  }

  /** The value of one series of a metric (0 when absent); histograms: `_count`/`_sum`/`_bucket` by name. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metrics = await this.register.getMetricsAsJSON()
    for (const metric of metrics) {
      for (const value of metric.values as Array<{
        value: number
        labels: Record<string, unknown>
        metricName?: string
      }>) {
        const seriesName = value.metricName ?? metric.name
        if (seriesName !== name) continue
        if (Object.entries(labels).every(([k, v]) => String(value.labels[k]) === v)) return value.value
      }
    }
    return 0
  }

  /** Cuts the node off: every connection closed, every new one refused, both ways. */
  async isolate(): Promise<void> {
    this.cutOff = true
    this.gate.set(true)
    await Promise.all(
      this.node.libp2p.getConnections().map((c) => c.close().catch(() => c.abort(new Error('isolated')))),
    )
  }

  /** Lets the node connect again. */
  reconnect(): void {
    this.cutOff = false
    this.gate.set(false)
  }

  /** Stops the node (its data dir stays until the network closes). */
  async stop(): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.node.stop()
  }
}

/** Options of {@link Network.start}. */
export interface NetworkOptions {
  /** Options of every node. */
  node?: HarnessNodeOptions
  /** How many earlier nodes each node bootstraps from. Default 3. */
  seeds?: number
  /**
   * Where the random choice of bootstrap peers comes from. Default: seeded with
   * `testSeed()` (`NSN_TEST_SEED` replays a run).
   */
  random?: SeededRandom
}

/** Options of {@link Network.add}. */
export interface AddNodeOptions {
  /** Options of this node, over the network's. */
  node?: HarnessNodeOptions
  /** Nodes it bootstraps from; default up to `seeds` random live nodes. */
  bootstrap?: HarnessNode[]
}

/** A network of harness nodes. */
export class Network {
  readonly nodes: HarnessNode[] = []
  private readonly root: string
  private readonly options: NetworkOptions
  private readonly random: SeededRandom

  private constructor(root: string, options: NetworkOptions) {
    this.root = root
    this.options = options
    this.random = options.random ?? seededRandom(testSeed())
  }

  /** Starts `size` nodes, each bootstrapping from up to `seeds` earlier ones. */
  static async start(size: number, options: NetworkOptions = {}): Promise<Network> {
    const network = new Network(await mkdtemp(join(tmpdir(), 'nsn-it-')), options)
    try {
      for (let i = 0; i < size; i++) await network.add()
    } catch (err) {
      await network.close()
      throw err
    }
    return network
  }

  /** Nodes that are neither stopped nor isolated. */
  get live(): HarnessNode[] {
    return this.nodes.filter((n) => !n.isStopped && !n.isIsolated)
  }

  /** Starts one more node. */
  async add(options: AddNodeOptions = {}): Promise<HarnessNode> {
    const index = this.nodes.length
    const seeds = options.bootstrap ?? this.random.sample(this.live, this.options.seeds ?? 3)
    let isolated = false
    const gate = { isolated: () => isolated, set: (v: boolean) => (isolated = v) }
    const deny = (): boolean => isolated
    const node = await createNsnNode({
      ...LOOPBACK_NODE_OPTIONS,
      ...this.options.node,
      ...options.node,
      dataDir: join(this.root, `node-${index}`),
      api: '127.0.0.1:0',
      bootstrap: seeds.flatMap((s) => s.addrs.slice(0, 1)),
      connectionGater: {
        denyDialPeer: deny,
        denyDialMultiaddr: deny,
        denyInboundConnection: deny,
        denyOutboundConnection: deny,
        denyInboundEncryptedConnection: deny,
        denyOutboundEncryptedConnection: deny,
        denyInboundUpgradedConnection: deny,
        denyOutboundUpgradedConnection: deny,
      },
    })
    const harnessNode = new HarnessNode(`node-${index}`, node, gate)
    this.nodes.push(harnessNode)
    return harnessNode
  }

  /** Resolves when every live node's routing table holds at least `min` peers; returns the ms it took. */
  async waitForTables(min: number, { timeoutMs = 30_000, nodes = this.live } = {}): Promise<number> {
    const start = performance.now()
    await waitFor(() => nodes.every((n) => n.routingTableSize() >= min), {
      timeoutMs,
      on: nodes.map((n) => routingTableEvents(n.node.libp2p)),
      what: () => `routing tables of ${min}+ (now ${nodes.map((n) => n.routingTableSize()).join(' ')})`,
    })
    return performance.now() - start
  }

  /** Stops every node and removes every data dir. */
  async close(): Promise<void> {
    const results = await Promise.allSettled(this.nodes.map((n) => n.stop()))
    await rm(this.root, { recursive: true, force: true })
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (failed != null) throw failed.reason
  }
}
