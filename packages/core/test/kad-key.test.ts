import { kadKeyOf } from '@nsn/shard-registry'
import { sha256 } from 'multiformats/hashes/sha2'
import { describe, expect, it } from 'vitest'
import { kadId } from '../src/peer-addresses.js'
import { parseShardKey } from '../src/shard-key.js'

describe('the shard store’s Kademlia key', () => {
  it('is the key kad-dht places the shard’s provider records at: SHA-256 of its multihash', async () => {
    for (const hex of ['00'.repeat(32), 'ff'.repeat(32), '0123456789abcdef'.repeat(4)]) {
      const key = parseShardKey(hex)
      // kad-dht's convertBuffer: (await sha256.digest(key)).digest, over the CID's multihash
      const expected = (await sha256.digest(key.cid.multihash.bytes)).digest
      expect(Buffer.from(kadKeyOf(key.bytes)).toString('hex')).toBe(Buffer.from(expected).toString('hex'))
      // and core's own kadId of the DHT key
      expect(Buffer.from(kadKeyOf(key.bytes))).toEqual(Buffer.from(await kadId(key.multihash)))
    }
  })
})
