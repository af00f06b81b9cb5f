import type { GossipSub } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import {
  ANNOUNCEMENT_MAX_BYTES,
  encodeAnnouncement,
  parseShardKey,
  SHARD_ANNOUNCEMENTS_TOPIC,
  type ShardKey,
} from '@nsn/core'
import { nsnHostOptions } from '@nsn/core/host'
import { createLibp2p, type Libp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { api, type HarnessNode, Network, waitFor } from '../src/harness/index.js'

/** Shrunk gossipsub intervals: the mesh forms and scores decay within the test's seconds. */
const GOSSIP = { heartbeatInterval: 100, batchWindow: 10 }
const SIZE = 20

let shardCounter = 0
function freshShard(): ShardKey {
  shardCounter++
  return parseShardKey(shardCounter.toString(16).padStart(8, '0').repeat(8))
}

function pubsubOf(node: HarnessNode): GossipSub {
  const pubsub = (node.node.libp2p as unknown as { services: { pubsub?: GossipSub } }).services.pubsub
  if (pubsub == null) throw new Error(`${node.name} has no pubsub`)
  return pubsub
}

function heartbeats(pubsub: GossipSub) {
  return { target: pubsub, events: ['gossipsub:heartbeat', 'gossipsub:graft', 'subscription-change'] }
}

/** A bare host with gossipsub (no DHT): it talks to its victim only, over gossip. */
async function attacker(victim: HarnessNode): Promise<Libp2p<{ pubsub: GossipSub }>> {
  const options = nsnHostOptions({
    profile: 'local',
    gossip: { heartbeatInterval: GOSSIP.heartbeatInterval },
  })
  const { dht: _dht, ...services } = options.services as Record<string, unknown>
  const host = (await createLibp2p({ ...options, services } as never)) as Libp2p<{ pubsub: GossipSub }>
  host.services.pubsub.subscribe(SHARD_ANNOUNCEMENTS_TOPIC)
  await host.dial(victim.node.libp2p.getMultiaddrs()[0]!)
  await waitFor(
    () => host.services.pubsub.getSubscribers(SHARD_ANNOUNCEMENTS_TOPIC).some((p) => p.equals(victim.peerId)),
    { on: heartbeats(host.services.pubsub), what: 'the attacker to see the victim subscribed' },
  )
  return host
}

function announcement(
  author: PeerId,
  shards: ShardKey[],
  fields: { expiresAt?: number; provider?: Uint8Array } = {},
) {
  return encodeAnnouncement({
    shards: shards.map((s) => s.bytes),
    provider: fields.provider ?? author.toMultihash().bytes,
    addrs: [],
    expiresAt: fields.expiresAt ?? Date.now() + 30_000,
  })
}

describe('shard announcements over gossipsub (20 nodes)', () => {
  let network: Network
  const attackers: Array<Libp2p<{ pubsub: GossipSub }>> = []

  beforeAll(async () => {
    // nodes bootstrap in the background (no wait per node): the 20 joins overlap
    network = await Network.start(SIZE, {
      node: { gossip: true, announcements: GOSSIP, waitForBootstrap: false, refreshInterval: 0 },
    })
    await network.waitForTables(3, { timeoutMs: 60_000 })
    // every node has mesh peers on the network-wide topic
    await waitFor(
      () => network.nodes.every((n) => (n.node.announcements?.topics()[0]?.meshPeers ?? 0) >= 2),
      {
        on: network.nodes.map((n) => heartbeats(pubsubOf(n))),
        timeoutMs: 60_000,
        what: () =>
          `meshes of 2+ (now ${network.nodes.map((n) => n.node.announcements?.topics()[0]?.meshPeers).join(' ')})`,
      },
    )
    // a bound for a loaded machine (8 test runs at once on 2 cores); about 10 s when idle
  }, 120_000)

  afterAll(async () => {
    await Promise.allSettled(attackers.map((a) => a.stop()))
    await network?.close()
  })

  const received = (node: HarnessNode, topic = SHARD_ANNOUNCEMENTS_TOPIC) =>
    node.metric('nsn_p2p_gossipsub_messages_received_total', { topic })
  const rejected = (node: HarnessNode, reason: string) =>
    node.metric('nsn_p2p_gossipsub_messages_rejected_total', { reason })

  it('a shard provided on one node is answered from the cache on every subscribed node', async () => {
    const provider = network.nodes[0]!
    const shard = freshShard()
    // the DHT half of the provide is not what this test is about (lookup.test.ts is): on a
    // loaded machine it may fail to get confirmations; it must only have ended (settled at
    // once, so an early failure is no unhandled rejection)
    const provided = Promise.allSettled([provider.node.provide(shard.hex)])
    const others = network.nodes.slice(1)
    // every other node caches the provider from the announcement (each relays it on)
    await waitFor(() => others.every((n) => n.node.routing.isCached(shard.hex)), {
      on: others.map((n) => heartbeats(pubsubOf(n))),
      what: () =>
        `the announcement on every node (cached on ${others.filter((n) => n.node.routing.isCached(shard.hex)).length})`,
    })
    const seeker = network.nodes[SIZE - 1]!
    const found = await seeker.node.findProviders(shard.hex)
    expect(found.fromCache).toBe(true)
    expect(found.providers.map((p) => p.peerId.toString())).toEqual([provider.peerId.toString()])
    expect(found.providers[0]!.multiaddrs.length).toBeGreaterThan(0)
    expect(
      await provider.metric('nsn_p2p_gossipsub_messages_published_total', {
        topic: SHARD_ANNOUNCEMENTS_TOPIC,
      }),
    ).toBe(1)
    expect(await received(seeker)).toBeGreaterThanOrEqual(1)
    await provided
  })

  it('group topics: subscribed, listed and left through the API; a provide announced on a group reaches its subscribers', async () => {
    const member = network.nodes[7]!
    const { api: address } = member.node.addresses()
    const put = await api(address, 'PUT', '/v1/topics/video-42')
    expect(put.status).toBe(201)
    expect((await api(address, 'PUT', '/v1/topics/video-42')).status).toBe(200)
    expect((await api(address, 'PUT', '/v1/topics/bad%20name')).status).toBe(400)
    const list = (await api(address, 'GET', '/v1/topics')).body as {
      topics: Array<{ group: string | null; topic: string }>
    }
    expect(list.topics.map((t) => t.group)).toEqual([null, 'video-42'])
    expect(list.topics[1]!.topic).toBe('/nsn/shards/1/group/video-42')

    const provider = network.nodes[2]!
    const topic = '/nsn/shards/1/group/video-42'
    // gossipsub tells a subscription only to directly connected peers: the member and the
    // provider must be connected (NSN's lookups, which end once the 3 closest answered,
    // no longer dial most of a 20-node network, as kad-dht's exhaustive queries did)
    await member.node.libp2p.dial(provider.node.libp2p.getMultiaddrs()[0]!)
    // the provider learns of the member's subscription before it publishes
    await waitFor(
      () =>
        pubsubOf(provider)
          .getSubscribers(topic)
          .some((p) => p.equals(member.peerId)),
      {
        on: heartbeats(pubsubOf(provider)),
        what: 'the group subscription to reach the provider',
      },
    )
    const shard = freshShard()
    const provided = Promise.allSettled([provider.node.provide(shard.hex, { groups: ['video-42'] })])
    await waitFor(async () => (await received(member, topic)) >= 1, {
      on: heartbeats(pubsubOf(member)),
      what: 'the group announcement at the member',
    })
    await provided

    expect((await api(address, 'DELETE', '/v1/topics/video-42')).status).toBe(200)
    expect((await api(address, 'DELETE', '/v1/topics/video-42')).status).toBe(404)
    expect((await api(address, 'GET', '/v1/topics/video-42')).status).toBe(404)
  })

  it.each([
    [
      'oversized',
      (author: PeerId, shard: ShardKey) => {
        const bytes = new Uint8Array(ANNOUNCEMENT_MAX_BYTES + 1)
        bytes.set(announcement(author, [shard]))
        return bytes
      },
    ],
    [
      'expired',
      (author: PeerId, shard: ShardKey) => announcement(author, [shard], { expiresAt: Date.now() - 1_000 }),
    ],
    [
      'expiry_too_far',
      (author: PeerId, shard: ShardKey) =>
        announcement(author, [shard], { expiresAt: Date.now() + 24 * 3600_000 }),
    ],
    [
      'wrong_provider',
      (author: PeerId, shard: ShardKey) =>
        announcement(author, [shard], { provider: network.nodes[1]!.peerId.toMultihash().bytes }),
    ],
    ['malformed', () => Uint8Array.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])],
  ] as const)('rejects an %s announcement: counted by reason, never cached', async (reason, make) => {
    const victim = network.nodes[4]!
    const host = await attacker(victim)
    attackers.push(host)
    const shard = freshShard()
    const before = await rejected(victim, reason)
    await host.services.pubsub.publish(SHARD_ANNOUNCEMENTS_TOPIC, make(host.peerId, shard))
    await waitFor(async () => (await rejected(victim, reason)) > before, {
      on: heartbeats(pubsubOf(victim)),
      what: `a ${reason} rejection at the victim`,
    })
    expect(victim.node.routing.isCached(shard.hex)).toBe(false)
    expect(network.nodes.some((n) => n.node.routing.isCached(shard.hex))).toBe(false)
    await host.stop()
  })

  it('a peer that spams announcements is scored out (graylisted) and its announcements stop reaching the cache', async () => {
    const victim = network.nodes[9]!
    const spammer = await attacker(victim)
    attackers.push(spammer)
    const victimPubsub = pubsubOf(victim) as GossipSub & {
      getScore(id: string): number
      handleReceivedRpc(from: PeerId, rpc: { messages?: Array<{ data?: Uint8Array }> }): Promise<void>
    }
    const id = spammer.peerId.toString()
    // valid announcements, far past the rate limit (40 at once, 20 a second)
    const spam = Array.from({ length: 150 }, () => freshShard())
    const before = await rejected(victim, 'rate_limited')
    const started = performance.now()
    for (const shard of spam)
      await spammer.services.pubsub.publish(SHARD_ANNOUNCEMENTS_TOPIC, announcement(spammer.peerId, [shard]))
    await waitFor(() => victimPubsub.getScore(id) < -80, {
      on: heartbeats(victimPubsub),
      what: () => `the spammer's score below the graylist threshold (now ${victimPubsub.getScore(id)})`,
    })
    expect(await rejected(victim, 'rate_limited')).toBeGreaterThan(before)
    // the first ones, within the burst (40) and what the rate (20/s) refilled meanwhile,
    // were cached; the rate limit cut the rest
    const seconds = (performance.now() - started) / 1000
    const cached = spam.filter((s) => victim.node.routing.isCached(s.hex)).length
    expect(cached).toBeLessThanOrEqual(40 + Math.ceil(20 * seconds))
    expect(cached).toBeLessThan(spam.length / 2)

    // graylisted: its next announcement is dropped unread. Watched where gossipsub reads
    // an RPC (handleReceivedRpc checks acceptFrom first): the spammer's score when the RPC
    // carrying that announcement arrives, and whether it reached the cache
    const late = freshShard()
    const payload = announcement(spammer.peerId, [late])
    let scoreAtArrival: number | undefined
    const handle = victimPubsub.handleReceivedRpc.bind(victimPubsub)
    victimPubsub.handleReceivedRpc = async (from, rpc) => {
      if (
        from.toString() === id &&
        rpc.messages?.some((m) => m.data != null && Buffer.from(m.data).equals(Buffer.from(payload)))
      ) {
        scoreAtArrival = victimPubsub.getScore(id)
      }
      return handle(from, rpc)
    }
    try {
      await spammer.services.pubsub.publish(SHARD_ANNOUNCEMENTS_TOPIC, payload).catch(() => undefined)
      await waitFor(() => scoreAtArrival != null, {
        on: heartbeats(victimPubsub),
        pollMs: 20,
        what: "the spammer's late announcement at the victim",
      })
      expect(scoreAtArrival).toBeLessThan(-80)
      expect(victim.node.routing.isCached(late.hex)).toBe(false)
      expect(network.nodes.some((n) => n.node.routing.isCached(late.hex))).toBe(false)
    } finally {
      victimPubsub.handleReceivedRpc = handle
    }
  })
})
