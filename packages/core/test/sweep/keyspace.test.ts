import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import {
  bitsOf,
  closestTo,
  commonPrefixBits,
  estimatePrefixLength,
  hasPrefix,
  kadKeyOf,
  prefixBytes,
  regionPhase,
  regionsFromPeers,
  splitToDepth,
} from '../../src/sweep/keyspace.js'
import { allocate, type ExploredPeer, exploreRegion, keyUnderPrefix } from '../../src/sweep/region-pass.js'
import { multihashOf } from '../../src/sweep/sweeper.js'
import { seededRandom } from '../../src/testing.js'

const PEER = peerIdFromString('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')

/** A simulated network: `count` peers with seeded Kademlia ids. */
function network(count: number, seed: number): ExploredPeer[] {
  const random = seededRandom(seed)
  return Array.from({ length: count }, (_, i) => {
    const key = new Uint8Array(32)
    for (let j = 0; j < 32; j++) key[j] = Math.floor(random.next() * 256)
    // peer ids are only names here; the key is what the sweep sorts by
    return { peerId: { toString: () => `peer-${i}`, equals: () => false } as unknown as typeof PEER, key }
  })
}

function shards(
  count: number,
  seed: number,
): Array<{ hash: Uint8Array; target: Uint8Array; key: Uint8Array }> {
  const random = seededRandom(seed)
  return Array.from({ length: count }, () => {
    const hash = new Uint8Array(32)
    for (let j = 0; j < 32; j++) hash[j] = Math.floor(random.next() * 256)
    const target = multihashOf(hash)
    return { hash, target, key: kadKeyOf(target) }
  }).sort((a, b) => Buffer.compare(a.key, b.key))
}

describe('keyspace bits', () => {
  it('reads prefixes, common prefixes and range-read bytes', () => {
    const key = Uint8Array.from([0b1010_0000, 0xff])
    expect(bitsOf(key, 4)).toBe('1010')
    expect(hasPrefix(key, '101')).toBe(true)
    expect(hasPrefix(key, '11')).toBe(false)
    expect(hasPrefix(key, '')).toBe(true)
    expect(commonPrefixBits(Uint8Array.from([0xf0]), Uint8Array.from([0xf8]))).toBe(4)
    expect(commonPrefixBits(Uint8Array.from([1, 2]), Uint8Array.from([1, 2]))).toBe(16)
    expect(prefixBytes('101000001')).toEqual({
      prefix: Uint8Array.from([0b1010_0000, 0b1000_0000]),
      bitLength: 9,
    })
  })

  it('places a region at the XOR offset of its prefix from its own id', () => {
    const self = Uint8Array.from([0b1000_0000])
    expect(regionPhase('1', self)).toBe(0)
    expect(regionPhase('0', self)).toBe(0.5)
    expect(regionPhase('11', self)).toBe(0.25)
    expect(regionPhase('', self)).toBe(0)
  })

  it('estimates L from the closest peers of lookups', () => {
    const a = Uint8Array.from([0b0000_0000])
    const b = Uint8Array.from([0b0010_0000]) // cpl 2 with a
    const c = Uint8Array.from([0b0100_0000]) // cpl 1 with a
    expect(estimatePrefixLength([[a, b, c]])).toBe(1)
    expect(
      estimatePrefixLength([
        [a, b],
        [a, c],
      ]),
    ).toBe(1)
    expect(estimatePrefixLength([])).toBe(0)
  })

  it('estimates L = 0 from lookups that found fewer than k peers (a network smaller than k)', () => {
    // the two other peers of a 3-node network sharing their first 5 bits: 32 regions
    // before, each explored with a lookup of its own
    const b = Uint8Array.from([0b1010_1000])
    const c = Uint8Array.from([0b1010_1100])
    expect(estimatePrefixLength([[b, c]])).toBe(5)
    expect(estimatePrefixLength([[b, c]], 20)).toBe(0)
    expect(
      estimatePrefixLength(
        [
          [b, c],
          [c, b],
        ],
        2,
      ),
    ).toBe(5)
  })
})

