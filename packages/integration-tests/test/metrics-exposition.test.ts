import { spawnSync } from 'node:child_process'
import { afterEach, describe, expect, it } from 'vitest'
import { Network } from '../src/harness/index.js'

describe("an assembled node's /metrics", () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('serves every nsn_p2p_ family over HTTP, consistent with the node, and passes promtool check metrics', async () => {
    network = await Network.start(3, {
      node: {
        metrics: '127.0.0.1:0',
        processMetrics: true,
        gossip: true,
        announcements: { heartbeatInterval: 100 },
      },
    })
    await network.waitForTables(2)
    const node = network.nodes[0]!
    await node.node.provide('e5'.repeat(32))
    const { metrics } = node.node.addresses()
    expect(metrics).not.toBeNull()
    const res = await fetch(`http://${metrics}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain')
    const text = await res.text()
    expect(text).toMatch(new RegExp(`^nsn_p2p_kademlia_routing_table_size ${node.routingTableSize()}$`, 'm'))
    expect(text).toMatch(/^nsn_p2p_kademlia_provider_records_published_total 1$/m)
    expect(text).toMatch(/^nsn_p2p_shard_registry_size 1$/m)
    expect(text).toMatch(/^nsn_p2p_active_connections [1-9]/m)
    // the shard announcements (gossip on): the provide was announced once, the mesh gauge has its topic
    expect(text).toMatch(/^nsn_p2p_gossipsub_messages_published_total\{topic="\/nsn\/shards\/1"\} 1$/m)
    expect(text).toMatch(/^nsn_p2p_gossipsub_mesh_peers\{topic="\/nsn\/shards\/1"\} \d+$/m)
    expect(text).toMatch(/^nsn_p2p_gossipsub_messages_rejected_total\{reason="wrong_provider"\} 0$/m)

    const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    if (promtool.error != null) {
      throw new Error(`promtool is required (apt-get install prometheus): ${promtool.error.message}`)
    }
    expect(`${promtool.stdout}${promtool.stderr}`).toBe('')
    expect(promtool.status).toBe(0)
  })
})
