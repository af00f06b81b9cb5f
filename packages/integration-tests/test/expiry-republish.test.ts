import { parseShardKey } from '@nsn/core'
import { afterEach, describe, expect, it } from 'vitest'
import { Network, waitFor } from '../src/harness/index.js'

const KEPT = parseShardKey('a1'.repeat(32))
const STOPPED = parseShardKey('b2'.repeat(32))
const TTL = 3_000

describe('record expiry and republish (TTL shrunk to 3 s by config)', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('a withdrawn record expires after its TTL; a still-provided shard is republished before it lapses', async () => {
    network = await Network.start(4, { node: { providerTtl: TTL } })
    await network.waitForTables(3)
    const [provider, holder] = network.nodes as [(typeof network.nodes)[0], (typeof network.nodes)[0]]
    // every other node (the holder among them) confirmed both stores: no wait for them
    for (const key of [KEPT, STOPPED]) {
      expect(await provider.node.provide(key.hex)).toMatchObject({ confirmed: 3, sentTo: 3 })
    }
    expect(await holder.node.routing.storedProviderRecord(KEPT, provider.peerId)).toBeDefined()
    const stoppedRecord = await holder.node.routing.storedProviderRecord(STOPPED, provider.peerId)
    expect(stoppedRecord).toBeDefined()
    expect(await provider.node.stopProviding(STOPPED.hex)).toBe(true)

    // for two and a half TTLs, the holder always has a live record of the kept shard,
    // renewed before it lapses; the stopped shard's record disappears once its TTL is up
    // (the holder's datastore has no event: it is sampled every 100 ms, by waitFor's poll)
    const until = Date.now() + 2.5 * TTL
    const renewals = new Set<number>()
    let stoppedGoneAt: number | undefined
    const sample = async (): Promise<boolean> => {
      const kept = await holder.node.routing.storedProviderRecord(KEPT, provider.peerId)
      expect(kept, 'the holder keeps a record of the still-provided shard').toBeDefined()
      expect(Date.now()).toBeLessThan(kept!.expiresAt)
      renewals.add(kept!.storedAt)
      if (
        stoppedGoneAt == null &&
        (await holder.node.routing.storedProviderRecord(STOPPED, provider.peerId)) == null
      ) {
        stoppedGoneAt = Date.now()
      }
      return Date.now() >= until
    }
    await waitFor(sample, { pollMs: 100, timeoutMs: 2.5 * TTL + 2_000, what: 'two and a half TTLs' })
    expect(renewals.size).toBeGreaterThanOrEqual(3)
    expect(stoppedGoneAt).toBeDefined()
    // not before its TTL, and at most one cleanup interval (TTL / 4 here) after it
    expect(stoppedGoneAt! - stoppedRecord!.storedAt).toBeGreaterThanOrEqual(TTL)
    expect(stoppedGoneAt! - stoppedRecord!.storedAt).toBeLessThan(TTL + TTL / 4 + 500)
    // the provider itself holds no record of the stopped shard any more
    expect(await provider.node.routing.hasSelfRecord(STOPPED)).toBe(false)
    // republished by the sweep (the node's republisher), region by region
    await waitFor(async () => (await provider.metric('nsn_p2p_sweep_shards_republished_total')) > 0, {
      what: 'sweep republishes counted',
    })
  })
})
