import { CID } from 'multiformats/cid'
import { describe, expect, it } from 'vitest'
import {
  formatShardHash,
  InvalidShardKeyError,
  parseShardKey,
  shardKeyFromCid,
  shardKeyFromMultihash,
} from '../src/index.js'

const HEX = '0123456789abcdef'.repeat(4)

function rejection(fn: () => unknown): InvalidShardKeyError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidShardKeyError)
    return err as InvalidShardKeyError
  }
  throw new Error('expected an InvalidShardKeyError')
}

describe('shard keys', () => {
  it('parses 64 hex characters, with or without 0x, in any case', () => {
    const key = parseShardKey(HEX)
    expect(key.hex).toBe(HEX)
    expect(parseShardKey(`0x${HEX}`).hex).toBe(HEX)
    expect(parseShardKey(`0X${HEX.toUpperCase()}`).hex).toBe(HEX)
    expect(key.bytes).toHaveLength(32)
  })

  it('round-trips hex -> bytes -> hex and key -> CID -> key', () => {
    const key = parseShardKey(HEX)
    expect(parseShardKey(key.bytes).hex).toBe(HEX)
    expect(formatShardHash(key.bytes)).toBe(HEX)
    const cid = key.cid
    expect(cid.version).toBe(1)
    expect(cid.code).toBe(0x55)
    expect(cid.multihash.code).toBe(0x12)
    expect(Buffer.from(cid.multihash.digest).toString('hex')).toBe(HEX)
    expect(shardKeyFromCid(cid).hex).toBe(HEX)
    expect(shardKeyFromCid(cid.toString()).hex).toBe(HEX)
    expect(parseShardKey(cid.toString()).hex).toBe(HEX)
    expect(shardKeyFromMultihash(key.multihash).hex).toBe(HEX)
    expect(key.toString()).toBe(HEX)
    expect(JSON.stringify({ key })).toBe(`{"key":"${HEX}"}`)
    expect(parseShardKey(key)).toBe(key)
  })

  it('keeps a private copy of the bytes', () => {
    const bytes = new Uint8Array(32).fill(7)
    const key = parseShardKey(bytes)
    bytes[0] = 8
    expect(key.bytes[0]).toBe(7)
  })

  it.each([
    ['', 'must not be empty'],
    ['abc', 'must be 64 hex characters (32 bytes), got 3'],
    [HEX.slice(0, 62), 'got 62'],
    [`${HEX}00`, 'got 66'],
    [`${HEX.slice(0, 63)}g`, 'only hex characters'],
    ['0x', 'got 0'],
    [`0x${HEX.slice(2)}zz`, 'only hex characters'],
  ])('rejects %j with a typed error naming the input and the rule', (input, rule) => {
    const err = rejection(() => parseShardKey(input))
    expect(err.code).toBe('ERR_INVALID_SHARD_KEY')
    expect(err.name).toBe('InvalidShardKeyError')
    expect(err.input).toBe(input)
    expect(err.rule).toContain(rule)
    expect(err.message).toContain(JSON.stringify(input))
  })

  it('rejects byte arrays of the wrong length', () => {
    const err = rejection(() => parseShardKey(new Uint8Array(31)))
    expect(err.rule).toBe('must be 32 bytes, got 31')
    expect(err.input).toBe('<31 bytes>')
  })

  it('rejects non-strings and non-bytes', () => {
    expect(rejection(() => parseShardKey(42 as unknown as string)).rule).toContain('hex string or 32 bytes')
  })

  it('rejects the wrong multihash, codec or CID version', () => {
    const key = parseShardKey(HEX)
    const identity = new Uint8Array([0x00, 0x20, ...key.bytes])
    expect(rejection(() => shardKeyFromMultihash(identity)).rule).toContain('sha2-256')
    const short = new Uint8Array([0x12, 0x10, ...key.bytes.slice(0, 16)])
    expect(rejection(() => shardKeyFromMultihash(short)).rule).toContain('digest must be 32 bytes, got 16')
    expect(rejection(() => shardKeyFromMultihash(new Uint8Array([0xff]))).rule).toContain(
      'must be a multihash',
    )
    const dagPb = CID.createV1(0x70, key.cid.multihash)
    expect(rejection(() => shardKeyFromCid(dagPb)).rule).toContain('raw codec')
    const v0 = CID.createV0(key.cid.multihash as never)
    expect(rejection(() => shardKeyFromCid(v0)).rule).toBe('must be a CIDv1')
    expect(rejection(() => shardKeyFromCid('bnotacid')).rule).toContain('valid CID')
  })
})
