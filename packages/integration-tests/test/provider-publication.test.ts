import { multiaddr } from '@multiformats/multiaddr'
import { parseShardKey } from '@nsn/core'
import { afterEach, describe, expect, it } from 'vitest'
import { Network } from '../src/harness/index.js'

const SHARD = parseShardKey('7c'.repeat(32))
const PUBLISHED = 'nsn_p2p_kademlia_provider_records_published_total'
const TTL = 60_000

/** A multiaddr without its /p2p/ part, as a string. */
const transport = (addr: string) => multiaddr(addr).decapsulateCode(421).toString()

describe('provider publication', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('stores a record holding our addresses and TTL on the other nodes, and counts it once', async () => {
    network = await Network.start(4, { node: { providerTtl: TTL } })
    await network.waitForTables(3)
    const [provider, ...others] = network.nodes
    const before = await provider!.metric(PUBLISHED)
    const publishedAt = Date.now()

    const result = await provider!.node.provide(SHARD.hex)
    expect(result).toMatchObject({ confirmed: 3, sentTo: 3, quorum: 3, belowQuorum: false })
    expect((await provider!.metric(PUBLISHED)) - before).toBe(1)

    const ours = provider!.addrs.map(transport).sort()
    for (const holder of others) {
      // the holder confirmed the store: it holds the record when provide resolves
      const record = await holder.node.routing.storedProviderRecord(SHARD, provider!.peerId)
      expect(record, `${holder.name} holds the record`).toBeDefined()
      expect(record!.storedAt).toBeGreaterThanOrEqual(publishedAt)
      expect(record!.storedAt).toBeLessThanOrEqual(Date.now())
      expect(record!.expiresAt - record!.storedAt).toBe(TTL)
      // the holder answers a lookup from its own store with the provider's addresses
      const found = await holder.node.findProviders(SHARD.hex, { limit: 1 })
      const entry = found.providers.find((p) => p.peerId.equals(provider!.peerId))
      expect(entry).toBeDefined()
      expect(entry!.multiaddrs.map((m) => m.toString()).sort()).toEqual(ours)
    }
  })
})
