import { parseShardKey } from '@nsn/core'
import { sha256 } from 'multiformats/hashes/sha2'
import { afterEach, describe, expect, it } from 'vitest'
import { Network } from '../src/harness/index.js'

const SHARD = parseShardKey('5a'.repeat(32))

async function kadId(bytes: Uint8Array): Promise<bigint> {
  return BigInt(`0x${Buffer.from((await sha256.digest(bytes)).digest).toString('hex')}`)
}

describe('discovery among 3 nodes', () => {
  let network: Network | undefined
  afterEach(async () => {
    await network?.close()
    network = undefined
  })

  it('finds the other two, sorted by XOR distance, within 5 s of starting', async () => {
    const started = performance.now()
    network = await Network.start(3)
    await network.waitForTables(2, { timeoutMs: 5_000 })
    const [a, b, c] = network.nodes
    for (const [self, key] of [
      [a!, SHARD.hex],
      [b!, c!.peerId.toString()],
    ] as const) {
      const peers = await self.node.closestPeers(key)
      const elapsed = performance.now() - started
      expect(elapsed).toBeLessThan(5_000)
      const others = network.nodes.filter((n) => n !== self).map((n) => n.peerId.toString())
      expect(peers.map((p) => p.peerId.toString()).sort()).toEqual(
        key === SHARD.hex
          ? others.sort()
          : others
              .filter((id) => id !== key)
              .concat(key)
              .sort(),
      )
      const target = await kadId(key === SHARD.hex ? SHARD.multihash : c!.peerId.toMultihash().bytes)
      const distances = await Promise.all(
        peers.map(async (p) => (await kadId(p.peerId.toMultihash().bytes)) ^ target),
      )
      for (let i = 1; i < distances.length; i++) expect(distances[i]! > distances[i - 1]!).toBe(true)
    }
  })
})
