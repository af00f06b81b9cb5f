/**
 * Binary encoding of one persisted shard record.
 *
 * The datastore key is `<prefix>/<64 lower-case hex chars of the hash>`; the value is
 * 49 bytes: a format version byte (`1`), then six IEEE-754 float64 little-endian
 * numbers: `providedAt`, `publishedAt`, `republishAt`, `expiresAt` (`Infinity` for
 * never), `seq`, the recency sequence number (higher = more recently used) from which
 * the LRU order is rebuilt on load, and `id`, the shard's creation number, which breaks
 * ties between equal times in the due-list and expiry order.
 *
 * @packageDocumentation
 */

/** The persisted fields of one shard. */
export interface ShardRecord {
  providedAt: number
  publishedAt: number
  republishAt: number
  expiresAt: number
  /** Recency sequence number: higher is more recently used. */
  seq: number
  /** Creation number: among equal times, the lower comes first. */
  id: number
}

/** Format version written as the first byte of every record. */
export const RECORD_VERSION = 1
/** Byte length of an encoded record. */
export const RECORD_LENGTH = 1 + 6 * 8

/** Encodes a record into a fresh 41-byte array. */
export function encodeRecord(record: ShardRecord): Uint8Array {
  const bytes = new Uint8Array(RECORD_LENGTH)
  const view = new DataView(bytes.buffer)
  view.setUint8(0, RECORD_VERSION)
  view.setFloat64(1, record.providedAt, true)
  view.setFloat64(9, record.publishedAt, true)
  view.setFloat64(17, record.republishAt, true)
  view.setFloat64(25, record.expiresAt, true)
  view.setFloat64(33, record.seq, true)
  view.setFloat64(41, record.id, true)
  return bytes
}

/**
 * Decodes a record; returns a string naming the problem when `bytes` is not a valid
 * record (the caller turns it into a typed error with the key).
 */
export function decodeRecord(bytes: Uint8Array): ShardRecord | string {
  if (bytes.length !== RECORD_LENGTH) return `expected ${RECORD_LENGTH} bytes, got ${bytes.length}`
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const version = view.getUint8(0)
  if (version !== RECORD_VERSION) return `unknown record version ${version}`
  const record: ShardRecord = {
    providedAt: view.getFloat64(1, true),
    publishedAt: view.getFloat64(9, true),
    republishAt: view.getFloat64(17, true),
    expiresAt: view.getFloat64(25, true),
    seq: view.getFloat64(33, true),
    id: view.getFloat64(41, true),
  }
  if (!Number.isFinite(record.providedAt)) return `providedAt is ${record.providedAt}`
  if (!Number.isFinite(record.publishedAt)) return `publishedAt is ${record.publishedAt}`
  if (Number.isNaN(record.republishAt)) return 'republishAt is NaN'
  if (Number.isNaN(record.expiresAt)) return 'expiresAt is NaN'
  if (!Number.isSafeInteger(record.seq) || record.seq < 0) return `seq is ${record.seq}`
  if (!Number.isSafeInteger(record.id) || record.id < 0) return `id is ${record.id}`
  return record
}
