import type { PeerId } from '@libp2p/interface'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { type KadRoutingTable, type KadTableAccess, maxCommonPrefixBits } from '../src/kad-internals.js'
import { type RefreshResult, RefreshSchedule, refreshRoutingTable } from '../src/refresher.js'

/** A routing table of named stub peers: no libp2p, no sockets. */
class StubTable extends EventTarget implements KadRoutingTable {
  /** Tiny by default: the self-neighbourhood never limits the stubs' bucket lookups. */
  kBucketSize = 1e-9
  readonly removed: string[] = []
  private readonly peers: Map<string, PeerId>
  readonly kb = { toIterable: () => [...this.peers.values()].map((peerId) => ({ peerId, lastPing: 0 })) }

  constructor(names: string[]) {
    super()
    this.peers = new Map(names.map((name) => [name, { toString: () => name } as unknown as PeerId]))
  }

  get size(): number {
    return this.peers.size
  }

  async remove(peer: PeerId): Promise<void> {
    this.peers.delete(peer.toString())
    this.removed.push(peer.toString())
  }

  async find(peer: PeerId): Promise<PeerId | undefined> {
    return this.peers.get(peer.toString())
  }
}

const stubTable = (names: string[]): StubTable => new StubTable(names)

function stubKad(
  table: KadRoutingTable,
  maxCpl: number,
  failCpl?: number,
): KadTableAccess & { cpls: number[] } {
  const cpls: number[] = []
  return {
    routingTable: table,
    maxCommonPrefix: () => maxCpl,
    async refreshCommonPrefixLength(cpl) {
      cpls.push(cpl)
      if (cpl === failCpl) throw new Error(`lookup ${cpl} failed`)
    },
    cpls,
  }
}

