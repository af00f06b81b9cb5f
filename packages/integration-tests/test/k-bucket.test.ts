import { routingTableEvents } from '@nsn/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { Network, waitFor } from '../src/harness/index.js'

describe('k-bucket replacement', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('a full bucket (k shrunk to 2 by config) replaces a stale peer with a responsive one', async () => {
    network = await Network.start(0)
    // one bucket (prefixLength 0: the trie never splits) of k = 2; a peer pinged at any
    // time before may be re-checked when the bucket needs room
    const watcher = await network.add({
      node: { kBucketSize: 2, dht: { prefixLength: 0, lastPingThreshold: 0 } },
    })
    const stale = await network.add({ bootstrap: [watcher] })
    const steady = await network.add({ bootstrap: [watcher] })
    const table = async () => (await watcher.node.peers()).map((p) => p.peerId.toString()).sort()
    const ids = (...nodes: Array<typeof watcher>) => nodes.map((n) => n.peerId.toString()).sort()
    const onTable = routingTableEvents(watcher.node.libp2p)
    await waitFor(async () => (await table()).length === 2, { on: onTable, what: 'a full bucket' })
    expect(await table()).toEqual(ids(stale, steady))

    await stale.stop()
    const fresh = await network.add({ bootstrap: [watcher] })
    let seen: string[] = []
    const name = (id: string): string =>
      ({
        [stale.peerId.toString()]: 'stale',
        [steady.peerId.toString()]: 'steady',
        [fresh.peerId.toString()]: 'fresh',
      })[id] ?? id
    await waitFor(
      async () => {
        seen = await table()
        return JSON.stringify(seen) === JSON.stringify(ids(steady, fresh))
      },
      {
        on: onTable,
        timeoutMs: 15_000,
        // on failure, say what the table held and whether the watcher is still connected to whom
        what: () =>
          `the stale peer replaced by the fresh one (table: ${seen.map(name).join(', ') || 'empty'}; watcher connected to ${
            watcher.node.libp2p
              .getPeers()
              .map((p) => name(p.toString()))
              .join(', ') || 'nobody'
          })`,
      },
    )
    expect(await table()).not.toContain(stale.peerId.toString())
  })
})