describe('regions from the prefix trie of known peers', () => {
  for (const count of [0, 1, 2, 3, 4, 5, 19, 39]) {
    it(`keeps one region over the whole keyspace with ${count} peers (fewer than 2k)`, () => {
      const peers = network(count, count + 1).map((p) => p.key)
      expect(regionsFromPeers(peers, 20)).toEqual([{ bits: '' }])
    })
  }

  it('splits only while both halves keep k peers, and partitions the keyspace', () => {
    const peers = network(400, 7).map((p) => p.key)
    const regions = regionsFromPeers(peers, 20)
    expect(regions.length).toBeGreaterThan(4)
    let covered = 0
    for (const region of regions) {
      covered += 2 ** -region.bits.length
      const inside = peers.filter((p) => hasPrefix(p, region.bits)).length
      expect(inside).toBeGreaterThanOrEqual(20)
    }
    expect(covered).toBe(1)
  })

  it('stops at maxDepth', () => {
    const peers = network(400, 7).map((p) => p.key)
    expect(regionsFromPeers(peers, 20, 1).map((r) => r.bits)).toEqual(['0', '1'])
  })
})

describe('keys aimed at a prefix', () => {
  it('are sha2-256 multihashes (what a peer accepts as a lookup key) hashing under the prefix', () => {
    for (const bits of ['', '0', '1', '0110', '10101']) {
      const key = keyUnderPrefix(bits)
      expect(key.byteLength).toBe(34)
      expect([key[0], key[1]]).toEqual([0x12, 0x20])
      expect(hasPrefix(kadKeyOf(key), bits)).toBe(true)
    }
  })
})

describe('regions split down to L', () => {
  it('splits every region to L without known peers', () => {
    expect(splitToDepth([{ bits: '' }, { bits: '101' }], 2).map((r) => r.bits)).toEqual([
      '00',
      '01',
      '10',
      '11',
      '101',
    ])
  })

  it('keeps a region the node knows well whole: L = 1 on 49 peers split 30 / 19 is one region', () => {
    const peers = network(49, 1).map((p) => p.key)
    // a keyspace of 49 peers with fewer than k under one half
    const ones = peers.filter((p) => hasPrefix(p, '1')).length
    const halves = [peers.length - ones, ones].sort((a, b) => a - b)
    expect(halves[0]).toBeLessThan(20)
    const regions = regionsFromPeers(peers, 20)
    expect(regions).toEqual([{ bits: '' }])
    // L = 1 (an average: most lookups of such a network say 1) must not cut a region of fewer than k
    expect(splitToDepth(regions, 1, { peers, k: 20 })).toEqual([{ bits: '' }])
  })

  it('splits a region the node knows sparsely (far from its id: about k of thousands) down to L', () => {
    // 20 known peers under 1 (a routing table's farthest bucket) on a network where L = 6
    const far = network(400, 9)
      .map((p) => p.key)
      .filter((p) => hasPrefix(p, '1'))
      .slice(0, 20)
    const regions = splitToDepth([{ bits: '1' }], 6, { peers: far, k: 20 })
    expect(regions).toHaveLength(32)
    expect(regions.every((r) => r.bits.length === 6 && r.bits.startsWith('1'))).toBe(true)
  })
})

/** An exact lookup: the k closest of the whole network to the target's Kademlia id. */
function exactLookup(peers: ExploredPeer[], k: number, counter: { lookups: number }) {
  return async (target: Uint8Array): Promise<ExploredPeer[]> => {
    counter.lookups++
    return closestTo(kadKeyOf(target), peers, k, (p) => p.key)
  }
}

