/**
 * The hot-shard provider cache: the providers a lookup found for a shard, kept for a
 * short TTL so that a repeated lookup of the same shard answers from memory instead of
 * walking the DHT again. One job: remember, expire, bound, forget.
 *
 * - **TTL** ({@link PROVIDER_CACHE_TTL}, 1 min): an entry is served until it expires,
 *   whatever how often it is read (a hit does not extend it).
 * - **Bounded** in entries ({@link PROVIDER_CACHE_MAX_ENTRIES}) and in estimated bytes
 *   ({@link PROVIDER_CACHE_MAX_BYTES}): past either bound the least recently used entries
 *   are evicted, so a flood of lookups of distinct shards cycles through the cache without
 *   growing it, and the shards read in between stay. An entry larger than the byte bound
 *   alone is not cached.
 * - **Forgets providers known to be gone**: {@link ProviderCache.dropProvider} removes a
 *   peer from every entry (or from one shard's), an entry left with no provider is
 *   removed. Empty answers are never cached ("nobody provides it" must not outlive the
 *   next provide).
 * - **Enough to answer**: an entry answers a lookup that wants `limit` providers when it
 *   holds at least `limit`, or when the lookup that filled it ran to its end (`complete`:
 *   then it holds every provider that lookup could find).
 *
 * Stored ids and addresses are copies: a value decoded from a peer's answer can keep that
 * whole answer's buffer alive.
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { PROVIDER_CACHE_MAX_BYTES, PROVIDER_CACHE_MAX_ENTRIES, PROVIDER_CACHE_TTL } from './constants.js'
import { positiveInteger, positiveNumber } from './option-checks.js'
import { parsePeerId } from './peer-addresses.js'

/** A provider as the cache keeps it (the same shape as `ShardRouting`'s `ShardPeer`). */
export interface CachedProvider {
  peerId: PeerId
  multiaddrs: Multiaddr[]
}

/**
 * Why entries left the cache, as the `reason` label of the evictions metric:
 * - `capacity`: the least recently used entry, past the entry or byte bound;
 * - `expired`: its TTL passed;
 * - `invalidated`: its last provider was dropped as gone, or the shard's providers changed
 *   (this node started or stopped providing it).
 */
export type ProviderCacheEvictionReason = 'capacity' | 'expired' | 'invalidated'

/** Every {@link ProviderCacheEvictionReason}, for label pre-initialisation. */
export const PROVIDER_CACHE_EVICTION_REASONS: readonly ProviderCacheEvictionReason[] = [
  'capacity',
  'expired',
  'invalidated',
]

/** What the cache reports; every method optional, none may throw. */
export interface ProviderCacheReporter {
  /** A lookup was answered from the cache. */
  hit?(): void
  /** A lookup consulted the cache and could not be answered from it. */
  miss?(): void
  /** Entries left the cache. */
  evicted?(reason: ProviderCacheEvictionReason, count: number): void
  /** The number of entries or their estimated bytes changed. */
  sizeChanged?(entries: number, bytes: number): void
}

/** Options of the provider cache (`ShardRouting`'s `providerCache` option). */
export interface ProviderCacheOptions {
  /** Shards held at most. Default {@link PROVIDER_CACHE_MAX_ENTRIES}. */
  maxEntries?: number
  /** Estimated bytes held at most. Default {@link PROVIDER_CACHE_MAX_BYTES}. */
  maxBytes?: number
  /** How long an entry answers lookups, in ms. Default {@link PROVIDER_CACHE_TTL}. */
  ttl?: number
}

/** {@link ProviderCacheOptions} with every default applied. */
export type ResolvedProviderCacheOptions = Required<ProviderCacheOptions>

/**
 * Applies the defaults and checks the ranges.
 *
 * @throws {InvalidOptionError} naming the option that is out of range
 */
export function resolveProviderCacheOptions(
  options: ProviderCacheOptions = {},
): ResolvedProviderCacheOptions {
  return {
    maxEntries: positiveInteger('providerCache.maxEntries', options.maxEntries ?? PROVIDER_CACHE_MAX_ENTRIES),
    maxBytes: positiveInteger('providerCache.maxBytes', options.maxBytes ?? PROVIDER_CACHE_MAX_BYTES),
    ttl: positiveNumber('providerCache.ttl', options.ttl ?? PROVIDER_CACHE_TTL, ' (ms)'),
  }
}

/** What a {@link ProviderCache} needs besides its options. */
export interface ProviderCacheInit extends ProviderCacheOptions {
  /** The clock, in ms (tests give a fake one). Default `Date.now`. */
  now?: () => number
  reporter?: ProviderCacheReporter
}

/*
 * What an entry is charged: its heap cost as measured on Node 24 (V8), not the size of
 * its wire form. A copied `PeerId` (with its public key and multihash) takes about 0.8
 * KiB, a `Multiaddr` with its bytes read about 0.8 KiB plus its length, the entry with its
 * key, arrays and map slot about 1 KiB. Measured by filling the cache with 6,000 distinct
 * keys at its default bounds: 1 provider with 1 address is charged 2.8 KiB (heap 2.2), 3
 * providers with 2 addresses each 8.7 KiB (heap 8.8), 20 providers with 4 addresses 83
 * KiB (heap 96), 20 providers with 32 addresses of 215 bytes 782 KiB (heap 722). The byte
 * bound is thus a bound on the heap the cache holds, within about a sixth.
 */
