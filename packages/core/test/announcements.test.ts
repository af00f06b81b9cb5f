import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  ANNOUNCEMENT_MAX_ADDRESSES,
  ANNOUNCEMENT_MAX_BYTES,
  ANNOUNCEMENT_MAX_SHARDS,
  ANNOUNCEMENT_MAX_TTL,
  type AnnouncementPubSub,
  AnnouncementRateLimiter,
  type AnnouncementValidatorFn,
  decodeAnnouncement,
  encodeAnnouncement,
  GROUP_TOPIC_PREFIX,
  groupOfTopic,
  InvalidGroupNameError,
  InvalidOptionError,
  ProviderCache,
  parseGroupName,
  resolveAnnouncementLimits,
  SHARD_ANNOUNCEMENTS_TOPIC,
  ShardAnnouncements,
  TooManyGroupsError,
  type ValidAnnouncement,
  validateAnnouncement,
} from '../src/index.js'

const NOW = 1_700_000_000_000
const limits = resolveAnnouncementLimits()
const shard = (i: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, j) => (i + j) & 0xff)
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

let author: PeerId
let other: PeerId
beforeAll(async () => {
  author = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
  other = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
})

function encoded(fields: Partial<Parameters<typeof encodeAnnouncement>[0]> = {}): Uint8Array {
  return encodeAnnouncement({
    shards: [shard(1)],
    provider: author.toMultihash().bytes,
    addrs: [multiaddr('/ip4/10.0.0.1/tcp/4001').bytes],
    expiresAt: NOW + 60_000,
    ...fields,
  })
}

describe('announcement codec', () => {
  it('round-trips, and skips unknown fields', () => {
    const bytes = encoded({ shards: [shard(1), shard(2)] })
    const decoded = decodeAnnouncement(Uint8Array.from([...bytes, 0x28, 0x01])) // field 5, varint 1
    expect(decoded.shards.map(hex)).toEqual([hex(shard(1)), hex(shard(2))])
    expect(decoded.provider).toEqual(author.toMultihash().bytes)
    expect(decoded.expiresAt).toBe(NOW + 60_000)
  })

  it('is compact: one shard with one address in under 120 bytes', () => {
    expect(encoded().byteLength).toBeLessThan(120)
  })
})

describe('validateAnnouncement', () => {
  it('accepts a valid one, with the shards as hex once each', () => {
    const verdict = validateAnnouncement(encoded({ shards: [shard(1), shard(1)] }), author, NOW, limits)
    expect(verdict.valid).toBe(true)
    const { announcement } = verdict as { announcement: ValidAnnouncement }
    expect(announcement.shards).toEqual([hex(shard(1))])
    expect(announcement.provider.equals(author)).toBe(true)
    expect(announcement.multiaddrs.map(String)).toEqual(['/ip4/10.0.0.1/tcp/4001'])
  })

  const cases: Array<[string, () => [Uint8Array, PeerId | undefined]]> = [
    ['unsigned', () => [encoded(), undefined]],
    ['oversized', () => [new Uint8Array(ANNOUNCEMENT_MAX_BYTES + 1), author]],
    ['malformed', () => [Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]), author]],
    [
      'too_many_shards',
      () => [
        encoded({ shards: Array.from({ length: ANNOUNCEMENT_MAX_SHARDS + 1 }, (_, i) => shard(i)) }),
        author,
      ],
    ],
    [
      'too_many_addresses',
      () => [
        encoded({
          addrs: Array.from(
            { length: ANNOUNCEMENT_MAX_ADDRESSES + 1 },
            (_, i) => multiaddr(`/ip4/10.0.0.${i}/tcp/1`).bytes,
          ),
        }),
        author,
      ],
    ],
    ['no_shards', () => [encoded({ shards: [] }), author]],
    ['bad_shard', () => [encoded({ shards: [new Uint8Array(31)] }), author]],
    ['wrong_provider', () => [encoded(), other]],
    ['bad_address', () => [encoded({ addrs: [Uint8Array.from([0xff, 0xff, 0x03])] }), author]],
    ['bad_address', () => [encoded({ addrs: [new Uint8Array(200)] }), author]],
    ['expired', () => [encoded({ expiresAt: NOW }), author]],
    ['expiry_too_far', () => [encoded({ expiresAt: NOW + ANNOUNCEMENT_MAX_TTL + 31_000 }), author]],
  ]
  it.each(cases)('refuses it as %s', (reason, make) => {
    const [data, from] = make()
    const verdict = validateAnnouncement(data, from, NOW, limits)
    expect(verdict).toMatchObject({ valid: false, reason })
  })

  it('checks its options', () => {
    expect(() => resolveAnnouncementLimits({ maxShards: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveAnnouncementLimits({ clockSkew: -1 })).toThrow(InvalidOptionError)
  })
})

