import { routingTableEvents } from '@nsn/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Network, waitFor } from '../src/harness/index.js'

describe('routing-table refresh', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('on its (shrunk) schedule, drops peers that went away and finds new ones', async () => {
    network = await Network.start(6)
    await network.waitForTables(5)
    const watcher = await network.add({ node: { refreshInterval: 300 } })
    await network.waitForTables(6, { nodes: [watcher] })
    const ids = async () => new Set((await watcher.node.peers()).map((p) => p.peerId.toString()))

    // two peers go away; kad-dht alone would keep them in the table
    const gone = network.nodes.slice(1, 3)
    for (const node of gone) await node.stop()
    // two peers join, bootstrapping from nodes other than the watcher
    const seeds = network.nodes.filter((n) => n !== watcher && !gone.includes(n))
    const joined = [await network.add({ bootstrap: seeds }), await network.add({ bootstrap: seeds })]

    await waitFor(
      async () => {
        const table = await ids()
        return (
          gone.every((n) => !table.has(n.peerId.toString())) &&
          joined.every((n) => table.has(n.peerId.toString()))
        )
      },
      {
        on: routingTableEvents(watcher.node.libp2p),
        timeoutMs: 15_000,
        what: 'the watcher to drop the stopped peers and learn the new ones',
      },
    )
    // only a refresh drops a peer from the table: the one that did may still run its bucket
    // lookups when the table shows it, and is counted when it ends (polled: no event)
    const refreshes = () =>
      watcher.metric('nsn_p2p_kademlia_query_duration_seconds_count', { type: 'refresh', result: 'ok' })
    await waitFor(async () => (await refreshes()) > 0, { timeoutMs: 5_000, what: 'the refresh to end' })
    expect(await refreshes()).toBeGreaterThan(0)
  })
})
