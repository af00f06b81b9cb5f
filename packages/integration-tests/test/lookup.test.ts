import { parsePeerId, parseShardKey } from '@nsn/core'
import { afterEach, describe, expect, it } from 'vitest'
import { api, Daemon, LOOPBACK_FLAGS, Network, TempDirs, waitFor } from '../src/harness/index.js'

const SHARD = parseShardKey('3e'.repeat(32))

describe('provider lookup', () => {
  let network: Network | undefined
  let daemon: Daemon | undefined
  const dirs = new TempDirs()
  afterEach(async () => {
    await daemon?.kill()
    await network?.close()
    await dirs.cleanup()
    network = undefined
    daemon = undefined
  })

  it('returns the provider (a separate daemon process), dialable, in under 2 s', async () => {
    const net = await Network.start(5)
    network = net
    await network.waitForTables(4)
    // the provider is its own process: its addresses must work across the process boundary
    daemon = new Daemon([
      ...LOOPBACK_FLAGS,
      '--data-dir',
      await dirs.make('nsn-it-daemon-'),
      '--bootstrap',
      network.nodes[0]!.addrs[0]!,
    ])
    const ready = await daemon.ready()
    // the daemon is a child process: polled over HTTP
    await waitFor(
      async () => ((await api(ready.api, 'GET', '/v1/peers')).body as { peers: unknown[] }).peers.length > 0,
      { what: 'the daemon to join the network' },
    )
    const put = await api(ready.api, 'PUT', `/v1/shards/${SHARD.hex}`)
    expect(put.status).toBe(200)
    const { confirmed, sentTo } = put.body as { confirmed: number; sentTo: number }
    expect(sentTo).toBeGreaterThan(0)
    expect(confirmed).toBe(sentTo)
    // every node it was sent to confirmed the store (the daemon knows only this network's
    // nodes): they hold the record now, so the lookup below measures the lookup
    const daemonId = parsePeerId(ready.peerId)
    const holders = (
      await Promise.all(net.nodes.map((n) => n.node.routing.storedProviderRecord(SHARD.hex, daemonId)))
    ).filter((record) => record != null).length
    expect(holders).toBeGreaterThanOrEqual(sentTo)

    const seeker = network.nodes[3]!
    const started = performance.now()
    const found = await seeker.node.findProviders(SHARD.hex)
    const elapsed = performance.now() - started
    expect(elapsed).toBeLessThan(2_000)
    const provider = found.providers.find((p) => p.peerId.toString() === ready.peerId)
    expect(provider).toBeDefined()
    expect(provider!.multiaddrs.length).toBeGreaterThan(0)

    // dialable: drop any connection to it, then dial exactly what the lookup returned
    await seeker.node.libp2p.hangUp(provider!.peerId)
    const connection = await seeker.node.libp2p.dial(provider!.multiaddrs)
    expect(connection.remotePeer.toString()).toBe(ready.peerId)
  })
})
