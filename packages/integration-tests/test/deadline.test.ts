import { QUERY_TIMEOUT } from '@nsn/core'
import { createSilentPeer, routingTableEvents, type SilentPeer } from '@nsn/core/testing'
import { afterEach, describe, expect, it } from 'vitest'
import { api, Network, waitFor } from '../src/harness/index.js'

const HASH = 'd4'.repeat(32)
const TIMEOUTS = 'nsn_p2p_kademlia_query_timeouts_total'
const DURATION = 'nsn_p2p_kademlia_query_duration_seconds'

/**
 * The one test that waits out the real 10 s default deadline, end to end: the other
 * deadline tests (core, metrics, node) shrink it through `queryTimeout`. The silent
 * peer's request timeout (core's per-peer `requestTimeouts`, 2 s by default for an
 * unknown peer) is set past the deadline: with the default, a lookup whose only peer is
 * silent ends after 2 s with `NoPeerAnsweredError` (503), never reaching the deadline.
 */

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
    network = await Network.start(1, { node: { dht: { requestTimeouts: { unknownPeer: 20_000 } } } })
    const node = network.nodes[0]!
    expect(QUERY_TIMEOUT).toBe(10_000)
    expect(node.node.routing.queryTimeout).toBe(QUERY_TIMEOUT) // the default, not shrunk
    await node.node.libp2p.dial(silent.addr)
    await waitFor(() => node.routingTableSize() === 1, {
      on: routingTableEvents(node.node.libp2p),
      what: 'the silent peer in the routing table',
    })
    const before = await node.metric(TIMEOUTS, { type: 'find_providers' })

    const started = performance.now()
    const res = await api(node.node.addresses().api, 'GET', `/v1/shards/${HASH}/providers`)
    const elapsed = performance.now() - started

    expect(res.status).toBe(504)
    expect(res.body).toEqual({ error: { code: 'ERR_QUERY_TIMEOUT', message: 'DHT query timeout' } })
    expect(elapsed).toBeGreaterThanOrEqual(9_000)
    expect(elapsed).toBeLessThanOrEqual(11_000)
    expect((await node.metric(TIMEOUTS, { type: 'find_providers' })) - before).toBe(1)
    const series = { type: 'find_providers', result: 'timeout' }
    expect(await node.metric(`${DURATION}_count`, series)).toBe(1)
    // the histogram's buckets tell a timeout at the default deadline apart: past le="10", in le="12.5"
    expect(await node.metric(`${DURATION}_bucket`, { ...series, le: '10' })).toBe(0)
    expect(await node.metric(`${DURATION}_bucket`, { ...series, le: '12.5' })).toBe(1)
    const sum = await node.metric(`${DURATION}_sum`, series)
    expect(sum).toBeGreaterThan(10)
    expect(Math.abs(sum - 10)).toBeLessThan(1)
  }, 30_000)
})