/** Bytes an entry is charged beyond its providers. */
const ENTRY_OVERHEAD_BYTES = 1024
/** Bytes a provider is charged beyond its id's bytes and its addresses. */
const PROVIDER_OVERHEAD_BYTES = 1024
/** Bytes an address is charged beyond twice its binary length (its bytes and its string). */
const ADDRESS_OVERHEAD_BYTES = 768

interface Entry {
  providers: CachedProvider[]
  complete: boolean
  /** Filled or joined by an announcement (`addAnnounced`): answers a lookup of any limit. */
  announced: boolean
  expiresAt: number
  bytes: number
}

/** The estimated bytes a cache entry of `providers` retains. */
export function providerEntryBytes(providers: readonly CachedProvider[]): number {
  let bytes = ENTRY_OVERHEAD_BYTES
  for (const provider of providers) {
    bytes += PROVIDER_OVERHEAD_BYTES + provider.peerId.toMultihash().bytes.byteLength
    for (const addr of provider.multiaddrs) bytes += ADDRESS_OVERHEAD_BYTES + 2 * addr.bytes.byteLength
  }
  return bytes
}

/**
 * A copy of a provider that retains no buffer of the original (what the cache stores), to
 * give {@link ProviderCache.addAnnounced} once for many shards.
 */
export function copyProviderForCache(provider: CachedProvider): CachedProvider {
  return copyProvider(provider)
}

/** A copy that retains no buffer of the original (see the module's docs). */
function copyProvider(provider: CachedProvider): CachedProvider {
  return {
    peerId: parsePeerId(provider.peerId.toString()),
    multiaddrs: provider.multiaddrs.map((addr) => multiaddr(addr.toString())),
  }
}

/** The hot-shard provider cache (see the module's docs). Keys are shard hashes (64 hex). */
export class ProviderCache {
  /** The options in effect. */
  readonly options: ResolvedProviderCacheOptions
  /** Entries, least recently used first (a read moves an entry to the end). */
  private readonly entries = new Map<string, Entry>()
  private readonly now: () => number
  private readonly reporter: ProviderCacheReporter
  private totalBytes = 0
  /** Lookups answered from the cache since it was created. */
  hits = 0
  /** Lookups that consulted the cache and went to the network. */
  misses = 0

  /** @throws {InvalidOptionError} for an out-of-range option */
  constructor(init: ProviderCacheInit = {}) {
    this.options = resolveProviderCacheOptions(init)
    this.now = init.now ?? Date.now
    this.reporter = init.reporter ?? {}
  }

  /** Entries held (expired ones included until they are read, pruned or evicted). */
  get size(): number {
    return this.entries.size
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.totalBytes
  }

  /**
   * The cached providers of `key` when its entry is unexpired and enough for `limit`
   * (see the module's docs), at most `limit` of them; counted as a hit. Otherwise
   * undefined, counted as a miss (an expired entry is removed).
   */
  get(key: string, limit: number): CachedProvider[] | undefined {
    const entry = this.entries.get(key)
    if (entry != null && entry.expiresAt <= this.now()) {
      this.remove(key, entry)
      this.reporter.evicted?.('expired', 1)
      this.changed()
    } else if (entry != null && (entry.complete || entry.announced || entry.providers.length >= limit)) {
      // most recently used: to the end of the order
      this.entries.delete(key)
      this.entries.set(key, entry)
      this.hits++
      this.reporter.hit?.()
      // copies of the lists: a caller may change what it gets
      return entry.providers.slice(0, limit).map((p) => ({ peerId: p.peerId, multiaddrs: [...p.multiaddrs] }))
    }
    this.misses++
    this.reporter.miss?.()
    return undefined
  }

  /** True when `key` has an unexpired entry (whether or not it is enough for a lookup). Not counted. */
  has(key: string): boolean {
    const entry = this.entries.get(key)
    return entry != null && entry.expiresAt > this.now()
  }

  /**
   * Caches what a lookup of `key` found, replacing any entry of `key`; `complete` when
   * the lookup ran to its end (not cut by its limit or the deadline). An empty list only
   * removes the entry. Evicts least recently used entries past the bounds.
   */
  set(key: string, providers: readonly CachedProvider[], { complete }: { complete: boolean }): void {
    const old = this.entries.get(key)
    if (old != null) this.remove(key, old)
    // charged on the copies: reading a Multiaddr's bytes once also settles its heap (a
    // freshly parsed long address holds ~7 KiB until then, ~1.2 KiB after)
    const copies = providers.map(copyProvider)
    const bytes = copies.length === 0 ? 0 : providerEntryBytes(copies)
    if (copies.length > 0 && bytes <= this.options.maxBytes) {
      const entry: Entry = {
        providers: copies,
        complete,
        announced: false,
        expiresAt: this.now() + this.options.ttl,
        bytes,
      }
      this.entries.set(key, entry)
      this.totalBytes += bytes
      let evicted = 0
      for (const [oldest, victim] of this.entries) {
        if (this.entries.size <= this.options.maxEntries && this.totalBytes <= this.options.maxBytes) break
        this.remove(oldest, victim)
        evicted++
      }
      if (evicted > 0) this.reporter.evicted?.('capacity', evicted)
    }
    if (old != null || this.entries.has(key)) this.changed()
  }

