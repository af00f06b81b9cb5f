import type { PeerId, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { MemoryDatastore } from 'datastore-core'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { KadMessage } from '../../src/kad-message.js'
import { type BatchSend, sendRecordBatch } from '../../src/sweep/batch-send.js'
import { closestTo, hasPrefix, kadKeyOf, regionPhase } from '../../src/sweep/keyspace.js'
import type { ExploredPeer } from '../../src/sweep/region-pass.js'
import { multihashOf, Sweeper, type SweeperComponents, type SweepShard } from '../../src/sweep/sweeper.js'
import { seededRandom } from '../../src/testing.js'

const SELF = peerIdFromString('12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN')

function fakePeer(name: string): PeerId {
  return { toString: () => name, equals: (other: unknown) => String(other) === name } as unknown as PeerId
}

function network(count: number, seed: number): ExploredPeer[] {
  const random = seededRandom(seed)
  return Array.from({ length: count }, (_, i) => {
    const key = new Uint8Array(32)
    for (let j = 0; j < 32; j++) key[j] = random.int(256)
    return { peerId: fakePeer(`peer-${i}`), key }
  })
}

/** An in-memory shard source (what the datastore-backed store gives): range reads by key. */
class MemoryShards {
  readonly shards: SweepShard[] = []
  readonly published = new Map<string, number>()
  constructor(count: number, seed: number) {
    const random = seededRandom(seed)
    for (let i = 0; i < count; i++) {
      const hash = new Uint8Array(32)
      for (let j = 0; j < 32; j++) hash[j] = random.int(256)
      this.shards.push({
        hash,
        key: kadKeyOf(multihashOf(hash)),
        hex: Buffer.from(hash).toString('hex'),
        publishedAt: 0,
      })
    }
    this.shards.sort((a, b) => Buffer.compare(a.key, b.key))
  }
  async *shardsInRegion(prefix: Uint8Array, bitLength: number): AsyncIterable<SweepShard> {
    let bits = ''
    for (let i = 0; i < bitLength; i++) bits += ((prefix[i >> 3] ?? 0) >> (7 - (i & 7))) & 1
    for (const shard of this.shards) if (hasPrefix(shard.key, bits)) yield shard
  }
  async markPublishedMany(hashes: Uint8Array[], options: { now?: number } = {}): Promise<void> {
    for (const hash of hashes) this.published.set(Buffer.from(hash).toString('hex'), options.now ?? 0)
  }
}

interface Harness {
  components: SweeperComponents
  clock: { now: number }
  sent: Map<string, number>
  lookups: { count: number }
  failing: Set<string>
}

function harness(peers: ExploredPeer[], shards: MemoryShards, datastore = new MemoryDatastore()): Harness {
  const clock = { now: 0 }
  const sent = new Map<string, number>()
  const lookups = { count: 0 }
  const failing = new Set<string>()
  return {
    clock,
    sent,
    lookups,
    failing,
    components: {
      peerId: SELF,
      shards,
      datastore,
      now: () => clock.now,
      knownPeers: () => peers,
      explore: async (target) => {
        lookups.count++
        return closestTo(kadKeyOf(target), peers, 20, (p) => p.key)
      },
      frames: (keys) => keys.map(() => new Uint8Array(1)),
      sendBatch: async (peer, keys): Promise<BatchSend> => {
        const fails = failing.has(peer.toString())
        if (!fails) sent.set(peer.toString(), (sent.get(peer.toString()) ?? 0) + keys.length)
        return {
          peer,
          sent: fails ? 0 : keys.length,
          confirmed: fails ? 0 : keys.length,
          streams: 1,
          failures: fails ? 3 : 0,
          dropped: fails,
          confirmedKeys: keys.map(() => !fails),
        }
      },
    },
  }
}

describe('the Sweeper on a stub network', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  for (const size of [1, 2, 3, 4, 5]) {
    it(`places every shard on all ${size} peers of a tiny network`, async () => {
      const peers = network(size, size)
      const shards = new MemoryShards(300, size + 10)
      const h = harness(peers, shards)
      const sweeper = new Sweeper(h.components, { interval: 1000, k: 20, estimateLookups: 0 })
      const summary = await sweeper.runCycle()
      expect(summary.shards).toBe(300)
      expect(summary.failed).toBe(0)
      expect(summary.confirmedMedian).toBe(size)
      expect(shards.published.size).toBe(300)
      for (const peer of peers) expect(h.sent.get(peer.peerId.toString())).toBe(300)
    })
  }

  it('keeps one region on a 3-node network whose two other peers share their first bits (estimate on)', async () => {
    // a flaky batch-API test: L was estimated from the two peers' common prefix (4 bits in
    // 1 of 16 networks), so a batch on a 3-node network explored 16 regions
    const peers = network(2, 7).map((peer, i) => {
      const key = Uint8Array.from(peer.key)
      key[0] = i === 0 ? 0b1010_1000 : 0b1010_1100 // 5 common bits
      return { ...peer, key }
    })
    const shards = new MemoryShards(0, 1)
    const h = harness(peers, shards)
    const sweeper = new Sweeper(h.components, { interval: 1000, k: 20 })
    const batch = new MemoryShards(100, 8).shards.map((s) => s.hash)
    const summary = await sweeper.provideBatch(batch)
    expect(summary.regions).toBe(1)
    expect(summary.lookups).toBe(1)
    expect(summary.confirmedMedian).toBe(2)
  })

  it('republishes a cycle with a few lookups per region, each shard on its true k closest', async () => {
    const peers = network(300, 1)
    const shards = new MemoryShards(3000, 2)
    const h = harness(peers, shards)
    const placed = new Map<string, number>()
    const sweeper = new Sweeper(h.components, { interval: 1000, k: 20, estimateLookups: 0 })
    const summary = await sweeper.runCycle({ onShard: (p) => placed.set(p.hex, p.confirmed) })
    expect(summary.shards).toBe(3000)
    expect(summary.confirmedMedian).toBe(20)
    expect(summary.lookups).toBeLessThan(summary.regions * 5)
    expect([...placed.values()].every((n) => n === 20)).toBe(true)
  })

  it('does each region at its XOR offset, and after a restart only the regions whose turn passed', async () => {
    const peers = network(200, 3)
    const shards = new MemoryShards(2000, 4)
    const datastore = new MemoryDatastore()
    const interval = 1000
    const self = kadKeyOf(SELF.toMultihash().bytes)

    const first = harness(peers, shards, datastore)
    const a = new Sweeper(first.components, { interval, k: 20, estimateLookups: 0 })
    await a.start()
    const regions = a.regions()
    expect(regions.length).toBeGreaterThan(4)
    first.clock.now = 500
    await a.runDueNow()
    const doneFirst = new Set(shards.shards.filter((s) => shards.published.has(s.hex)).map((s) => s.hex))
    for (const region of regions) {
      const phase = regionPhase(region.bits, self)
      const inRegion = shards.shards.filter((s) => hasPrefix(s.key, region.bits))
      const expected = phase > 0 && phase <= 0.5
      for (const shard of inRegion) expect(doneFirst.has(shard.hex)).toBe(expected)
    }
    // killed: no stop(), a new sweeper on the same datastore
    const second = harness(peers, shards, datastore)
    second.clock.now = 750
    const b = new Sweeper(second.components, { interval, k: 20, estimateLookups: 0 })
    await b.start()
    expect(b.schedule?.cycleStart).toBe(0)
    shards.published.clear()
    await b.runDueNow()
    for (const region of regions) {
      const phase = regionPhase(region.bits, self)
      const inRegion = shards.shards.filter((s) => hasPrefix(s.key, region.bits))
      const expected = phase > 0.5 && phase <= 0.75
      for (const shard of inRegion) expect(shards.published.has(shard.hex)).toBe(expected)
    }
    // the next cycle's first half again, not before its turn
    shards.published.clear()
    second.clock.now = 1100
    await b.runDueNow()
    const redone = shards.shards.filter((s) => shards.published.has(s.hex))
    expect(redone.length).toBeGreaterThan(0)
    expect(redone.length).toBeLessThan(shards.shards.length / 2)
    await a.stop()
    await b.stop()
  })

  it('retries a region with fewer than 20 % of its peers reachable after the retry delay', async () => {
    const peers = network(30, 5)
    const shards = new MemoryShards(200, 6)
    const h = harness(peers, shards)
    for (const peer of peers.slice(0, 27)) h.failing.add(peer.peerId.toString())
    const sweeper = new Sweeper(h.components, { interval: 1000, k: 20, estimateLookups: 0, retryDelay: 300 })
    await sweeper.start()
    h.clock.now = 1000 // the one region (the whole keyspace) takes its turn at each cycle start
    const run = await sweeper.runDueNow()
    expect(run.regions).toBe(1)
    expect(sweeper.progress().pending).toBe(1)
    h.failing.clear()
    h.clock.now = 1250 // before the retry time: nothing
    expect((await sweeper.runDueNow()).regions).toBe(0)
    h.clock.now = 1300
    const retried = await sweeper.runDueNow()
    expect(retried.regions).toBe(1)
    expect(retried.failed).toBe(0)
    expect(sweeper.progress().pending).toBe(0)
    await sweeper.stop()
  })

  it('estimates L and meets the peers of every quarter before a whole cycle or a batch, so 49 peers split into 2 regions', async () => {
    const peers = network(49, 12)
    const zero = peers.filter((p) => hasPrefix(p.key, '0'))
    const one = peers.filter((p) => hasPrefix(p.key, '1'))
    expect(Math.min(zero.length, one.length)).toBeGreaterThanOrEqual(20)
    for (const run of ['cycle', 'batch'] as const) {
      const shards = new MemoryShards(run === 'cycle' ? 1000 : 0, 13)
      const h = harness(peers, shards)
      const sweeper = new Sweeper(h.components, { interval: 1000, k: 20 })
      // at its start it knows 2 peers, which do not answer: the timer's estimate learns nothing
      h.components.knownPeers = () => [...zero.slice(0, 1), ...one.slice(0, 1)]
      const explore = h.components.explore
      h.components.explore = async () => {
        throw new Error('no peer answered')
      }
      await sweeper.runDueNow()
      h.components.explore = explore
      // then its routing table knows 15 peers of each half: too few to split the trie, and
      // the table has doubled since the estimate: it is estimated again
      h.components.knownPeers = () => [...zero.slice(0, 15), ...one.slice(0, 15)]
      expect(sweeper.regions()).toEqual([{ bits: '' }])
      const summary =
        run === 'cycle'
          ? await sweeper.runCycle()
          : await sweeper.provideBatch(new MemoryShards(1000, 13).shards.map((s) => s.hash))
      expect(summary).toMatchObject({ shards: 1000, regions: 2, failed: 0, confirmedMedian: 20 })
      expect(sweeper.regions().map((r) => r.bits)).toEqual(['0', '1'])
      // 4 lookups for the estimate, a few per region
      expect(summary.lookups).toBeLessThanOrEqual(4 + 2 * 4)
    }
  })

  it('sends no lookup at its timer while it provides nothing: the prefix-length estimate waits for a shard', async () => {
    // an idle node without shards ran the estimate's 4 lookups every 5 min (100 idle
    // nodes in one process: bench/idle-probe.mjs)
    const peers = network(49, 12)
    const shards = new MemoryShards(0, 13)
    const h = harness(peers, shards)
    const sweeper = new Sweeper(h.components, { interval: 1000, k: 20, estimateValidity: 100 })
    expect((await sweeper.runDueNow()).regions).toBe(0)
    h.clock.now += 1000
    await sweeper.runDueNow()
    expect(h.lookups.count).toBe(0)
    // its first shard: the estimate runs, then the region's pass
    shards.shards.push(...new MemoryShards(1, 14).shards)
    h.clock.now += 1000
    const run = await sweeper.runDueNow()
    expect(h.lookups.count).toBeGreaterThanOrEqual(4)
    expect(run.republished).toBe(1)
  })

  it('publishes a batch split by region with one exploration per region', async () => {
    const peers = network(200, 7)
    const shards = new MemoryShards(0, 0)
    const h = harness(peers, shards)
    const sweeper = new Sweeper(h.components, { interval: 1000, k: 20, estimateLookups: 0 })
    const batch = new MemoryShards(1000, 8).shards.map((s) => s.hash)
    const summary = await sweeper.provideBatch(batch)
    expect(summary.shards).toBe(1000)
    expect(summary.failed).toBe(0)
    expect(h.lookups.count).toBeLessThan(summary.regions * 5)
  })
})