describe('refreshRoutingTable (stubs, no sockets)', () => {
  it('looks up its own id first, then only the buckets not deeper than the farthest of the k closest found', async () => {
    // the self-lookup's k closest peers hold every peer of the buckets deeper than the
    // farthest of them: on 100 idle nodes (bench/idle-probe.mjs) 3 bucket lookups a
    // refresh, not 5 (the self-neighbourhood bound) or 8 (the deepest bucket)
    // 400 peers: the self-neighbourhood bound (log2(400 / 20) + 1 = 6) is above the deepest bucket
    const table = stubTable(Array.from({ length: 400 }, (_, i) => `p${i}`))
    const order: string[] = []
    const kad = {
      ...stubKad(table, 5),
      async refreshCommonPrefixLength(cpl: number) {
        order.push(`cpl ${cpl}`)
      },
      async lookupSelf() {
        order.push('self')
        // the k = 20 closest: the farthest shares 2 bits with this node
        return [2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 5]
      },
    }
    const result = await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
      { pingConcurrency: 1, lookupConcurrency: 1 },
      {},
    )
    expect(order).toEqual(['self', 'cpl 0', 'cpl 1', 'cpl 2'])
    expect(result).toMatchObject({ lookups: 4, failedLookups: 0 })

    // fewer than k found: the neighbourhood may be incomplete, every bucket is looked up
    order.length = 0
    kad.lookupSelf = async () => {
      order.push('self')
      return [5, 6]
    }
    await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
      { pingConcurrency: 1, lookupConcurrency: 1 },
      {},
    )
    expect(order).toEqual(['self', ...Array.from({ length: 6 }, (_, cpl) => `cpl ${cpl}`)])

    // a failed self-lookup is reported, and every bucket is looked up
    order.length = 0
    kad.lookupSelf = async () => {
      throw new Error('self-lookup failed')
    }
    const failed = await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
      { pingConcurrency: 1, lookupConcurrency: 1 },
      {},
    )
    expect(order).toHaveLength(6)
    expect(failed).toMatchObject({ lookups: 7, failedLookups: 1 })
    expect(failed.errors[0]?.message).toBe('self-lookup failed')
  })

  it('pings only unconnected peers, removes those that fail, then looks up every bucket', async () => {
    const table = stubTable(['connected', 'alive', 'gone'])
    const kad = stubKad(table, 2)
    const pinged: string[] = []
    const result = await refreshRoutingTable(
      {
        hooks: kad,
        connectionsTo: (peer) => (peer.toString() === 'connected' ? 1 : 0),
        ping: async (peer) => {
          pinged.push(peer.toString())
          if (peer.toString() === 'gone') throw new Error('no answer')
        },
      },
      { pingConcurrency: 2, lookupConcurrency: 2 },
      {},
    )
    expect(pinged.sort()).toEqual(['alive', 'gone'])
    expect(table.removed).toEqual(['gone'])
    expect(kad.cpls).toEqual([0, 1, 2])
    expect(result).toMatchObject({
      removed: 1,
      checked: 2,
      sizeBefore: 3,
      sizeAfter: 2,
      lookups: 3,
      failedLookups: 0,
    })
  })

  it('reports each failed bucket lookup and caps lookups at cpl 15', async () => {
    const kad = stubKad(stubTable(['a']), 40, 3)
    const result = await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
      { pingConcurrency: 1, lookupConcurrency: 2 },
      {},
    )
    expect(kad.cpls).toHaveLength(16)
    expect(result.failedLookups).toBe(1)
    expect(result.errors[0]?.message).toBe('lookup 3 failed')
  })

  it('looks nothing up once every peer is gone', async () => {
    const kad = stubKad(stubTable(['a', 'b']), 3)
    const result = await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 0, ping: () => Promise.reject(new Error('gone')) },
      { pingConcurrency: 4, lookupConcurrency: 2 },
      {},
    )
    expect(result).toMatchObject({ removed: 2, sizeAfter: 0, lookups: 0 })
    expect(kad.cpls).toEqual([])
  })

  it('stops at an aborted signal', async () => {
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(
      refreshRoutingTable(
        { hooks: stubKad(stubTable(['a']), 1), connectionsTo: () => 0, ping: async () => undefined },
        { pingConcurrency: 1, lookupConcurrency: 2 },
        { signal: controller.signal },
      ),
    ).rejects.toThrow('stop')
  })
})