describe('a region pass: exploration and allocation', () => {
  const k = 20
  const options = { k, maxExplorations: 32, noNewPeerLimit: 2 }

  for (const size of [1, 2, 3, 4, 5, 12, 19]) {
    it(`places every shard on every peer of a ${size}-peer network (no shard dropped)`, async () => {
      const peers = network(size, 100 + size)
      const counter = { lookups: 0 }
      const items = shards(200, size)
      const exploration = await exploreRegion(
        '',
        items,
        exactLookup(peers, k, counter),
        options,
        new AbortController().signal,
      )
      expect(counter.lookups).toBe(1) // fewer than k answers: the one lookup knows every peer
      const allocation = allocate(items, exploration.peers.values(), k)
      expect(allocation.size).toBe(size)
      for (const { shards: mine } of allocation.values()) expect(mine.length).toBe(200)
    })
  }

  it('places every shard on its true k closest with a few lookups per region', async () => {
    const peers = network(500, 3)
    const regions = regionsFromPeers(
      peers.map((p) => p.key),
      k,
    )
    const items = shards(2000, 4)
    let lookups = 0
    for (const region of regions) {
      const mine = items.filter((s) => hasPrefix(s.key, region.bits))
      const counter = { lookups: 0 }
      const exploration = await exploreRegion(
        region.bits,
        mine,
        exactLookup(peers, k, counter),
        options,
        new AbortController().signal,
      )
      lookups += counter.lookups
      const allocation = allocate(mine, exploration.peers.values(), k)
      const placed = new Map<Uint8Array, string[]>()
      for (const { peer, shards: list } of allocation.values()) {
        for (const shard of list)
          placed.set(shard.key, [...(placed.get(shard.key) ?? []), peer.peerId.toString()])
      }
      for (const shard of mine) {
        const truth = closestTo(shard.key, peers, k, (p) => p.key).map((p) => p.peerId.toString())
        expect(new Set(placed.get(shard.key))).toEqual(new Set(truth))
      }
    }
    // 2,000 shards: one lookup each would be 2,000
    expect(lookups).toBeLessThan(regions.length * 6)
  })

  it('stops after lookups that find no new peer, and at the cap', async () => {
    const items = shards(100, 6)
    const failing = { lookups: 0 }
    await exploreRegion(
      '',
      items,
      async () => {
        failing.lookups++
        throw new Error('nobody answered')
      },
      options,
      new AbortController().signal,
    )
    expect(failing.lookups).toBe(2)

    // each lookup finds 20 new peers right next to its target: the region is never covered
    let n = 0
    const endless = async (target: Uint8Array): Promise<ExploredPeer[]> => {
      const key = kadKeyOf(target)
      return Array.from({ length: 20 }, (_, i) => {
        const near = Uint8Array.from(key)
        near[31] = i
        n++
        return { peerId: { toString: () => `near-${n}` } as unknown as typeof PEER, key: near }
      })
    }
    const exploration = await exploreRegion(
      '',
      items,
      endless,
      { ...options, maxExplorations: 5 },
      new AbortController().signal,
    )
    expect(exploration.lookups).toBe(5)
    expect(exploration.complete).toBe(false)
  })

  it('widens a region holding fewer than k peers to its parent', async () => {
    const peers = network(60, 9)
    const counter = { lookups: 0 }
    // a 4-bit region of a 60-peer network holds about 4 peers
    const mine = shards(400, 10).filter((s) => hasPrefix(s.key, '0110'))
    const exploration = await exploreRegion(
      '0110',
      mine,
      exactLookup(peers, k, counter),
      options,
      new AbortController().signal,
    )
    expect(exploration.complete).toBe(true)
    expect(exploration.explored.length).toBeLessThan(4)
    const allocation = allocate(mine, exploration.peers.values(), k)
    for (const shard of mine) {
      const truth = closestTo(shard.key, peers, k, (p) => p.key).map((p) => p.peerId.toString())
      const placed = [...allocation.values()]
        .filter((a) => a.shards.includes(shard))
        .map((a) => a.peer.peerId.toString())
      expect(new Set(placed)).toEqual(new Set(truth))
    }
  })
})
