import type { PeerId } from '@libp2p/interface'
import { describe, expect, it } from 'vitest'
import { BucketRefreshBackoff } from '../src/bucket-refresh-backoff.js'
import type { KadRoutingTable, KadTableAccess } from '../src/kad-internals.js'
import { bucketPeers, refreshRoutingTable } from '../src/refresher.js'

/** The refreshes (1-based) at which a bucket whose every lookup finds no one is looked up. */
function lookupTurns(backoff: BucketRefreshBackoff, refreshes: number): number[] {
  const turns: number[] = []
  for (let turn = 1; turn <= refreshes; turn++) {
    if (backoff.due(0, 20)) {
      turns.push(turn)
      backoff.looked(0, 20, 20, false)
    }
  }
  return turns
}

describe('BucketRefreshBackoff', () => {
  it('skips a fruitless bucket 3, 7, 15... refreshes, up to its longest gap', () => {
    expect(lookupTurns(new BucketRefreshBackoff(11), 40)).toEqual([1, 5, 13, 25, 37])
    // 0: every refresh looks the bucket up
    expect(lookupTurns(new BucketRefreshBackoff(0), 5)).toEqual([1, 2, 3, 4, 5])
  })

  it('starts over after a lookup that found peers or failed, and looks up a bucket that lost peers at once', () => {
    const backoff = new BucketRefreshBackoff(11)
    backoff.looked(3, 5, 5, false)
    backoff.looked(3, 5, 5, false)
    expect(backoff.due(3, 5)).toBe(false)
    // a peer of the bucket went away: due now, whatever its backoff
    expect(backoff.due(3, 4)).toBe(true)
    // found new peers: the next refresh looks it up again
    backoff.looked(3, 4, 6, false)
    expect(backoff.due(3, 6)).toBe(true)
    backoff.looked(3, 6, 6, false)
    expect(backoff.due(3, 6)).toBe(false)
    // a failed lookup proves nothing
    backoff.looked(3, 6, 6, true)
    expect(backoff.due(3, 6)).toBe(true)
    // buckets are independent; one never looked up is due
    expect(backoff.due(4, 0)).toBe(true)
  })
})

/** A routing table whose peers have Kademlia ids: `byCpl[c]` peers share c leading bits with this node. */
class KadIdTable extends EventTarget implements KadRoutingTable {
  kBucketSize = 1e-9
  private readonly entries: { peerId: PeerId; lastPing: number; kadId: Uint8Array }[] = []
  readonly kb = {
    localPeer: { kadId: new Uint8Array(32) },
    toIterable: () => this.entries,
  }

  /** Adds a peer sharing exactly `cpl` leading bits with this node's id (all zeros). */
  addAt(cpl: number): void {
    const kadId = new Uint8Array(32)
    kadId[cpl >> 3] = 0x80 >> (cpl & 7)
    kadId[31] = this.entries.length + 1
    const name = `p${this.entries.length}`
    this.entries.push({ peerId: { toString: () => name } as unknown as PeerId, lastPing: 0, kadId })
  }

  get size(): number {
    return this.entries.length
  }

  async remove(peer: PeerId): Promise<void> {
    const i = this.entries.findIndex((e) => e.peerId.toString() === peer.toString())
    if (i >= 0) this.entries.splice(i, 1)
  }

  async find(): Promise<PeerId | undefined> {
    return undefined
  }
}

describe('refreshRoutingTable with a backoff (stubs, no sockets)', () => {
  it('looks up the buckets that found new peers or lost some, and skips the fruitless ones', async () => {
    const table = new KadIdTable()
    for (const cpl of [0, 0, 1, 1, 2]) table.addAt(cpl)
    expect([0, 1, 2, 3].map((cpl) => bucketPeers(table, cpl))).toEqual([2, 2, 1, 0])
    const looked: number[] = []
    // bucket 2's lookup finds a new peer every time; the others find no one
    const kad: KadTableAccess = {
      routingTable: table,
      maxCommonPrefix: () => 2,
      async refreshCommonPrefixLength(cpl) {
        looked.push(cpl)
        if (cpl === 2) table.addAt(2)
      },
    }
    const backoff = new BucketRefreshBackoff(11)
    const refresh = () =>
      refreshRoutingTable(
        { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
        { pingConcurrency: 1, lookupConcurrency: 1, backoff },
        {},
      )

    expect(await refresh()).toMatchObject({ lookups: 3, skipped: 0 })
    expect(looked).toEqual([0, 1, 2])
    looked.length = 0
    // buckets 0 and 1 found no one: skipped once, unless one lost a peer (bucket 1 here);
    // bucket 2 found a peer: looked up again
    await table.remove({ toString: () => 'p2' } as unknown as PeerId)
    expect(await refresh()).toMatchObject({ lookups: 2, skipped: 1 })
    expect(looked).toEqual([1, 2])
    looked.length = 0
    // buckets 0 and 1 still wait; bucket 2 keeps finding peers
    expect(await refresh()).toMatchObject({ lookups: 1, skipped: 2 })
    expect(looked).toEqual([2])
    looked.length = 0

    // an explicit refresh (force) looks up every bucket, and its lookups count
    await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
      { pingConcurrency: 1, lookupConcurrency: 1, backoff, force: true },
      {},
    )
    expect(looked).toEqual([0, 1, 2])
    looked.length = 0
    // bucket 0's lookup just now was its second fruitless one: 7 refreshes to wait
    for (let i = 0; i < 7; i++) await refresh()
    expect(looked.filter((cpl) => cpl === 0)).toEqual([])
    await refresh()
    expect(looked.filter((cpl) => cpl === 0)).toEqual([0])
    looked.length = 0

    // without a backoff (an explicit refresh), every bucket, every time
    await refreshRoutingTable(
      { hooks: kad, connectionsTo: () => 1, ping: async () => undefined },
      { pingConcurrency: 1, lookupConcurrency: 1 },
      {},
    )
    expect(looked).toEqual([0, 1, 2])
  })
})