describe('AnnouncementRateLimiter', () => {
  it('lets a burst through, then the rate, per author', () => {
    const rate = new AnnouncementRateLimiter({ perPeerPerSecond: 2, burst: 3 }, 10)
    const taken = Array.from({ length: 5 }, () => rate.take('a', NOW))
    expect(taken).toEqual([true, true, true, false, false])
    expect(rate.take('b', NOW)).toBe(true)
    expect(rate.take('a', NOW + 500)).toBe(true)
    expect(rate.take('a', NOW + 500)).toBe(false)
  })

  it('quarantines an author that keeps sending past the limit, whoever relays it, for the quarantine', () => {
    const rate = new AnnouncementRateLimiter({ perPeerPerSecond: 2, burst: 3 }, 10, 60_000)
    // 3 through, then 3 overflow absorbed; the 7th empties the overflow bucket too
    const taken = Array.from({ length: 7 }, () => rate.take('a', NOW))
    expect(taken).toEqual([true, true, true, false, false, false, false])
    expect(rate.isQuarantined('a', NOW)).toBe(true)
    // refilled tokens do not help while quarantined; other authors are not affected
    expect(rate.take('a', NOW + 10_000)).toBe(false)
    expect(rate.take('b', NOW)).toBe(true)
    expect(rate.isQuarantined('a', NOW + 60_000)).toBe(false)
    expect(rate.take('a', NOW + 60_000)).toBe(true)
  })
})

describe('group names', () => {
  it('takes 1 to 64 of A-Z a-z 0-9 . _ - and maps them to topics', () => {
    expect(parseGroupName('video-42.a_b')).toBe('video-42.a_b')
    for (const bad of ['', 'a b', 'a/b', 'x'.repeat(65), 42])
      expect(() => parseGroupName(bad)).toThrow(InvalidGroupNameError)
    expect(groupOfTopic(`${GROUP_TOPIC_PREFIX}v1`)).toBe('v1')
    expect(groupOfTopic(SHARD_ANNOUNCEMENTS_TOPIC)).toBeUndefined()
  })
})

describe('ProviderCache.addAnnounced', () => {
  it('answers a lookup of any limit until the expiry, merges providers, never extends an entry', async () => {
    let t = NOW
    const cache = new ProviderCache({ now: () => t, ttl: 60_000 })
    const a = { peerId: author, multiaddrs: [multiaddr('/ip4/10.0.0.1/tcp/1')] }
    const b = { peerId: other, multiaddrs: [] }
    expect(cache.addAnnounced('k', a, NOW)).toBe(false) // expired already
    expect(cache.addAnnounced('k', a, NOW + 10_000)).toBe(true)
    expect(cache.get('k', 20)?.map((p) => p.peerId.toString())).toEqual([author.toString()])
    expect(cache.addAnnounced('k', b, NOW + 50_000)).toBe(true)
    expect(cache.get('k', 20)).toHaveLength(2)
    t = NOW + 10_000
    expect(cache.get('k', 20)).toBeUndefined()
  })
})

/** A pubsub stand-in: records subscriptions and publications; `deliver` runs the validator. */
function stubPubSub() {
  const subscribed = new Set<string>()
  const published: Array<{ topic: string; data: Uint8Array }> = []
  const scored = new Set<string>()
  const pubsub: AnnouncementPubSub = {
    subscribe: (topic) => subscribed.add(topic),
    unsubscribe: (topic) => subscribed.delete(topic),
    getTopics: () => [...subscribed],
    getSubscribers: () => [],
    getMeshPeers: () => ['a', 'b'],
    publish: async (topic, data) => {
      published.push({ topic, data })
      return { recipients: [] }
    },
    topicValidators: new Map<string, AnnouncementValidatorFn>(),
    addTopicScoreParams: (topic) => scored.add(topic),
  }
  return { pubsub, subscribed, published, scored }
}

