/**
 * Read access to the provider records kad-dht keeps in its datastore: whether this node
 * holds its own record for a shard, when a record was stored and lapses, how many
 * records it keeps for others, and dropping self-records the registry does not hold.
 * The record format is kad-dht's (see `kad-internals.ts`).
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId } from '@libp2p/interface'
import {
  decodeProviderRecordTime,
  type KadHooks,
  parseProviderRecordKey,
  providerRecordKey,
} from './kad-internals.js'
import type { ShardKey } from './shard-key.js'

/** A provider record as this node stores it. Times are epoch ms. */
export interface StoredProviderRecord {
  storedAt: number
  /** When this node drops it (at the latest one cleanup interval later). */
  expiresAt: number
}

/** A sha2-256 multihash: 0x12 0x20 and the 32 digest bytes. */
function shardHashOf(multihash: Uint8Array): Uint8Array | undefined {
  if (multihash.length !== 34 || multihash[0] !== 0x12 || multihash[1] !== 0x20) return undefined
  return multihash.slice(2)
}

/** kad-dht's provider store, read through its datastore. */
export class ProviderStore {
  private readonly kad: Pick<KadHooks, 'datastore' | 'providerPrefix' | 'providerRecordTtl'>
  private readonly self: PeerId

  constructor(kad: Pick<KadHooks, 'datastore' | 'providerPrefix' | 'providerRecordTtl'>, self: PeerId) {
    this.kad = kad
    this.self = self
  }

  /** True when this node holds its own provider record for the shard. */
  async hasSelfRecord(key: ShardKey): Promise<boolean> {
    return await this.kad.datastore.has(providerRecordKey(this.kad.providerPrefix, key.multihash, this.self))
  }

  /** The record `provider` has here for `key`; undefined when there is none. */
  async record(key: ShardKey, provider: PeerId): Promise<StoredProviderRecord | undefined> {
    let value: Uint8Array
    try {
      value = await this.kad.datastore.get(
        providerRecordKey(this.kad.providerPrefix, key.multihash, provider),
      )
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
    const storedAt = decodeProviderRecordTime(value)
    return { storedAt, expiresAt: storedAt + this.kad.providerRecordTtl }
  }

  /** How many provider records this node stores for other peers. */
  async countOthers(options: AbortOptions = {}): Promise<number> {
    let count = 0
    const self = this.self.toString()
    for await (const key of this.kad.datastore.queryKeys({ prefix: this.kad.providerPrefix }, options)) {
      if (parseProviderRecordKey(this.kad.providerPrefix, key)?.provider !== self) count++
    }
    return count
  }

  /** Deletes this node's self-records of shards for which `keep` is false; resolves with how many. */
  async dropSelfRecords(keep: (hash: Uint8Array) => boolean | Promise<boolean>): Promise<number> {
    const self = this.self.toString()
    const stale = []
    for await (const key of this.kad.datastore.queryKeys({ prefix: this.kad.providerPrefix })) {
      const parsed = parseProviderRecordKey(this.kad.providerPrefix, key)
      if (parsed == null || parsed.provider !== self) continue
      const hash = shardHashOf(parsed.multihash)
      if (hash == null || !(await keep(hash))) stale.push(key)
    }
    for (const key of stale) await this.kad.datastore.delete(key)
    return stale.length
  }
}
