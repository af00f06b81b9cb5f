/**
 * The sweep's persistent schedule state, in the node's datastore: the cycle start, the
 * prefix-length estimate L, one history entry per region done, and the pending queue of
 * regions whose turn passed (or that are to be retried). Every write is awaited before
 * the sweep goes on, so a kill -9 loses at most the region in flight, which stays
 * pending (or overdue by its history) and is done after the restart.
 *
 * @packageDocumentation
 */

import { type Datastore, Key } from 'interface-datastore'

/** The sweep's own record. */
export interface SweepState {
  /** When the first cycle started (epoch ms): region turns are offsets from it. */
  cycleStart: number
  /** The prefix-length estimate L (bits). */
  prefixLength: number
}

/** A region done. */
export interface RegionHistory {
  /** When the region's pass ended (epoch ms). */
  at: number
  shards: number
  confirmed: number
  failed: number
}

/** A region waiting its pass. */
export interface PendingRegion {
  /** When it was queued. */
  since: number
  /** Not before this time (a retry); 0 for as soon as possible. */
  retryAt: number
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** `bits` as a datastore key part: `-` for the whole keyspace (a key part may not be empty). */
function part(bits: string): string {
  return bits === '' ? '-' : bits
}

function unpart(name: string): string {
  return name === '-' ? '' : name
}

/** A map-backed stand-in of the few datastore calls the state store makes. */
function memoryDatastore(): Pick<Datastore, 'get' | 'put' | 'delete' | 'query'> {
  const map = new Map<string, Uint8Array>()
  const notFound = (): Error => Object.assign(new Error('not found'), { name: 'NotFoundError' })
  return {
    get: async (key: Key) => {
      const value = map.get(key.toString())
      if (value == null) throw notFound()
      return value
    },
    put: async (key: Key, value: Uint8Array) => {
      map.set(key.toString(), value)
      return key
    },
    delete: async (key: Key) => {
      map.delete(key.toString())
    },
    query: async function* (q: { prefix?: string }) {
      for (const [key, value] of map) if (key.startsWith(q.prefix ?? '')) yield { key: new Key(key), value }
    },
  } as unknown as Pick<Datastore, 'get' | 'put' | 'delete' | 'query'>
}

/** The sweep's state on a datastore, under `prefix` (default `/nsn/sweep`). */
export class SweepStateStore {
  private readonly root: string

  /** Without a datastore the state lives in memory only (lost on restart). */
  constructor(datastore: Datastore | undefined, prefix = '/nsn/sweep') {
    this.datastore = datastore ?? memoryDatastore()
    this.root = prefix
  }
  private readonly datastore: Pick<Datastore, 'get' | 'put' | 'delete' | 'query'>

  private async read<T>(key: Key): Promise<T | undefined> {
    try {
      return JSON.parse(decoder.decode(await this.datastore.get(key))) as T
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return undefined
      throw err
    }
  }

  private async write(key: Key, value: unknown): Promise<void> {
    await this.datastore.put(key, encoder.encode(JSON.stringify(value)))
  }

  async state(): Promise<SweepState | undefined> {
    return this.read<SweepState>(new Key(`${this.root}/state`))
  }

  async saveState(state: SweepState): Promise<void> {
    await this.write(new Key(`${this.root}/state`), state)
  }

  async history(): Promise<Map<string, RegionHistory>> {
    const out = new Map<string, RegionHistory>()
    for await (const { key, value } of this.datastore.query({ prefix: `${this.root}/history/` })) {
      out.set(unpart(key.name()), JSON.parse(decoder.decode(value)) as RegionHistory)
    }
    return out
  }

  async saveHistory(bits: string, entry: RegionHistory): Promise<void> {
    await this.write(new Key(`${this.root}/history/${part(bits)}`), entry)
  }

  async deleteHistory(bits: string): Promise<void> {
    await this.datastore.delete(new Key(`${this.root}/history/${part(bits)}`))
  }

  async pending(): Promise<Map<string, PendingRegion>> {
    const out = new Map<string, PendingRegion>()
    for await (const { key, value } of this.datastore.query({ prefix: `${this.root}/pending/` })) {
      out.set(unpart(key.name()), JSON.parse(decoder.decode(value)) as PendingRegion)
    }
    return out
  }

  async savePending(bits: string, entry: PendingRegion): Promise<void> {
    await this.write(new Key(`${this.root}/pending/${part(bits)}`), entry)
  }

  async deletePending(bits: string): Promise<void> {
    await this.datastore.delete(new Key(`${this.root}/pending/${part(bits)}`))
  }
}
