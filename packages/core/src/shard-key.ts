/**
 * Shard keys. A shard hash is 32 bytes, written as 64 hex characters (`0x` accepted).
 * On the DHT it is content-addressed as a CIDv1 with the `raw` codec and a sha2-256
 * multihash whose digest is the 32 bytes, so the DHT key is that multihash, as IPFS
 * tooling expects. {@link parseShardKey} is the one parser; every malformed input is
 * rejected by it with an {@link InvalidShardKeyError} naming the input and the rule.
 *
 * @packageDocumentation
 */

import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { SHARD_HASH_LENGTH } from './constants.js'
import { InvalidShardKeyError } from './errors.js'

const HEX = /^[0-9a-fA-F]*$/

/** A parsed, valid shard key. Immutable. */
export class ShardKey {
  /** The 32 hash bytes (a private copy). */
  readonly bytes: Uint8Array
  /** The hash as 64 lower-case hex characters, no `0x`. */
  readonly hex: string
  /** The CIDv1 (raw codec, sha2-256 multihash of the 32 bytes). */
  readonly cid: CID

  private constructor(bytes: Uint8Array) {
    this.bytes = bytes
    this.hex = Buffer.from(bytes).toString('hex')
    this.cid = CID.createV1(raw.code, Digest.create(sha256.code, bytes))
  }

  /** The multihash bytes: the DHT key of the shard's provider records. */
  get multihash(): Uint8Array {
    return this.cid.multihash.bytes
  }

  /** True when both keys name the same shard. */
  equals(other: ShardKey): boolean {
    return this.hex === other.hex
  }

  toString(): string {
    return this.hex
  }

  toJSON(): string {
    return this.hex
  }

  /** @internal Only {@link parseShardKey} and {@link shardKeyFromCid} construct keys. */
  static fromValidatedBytes(bytes: Uint8Array): ShardKey {
    return new ShardKey(bytes)
  }
}

/** Anything that names a shard: a key, 64 hex characters (`0x` allowed) or the 32 bytes. */
export type ShardKeyInput = ShardKey | string | Uint8Array

function describe(input: unknown): string {
  if (typeof input === 'string') return input.length > 100 ? `${input.slice(0, 100)}…` : input
  if (input instanceof Uint8Array) return `<${input.length} bytes>`
  return `<${input === null ? 'null' : typeof input}>`
}

/**
 * Parses a shard hash from 64 hex characters (with or without `0x`), from its 32
 * bytes, or from a CID string of the raw/sha2-256 form. Returns `input` itself when it
 * is already a {@link ShardKey}.
 *
 * @throws {InvalidShardKeyError} naming the input and the rule it broke
 */
export function parseShardKey(input: ShardKeyInput): ShardKey {
  if (input instanceof ShardKey) return input
  if (input instanceof Uint8Array) {
    if (input.length !== SHARD_HASH_LENGTH) {
      throw new InvalidShardKeyError(
        describe(input),
        `must be ${SHARD_HASH_LENGTH} bytes, got ${input.length}`,
      )
    }
    return ShardKey.fromValidatedBytes(Uint8Array.from(input))
  }
  if (typeof input !== 'string') {
    throw new InvalidShardKeyError(describe(input), 'must be a hex string or 32 bytes')
  }
  if (input.length === 0) {
    throw new InvalidShardKeyError(input, 'must not be empty')
  }
  const hex = input.startsWith('0x') || input.startsWith('0X') ? input.slice(2) : input
  if (!HEX.test(hex) && /^b[a-z2-7]{40,}$/.test(input)) {
    // a base32 CIDv1 string
    return shardKeyFromCid(input)
  }
  if (!HEX.test(hex)) {
    throw new InvalidShardKeyError(describe(input), 'must contain only hex characters 0-9 a-f')
  }
  if (hex.length !== 2 * SHARD_HASH_LENGTH) {
    throw new InvalidShardKeyError(
      describe(input),
      `must be ${2 * SHARD_HASH_LENGTH} hex characters (${SHARD_HASH_LENGTH} bytes), got ${hex.length}`,
    )
  }
  return ShardKey.fromValidatedBytes(Uint8Array.from(Buffer.from(hex, 'hex')))
}

/**
 * Turns a shard's CID (or its string) back into its key.
 *
 * @throws {InvalidShardKeyError} when the CID is not CIDv1, raw codec, sha2-256 of 32 bytes
 */
export function shardKeyFromCid(input: CID | string): ShardKey {
  let cid: CID
  try {
    cid = typeof input === 'string' ? CID.parse(input) : input
  } catch (err) {
    throw new InvalidShardKeyError(describe(input), `must be a valid CID (${(err as Error).message})`)
  }
  const text = describe(typeof input === 'string' ? input : cid.toString())
  if (cid.version !== 1) throw new InvalidShardKeyError(text, 'must be a CIDv1')
  if (cid.code !== raw.code) throw new InvalidShardKeyError(text, 'must use the raw codec (0x55)')
  return shardKeyFromMultihash(cid.multihash.bytes, text)
}

/**
 * Turns a DHT key (a sha2-256 multihash of 32 bytes) back into the shard key.
 *
 * @throws {InvalidShardKeyError} on any other multihash
 */
export function shardKeyFromMultihash(multihash: Uint8Array, label?: string): ShardKey {
  const text = label ?? describe(multihash)
  let digest: Digest.Digest<number, number>
  try {
    digest = Digest.decode(multihash)
  } catch (err) {
    throw new InvalidShardKeyError(text, `must be a multihash (${(err as Error).message})`)
  }
  if (digest.code !== sha256.code) {
    throw new InvalidShardKeyError(
      text,
      `must be a sha2-256 multihash (0x12), got 0x${digest.code.toString(16)}`,
    )
  }
  if (digest.digest.length !== SHARD_HASH_LENGTH) {
    throw new InvalidShardKeyError(
      text,
      `digest must be ${SHARD_HASH_LENGTH} bytes, got ${digest.digest.length}`,
    )
  }
  return ShardKey.fromValidatedBytes(Uint8Array.from(digest.digest))
}

/** Formats 32 hash bytes as 64 lower-case hex characters. */
export function formatShardHash(input: ShardKeyInput): string {
  return parseShardKey(input).hex
}