  /**
   * Adds a provider that announced `key` (a shard announcement over gossip) to its entry,
   * or creates one. An announced entry answers a lookup of any limit at once: the
   * announcement says "this peer provides it now", which is what a lookup of a fresh
   * shard wants first (`cache: false` asks the network for more). A new entry lives until
   * `expiresAt` or the TTL, whichever comes first; an unexpired entry keeps its expiry (an
   * announcement never extends what a lookup found) and gains the provider (replacing an
   * older copy of it). Bounded as `set`. Returns true when the entry holds the provider.
   * `copied`: the provider is already a copy that retains no foreign buffer (see
   * {@link copyProviderForCache}: one copy shared by every shard of an announcement).
   */
  addAnnounced(key: string, provider: CachedProvider, expiresAt: number, copied = false): boolean {
    const now = this.now()
    if (expiresAt <= now) return false
    const copy = copied ? provider : copyProvider(provider)
    const id = copy.peerId.toString()
    let entry = this.entries.get(key)
    if (entry != null && entry.expiresAt <= now) {
      this.remove(key, entry)
      this.reporter.evicted?.('expired', 1)
      entry = undefined
    }
    const providers = [...(entry?.providers.filter((p) => p.peerId.toString() !== id) ?? []), copy]
    const bytes = providerEntryBytes(providers)
    if (bytes > this.options.maxBytes) {
      this.changed()
      return false
    }
    if (entry != null) {
      this.remove(key, entry)
      entry.providers = providers
      entry.bytes = bytes
      entry.announced = true
    } else {
      entry = {
        providers,
        complete: false,
        announced: true,
        expiresAt: Math.min(expiresAt, now + this.options.ttl),
        bytes,
      }
    }
    this.entries.set(key, entry)
    this.totalBytes += bytes
    let evicted = 0
    for (const [oldest, victim] of this.entries) {
      if (this.entries.size <= this.options.maxEntries && this.totalBytes <= this.options.maxBytes) break
      this.remove(oldest, victim)
      evicted++
    }
    if (evicted > 0) this.reporter.evicted?.('capacity', evicted)
    this.changed()
    return this.entries.has(key)
  }

  /**
   * Removes `key`'s entry (its providers changed: this node started or stopped providing
   * it). True when there was one.
   */
  delete(key: string): boolean {
    const entry = this.entries.get(key)
    if (entry == null) return false
    this.remove(key, entry)
    this.reporter.evicted?.('invalidated', 1)
    this.changed()
    return true
  }

  /**
   * Drops a provider known to be gone from `key`'s entry, or from every entry without a
   * key; an entry left with no provider is removed. Returns the number of entries it was
   * dropped from. O(entries x providers) without a key: for rare events (a dial failure,
   * a peer evicted for timeouts), not per lookup.
   */
  dropProvider(peer: PeerId | string, key?: string): number {
    const id = peer.toString()
    let changed = 0
    let removed = 0
    const visit = (k: string, entry: Entry): void => {
      const i = entry.providers.findIndex((p) => p.peerId.toString() === id)
      if (i < 0) return
      changed++
      if (entry.providers.length === 1) {
        this.remove(k, entry)
        removed++
        return
      }
      const providers = entry.providers.filter((_, j) => j !== i)
      const bytes = providerEntryBytes(providers)
      this.totalBytes += bytes - entry.bytes
      entry.providers = providers
      entry.bytes = bytes
    }
    if (key == null) {
      for (const [k, entry] of [...this.entries]) visit(k, entry)
    } else {
      const entry = this.entries.get(key)
      if (entry != null) visit(key, entry)
    }
    if (removed > 0) this.reporter.evicted?.('invalidated', removed)
    if (changed > 0) this.changed()
    return changed
  }

  /** Removes every expired entry; returns how many. */
  prune(): number {
    const now = this.now()
    let expired = 0
    for (const [key, entry] of [...this.entries]) {
      if (entry.expiresAt <= now) {
        this.remove(key, entry)
        expired++
      }
    }
    if (expired > 0) {
      this.reporter.evicted?.('expired', expired)
      this.changed()
    }
    return expired
  }

  /** Removes every entry (not counted as evictions). */
  clear(): void {
    if (this.entries.size === 0) return
    this.entries.clear()
    this.totalBytes = 0
    this.changed()
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    this.totalBytes -= entry.bytes
  }

  private changed(): void {
    this.reporter.sizeChanged?.(this.entries.size, this.totalBytes)
  }
}
