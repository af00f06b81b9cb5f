/**
 * The bounded provider store: NSN's admission policy in front of kad-dht's provider
 * records (installed by `kad-internals.ts` in place of `providers.addProvider`).
 *
 * Policy, for the records of other peers (this node's own records are always admitted
 * and not counted: the shard registry bounds them):
 * - at most `maxProvidersPerKey` providers per key (default 20). When a key is full,
 *   the existing unexpired records are kept and a newcomer is refused, as rust-libp2p's
 *   `MemoryStore` does; an expired record of the key is dropped first to make room.
 *   Evicting an existing provider instead would let anyone with 20 fresh peer ids
 *   displace every honest provider of a key at will; keeping the incumbents means a
 *   record leaves only by lapsing. A provider refreshing its existing record is always
 *   admitted: it grows nothing, and refusing it would let honest records lapse. The
 *   refused newcomer stores at other close peers (the spill-over of the provider
 *   spillover proposal in ipfs/specs; ADD_PROVIDER has no answer to say so today);
 * - at most `maxRecordsPerPeer` records per providing peer (default: the most shards an
 *   NSN node provides);
 * - at most `maxRecords` records in total.
 *
 * Counts live in memory, are rebuilt by one scan of kad-dht's provider prefix before
 * the first use (so the caps hold across restarts), and are updated on every write and
 * on every delete of kad-dht's cleanup, which goes through {@link ProviderLimits.countedDatastore}.
 * The per-key and per-peer maps hold only non-zero counts, so their size is bounded by
 * the total cap. Writes and counted deletes run one at a time, in arrival order: a
 * flood is slowed (each inbound stream's next message is read only once its write is
 * done), never dropped after being admitted, and no queue grows beyond the callers
 * that wait.
 *
 * Every value written is a fresh, exactly sized array: kad-dht's own varint comes from
 * `allocUnsafe`, a slice of Node's shared 64 KiB pool, which an in-memory datastore
 * would keep alive whole (see DESIGN "Pitfalls").
 *
 * @packageDocumentation
 */

import type { AbortOptions } from '@libp2p/interface'
import type { Datastore, Key } from 'interface-datastore'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import { MAX_PROVIDER_RECORDS, MAX_PROVIDERS_PER_KEY, MAX_RECORDS_PER_PEER } from './constants.js'
import { decodeProviderRecordTime, parseProviderRecordKey, providerRecordKey } from './kad-internals.js'
import { positiveInteger } from './option-checks.js'

/** Options of the bounded provider store (`nsnKadDHT({ providerStore })`). */
export interface ProviderStoreInit {
  /** Providers kept per key. Default {@link MAX_PROVIDERS_PER_KEY} (20). */
  maxProvidersPerKey?: number
  /** Records kept per providing peer. Default {@link MAX_RECORDS_PER_PEER}. */
  maxRecordsPerPeer?: number
  /** Records of other peers kept in total. Default {@link MAX_PROVIDER_RECORDS}. */
  maxRecords?: number
}

export type ResolvedProviderStoreOptions = Required<ProviderStoreInit>

/** Why a record was refused, as the `reason` of an `inboundRejected` report. */
export type ProviderRefusal = 'provider_key_full' | 'provider_peer_full' | 'provider_store_full'

/** The outcome of {@link ProviderLimits.add}. */
export type ProviderAdmission =
  | { stored: true; refreshed: boolean }
  | { stored: false; reason: ProviderRefusal }

const count = (name: string, value: number): number => positiveInteger(`providerStore.${name}`, value)

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not an integer >= 1
 */
export function resolveProviderStoreOptions(init: ProviderStoreInit = {}): ResolvedProviderStoreOptions {
  return {
    maxProvidersPerKey: count('maxProvidersPerKey', init.maxProvidersPerKey ?? MAX_PROVIDERS_PER_KEY),
    maxRecordsPerPeer: count('maxRecordsPerPeer', init.maxRecordsPerPeer ?? MAX_RECORDS_PER_PEER),
    maxRecords: count('maxRecords', init.maxRecords ?? MAX_PROVIDER_RECORDS),
  }
}

/** kad-dht's record value, an unsigned varint of epoch ms, in its own exactly sized array. */
export function encodeProviderRecordTime(time: number): Uint8Array {
  const bytes: number[] = []
  let rest = Math.max(0, Math.floor(time))
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  bytes.push(rest)
  return new Uint8Array(bytes)
}

/** What {@link ProviderLimits} needs. */
export interface ProviderLimitsComponents {
  datastore: Datastore
  /** kad-dht's provider prefix, e.g. `/dht/provider`. */
  providerPrefix: string
  /** This node's peer id as a string: its records are admitted and not counted. */
  self: string
  /** How long records of others are valid, in ms. */
  providerRecordTtl: number
  /** Default `Date.now`. */
  now?: () => number
}

function increment(map: Map<string, number>, key: string): void {
  map.set(key, (map.get(key) ?? 0) + 1)
}

function decrement(map: Map<string, number>, key: string): void {
  const n = (map.get(key) ?? 0) - 1
  if (n > 0) map.set(key, n)
  else map.delete(key)
}

/** The admission policy and the counts of the records of other peers. */
export class ProviderLimits {
  readonly options: ResolvedProviderStoreOptions
  private readonly components: ProviderLimitsComponents
  private readonly perKey = new Map<string, number>()
  private readonly perPeer = new Map<string, number>()
  private total = 0
  private loaded?: Promise<void>
  private tail: Promise<unknown> = Promise.resolve()

