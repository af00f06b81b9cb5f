/**
 * The wire form of a shard announcement: a protobuf message on the same
 * `protons-runtime` as core's Kademlia codec (`kad-message.ts`):
 *
 * ```protobuf
 * message ShardAnnouncement {
 *   repeated bytes shards = 1;   // shard hashes, 32 bytes each
 *   bytes provider = 2;          // the provider's peer id (its multihash bytes)
 *   repeated bytes addrs = 3;    // the provider's multiaddrs (binary)
 *   uint64 expires_at = 4;       // ms since the Unix epoch
 * }
 * ```
 *
 * A field number a newer version adds is skipped, as protobuf requires. Decoding is
 * bounded: it stops with {@link AnnouncementDecodeError} at the first repeated field past
 * its limit, so a hostile message costs at most one pass over its (size-checked) bytes.
 *
 * @packageDocumentation
 */

import { decodeMessage, encodeMessage, type Reader, type Writer } from 'protons-runtime'
import { ANNOUNCEMENT_MAX_ADDRESSES, ANNOUNCEMENT_MAX_SHARDS } from '../constants.js'
import { NsnError } from '../errors.js'

/** A shard announcement as its fields are on the wire. */
export interface AnnouncementFields {
  /** Shard hashes (32 bytes each, checked by the validator). */
  shards: Uint8Array[]
  /** The provider's peer id as multihash bytes. */
  provider: Uint8Array
  /** The provider's addresses, binary multiaddrs. */
  addrs: Uint8Array[]
  /** When the announced providers stop holding, in ms since the Unix epoch. */
  expiresAt: number
}

/** Why bytes are not an announcement: `too_many_shards`, `too_many_addresses` or `malformed`. */
export type AnnouncementDecodeFailure = 'too_many_shards' | 'too_many_addresses' | 'malformed'

/** Bytes that are not an announcement within the limits. */
export class AnnouncementDecodeError extends NsnError<'ERR_BAD_ANNOUNCEMENT'> {
  static readonly code = 'ERR_BAD_ANNOUNCEMENT'
  override readonly name = 'AnnouncementDecodeError'
  readonly code = AnnouncementDecodeError.code

  constructor(
    readonly reason: AnnouncementDecodeFailure,
    detail: string,
  ) {
    super(`bad shard announcement: ${reason} (${detail})`)
  }
}

/** Limits of a decode (the validator passes its options). */
export interface DecodeLimits {
  maxShards: number
  maxAddresses: number
}

function codec(limits: DecodeLimits) {
  return {
    encode(msg: Partial<AnnouncementFields>, w: Writer): void {
      for (const shard of msg.shards ?? []) {
        w.uint32(10)
        w.bytes(shard)
      }
      if (msg.provider != null && msg.provider.byteLength > 0) {
        w.uint32(18)
        w.bytes(msg.provider)
      }
      for (const addr of msg.addrs ?? []) {
        w.uint32(26)
        w.bytes(addr)
      }
      if (msg.expiresAt != null && msg.expiresAt !== 0) {
        w.uint32(32)
        w.uint64Number(msg.expiresAt)
      }
    },
    decode(reader: Reader): AnnouncementFields {
      const msg: AnnouncementFields = { shards: [], provider: new Uint8Array(0), addrs: [], expiresAt: 0 }
      while (reader.pos < reader.len) {
        const tag = reader.uint32()
        switch (tag >>> 3) {
          case 1:
            if (msg.shards.length >= limits.maxShards) {
              throw new AnnouncementDecodeError('too_many_shards', `more than ${limits.maxShards}`)
            }
            msg.shards.push(reader.bytes())
            break
          case 2:
            msg.provider = reader.bytes()
            break
          case 3:
            if (msg.addrs.length >= limits.maxAddresses) {
              throw new AnnouncementDecodeError('too_many_addresses', `more than ${limits.maxAddresses}`)
            }
            msg.addrs.push(reader.bytes())
            break
          case 4:
            msg.expiresAt = reader.uint64Number()
            break
          default:
            reader.skipType(tag & 7)
        }
      }
      return msg
    },
  }
}

const DEFAULT_LIMITS: DecodeLimits = {
  maxShards: ANNOUNCEMENT_MAX_SHARDS,
  maxAddresses: ANNOUNCEMENT_MAX_ADDRESSES,
}

/** Encodes an announcement. */
export function encodeAnnouncement(msg: AnnouncementFields): Uint8Array {
  return encodeMessage(msg, codec(DEFAULT_LIMITS))
}

/**
 * Decodes an announcement, copying nothing (the caller copies what it keeps).
 *
 * @throws {AnnouncementDecodeError} past a limit, or for bytes that are not a protobuf message
 */
export function decodeAnnouncement(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_LIMITS,
): AnnouncementFields {
  try {
    return decodeMessage(bytes, codec(limits))
  } catch (err) {
    if (err instanceof AnnouncementDecodeError) throw err
    throw new AnnouncementDecodeError('malformed', (err as Error).message)
  }
}
