import { createSilentPeer, type SilentPeer } from '@nsn/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { api, Network, waitUntil } from '../src/harness/index.js'

const HASH = 'd4'.repeat(32)
const TIMEOUTS = 'nsn_p2p_kademlia_query_timeouts_total'

describe('the query deadline', () => {
  let network: Network | undefined
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await network?.close()
    await silent?.stop()
    network = undefined
    silent = undefined
  })

  it('a lookup whose only peer never answers ends at 10 s with "DHT query timeout" (504) and the timeout metric +1', async () => {
    silent = await createSilentPeer()
    network = await Network.start(1)
    const node = network.nodes[0]!
    await node.node.libp2p.dial(silent.addr)
    await waitUntil(() => node.routingTableSize() === 1, { what: 'the silent peer in the routing table' })
    const before = await node.metric(TIMEOUTS, { type: 'find_providers' })

    const started = performance.now()
    const res = await api(node.node.addresses().api, 'GET', `/v1/shards/${HASH}/providers`)
    const elapsed = performance.now() - started

    expect(res.status).toBe(504)
    expect(res.body).toEqual({ error: { code: 'ERR_QUERY_TIMEOUT', message: 'DHT query timeout' } })
    expect(elapsed).toBeGreaterThanOrEqual(9_000)
    expect(elapsed).toBeLessThanOrEqual(11_000)
    expect((await node.metric(TIMEOUTS, { type: 'find_providers' })) - before).toBe(1)
    expect(
      await node.metric('nsn_p2p_kademlia_query_duration_seconds_count', {
        type: 'find_providers',
        result: 'timeout',
      }),
    ).toBe(1)
  }, 30_000)
})
