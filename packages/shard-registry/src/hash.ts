/**
 * Validation and hex conversion of shard hashes.
 *
 * @packageDocumentation
 */

import { SHARD_HASH_LENGTH } from './constants.js'
import { describe, InvalidShardHashError } from './errors.js'

const HEX_RE = /^[0-9a-f]{64}$/

/** Throws {@link InvalidShardHashError} unless `hash` is a `Uint8Array` of exactly 32 bytes. */
export function assertShardHash(hash: unknown): asserts hash is Uint8Array {
  if (!(hash instanceof Uint8Array)) {
    throw new InvalidShardHashError(
      describe(hash),
      `a shard hash must be a Uint8Array of exactly ${SHARD_HASH_LENGTH} bytes`,
    )
  }
  if (hash.length !== SHARD_HASH_LENGTH) {
    throw new InvalidShardHashError(
      describe(hash),
      `a shard hash must be exactly ${SHARD_HASH_LENGTH} bytes, got ${hash.length}`,
    )
  }
}

/**
 * The 64 lower-case hex characters of a validated hash. Reads through a `Buffer` view of
 * the same memory (no copy, nothing taken from Node's shared buffer pool).
 */
export function toHex(hash: Uint8Array): string {
  return Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex')
}

/** The validated hash's hex, throwing {@link InvalidShardHashError} on anything else. */
export function hexOf(hash: unknown): string {
  assertShardHash(hash)
  return toHex(hash)
}

/** Whether `hex` is 64 lower-case hex characters. */
export function isShardHex(hex: string): boolean {
  return HEX_RE.test(hex)
}

/** Value of each hex digit's char code; -1 for other characters. */
const HEX_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i

/**
 * The 32 bytes of a 64-character lower-case hex string (validated by the caller), in their
 * own `ArrayBuffer`: never a slice of Node's shared buffer pool, which a long-lived entry
 * would keep alive.
 */
export function fromHex(hex: string): Uint8Array {
  const bytes = new Uint8Array(SHARD_HASH_LENGTH)
  for (let i = 0; i < SHARD_HASH_LENGTH; i++) {
    bytes[i] =
      ((HEX_VALUE[hex.charCodeAt(2 * i)] as number) << 4) | (HEX_VALUE[hex.charCodeAt(2 * i + 1)] as number)
  }
  return bytes
}
