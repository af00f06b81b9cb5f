import {
  DEFAULT_CAPACITY,
  DEFAULT_REPUBLISH_INTERVAL,
  DEFAULT_REPUBLISH_JITTER,
  SHARD_HASH_LENGTH as REGISTRY_SHARD_HASH_LENGTH,
} from '@nsn/shard-registry'
import { describe, expect, it } from 'vitest'
import {
  hour,
  InvalidOptionError,
  minute,
  PROVIDER_CLEANUP_INTERVAL,
  PROVIDER_RECORD_TTL,
  REGISTRY_CAPACITY,
  REPUBLISH_JITTER,
  REPUBLISH_MARGIN,
  republishTiming,
  SHARD_HASH_LENGTH,
  second,
} from '../src/index.js'

describe('republishTiming', () => {
  it('with the 12 h default TTL: every 11 h minus up to 10 min, receivers purge every 10 min', () => {
    const expected = {
      republishInterval: 11 * hour,
      republishJitter: 10 * minute,
      providerCleanupInterval: 10 * minute,
    }
    expect(republishTiming(PROVIDER_RECORD_TTL)).toEqual(expected)
    expect(republishTiming()).toEqual(expected)
    expect(republishTiming().republishInterval).toBe(PROVIDER_RECORD_TTL - REPUBLISH_MARGIN)
    expect(republishTiming().republishJitter).toBe(REPUBLISH_JITTER)
    expect(republishTiming().providerCleanupInterval).toBe(PROVIDER_CLEANUP_INTERVAL)
  })

  it('shrinks the margin, the jitter and the purge interval with a short TTL', () => {
    expect(republishTiming(minute)).toEqual({
      republishInterval: 55 * second, // a twelfth of the TTL as margin
      republishJitter: 5_500, // a tenth of the interval
      providerCleanupInterval: 15 * second, // a quarter of the TTL
    })
    expect(republishTiming(2 * second).providerCleanupInterval).toBe(second) // never below 1 s
  })

  it.each([1, 12, 999, second, minute, 30 * minute, hour, 12 * hour, 48 * hour, 30 * 24 * hour])(
    'republishes strictly before a TTL of %i ms lapses, after jitter, with a positive delay',
    (ttl) => {
      const { republishInterval, republishJitter, providerCleanupInterval } = republishTiming(ttl)
      expect(republishInterval).toBeLessThanOrEqual(ttl)
      if (ttl >= 12) expect(republishInterval).toBeLessThan(ttl)
      expect(republishJitter).toBeGreaterThanOrEqual(0)
      expect(republishJitter).toBeLessThan(republishInterval) // the registry requires it
      expect(republishInterval - republishJitter).toBeGreaterThan(0)
      expect(providerCleanupInterval).toBeGreaterThanOrEqual(second)
      expect(providerCleanupInterval).toBeLessThanOrEqual(PROVIDER_CLEANUP_INTERVAL)
    },
  )

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects a TTL of %s', (ttl) => {
    expect(() => republishTiming(ttl)).toThrow(InvalidOptionError)
    expect(() => republishTiming(ttl)).toThrow(/providerTtl/)
  })
})

describe('the shard registry keeps its own defaults, in step with core', () => {
  // @nsn/shard-registry does not depend on core: its standalone defaults are values of
  // its own, and this test keeps them equal to what core derives
  it('republishes as republishTiming does for the default TTL', () => {
    const { republishInterval, republishJitter } = republishTiming(PROVIDER_RECORD_TTL)
    expect(DEFAULT_REPUBLISH_INTERVAL).toBe(republishInterval)
    expect(DEFAULT_REPUBLISH_JITTER).toBe(republishJitter)
  })

  it('holds as many shards and as long hashes', () => {
    expect(DEFAULT_CAPACITY).toBe(REGISTRY_CAPACITY)
    expect(REGISTRY_SHARD_HASH_LENGTH).toBe(SHARD_HASH_LENGTH)
  })
})