  constructor(components: ProviderLimitsComponents, init?: ProviderStoreInit) {
    this.components = components
    this.options = resolveProviderStoreOptions(init)
  }

  /** Rebuilds the counts by one scan of the provider prefix (once; later calls wait for it). */
  ready(options?: AbortOptions): Promise<void> {
    if (this.loaded == null) {
      this.loaded = this.serial(() => this.scan(options))
      this.loaded.catch(() => {
        this.loaded = undefined // a failed scan (aborted, datastore closed) is retried next time
      })
    }
    return this.loaded
  }

  /** Records of other peers held (O(1)); 0 before {@link ready}. */
  get stored(): number {
    return this.total
  }

  /** Records `provider` (a peer id string) has here. */
  recordsOf(provider: string): number {
    return this.perPeer.get(provider) ?? 0
  }

  /** Providers other than this node held for the key `multihash`. */
  providersOf(multihash: Uint8Array): number {
    return this.perKey.get(uint8ArrayToString(multihash, 'base32')) ?? 0
  }

  /**
   * Stores `provider`'s record for `multihash` if the policy admits it, in arrival order
   * with the other writes; resolves once it is written (or refused).
   */
  async add(multihash: Uint8Array, provider: string, options?: AbortOptions): Promise<ProviderAdmission> {
    await this.ready(options)
    return this.serial(() => this.admit(multihash, provider, options))
  }

  /**
   * `datastore` with a `delete` that keeps the counts right: the view handed to kad-dht's
   * cleanup of expired records.
   */
  countedDatastore(datastore: Datastore): Datastore {
    const remove = (key: Key, options?: AbortOptions) =>
      this.serial(() => this.remove(datastore, key, options))
    return new Proxy(datastore, {
      get(target, prop) {
        if (prop === 'delete') return remove
        const value = Reflect.get(target, prop, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
  }

  private serial<T>(job: () => Promise<T>): Promise<T> {
    const run = this.tail.then(job, job)
    this.tail = run.catch(() => undefined)
    return run
  }

  private async scan(options?: AbortOptions): Promise<void> {
    const { datastore, providerPrefix, self } = this.components
    this.perKey.clear()
    this.perPeer.clear()
    this.total = 0
    for await (const key of datastore.queryKeys({ prefix: providerPrefix }, options)) {
      const parsed = this.parse(key)
      if (parsed == null || parsed.provider === self) continue
      this.count(parsed.encoded, parsed.provider)
    }
  }

  private parse(key: Key): { encoded: string; provider: string } | undefined {
    const parsed = parseProviderRecordKey(this.components.providerPrefix, key)
    if (parsed == null) return undefined
    return { encoded: uint8ArrayToString(parsed.multihash, 'base32'), provider: parsed.provider }
  }

  private count(encoded: string, provider: string): void {
    increment(this.perKey, encoded)
    increment(this.perPeer, provider)
    this.total++
  }

  private uncount(encoded: string, provider: string): void {
    decrement(this.perKey, encoded)
    decrement(this.perPeer, provider)
    this.total--
  }

  private async admit(
    multihash: Uint8Array,
    provider: string,
    options?: AbortOptions,
  ): Promise<ProviderAdmission> {
    const { datastore, providerPrefix, self } = this.components
    const now = (this.components.now ?? Date.now)()
    // keys are strings: nothing of the message's buffer is kept
    const key = providerRecordKey(providerPrefix, multihash, provider)
    const value = encodeProviderRecordTime(now)
    if (provider === self) {
      await datastore.put(key, value, options)
      return { stored: true, refreshed: false }
    }
    if (await datastore.has(key, options)) {
      await datastore.put(key, value, options)
      return { stored: true, refreshed: true }
    }
    const encoded = uint8ArrayToString(multihash, 'base32')
    const { maxProvidersPerKey, maxRecordsPerPeer, maxRecords } = this.options
    if ((this.perKey.get(encoded) ?? 0) >= maxProvidersPerKey) {
      await this.dropExpired(`${providerPrefix}/${encoded}`, now, options)
      if ((this.perKey.get(encoded) ?? 0) >= maxProvidersPerKey) {
        return { stored: false, reason: 'provider_key_full' }
      }
    }
    if ((this.perPeer.get(provider) ?? 0) >= maxRecordsPerPeer) {
      return { stored: false, reason: 'provider_peer_full' }
    }
    if (this.total >= maxRecords) return { stored: false, reason: 'provider_store_full' }
    await datastore.put(key, value, options)
    this.count(encoded, provider)
    return { stored: true, refreshed: false }
  }

  /** Deletes the expired records of others under one key's prefix (a full key: a few dozen). */
  private async dropExpired(prefix: string, now: number, options?: AbortOptions): Promise<void> {
    const { datastore, self, providerRecordTtl } = this.components
    const expired: Key[] = []
    for await (const entry of datastore.query({ prefix: `${prefix}/` }, options)) {
      const parsed = this.parse(entry.key)
      if (parsed == null || parsed.provider === self) continue
      if (decodeProviderRecordTime(entry.value) + providerRecordTtl < now) expired.push(entry.key)
    }
    for (const key of expired) await this.remove(datastore, key, options)
  }

  private async remove(datastore: Datastore, key: Key, options?: AbortOptions): Promise<void> {
    const parsed = this.parse(key)
    const counted = parsed != null && parsed.provider !== this.components.self
    const existed = counted && (await datastore.has(key, options))
    await datastore.delete(key, options)
    // before the first scan is queued nothing is counted yet: the scan will count what is left
    if (existed && parsed != null && this.loaded != null) this.uncount(parsed.encoded, parsed.provider)
  }
}
