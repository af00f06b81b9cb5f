import { join } from 'node:path'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  closestTo,
  hasPrefix,
  kadKeyOf,
  multihashOf,
  regionPhase,
  Sweeper,
  type SweeperComponents,
  type SweepShard,
} from '@nsn/core'
import { LevelDatastore } from 'datastore-level'
import { afterAll, describe, expect, it } from 'vitest'
import { TempDirs } from './helpers.js'

const dirs = new TempDirs()
const SELF = peerIdFromString('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')

function bytes(seed: number, i: number): Uint8Array {
  const out = new Uint8Array(32)
  const view = new DataView(out.buffer)
  view.setUint32(0, seed)
  view.setUint32(4, i)
  return kadKeyOf(out) // spread over the keyspace
}

const peers = Array.from({ length: 200 }, (_, i) => ({
  peerId: { toString: () => `peer-${i}`, equals: () => false } as unknown as PeerId,
  key: bytes(1, i),
}))
const shards: SweepShard[] = Array.from({ length: 2000 }, (_, i) => {
  const hash = bytes(2, i)
  return { hash, key: kadKeyOf(multihashOf(hash)), hex: Buffer.from(hash).toString('hex'), publishedAt: 0 }
})

function components(
  datastore: LevelDatastore,
  clock: { now: number },
  published: Set<string>,
): SweeperComponents {
  return {
    peerId: SELF,
    datastore,
    now: () => clock.now,
    shards: {
      async *shardsInRegion(prefix, bitLength) {
        let bits = ''
        for (let i = 0; i < bitLength; i++) bits += ((prefix[i >> 3] ?? 0) >> (7 - (i & 7))) & 1
        for (const shard of shards) if (hasPrefix(shard.key, bits)) yield shard
      },
      async markPublishedMany(hashes) {
        for (const hash of hashes) published.add(Buffer.from(hash).toString('hex'))
      },
    },
    knownPeers: () => peers,
    explore: async (target) => closestTo(kadKeyOf(target), peers, 20, (p) => p.key),
    frames: (keys) => keys.map(() => new Uint8Array(1)),
    sendBatch: async (peer, keys) => ({
      peer,
      sent: keys.length,
      confirmed: keys.length,
      streams: 1,
      failures: 0,
      dropped: false,
      confirmedKeys: keys.map(() => true),
    }),
  }
}

describe('the sweep schedule in a LevelDB datastore', () => {
  afterAll(() => dirs.cleanup())

  it('resumes after the datastore is reopened: only the regions whose turn passed', async () => {
    const path = join(await dirs.make(), 'datastore')
    const self = kadKeyOf(SELF.toMultihash().bytes)
    const interval = 1000

    let datastore = new LevelDatastore(path)
    await datastore.open()
    const clock = { now: 0 }
    const published = new Set<string>()
    const first = new Sweeper(components(datastore, clock, published), {
      interval,
      k: 20,
      estimateLookups: 0,
    })
    await first.start()
    const regions = first.regions()
    clock.now = 400
    await first.runDueNow()
    // gone without a stop (as a kill -9 leaves it): the datastore closed under it
    await datastore.close()

    datastore = new LevelDatastore(path)
    await datastore.open()
    const after = new Set<string>()
    clock.now = 700
    const second = new Sweeper(components(datastore, clock, after), { interval, k: 20, estimateLookups: 0 })
    await second.start()
    expect(second.schedule?.cycleStart).toBe(0)
    await second.runDueNow()
    for (const region of regions) {
      const phase = regionPhase(region.bits, self)
      for (const shard of shards.filter((s) => hasPrefix(s.key, region.bits))) {
        expect(published.has(shard.hex)).toBe(phase > 0 && phase <= 0.4)
        expect(after.has(shard.hex)).toBe(phase > 0.4 && phase <= 0.7)
      }
    }
    await first.stop()
    await second.stop()
    await datastore.close()
  })
})
