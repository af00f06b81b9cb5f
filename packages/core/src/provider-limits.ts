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
 * - at most `maxProvidersPerKeyPerGroup` providers of a key from one IP group (default
 *   2, as the routing table's per-bucket diversity; IPv4 /16, IPv6 /32: `ip-groups.ts`).
 *   Keeping incumbents alone lets 20 identities from one IP, each within every other
 *   bound, take a key's 20 slots before its honest provider arrives and keep them for
 *   the records' whole TTL; with this cap one IP group holds at most 2 of them, and a
 *   provider from another group still gets in. The same rule applies: the group's
 *   existing records are kept and its newcomer refused (an expired record of the key
 *   is dropped first). The group of a record is the IP group of the connection its
 *   ADD_PROVIDER arrived on (the inbound guard hands that connection through, and it
 *   checks that the sender is the provider); it is written after kad-dht's varint in
 *   the record value, which kad-dht and older NSN ignore. A record without a group
 *   (a provider without an IP address, a record written before this cap existed or
 *   while it was off) counts towards the key's cap only, against no IP group. A
 *   refresh keeps the group the record was admitted with. `false` turns the cap off
 *   (the host's `local` profile does: every loopback peer is one group); 0 is refused;
 * - at most {@link ProviderLimits.recordsPerPeerCap} records per providing peer: the
 *   honest share of a provider of `HONEST_PROVIDER_SHARDS` (1,000,000, the registry's
 *   capacity) on the network as this node estimates its size N (`shards x k / N`, the
 *   sweep puts each shard on its k closest), times `PEER_RECORDS_SLACK` (2), at least
 *   `maxRecordsPerPeer` (10,000) and at most `maxPeerShareOfStore` (0.6) of `maxRecords`.
 *   A 100,000-shard provider on a 50-node network puts up to ~50,000 records on a peer:
 *   a fixed 10,000 refused 80 % of them, while a flooding identity is held to 60 % of the
 *   store. N must never exceed the true size (a share computed from too large an N
 *   refuses an honest provider), so it is a lower bound: the routing table's size plus
 *   one (kad-internals gives it), the largest of the sources added. The lookups'
 *   network-size estimate (`network-size.ts`) is not one: on the 50-node bench network
 *   it said about 1,000, and the cap it gave refused 113,456 honest records. With today's
 *   routing tables (at most a few hundred peers) the cap is the 60 % ceiling; a source
 *   that knows more (`addNetworkSizeSource`) tightens it down to `maxRecordsPerPeer`.
 *   Without a source the cap is `maxRecordsPerPeer`; `scaleRecordsPerPeer: false` keeps
 *   it there;
 * - at most `maxRecords` records in total.
 *
 * Counts live in memory, are rebuilt by one scan of kad-dht's provider prefix before
 * the first use (so the caps hold across restarts: the groups are read back from the
 * record values), and are updated on every write and on every delete of kad-dht's
 * cleanup, which goes through {@link ProviderLimits.countedDatastore} (it reads a
 * record's group before deleting it). The per-key and per-peer maps hold only non-zero
 * counts, so their size is bounded by the total cap. A key's groups live with its count
 * ({@link KeyRecords}): a key with one record costs the same as a bare count (the group
 * strings are shared), so 100,000 keys of one record each add no heap for the groups
 * (measured: +0.1 B a record; 5,000 keys of 20 records from 20 groups: +21 B a record;
 * an in-memory datastore also holds each value's group, +15 B a record).
 * Writes and counted deletes run one at a time, in arrival order: a
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
import { fromString as uint8ArrayFromString } from 'uint8arrays/from-string'
import { toString as uint8ArrayToString } from 'uint8arrays/to-string'
import {
  HONEST_PROVIDER_SHARDS,
  K_BUCKET_SIZE,
  MAX_PEER_SHARE_OF_STORE,
  MAX_PROVIDER_RECORDS,
  MAX_PROVIDERS_PER_KEY,
  MAX_PROVIDERS_PER_KEY_PER_GROUP,
  MAX_RECORDS_PER_PEER,
  PEER_RECORDS_SLACK,
} from './constants.js'
import { InvalidOptionError } from './errors.js'
import {
  decodeProviderRecordGroup,
  decodeProviderRecordTime,
  parseProviderRecordKey,
  providerRecordKey,
} from './kad-internals.js'
import { positiveInteger } from './option-checks.js'

/** Options of the bounded provider store (`nsnKadDHT({ providerStore })`). */
export interface ProviderStoreInit {
  /** Providers kept per key. Default {@link MAX_PROVIDERS_PER_KEY} (20). */
  maxProvidersPerKey?: number
  /**
   * Providers kept per key from one IP group (IPv4 /16, IPv6 /32) of the connection the
   * record arrived on. Default {@link MAX_PROVIDERS_PER_KEY_PER_GROUP} (2); `false` turns
   * the cap off (the host's `local` profile does unless this is set); 0 is refused (it
   * would refuse every provider with an IP address: say `false`); a value of at least
   * `maxProvidersPerKey` leaves the per-key cap alone. Records without a group are not
   * limited by it.
   */
  maxProvidersPerKeyPerGroup?: number | false
  /**
   * Records kept per providing peer, at least (the cap scales up with the network's
   * estimated size unless `scaleRecordsPerPeer` is false). Default {@link MAX_RECORDS_PER_PEER}.
   */
  maxRecordsPerPeer?: number
  /**
   * Raise the per-peer cap to the honest share of a provider of
   * {@link HONEST_PROVIDER_SHARDS} shards on the network as estimated
   * ({@link ProviderLimits.recordsPerPeerCap}). Default true.
   */
  scaleRecordsPerPeer?: boolean
  /**
   * The share of `maxRecords` one providing peer may fill at most, in (0, 1]. Default
   * {@link MAX_PEER_SHARE_OF_STORE} (0.6).
   */
  maxPeerShareOfStore?: number
  /** Records of other peers kept in total. Default {@link MAX_PROVIDER_RECORDS}. */
  maxRecords?: number
}

export type ResolvedProviderStoreOptions = Required<ProviderStoreInit>

/** Why a record was refused, as the `reason` of an `inboundRejected` report. */
export type ProviderRefusal =
  | 'provider_key_full'
  | 'provider_key_group_full'
  | 'provider_peer_full'
  | 'provider_store_full'

/** The outcome of {@link ProviderLimits.add}; a `provider_key_group_full` refusal names the group. */
export type ProviderAdmission =
  | { stored: true; refreshed: boolean }
  | { stored: false; reason: ProviderRefusal; group?: string }

/** Options of {@link ProviderLimits.add}. */
export interface ProviderAddOptions extends AbortOptions {
  /**
   * The IP group (`ip-groups.ts`) of the connection the record arrived on; none for a
   * provider without an IP address (then the per-group cap does not apply).
   */
  group?: string
}

const count = (name: string, value: number): number => positiveInteger(`providerStore.${name}`, value)

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not an integer >= 1 (or `false`, for
 *   `maxProvidersPerKeyPerGroup`)
 */
export function resolveProviderStoreOptions(init: ProviderStoreInit = {}): ResolvedProviderStoreOptions {
  const perGroup = init.maxProvidersPerKeyPerGroup ?? MAX_PROVIDERS_PER_KEY_PER_GROUP
  if (perGroup === 0) {
    throw new InvalidOptionError(
      'providerStore.maxProvidersPerKeyPerGroup',
      'must be an integer >= 1, or false to turn the per-group cap off, got 0',
    )
  }
  const share = init.maxPeerShareOfStore ?? MAX_PEER_SHARE_OF_STORE
  if (!(share > 0 && share <= 1)) {
    throw new InvalidOptionError(
      'providerStore.maxPeerShareOfStore',
      `must be in (0, 1], got ${String(share)}`,
    )
  }
  return {
    maxProvidersPerKey: count('maxProvidersPerKey', init.maxProvidersPerKey ?? MAX_PROVIDERS_PER_KEY),
    maxProvidersPerKeyPerGroup: perGroup === false ? false : count('maxProvidersPerKeyPerGroup', perGroup),
    maxRecordsPerPeer: count('maxRecordsPerPeer', init.maxRecordsPerPeer ?? MAX_RECORDS_PER_PEER),
    scaleRecordsPerPeer: init.scaleRecordsPerPeer ?? true,
    maxPeerShareOfStore: share,
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

/**
 * A record value: kad-dht's varint of `time`, then NSN's UTF-8 IP group of the record
 * when it has one (kad-dht and {@link decodeProviderRecordTime} read the varint and
 * ignore what follows), in its own exactly sized array.
 */
export function encodeProviderRecordValue(time: number, group?: string): Uint8Array {
  const varint = encodeProviderRecordTime(time)
  if (group == null || group === '') return varint
  const text = uint8ArrayFromString(group)
  const value = new Uint8Array(varint.byteLength + text.byteLength)
  value.set(varint)
  value.set(text, varint.byteLength)
  return value
}

/**
 * The IP groups of the records of other peers held for one key, in the least memory
 * for the common cases (the store may hold 100,000 keys):
 * - a number `n`: `n` records, none of a known IP group;
 * - a string: one record, of that IP group (the same string as every record of the
 *   group: no more heap than a bare count);
 * - an array: the group of each record, `''` for a record without one.
 */
type KeyRecords = number | string | string[]

const NO_GROUP = ''

function recordsOf(records: KeyRecords | undefined): number {
  if (records == null) return 0
  if (typeof records === 'number') return records
  return typeof records === 'string' ? 1 : records.length
}

function recordsOfGroup(records: KeyRecords | undefined, group: string): number {
  if (typeof records === 'string') return records === group ? 1 : 0
  if (!Array.isArray(records)) return 0
  let n = 0
  for (const g of records) if (g === group) n++
  return n
}

function listOf(records: number | string | string[]): string[] {
  if (typeof records === 'number') return new Array<string>(records).fill(NO_GROUP)
  return typeof records === 'string' ? [records] : records
}

/** `records` with one more record, of `group` (none: no group). */
function withRecord(records: KeyRecords | undefined, group: string | undefined): KeyRecords {
  if (group == null || group === NO_GROUP) {
    if (records == null || typeof records === 'number') return (records ?? 0) + 1
  } else if (records == null) {
    return group
  }
  const list = listOf(records)
  list.push(group ?? NO_GROUP)
  return list
}

/** `records` with one record of `group` fewer (an unknown group: one without a group, else any). */
function withoutRecord(records: KeyRecords, group: string | undefined): KeyRecords | undefined {
  if (typeof records === 'number') return records > 1 ? records - 1 : undefined
  const list = listOf(records)
  let at = list.indexOf(group ?? NO_GROUP)
  if (at < 0) at = list.indexOf(NO_GROUP)
  if (at < 0) at = list.length - 1
  list.splice(at, 1)
  if (list.length === 0) return undefined
  if (list.every((g) => g === NO_GROUP)) return list.length
  return list.length === 1 ? (list[0] as string) : list
}

/** Distinct group strings kept shared; forgotten at this size (sharing only saves heap). */
const SHARED_GROUPS = 4_096

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
  /**
   * This node's idea of the network's size (e.g. its routing table's size plus one), for
   * the per-peer cap; without it the cap stays `maxRecordsPerPeer`. More sources may be
   * added with {@link ProviderLimits.addNetworkSizeSource}.
   */
  networkSize?: () => number | undefined
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
  private readonly perKey = new Map<string, KeyRecords>()
  private readonly perPeer = new Map<string, number>()
  private readonly groups = new Map<string, string>()
  private total = 0
  private loaded?: Promise<void>
  private tail: Promise<unknown> = Promise.resolve()
  private readonly sizeSources: Array<() => number | undefined> = []

  constructor(components: ProviderLimitsComponents, init?: ProviderStoreInit) {
    this.components = components
    this.options = resolveProviderStoreOptions(init)
    if (components.networkSize != null) this.sizeSources.push(components.networkSize)
  }

  /**
   * Adds a lower bound of the network's size (the largest of all sources is used): a
   * source that may overestimate makes the cap refuse honest providers.
   */
  addNetworkSizeSource(source: () => number | undefined): void {
    this.sizeSources.push(source)
  }

  /** The network's size as this node estimates it: the largest of its sources; undefined without one. */
  networkSize(): number | undefined {
    let size: number | undefined
    for (const source of this.sizeSources) {
      const n = source()
      if (n != null && Number.isFinite(n) && n > 0 && (size == null || n > size)) size = n
    }
    return size
  }

  /**
   * Records one providing peer may have here now: `PEER_RECORDS_SLACK x
   * HONEST_PROVIDER_SHARDS x k / N` for the estimated network size N, at least
   * `maxRecordsPerPeer` and at most `maxPeerShareOfStore x maxRecords` (see the module
   * docs); `maxRecordsPerPeer` without an estimate or with scaling off.
   */
  recordsPerPeerCap(): number {
    const { maxRecordsPerPeer, scaleRecordsPerPeer, maxPeerShareOfStore, maxRecords } = this.options
    const size = scaleRecordsPerPeer ? this.networkSize() : undefined
    if (size == null) return maxRecordsPerPeer
    const honest = Math.ceil(
      (PEER_RECORDS_SLACK * HONEST_PROVIDER_SHARDS * K_BUCKET_SIZE) / Math.max(size, K_BUCKET_SIZE),
    )
    const ceiling = Math.floor(maxPeerShareOfStore * maxRecords)
    return Math.max(maxRecordsPerPeer, Math.min(honest, ceiling))
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
    return recordsOf(this.perKey.get(uint8ArrayToString(multihash, 'base32')))
  }

  /** Providers other than this node held for the key `multihash` from the IP group `group`. */
  providersOfGroup(multihash: Uint8Array, group: string): number {
    return recordsOfGroup(this.perKey.get(uint8ArrayToString(multihash, 'base32')), group)
  }

  /** True when the per-group cap is on (a caller may skip finding the group otherwise). */
  get groupsCounted(): boolean {
    return this.options.maxProvidersPerKeyPerGroup !== false
  }

  /**
   * Stores `provider`'s record for `multihash` if the policy admits it, in arrival order
   * with the other writes; resolves once it is written (or refused). `options.group` is
   * the IP group of the connection the record arrived on.
   */
  async add(
    multihash: Uint8Array,
    provider: string,
    options?: ProviderAddOptions,
  ): Promise<ProviderAdmission> {
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
    this.groups.clear()
    this.total = 0
    if (!this.groupsCounted) {
      for await (const key of datastore.queryKeys({ prefix: providerPrefix }, options)) {
        const parsed = this.parse(key)
        if (parsed == null || parsed.provider === self) continue
        this.count(parsed.encoded, parsed.provider, undefined)
      }
      return
    }
    for await (const { key, value } of datastore.query({ prefix: providerPrefix }, options)) {
      const parsed = this.parse(key)
      if (parsed == null || parsed.provider === self) continue
      this.count(parsed.encoded, parsed.provider, decodeProviderRecordGroup(value))
    }
  }

  /** The one shared string of `group` (none: no group). */
  private shared(group: string | undefined): string | undefined {
    if (group == null || group === NO_GROUP) return undefined
    const known = this.groups.get(group)
    if (known != null) return known
    if (this.groups.size >= SHARED_GROUPS) this.groups.clear()
    this.groups.set(group, group)
    return group
  }

  private parse(key: Key): { encoded: string; provider: string } | undefined {
    const parsed = parseProviderRecordKey(this.components.providerPrefix, key)
    if (parsed == null) return undefined
    return { encoded: uint8ArrayToString(parsed.multihash, 'base32'), provider: parsed.provider }
  }

  private count(encoded: string, provider: string, group: string | undefined): void {
    this.perKey.set(encoded, withRecord(this.perKey.get(encoded), this.shared(group)))
    increment(this.perPeer, provider)
    this.total++
  }

  private uncount(encoded: string, provider: string, group: string | undefined): void {
    const records = this.perKey.get(encoded)
    const rest = records == null ? undefined : withoutRecord(records, group)
    if (rest == null) this.perKey.delete(encoded)
    else this.perKey.set(encoded, rest)
    decrement(this.perPeer, provider)
    this.total--
  }

  /** The value stored at `key`, or undefined when there is none. */
  private async valueAt(
    datastore: Datastore,
    key: Key,
    options?: AbortOptions,
  ): Promise<Uint8Array | undefined> {
    try {
      return await datastore.get(key, options)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }

  private async admit(
    multihash: Uint8Array,
    provider: string,
    options?: ProviderAddOptions,
  ): Promise<ProviderAdmission> {
    const { datastore, providerPrefix, self } = this.components
    const now = (this.components.now ?? Date.now)()
    // keys are strings: nothing of the message's buffer is kept
    const key = providerRecordKey(providerPrefix, multihash, provider)
    if (provider === self) {
      await datastore.put(key, encodeProviderRecordTime(now), options)
      return { stored: true, refreshed: false }
    }
    const perGroup = this.options.maxProvidersPerKeyPerGroup
    const group = perGroup === false ? undefined : this.shared(options?.group)
    if (perGroup === false) {
      if (await datastore.has(key, options)) {
        await datastore.put(key, encodeProviderRecordTime(now), options)
        return { stored: true, refreshed: true }
      }
    } else {
      const existing = await this.valueAt(datastore, key, options)
      if (existing != null) {
        // a refresh keeps the group its record was admitted (and is counted) with
        await datastore.put(key, encodeProviderRecordValue(now, decodeProviderRecordGroup(existing)), options)
        return { stored: true, refreshed: true }
      }
    }
    const encoded = uint8ArrayToString(multihash, 'base32')
    const { maxProvidersPerKey, maxRecords } = this.options
    const keyFull = () => recordsOf(this.perKey.get(encoded)) >= maxProvidersPerKey
    const groupFull = () =>
      group != null && perGroup !== false && recordsOfGroup(this.perKey.get(encoded), group) >= perGroup
    if (keyFull() || groupFull()) {
      await this.dropExpired(`${providerPrefix}/${encoded}`, now, options)
      if (keyFull()) return { stored: false, reason: 'provider_key_full' }
      if (groupFull()) return { stored: false, reason: 'provider_key_group_full', group }
    }
    if ((this.perPeer.get(provider) ?? 0) >= this.recordsPerPeerCap()) {
      return { stored: false, reason: 'provider_peer_full' }
    }
    if (this.total >= maxRecords) return { stored: false, reason: 'provider_store_full' }
    await datastore.put(key, encodeProviderRecordValue(now, group), options)
    this.count(encoded, provider, group)
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
    let existed = false
    let group: string | undefined
    if (counted && this.groupsCounted) {
      // its group, to give back the group's slot
      const value = await this.valueAt(datastore, key, options)
      existed = value != null
      group = value == null ? undefined : decodeProviderRecordGroup(value)
    } else if (counted) {
      existed = await datastore.has(key, options)
    }
    await datastore.delete(key, options)
    // before the first scan is queued nothing is counted yet: the scan will count what is left
    if (existed && parsed != null && this.loaded != null) this.uncount(parsed.encoded, parsed.provider, group)
  }
}
