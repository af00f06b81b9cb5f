/**
 * Binary encodings of the store's values.
 *
 * A shard record (at `P/k/<key>`, see `keys.ts`) is 73 bytes: a format version byte
 * (`2`), the 32 hash bytes, then five IEEE-754 float64 little-endian numbers:
 * `providedAt`, `publishedAt`, `republishAt`, `expiresAt` (`Infinity` for never) and
 * `seq`, the recency sequence number (higher = more recently provided) that names the
 * shard's key in the recency index.
 *
 * The meta value (at `P/meta`) is 17 bytes: a version byte (`1`), the number of shards
 * and the last sequence number handed out, as float64 little-endian.
 *
 * Version 1 records (the in-memory registry's: `P/<hash hex>`, 49 bytes) are still
 * decoded, to migrate a store written by an earlier version.
 *
 * @packageDocumentation
 */

import { SHARD_HASH_LENGTH } from './constants.js'

/** The persisted fields of one shard. */
export interface ShardRecord {
  /** The shard's 32 hash bytes (in their own buffer once decoded). */
  hash: Uint8Array
  providedAt: number
  publishedAt: number
  republishAt: number
  expiresAt: number
  /** Recency sequence number: higher is more recently provided. */
  seq: number
}

/** Format version written as the first byte of every record. */
export const RECORD_VERSION = 2
/** Byte length of an encoded record. */
export const RECORD_LENGTH = 1 + SHARD_HASH_LENGTH + 5 * 8

/** Encodes a record into a fresh 73-byte array. */
export function encodeRecord(record: ShardRecord): Uint8Array {
  const bytes = new Uint8Array(RECORD_LENGTH)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, RECORD_VERSION)
  bytes.set(record.hash, 1)
  const at = 1 + SHARD_HASH_LENGTH
  view.setFloat64(at, record.providedAt, true)
  view.setFloat64(at + 8, record.publishedAt, true)
  view.setFloat64(at + 16, record.republishAt, true)
  view.setFloat64(at + 24, record.expiresAt, true)
  view.setFloat64(at + 32, record.seq, true)
  return bytes
}

/**
 * Decodes a record; returns a string naming the problem when `bytes` is not a valid
 * record (the caller turns it into a typed error with the key). The hash is copied out,
 * so the record never keeps the datastore's buffer alive.
 */
export function decodeRecord(bytes: Uint8Array): ShardRecord | string {
  if (bytes.length !== RECORD_LENGTH) return `expected ${RECORD_LENGTH} bytes, got ${bytes.length}`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== RECORD_VERSION) return `unknown record version ${version}`
  const at = 1 + SHARD_HASH_LENGTH
  const record: ShardRecord = {
    hash: bytes.slice(1, at),
    providedAt: view.getFloat64(at, true),
    publishedAt: view.getFloat64(at + 8, true),
    republishAt: view.getFloat64(at + 16, true),
    expiresAt: view.getFloat64(at + 24, true),
    seq: view.getFloat64(at + 32, true),
  }
  return checkTimes(record)
}

function checkTimes<R extends Omit<ShardRecord, 'hash'>>(record: R): R | string {
  if (!Number.isFinite(record.providedAt)) return `providedAt is ${record.providedAt}`
  if (!Number.isFinite(record.publishedAt)) return `publishedAt is ${record.publishedAt}`
  if (Number.isNaN(record.republishAt)) return 'republishAt is NaN'
  if (Number.isNaN(record.expiresAt)) return 'expiresAt is NaN'
  if (!Number.isSafeInteger(record.seq) || record.seq < 0) return `seq is ${record.seq}`
  return record
}

/** The store's journaled counters. */
export interface StoreMeta {
  /** Number of shards in the store. */
  count: number
  /** Last recency sequence number handed out. */
  seq: number
}

/** Format version of the meta value. */
export const META_VERSION = 1
const META_LENGTH = 17

/** Encodes the meta value. */
export function encodeMeta(meta: StoreMeta): Uint8Array {
  const bytes = new Uint8Array(META_LENGTH)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, META_VERSION)
  view.setFloat64(1, meta.count, true)
  view.setFloat64(9, meta.seq, true)
  return bytes
}

/** Decodes the meta value, or names the problem. */
export function decodeMeta(bytes: Uint8Array): StoreMeta | string {
  if (bytes.length !== META_LENGTH) return `expected ${META_LENGTH} bytes, got ${bytes.length}`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint8(0) !== META_VERSION) return `unknown meta version ${view.getUint8(0)}`
  const count = view.getFloat64(1, true)
  const seq = view.getFloat64(9, true)
  if (!Number.isSafeInteger(count) || count < 0) return `count is ${count}`
  if (!Number.isSafeInteger(seq) || seq < 0) return `seq is ${seq}`
  return { count, seq }
}

/** A version 1 record (an earlier version's `P/<hash hex>` value). */
export type LegacyRecord = Omit<ShardRecord, 'hash'>

/** Byte length of a version 1 record. */
export const LEGACY_RECORD_LENGTH = 1 + 6 * 8

/** Decodes a version 1 record, or names the problem. */
export function decodeLegacyRecord(bytes: Uint8Array): LegacyRecord | string {
  if (bytes.length !== LEGACY_RECORD_LENGTH)
    return `expected ${LEGACY_RECORD_LENGTH} bytes, got ${bytes.length}`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (view.getUint8(0) !== 1) return `unknown record version ${view.getUint8(0)}`
  return checkTimes({
    providedAt: view.getFloat64(1, true),
    publishedAt: view.getFloat64(9, true),
    republishAt: view.getFloat64(17, true),
    expiresAt: view.getFloat64(25, true),
    seq: view.getFloat64(33, true),
  })
}