describe('ShardAnnouncements', () => {
  it('batches provides into one announcement per topic set, signed by nobody else than this node', async () => {
    const stub = stubPubSub()
    const service = new ShardAnnouncements(
      {
        peerId: author,
        pubsub: stub.pubsub,
        addresses: () => [multiaddr(`/ip4/10.0.0.1/tcp/1/p2p/${author}`)],
        sink: () => {},
      },
      { batchWindow: 1_000, now: () => NOW },
    )
    service.start()
    service.announce(hex(shard(1)))
    service.announce(hex(shard(2)))
    service.announce(hex(shard(3)), ['v1'])
    await service.flush()
    expect(stub.published.map((p) => p.topic).sort()).toEqual(
      [SHARD_ANNOUNCEMENTS_TOPIC, SHARD_ANNOUNCEMENTS_TOPIC, `${GROUP_TOPIC_PREFIX}v1`].sort(),
    )
    const first = decodeAnnouncement(stub.published[0]!.data)
    expect(first.shards.map(hex)).toEqual([hex(shard(1)), hex(shard(2))])
    expect(first.expiresAt).toBe(NOW + 60_000)
    // the /p2p suffix is dropped: the provider field names the peer
    expect(first.addrs.map((a) => multiaddr(a).toString())).toEqual(['/ip4/10.0.0.1/tcp/1'])
    service.stop()
  })

  it('splits a batch past maxShards', async () => {
    const stub = stubPubSub()
    const service = new ShardAnnouncements(
      { peerId: author, pubsub: stub.pubsub, addresses: () => [], sink: () => {} },
      { batchWindow: 1_000, now: () => NOW, maxShards: 2 },
    )
    service.start()
    for (let i = 0; i < 5; i++) service.announce(hex(shard(i)))
    await service.flush()
    expect(stub.published.map((p) => decodeAnnouncement(p.data).shards.length)).toEqual([2, 2, 1])
    service.stop()
  })

  it('validates: valid ones reach the sink, invalid ones are rejected, rate-limited ones rejected from their author and ignored from a relay', () => {
    const stub = stubPubSub()
    const sunk: ValidAnnouncement[] = []
    const reasons: string[] = []
    const service = new ShardAnnouncements(
      { peerId: other, pubsub: stub.pubsub, addresses: () => [], sink: (a) => sunk.push(a) },
      {
        now: () => NOW,
        burst: 1,
        perPeerPerSecond: 1,
        reporter: { rejected: (e) => reasons.push(e.reason) },
      },
    )
    service.start()
    expect(stub.scored.has(SHARD_ANNOUNCEMENTS_TOPIC)).toBe(true)
    const validate = stub.pubsub.topicValidators.get(SHARD_ANNOUNCEMENTS_TOPIC)!
    const message = (data: Uint8Array) => ({
      type: 'signed' as const,
      topic: SHARD_ANNOUNCEMENTS_TOPIC,
      data,
      from: author,
    })
    expect(validate(author, message(encoded()))).toBe('accept')
    expect(sunk).toHaveLength(1)
    expect(validate(author, message(encoded({ expiresAt: NOW - 1 })))).toBe('reject')
    expect(validate(other, message(encoded({ expiresAt: NOW - 1 })))).toBe('ignore') // expired on the way
    expect(validate(other, message(encoded()))).toBe('ignore') // relayed, past the author's rate
    expect(validate(author, message(encoded()))).toBe('reject') // from the author itself
    expect(reasons).toEqual(['expired', 'expired', 'rate_limited', 'rate_limited'])
    expect(sunk).toHaveLength(1)
    service.stop()
    expect(stub.pubsub.topicValidators.size).toBe(0)
  })

  it('subscribes to groups within the bound and lists them', () => {
    const stub = stubPubSub()
    const service = new ShardAnnouncements(
      { peerId: author, pubsub: stub.pubsub, addresses: () => [], sink: () => {} },
      { groups: ['a'], maxGroups: 2 },
    )
    service.start()
    expect(service.subscribe('b')).toBe(true)
    expect(service.subscribe('b')).toBe(false)
    expect(() => service.subscribe('c')).toThrow(TooManyGroupsError)
    expect(() => service.subscribe('no way')).toThrow(InvalidGroupNameError)
    expect(service.topics().map((t) => [t.group, t.topic, t.meshPeers])).toEqual([
      [null, SHARD_ANNOUNCEMENTS_TOPIC, 2],
      ['a', `${GROUP_TOPIC_PREFIX}a`, 2],
      ['b', `${GROUP_TOPIC_PREFIX}b`, 2],
    ])
    expect(service.unsubscribe('a')).toBe(true)
    expect(service.unsubscribe('a')).toBe(false)
    service.stop()
    expect(stub.subscribed.size).toBe(0)
  })
})
