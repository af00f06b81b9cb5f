import { afterEach, describe, expect, it } from 'vitest'
import { createTestNode, stopAll, type TestNode, waitFor } from '../src/testing.js'

describe('k-bucket replacement', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('a full bucket (k shrunk to 2) replaces a stale peer with a responsive one', async () => {
    // one bucket of 2 (prefixLength 0: the trie never splits); peers pinged any time ago may be re-checked
    const watcher = await createTestNode({ dht: { kBucketSize: 2, prefixLength: 0, lastPingThreshold: 0 } })
    const [a, b, c] = [await createTestNode(), await createTestNode(), await createTestNode()]
    nodes = [watcher, b, c]
    const table = async () =>
      (await watcher.routing.routingTablePeers()).map((p) => p.peerId.toString()).sort()
    const ids = (...n: TestNode[]) => n.map((x) => x.libp2p.peerId.toString()).sort()

    await a.libp2p.dial(watcher.addr)
    await b.libp2p.dial(watcher.addr)
    await waitFor(() => watcher.routing.routingTableSize() === 2, { what: 'a full bucket' })
    expect(await table()).toEqual(ids(a, b))

    // a goes away without a goodbye the watcher could notice
    await watcher.libp2p.hangUp(a.libp2p.peerId)
    await a.stop()

    await c.libp2p.dial(watcher.addr)
    await expect.poll(table, { timeout: 10_000 }).toEqual(ids(b, c))
  })

  it('keeps a full bucket whose peers all answer', async () => {
    const watcher = await createTestNode({ dht: { kBucketSize: 2, prefixLength: 0, lastPingThreshold: 0 } })
    const [a, b, c] = [await createTestNode(), await createTestNode(), await createTestNode()]
    nodes = [watcher, a, b, c]
    await a.libp2p.dial(watcher.addr)
    await b.libp2p.dial(watcher.addr)
    await waitFor(() => watcher.routing.routingTableSize() === 2, { what: 'a full bucket' })
    const pinged: string[] = []
    const table = watcher.libp2p.services.dht as unknown as { routingTable: EventTarget }
    table.routingTable.addEventListener('peer:ping', (e) => pinged.push(String((e as CustomEvent).detail)))
    await c.libp2p.dial(watcher.addr)
    await waitFor(() => pinged.length >= 2, { what: 'both old contacts to be pinged' })
    const peers = (await watcher.routing.routingTablePeers()).map((p) => p.peerId.toString()).sort()
    expect(peers).toEqual([a, b].map((x) => x.libp2p.peerId.toString()).sort())
  })
})