/** A stream stub: records what is sent, answers nothing itself. */
function stubStream(log: Uint8Array[]): Stream {
  return {
    status: 'open',
    send: (bytes: Uint8Array) => {
      log.push(bytes)
      return true
    },
    onDrain: async () => {},
    close: async () => {},
    abort: () => {},
  } as unknown as Stream
}

describe('sendRecordBatch', () => {
  const keys = Array.from({ length: 1000 }, (_, i) => multihashOf(new Uint8Array(32).fill(i % 256)))
  const frames = keys.map(() => new Uint8Array(4))

  it('writes chunks of records on one stream each, confirmed by a GET_PROVIDERS, paced', async () => {
    const streams: Uint8Array[][] = []
    const asked: Array<Partial<KadMessage>> = []
    const slept: number[] = []
    const result = await sendRecordBatch(
      {
        openDhtStream: async () => {
          const log: Uint8Array[] = []
          streams.push(log)
          return stubStream(log)
        },
        answerGuard: {
          writeRead: async (_stream, msg) => {
            asked.push(msg)
            return {
              type: MessageType.GET_PROVIDERS,
              closer: [],
              providers: [{ id: SELF.toMultihash().bytes, multiaddrs: [] }],
            }
          },
        },
        sleep: async (ms) => {
          slept.push(ms)
        },
      },
      fakePeer('p'),
      SELF,
      keys,
      frames,
      { maxMessagesPerStream: 384, messagesPerSecond: 100, attempts: 3 },
      new AbortController().signal,
    )
    expect(streams.map((s) => s.length)).toEqual([384, 384, 232])
    expect(asked.map((m) => m.key)).toEqual([keys[383], keys[767], keys[999]])
    expect(slept).toEqual([3850, 2330])
    expect(result).toMatchObject({ sent: 1000, confirmed: 1000, streams: 3, dropped: false })
  })

  it('drops a peer after 3 failures', async () => {
    let opened = 0
    const result = await sendRecordBatch(
      {
        openDhtStream: async () => {
          opened++
          throw new Error('connection refused')
        },
        answerGuard: {
          writeRead: async () => ({ type: MessageType.GET_PROVIDERS, closer: [], providers: [] }),
        },
        sleep: async () => {},
      },
      fakePeer('p'),
      SELF,
      keys,
      frames,
      { maxMessagesPerStream: 384, messagesPerSecond: 100, attempts: 3 },
      new AbortController().signal,
    )
    expect(opened).toBe(3)
    expect(result).toMatchObject({ sent: 0, confirmed: 0, failures: 3, dropped: true })
    expect(result.error?.message).toBe('connection refused')
  })
})
