import { afterEach, describe, expect, it } from 'vitest'
import { Network, waitFor } from '../src/harness/index.js'

describe('bootstrap', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('a new node with 3 bootstrap peers reaches a routing table over 10 within 30 s', async () => {
    network = await Network.start(15)
    await network.waitForTables(10)
    const seeds = network.nodes.slice(0, 3)
    const started = performance.now()
    const newcomer = await network.add({ bootstrap: seeds })
    const tookMs =
      (await network.waitForTables(11, { nodes: [newcomer], timeoutMs: 30_000 })) +
      (performance.now() - started)
    expect(newcomer.routingTableSize()).toBeGreaterThan(10)
    expect(tookMs).toBeLessThan(30_000)
    // counted when the node's bootstrap lookup ends (no event outside the node): polled
    await waitFor(async () => (await newcomer.metric('nsn_p2p_kademlia_bootstrap_success_total')) === 1, {
      what: 'the bootstrap counted as a success',
    })
    expect(await newcomer.metric('nsn_p2p_kademlia_bootstrap_failure_total')).toBe(0)
  })
})
