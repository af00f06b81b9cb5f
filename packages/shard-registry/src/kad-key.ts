/**
 * The Kademlia key of a shard: the point in the DHT's keyspace where its provider records
 * live. An NSN shard is announced under the sha2-256 multihash of its 32 hash bytes
 * (`0x12 0x20` then the bytes: `@nsn/core`'s `ShardKey.multihash`), and kad-dht places a
 * key at the SHA-256 of those multihash bytes. This package cannot depend on core, so it
 * computes the same thing here with `node:crypto`; a test in `@nsn/core` checks that both
 * agree.
 *
 * @packageDocumentation
 */

import { createHash } from 'node:crypto'
import { SHARD_HASH_LENGTH } from './constants.js'

/** Multihash code of sha2-256 and the digest length, the two bytes before the hash. */
const MULTIHASH_HEADER = Uint8Array.of(0x12, SHARD_HASH_LENGTH)

/**
 * The 32-byte Kademlia key of a validated 32-byte shard hash, in its own `ArrayBuffer`
 * (never a slice of Node's shared buffer pool).
 */
export function kadKeyOf(hash: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(MULTIHASH_HEADER).update(hash).digest()
  const key = new Uint8Array(SHARD_HASH_LENGTH)
  key.set(digest)
  return key
}
