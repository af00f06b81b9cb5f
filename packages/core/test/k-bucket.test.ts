import { afterEach, describe, expect, it } from 'vitest'
import { createTestNode, routingTableEvents, stopAll, type TestNode, waitFor } from '../src/testing.js'

describe('k-bucket replacement', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('a full bucket (k shrunk to 2) replaces a stale peer with a responsive one', async () => {
    // one bucket of 2 (prefixLength 0: the trie never splits); peers pinged any time ago may be re-checked
    const [watcher, a, b, c] = await Promise.all([
      createTestNode({ dht: { kBucketSize: 2, prefixLength: 0, lastPingThreshold: 0 } }),
      createTestNode(),
      createTestNode(),
      createTestNode(),
    ])
    nodes = [watcher, a, b, c]
    const onTable = routingTableEvents(watcher.libp2p)
    const table = async () =>
      (await watcher.routing.routingTablePeers()).map((p) => p.peerId.toString()).sort()
    const ids = (...n: TestNode[]) => n.map((x) => x.libp2p.peerId.toString()).sort()

    await a.libp2p.dial(watcher.addr)
    await b.libp2p.dial(watcher.addr)
    await waitFor(() => watcher.routing.routingTableSize() === 2, { on: onTable, what: 'a full bucket' })
    expect(await table()).toEqual(ids(a, b))

    // a goes away without a goodbye the watcher could notice
    await watcher.libp2p.hangUp(a.libp2p.peerId)
    await a.stop()
    nodes = [watcher, b, c]

    await c.libp2p.dial(watcher.addr)
    const replaced = JSON.stringify(ids(b, c))
    await waitFor(async () => JSON.stringify(await table()) === replaced, {
      on: onTable,
      what: 'the stale peer replaced by the responsive one',
    })
    expect(await table()).toEqual(ids(b, c))
  })

  it('keeps a full bucket whose peers all answer', async () => {
    const [watcher, a, b, c] = await Promise.all([
      createTestNode({ dht: { kBucketSize: 2, prefixLength: 0, lastPingThreshold: 0 } }),
      createTestNode(),
      createTestNode(),
      createTestNode(),
    ])
    nodes = [watcher, a, b, c]
    await a.libp2p.dial(watcher.addr)
    await b.libp2p.dial(watcher.addr)
    const onTable = routingTableEvents(watcher.libp2p)
    await waitFor(() => watcher.routing.routingTableSize() === 2, { on: onTable, what: 'a full bucket' })
    const pinged: string[] = []
    const table = onTable.target as EventTarget
    table.addEventListener('peer:ping', (e) => pinged.push(String((e as CustomEvent).detail)))
    await c.libp2p.dial(watcher.addr)
    await waitFor(() => pinged.length >= 2, {
      on: { target: table, events: ['peer:ping'] },
      what: 'both old contacts to be pinged',
    })
    const peers = (await watcher.routing.routingTablePeers()).map((p) => p.peerId.toString()).sort()
    expect(peers).toEqual([a, b].map((x) => x.libp2p.peerId.toString()).sort())
  })
})
