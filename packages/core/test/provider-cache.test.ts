import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  type CachedProvider,
  InvalidOptionError,
  PROVIDER_CACHE_MAX_BYTES,
  PROVIDER_CACHE_MAX_ENTRIES,
  PROVIDER_CACHE_TTL,
  PROVIDER_RECORD_TTL,
  ProviderCache,
  type ProviderCacheEvictionReason,
  providerEntryBytes,
} from '../src/index.js'

/** A clock the test moves. */
function fakeClock(start = 1_000_000): { now: () => number; advance(ms: number): void } {
  let t = start
  return {
    now: () => t,
    advance(ms) {
      t += ms
    },
  }
}

async function provider(addrs = ['/ip4/10.0.0.1/tcp/4001']): Promise<CachedProvider> {
  return {
    peerId: peerIdFromPrivateKey(await generateKeyPair('Ed25519')),
    multiaddrs: addrs.map((a) => multiaddr(a)),
  }
}

const key = (i: number): string => i.toString(16).padStart(64, '0')

/** Records what the cache reports. */
function recorder() {
  const seen = {
    hits: 0,
    misses: 0,
    evicted: {} as Partial<Record<ProviderCacheEvictionReason, number>>,
    size: [] as Array<[number, number]>,
  }
  return {
    seen,
    reporter: {
      hit: () => seen.hits++,
      miss: () => seen.misses++,
      evicted: (reason: ProviderCacheEvictionReason, count: number) => {
        seen.evicted[reason] = (seen.evicted[reason] ?? 0) + count
      },
      sizeChanged: (entries: number, bytes: number) => seen.size.push([entries, bytes]),
    },
  }
}

