import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { type BootstrapEvent, NoPeerAnsweredError, type QueryEndedEvent } from '../src/index.js'
import { createTestNetwork, createTestNode, stopAll, type TestNode, waitFor } from '../src/testing.js'

describe('bootstrap and refresh on real nodes', () => {
  let nodes: TestNode[] = []
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
  })

  it('bootstrap reports success and failure to the observer, and fails typed when nobody can be dialled', async () => {
    const succeeded: BootstrapEvent[] = []
    const failed: BootstrapEvent[] = []
    const queries: QueryEndedEvent[] = []
    const observer = {
      bootstrapSucceeded: (e: BootstrapEvent) => succeeded.push(e),
      bootstrapFailed: (e: BootstrapEvent) => failed.push(e),
      queryEnded: (e: QueryEndedEvent) => queries.push(e),
    }
    const seed = await createTestNode()
    const node = await createTestNode({ routing: { observer } })
    nodes = [seed, node]

    // a closed port: nothing listens there once the probe node stopped
    const probe = await createTestNode()
    const dead = probe.addr
    await probe.stop()

    await expect(node.routing.bootstrap([dead])).rejects.toBeInstanceOf(NoPeerAnsweredError)
    expect(failed).toHaveLength(1)
    expect(failed[0]).toMatchObject({ connected: 0, failed: 1 })

    const result = await node.routing.bootstrap([dead, seed.addr])
    expect(result).toMatchObject({ connected: 1, failed: 1, routingTableSize: 1 })
    expect(succeeded).toHaveLength(1)
    expect(queries.filter((q) => q.type === 'bootstrap').map((q) => q.result)).toEqual(['error', 'ok'])
    await expect(node.routing.bootstrap([multiaddr('/ip4/127.0.0.1/tcp/1')])).rejects.toBeInstanceOf(
      NoPeerAnsweredError,
    )
  })

  it('refresh drops peers that went away and finds new ones', async () => {
    nodes = await createTestNetwork(6, { routing: { refreshInterval: 0 } })
    const [seed, watcher, ...rest] = nodes as [TestNode, TestNode, ...TestNode[]]
    await watcher.routing.bootstrap([seed.addr])
    for (const node of rest.slice(0, 2)) await node.routing.bootstrap([seed.addr])
    await waitFor(() => watcher.routing.routingTableSize() >= 3, { what: 'watcher to know 3 peers' })

    // two peers leave for good; the watcher hangs up so they are not detected by a closing connection
    const gone = rest.slice(0, 2)
    for (const node of gone) {
      await watcher.libp2p.hangUp(node.libp2p.peerId)
      await node.stop()
    }
    const goneIds = new Set(gone.map((n) => n.libp2p.peerId.toString()))
    const inTable = async () => (await watcher.routing.routingTablePeers()).map((p) => p.peerId.toString())
    expect((await inTable()).filter((id) => goneIds.has(id))).toHaveLength(2)

    // new peers join through the seed, unknown to the watcher
    for (const node of rest.slice(2)) await node.routing.bootstrap([seed.addr])

    const result = await watcher.routing.refresh()
    const after = await inTable()
    expect(after.filter((id) => goneIds.has(id))).toEqual([])
    expect(result.removed).toBe(2)
    for (const node of rest.slice(2)) expect(after).toContain(node.libp2p.peerId.toString())
    nodes = nodes.filter((n) => !gone.includes(n))
  })

  it('runs refresh on its schedule and stops it cleanly', async () => {
    const refreshes: QueryEndedEvent[] = []
    const a = await createTestNode({ routing: { refreshInterval: 0 } })
    const b = await createTestNode({
      routing: {
        refreshInterval: 50,
        observer: { queryEnded: (e) => e.type === 'refresh' && refreshes.push(e) },
      },
    })
    nodes = [a, b]
    await b.routing.bootstrap([a.addr])
    await waitFor(() => refreshes.length >= 3, { what: 'three scheduled refreshes' })
    await b.routing.stop()
    const count = refreshes.length
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(refreshes.length).toBe(count)
    expect(refreshes.every((r) => r.result === 'ok')).toBe(true)
  })
})