describe('RefreshSchedule (fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  const result = {} as RefreshResult

  it('refreshes every interval, arming the next turn only when one ends, and stops cleanly', async () => {
    vi.useFakeTimers()
    let ended: (() => void) | undefined
    const refresh = vi.fn(
      () =>
        new Promise<RefreshResult>((resolve) => {
          ended = () => resolve(result)
        }),
    )
    const schedule = new RefreshSchedule({ refresh, routingTableSize: () => 5 }, 1_000)
    schedule.start()
    await vi.advanceTimersByTimeAsync(999)
    expect(refresh).not.toHaveBeenCalled()
    await vi.advanceTimersByTimeAsync(1)
    expect(refresh).toHaveBeenCalledTimes(1)
    // a slow refresh is never overlapped by the next one
    await vi.advanceTimersByTimeAsync(5_000)
    expect(refresh).toHaveBeenCalledTimes(1)
    ended?.()
    await vi.advanceTimersByTimeAsync(1_000)
    expect(refresh).toHaveBeenCalledTimes(2)
    schedule.stop()
    ended?.()
    await vi.advanceTimersByTimeAsync(10_000)
    expect(refresh).toHaveBeenCalledTimes(2)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('skips turns while the table is empty, logs failures and keeps going', async () => {
    vi.useFakeTimers()
    let size = 0
    const errors: unknown[] = []
    const refresh = vi.fn(() => Promise.reject(new Error('lookup failed')))
    const schedule = new RefreshSchedule(
      { refresh, routingTableSize: () => size, log: { error: (_m, err) => errors.push(err) } },
      100,
    )
    schedule.start()
    await vi.advanceTimersByTimeAsync(350)
    expect(refresh).not.toHaveBeenCalled()
    size = 1
    await vi.advanceTimersByTimeAsync(200)
    expect(refresh).toHaveBeenCalledTimes(2)
    expect(errors).toHaveLength(2)
    schedule.stop()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('draws each wait from interval x (1 ± jitter), so nodes started together drift apart', async () => {
    vi.useFakeTimers()
    const refresh = vi.fn(async () => result)
    // draws 0 then 1 then 0.5: the shortest wait, the longest, the interval
    const draws = [0, 0.999, 0.5]
    const schedule = new RefreshSchedule({ refresh, routingTableSize: () => 5 }, 1_000, {
      jitter: 0.2,
      random: () => draws.shift() ?? 0.5,
    })
    schedule.start()
    await vi.advanceTimersByTimeAsync(799)
    expect(refresh).toHaveBeenCalledTimes(0)
    await vi.advanceTimersByTimeAsync(1)
    expect(refresh).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1_199)
    expect(refresh).toHaveBeenCalledTimes(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(refresh).toHaveBeenCalledTimes(2)
    await vi.advanceTimersByTimeAsync(1_000)
    expect(refresh).toHaveBeenCalledTimes(3)
    schedule.stop()
  })

  it('schedules nothing with an interval of 0', () => {
    vi.useFakeTimers()
    const schedule = new RefreshSchedule({ refresh: vi.fn(), routingTableSize: () => 1 }, 0)
    schedule.start()
    expect(vi.getTimerCount()).toBe(0)
    schedule.stop()
  })
})

describe('refresh depth', () => {
  it('looks up the buckets down to the self-neighbourhood only (log2(table / k) + 1)', async () => {
    const table = stubTable(Array.from({ length: 40 }, (_, i) => `p${i}`))
    table.kBucketSize = 20
    const kad = stubKad(table, 9)
    await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => {} },
      { pingConcurrency: 1, lookupConcurrency: 1 },
      {},
    )
    // 40 peers, k = 20: the peers past a 2-bit common prefix are this node's neighbourhood
    expect(kad.cpls).toEqual([0, 1, 2])
  })
})

describe('refresh bucket lookups at once', () => {
  it('runs at most lookupConcurrency bucket lookups at a time, every bucket once', async () => {
    const table = stubTable(['a'])
    let running = 0
    let most = 0
    const cpls: number[] = []
    const kad: KadTableAccess = {
      routingTable: table,
      maxCommonPrefix: () => 6,
      async refreshCommonPrefixLength(cpl) {
        cpls.push(cpl)
        running++
        most = Math.max(most, running)
        await new Promise<void>((resolve) => setImmediate(resolve))
        running--
      },
    }
    const result = await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => {} },
      { pingConcurrency: 1, lookupConcurrency: 2 },
      {},
    )
    expect(most).toBe(2)
    expect(cpls.sort()).toEqual([0, 1, 2, 3, 4, 5, 6])
    expect(result.lookups).toBe(7)
  })
})

describe('maxCommonPrefixBits (the deepest bucket a refresh looks up)', () => {
  it('counts common leading bits, not bytes (kad-dht counted zero bytes: 0 below 256 peers)', () => {
    const id = (...bytes: number[]) => Uint8Array.from([...bytes, ...new Array(32 - bytes.length).fill(0)])
    const entry = (kadId: Uint8Array) => ({ peerId: {} as PeerId, lastPing: 0, kadId })
    const table = {
      kb: {
        localPeer: { kadId: id(0b1010_0000) },
        toIterable: () => [
          entry(id(0b0000_0000)), // 0 bits
          entry(id(0b1011_0000)), // 3 bits
          entry(id(0b1010_0100)), // 5 bits
        ],
      },
    }
    expect(maxCommonPrefixBits(table)).toBe(5)
    expect(maxCommonPrefixBits({ kb: { toIterable: () => [] } })).toBe(0)
  })
})