describe('ProviderCache', () => {
  let p1: CachedProvider
  let p2: CachedProvider
  let p3: CachedProvider
  beforeAll(async () => {
    ;[p1, p2, p3] = await Promise.all([provider(), provider(), provider()])
  })

  it('has named defaults: a TTL well below the record TTL, bounded entries and bytes', () => {
    const cache = new ProviderCache()
    expect(cache.options).toEqual({
      ttl: PROVIDER_CACHE_TTL,
      maxEntries: PROVIDER_CACHE_MAX_ENTRIES,
      maxBytes: PROVIDER_CACHE_MAX_BYTES,
    })
    expect(PROVIDER_CACHE_TTL).toBe(60_000)
    expect(PROVIDER_CACHE_TTL * 100).toBeLessThan(PROVIDER_RECORD_TTL)
  })

  it('rejects out-of-range options with InvalidOptionError naming the option', () => {
    for (const [options, name] of [
      [{ maxEntries: 0 }, 'providerCache.maxEntries'],
      [{ maxEntries: 1.5 }, 'providerCache.maxEntries'],
      [{ maxBytes: -1 }, 'providerCache.maxBytes'],
      [{ ttl: 0 }, 'providerCache.ttl'],
      [{ ttl: Number.POSITIVE_INFINITY }, 'providerCache.ttl'],
    ] as const) {
      const err = (() => {
        try {
          new ProviderCache(options)
        } catch (e) {
          return e
        }
      })()
      expect(err).toBeInstanceOf(InvalidOptionError)
      expect((err as InvalidOptionError).option).toBe(name)
    }
  })

  it('answers until the TTL, counting hits and misses; a hit does not extend the TTL', () => {
    const clock = fakeClock()
    const { seen, reporter } = recorder()
    const cache = new ProviderCache({ ttl: 1_000, now: clock.now, reporter })
    expect(cache.get(key(1), 20)).toBeUndefined()
    cache.set(key(1), [p1, p2], { complete: true })
    const got = cache.get(key(1), 20)
    expect(got?.map((p) => p.peerId.toString())).toEqual([p1.peerId.toString(), p2.peerId.toString()])
    expect(got?.[0]?.multiaddrs.map(String)).toEqual(['/ip4/10.0.0.1/tcp/4001'])
    clock.advance(999)
    expect(cache.get(key(1), 20)).toBeDefined()
    clock.advance(1)
    expect(cache.get(key(1), 20)).toBeUndefined()
    expect(cache.size).toBe(0)
    expect(cache.bytes).toBe(0)
    expect({ hits: cache.hits, misses: cache.misses }).toEqual({ hits: 2, misses: 2 })
    expect({ hits: seen.hits, misses: seen.misses }).toEqual({ hits: 2, misses: 2 })
    expect(seen.evicted).toEqual({ expired: 1 })
    expect(seen.size.at(-1)).toEqual([0, 0])
  })

  it('answers a lookup of `limit` only with that many providers, or from a lookup that ran to its end', () => {
    const cache = new ProviderCache({ now: fakeClock().now })
    // a lookup cut at its limit of 1: enough for limit 1, not for 3
    cache.set(key(1), [p1], { complete: false })
    expect(cache.get(key(1), 1)).toHaveLength(1)
    expect(cache.get(key(1), 3)).toBeUndefined()
    // a lookup that ran to its end and found 2: all there is, enough for any limit
    cache.set(key(2), [p1, p2], { complete: true })
    expect(cache.get(key(2), 20)).toHaveLength(2)
    // never more than asked
    cache.set(key(3), [p1, p2, p3], { complete: true })
    expect(cache.get(key(3), 2)).toHaveLength(2)
  })

  it('never caches an empty answer, and an empty answer removes the entry', () => {
    const cache = new ProviderCache({ now: fakeClock().now })
    cache.set(key(1), [], { complete: true })
    expect(cache.size).toBe(0)
    cache.set(key(1), [p1], { complete: true })
    cache.set(key(1), [], { complete: true })
    expect(cache.size).toBe(0)
    expect(cache.bytes).toBe(0)
  })

  it('evicts the least recently used entry past maxEntries; a read keeps an entry', () => {
    const { seen, reporter } = recorder()
    const cache = new ProviderCache({ maxEntries: 3, now: fakeClock().now, reporter })
    for (let i = 1; i <= 3; i++) cache.set(key(i), [p1], { complete: true })
    expect(cache.get(key(1), 1)).toBeDefined() // 1 is now the most recently used
    cache.set(key(4), [p1], { complete: true })
    expect(cache.size).toBe(3)
    expect(cache.has(key(2))).toBe(false)
    expect([1, 3, 4].every((i) => cache.has(key(i)))).toBe(true)
    expect(seen.evicted).toEqual({ capacity: 1 })
  })

  it('evicts past maxBytes, and does not cache an entry larger than the bound alone', async () => {
    const one = providerEntryBytes([p1])
    const cache = new ProviderCache({ maxBytes: 2 * one + 10, now: fakeClock().now })
    cache.set(key(1), [p1], { complete: true })
    cache.set(key(2), [p2], { complete: true })
    expect(cache.size).toBe(2)
    cache.set(key(3), [p3], { complete: true })
    expect(cache.size).toBe(2)
    expect(cache.has(key(1))).toBe(false)
    expect(cache.bytes).toBeLessThanOrEqual(2 * one + 10)
    // one provider with many long addresses: more than the whole bound
    const fat = await provider(
      Array.from({ length: 32 }, (_, i) => `/dns4/${'a'.repeat(200)}${i}.example/tcp/443`),
    )
    expect(providerEntryBytes([fat])).toBeGreaterThan(2 * one + 10)
    cache.set(key(4), [fat], { complete: true })
    expect(cache.has(key(4))).toBe(false)
    expect(cache.size).toBe(2)
  })

  it('stays within its bounds under a flood of distinct keys, and keeps a hot key read in between', () => {
    const maxEntries = 256
    const maxBytes = 1024 * 1024
    const cache = new ProviderCache({ maxEntries, maxBytes, now: fakeClock().now })
    const hot = key(0)
    cache.set(hot, [p1, p2], { complete: true })
    let peakEntries = 0
    let peakBytes = 0
    for (let i = 1; i <= 5_000; i++) {
      cache.set(key(i), [p1, p2, p3], { complete: true })
      if (i % 50 === 0) expect(cache.get(hot, 20)).toBeDefined()
      peakEntries = Math.max(peakEntries, cache.size)
      peakBytes = Math.max(peakBytes, cache.bytes)
    }
    expect(peakEntries).toBeLessThanOrEqual(maxEntries)
    expect(peakBytes).toBeLessThanOrEqual(maxBytes)
    expect(cache.has(hot)).toBe(true)
    // the byte count is the sum of what the entries hold
    expect(cache.bytes).toBe(
      (cache.size - 1) * providerEntryBytes([p1, p2, p3]) + providerEntryBytes([p1, p2]),
    )
  })

  it('drops a provider known to be gone from every entry, or from one key; an emptied entry goes', () => {
    const { seen, reporter } = recorder()
    const cache = new ProviderCache({ now: fakeClock().now, reporter })
    cache.set(key(1), [p1, p2], { complete: true })
    cache.set(key(2), [p1], { complete: true })
    cache.set(key(3), [p2, p3], { complete: true })
    const before = cache.bytes
    expect(cache.dropProvider(p3.peerId, key(1))).toBe(0)
    expect(cache.dropProvider(p1.peerId)).toBe(2)
    expect(cache.get(key(1), 20)?.map((p) => p.peerId.toString())).toEqual([p2.peerId.toString()])
    expect(cache.has(key(2))).toBe(false)
    expect(cache.bytes).toBeLessThan(before)
    expect(cache.bytes).toBe(providerEntryBytes([p2]) + providerEntryBytes([p2, p3]))
    expect(cache.dropProvider(p2.peerId.toString(), key(3))).toBe(1)
    expect(cache.get(key(3), 20)?.map((p) => p.peerId.toString())).toEqual([p3.peerId.toString()])
    expect(seen.evicted).toEqual({ invalidated: 1 })
  })

  it('delete invalidates one key; prune removes every expired entry; clear empties it', () => {
    const clock = fakeClock()
    const { seen, reporter } = recorder()
    const cache = new ProviderCache({ ttl: 100, now: clock.now, reporter })
    cache.set(key(1), [p1], { complete: true })
    expect(cache.delete(key(1))).toBe(true)
    expect(cache.delete(key(1))).toBe(false)
    cache.set(key(2), [p1], { complete: true })
    clock.advance(50)
    cache.set(key(3), [p1], { complete: true })
    clock.advance(50)
    expect(cache.prune()).toBe(1)
    expect(cache.has(key(3))).toBe(true)
    cache.clear()
    expect(cache.size).toBe(0)
    expect(cache.bytes).toBe(0)
    expect(seen.evicted).toEqual({ invalidated: 1, expired: 1 })
  })

  it('keeps copies: what it returns and what it was given can change without touching it', () => {
    const cache = new ProviderCache({ now: fakeClock().now })
    const given = { peerId: p1.peerId, multiaddrs: [...p1.multiaddrs] }
    cache.set(key(1), [given], { complete: true })
    given.multiaddrs.length = 0
    const got = cache.get(key(1), 1)
    got?.[0]?.multiaddrs.push(multiaddr('/ip4/1.2.3.4/tcp/1'))
    expect(cache.get(key(1), 1)?.[0]?.multiaddrs.map(String)).toEqual(['/ip4/10.0.0.1/tcp/4001'])
  })
})
