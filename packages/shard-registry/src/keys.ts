/**
 * The datastore layout of the shard store. Under the prefix `P` (default `/nsn/shards`):
 *
 * | key | value | what for |
 * | --- | --- | --- |
 * | `P/k/<key>` | the shard's record (`codec.ts`) | the shard itself, in Kademlia key order: a keyspace region is one range read |
 * | `P/s/<seq>/<key>` | empty | recency index: the least recently provided shard is the first key |
 * | `P/r/<republishAt>/<key>` | empty | due index of the per-shard republisher |
 * | `P/e/<expiresAt>/<key>` | empty | expiry index (finite expiries only) |
 * | `P/meta` | count and last sequence number | the set's size, journaled in every batch |
 *
 * `<key>` is the 64 lower-case hex characters of the shard's Kademlia key; numbers are 16
 * hex characters of an order-preserving encoding of their float64 bits, so the byte order
 * of the keys is the numeric order. Every mutation writes the record, its index keys and
 * `P/meta` in one atomic batch, so the indexes and the count never disagree with the
 * records, whatever crash interrupts a write.
 *
 * @packageDocumentation
 */

import { Key } from 'interface-datastore'

/** One index section of the layout. */
export type IndexSection = 's' | 'r' | 'e'

const view = new DataView(new ArrayBuffer(8))

/** 16 hex characters whose lexicographic order is the numeric order of `value` (not NaN). */
export function orderedHex(value: number): string {
  view.setFloat64(0, value === 0 ? 0 : value)
  let hi = view.getUint32(0)
  let lo = view.getUint32(4)
  if (hi & 0x8000_0000) {
    hi = ~hi >>> 0
    lo = ~lo >>> 0
  } else {
    hi = (hi | 0x8000_0000) >>> 0
  }
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
}

/** The number {@link orderedHex} encoded; NaN for a malformed string. */
export function fromOrderedHex(hex: string): number {
  if (!/^[0-9a-f]{16}$/.test(hex)) return Number.NaN
  let hi = Number.parseInt(hex.slice(0, 8), 16)
  let lo = Number.parseInt(hex.slice(8), 16)
  if (hi & 0x8000_0000) {
    hi = (hi & 0x7fff_ffff) >>> 0
  } else {
    hi = ~hi >>> 0
    lo = ~lo >>> 0
  }
  view.setUint32(0, hi)
  view.setUint32(4, lo)
  return view.getFloat64(0)
}

/** The key names of one store, under its prefix. */
export class StoreKeys {
  readonly prefix: string
  /** `P/k/`: every shard record starts with it. */
  readonly records: string
  readonly meta: Key

  constructor(prefix: string) {
    this.prefix = prefix
    this.records = `${prefix}/k/`
    this.meta = new Key(`${prefix}/meta`, false)
  }

  /** `P/k/<keyHex>`. */
  record(keyHex: string): Key {
    return new Key(this.records + keyHex, false)
  }

  /** `P/<section>/`: every key of an index starts with it. */
  section(section: IndexSection): string {
    return `${this.prefix}/${section}/`
  }

  /** `P/<section>/<orderedHex(value)>/<keyHex>`. */
  index(section: IndexSection, value: number, keyHex: string): Key {
    return new Key(`${this.prefix}/${section}/${orderedHex(value)}/${keyHex}`, false)
  }

  /**
   * The value and shard key of an index key name; undefined when the name is not of the
   * form `P/<section>/<16 hex>/<64 hex>`.
   */
  parseIndex(section: IndexSection, name: string): { value: number; keyHex: string } | undefined {
    const start = this.prefix.length + 3
    if (name.length !== start + 16 + 1 + 64 || !name.startsWith(this.section(section))) return undefined
    const value = fromOrderedHex(name.slice(start, start + 16))
    const keyHex = name.slice(start + 17)
    if (Number.isNaN(value) || name[start + 16] !== '/' || !/^[0-9a-f]{64}$/.test(keyHex)) return undefined
    return { value, keyHex }
  }
}

/**
 * The key-name range `[gte, lt)` of the records whose Kademlia key starts with the first
 * `bitLength` bits of `prefix`. Keys are hex, 4 bits a character: the whole characters
 * form a common prefix; remaining bits (1 to 3) bound the next character.
 */
export function regionRange(
  records: string,
  prefix: Uint8Array,
  bitLength: number,
): { gte: string; lt: string } {
  const whole = bitLength >> 2
  const rest = bitLength & 3
  const hex = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength).toString('hex')
  const head = records + hex.slice(0, whole)
  if (rest === 0) return { gte: head, lt: upperBound(head) }
  const nibble = Number.parseInt(hex.charAt(whole), 16)
  const low = nibble & (0xf << (4 - rest)) & 0xf
  const high = low + (1 << (4 - rest))
  return {
    gte: head + low.toString(16),
    lt: high === 16 ? upperBound(head) : head + high.toString(16),
  }
}

/** The least string above every string that starts with `prefix` (ASCII key names). */
export function upperBound(prefix: string): string {
  return `${prefix}\xff`
}
