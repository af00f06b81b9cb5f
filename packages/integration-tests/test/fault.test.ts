import { isNsnError, parseShardKey, type ShardKey } from '@nsn/core'
import { seededRandom, testSeed } from '@nsn/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { type HarnessNode, Network, timed } from '../src/harness/index.js'

const QUERY_TIMEOUT = 4_000
const TYPED = ['ERR_QUERY_TIMEOUT', 'ERR_NO_PEER_ANSWERED', 'ERR_NO_KNOWN_PEERS'] as const

describe('faults: a third of a 30-node network stops', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('keeps finding shards published before, and ends every lookup that cannot succeed by the deadline, typed', async () => {
    // every random choice (bootstrap peers, shards, who provides and who looks up) from one seed
    const random = seededRandom(testSeed())
    network = await Network.start(30, { node: { queryTimeout: QUERY_TIMEOUT }, random })
    await network.waitForTables(10, { timeoutMs: 60_000 })
    const doomed = network.nodes.slice(20)
    const survivors = network.nodes.slice(0, 20)
    const pick = (nodes: HarnessNode[], not?: HarnessNode) => {
      return random.pick(nodes.filter((n) => n !== not))
    }

    // shards published before the fault, by survivors and by nodes that will stop
    const published: Array<{ key: ShardKey; by: HarnessNode }> = []
    for (let i = 0; i < 12; i++) {
      const by = i < 8 ? pick(survivors) : pick(doomed)
      const key = parseShardKey(random.bytes(32))
      await by.node.provide(key.hex)
      published.push({ key, by })
    }
    // a node that will lose every peer it knows
    const stranded = await network.add({ bootstrap: [doomed[0]!], node: { refreshInterval: 0 } })
    await network.waitForTables(1, { nodes: [stranded] })

    for (const node of doomed) await node.stop()
    await stranded.isolate()

    // every shard a surviving provider published is still found, from a surviving node
    for (const { key, by } of published.filter((p) => survivors.includes(p.by))) {
      const lookup = await timed(() => pick(survivors, by).node.findProviders(key.hex))
      expect(lookup.error).toBeUndefined()
      expect(lookup.value!.providers.map((p) => p.peerId.toString())).toContain(by.peerId.toString())
      expect(lookup.ms).toBeLessThan(QUERY_TIMEOUT)
    }

    // shards whose provider stopped and shards nobody published: the lookups end by the
    // deadline, with an answer (records outlive their provider until their TTL) or typed
    for (const key of [
      ...published.filter((p) => doomed.includes(p.by)).map((p) => p.key),
      parseShardKey(random.bytes(32)),
    ]) {
      const lookup = await timed(() => pick(survivors).node.findProviders(key.hex))
      expect(lookup.ms).toBeLessThan(QUERY_TIMEOUT + 1_000)
      if (lookup.error != null) expect(TYPED).toContain((lookup.error as { code?: string }).code)
    }

    // the node that lost its network cannot succeed: typed errors by the deadline, none hanging
    const attempts = await Promise.all(
      published.slice(0, 4).map(({ key }) => timed(() => stranded.node.findProviders(key.hex))),
    )
    for (const attempt of attempts) {
      expect(attempt.ms).toBeLessThan(QUERY_TIMEOUT + 1_000)
      expect(isNsnError(attempt.error)).toBe(true)
      expect(TYPED).toContain((attempt.error as { code: string }).code)
    }
  }, 120_000)
})
