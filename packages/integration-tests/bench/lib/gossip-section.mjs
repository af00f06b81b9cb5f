// The gossip section of the bench (`gossip` in results/latest.json; `pnpm bench:gossip`,
// or `pnpm bench -- --only gossip`): shard announcements over gossipsub (@nsn/core's
// ShardAnnouncements) on a network of NSN bench nodes, under the wide-area latency
// emulation of src/latency (mode `wan`) or on plain loopback (mode `loopback`).
//
// Figures, each with and without announcements on the SAME network, operations
// interleaved (which mode goes first alternates):
//   - provide to first findable on another node: a provide starts on one node; another
//     node (a seeker) looks it up. With announcements the seeker waits for the
//     announcement to reach its provider cache, then looks up (answered from the cache).
//     Without, the provider's announcer is detached and the seeker looks up over the DHT
//     (limit 1, no cache), again as soon as a lookup comes back empty, until one finds
//     the provider. Measured from the start of the provide to the lookup that found it.
//   - bytes on the wire per announced shard: gossipsub RPC bytes every node sends
//     (protobuf, before Noise and Yamux framing; counted by gossipsub's own
//     `gossipsub_rpc_sent_bytes_total`), while announcements of 1 shard and of 64
//     shards are spread over the network, minus the idle heartbeat traffic of a window of
//     the same length; divided by the shards announced.
//   - CPU per announcement: this process's CPU time (every node runs in it) while the
//     announcements spread, minus the idle window's, per announcement (all nodes' work:
//     relaying, validating, caching) and per node delivery; and a microbenchmark of the
//     subscriber's own work (decode, validate, rate limit, cache) per message.

import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import {
  AnnouncementRateLimiter,
  announcementValidator,
  copyProviderForCache,
  encodeAnnouncement,
  ProviderCache,
  parseShardKey,
  resolveAnnouncementLimits,
  SHARD_ANNOUNCEMENTS_TOPIC,
  ShardAnnouncements,
} from '@nsn/core'
import { announcementPubSub } from '@nsn/core/host'
import { benchKey, createBenchNode } from './nodes.mjs'
import { ratio, sample, seededRandom, settle, summarize } from './stats.mjs'

export const GOSSIP_DEFAULTS = {
  n: 30,
  mode: 'wan',
  /** Provides per mode (with and without announcements). */
  provides: 10,
  /** Announcements of one shard, then of `batchShards` shards, in the bytes/CPU phase. */
  singleAnnouncements: 40,
  batchAnnouncements: 10,
  batchShards: 64,
  /** ms between announcements in the bytes/CPU phase. */
  announceGapMs: 100,
  /** gossipsub's heartbeat, its default. */
  heartbeatMs: 1000,
  microMessages: 20_000,
  /** Length of each idle window (before and after a spread), ms. */
  idleWindowMs: 5_000,
  seed: 2025,
  latencySeed: 13,
  distribution: { kind: 'wan' },
  tableThreshold: 10,
  joinBatch: 10,
}

const sha256 = (bytes) => new Uint8Array(createHash('sha256').update(bytes).digest())
const shardOf = (label, j) => parseShardKey(sha256(`nsn-dht-bench/gossip-shard/${label}/${j}`))
const cpuMs = (usage) => (usage.user + usage.system) / 1000

/** A gossipsub metrics register that counts only the RPC bytes sent (into `sink.bytes`). */
function bytesRegister(sink) {
  const nop = new Proxy(() => {}, { get: () => nop, apply: () => nop })
  const metric = (name) =>
    name === 'gossipsub_rpc_sent_bytes_total'
      ? new Proxy(() => {}, {
          get: (_t, prop) => (prop === 'inc' ? (v = 1) => (sink.bytes += v) : nop),
          apply: () => nop,
        })
      : nop
  return {
    gauge: ({ name }) => metric(name),
    histogram: ({ name }) => metric(name),
    avgMinMax: ({ name }) => metric(name),
  }
}

async function buildNetwork(config, latency, log) {
  const random = seededRandom(config.seed)
  const sink = { bytes: 0 }
  const nodes = []
  const start = performance.now()
  for (let first = 0; first < config.n; first += config.joinBatch) {
    const created = await Promise.all(
      Array.from({ length: Math.min(config.joinBatch, config.n - first) }, async (_, b) => {
        const node = await createBenchNode('nsn', {
          privateKey: await benchKey('gossip', first + b),
          host: {
            profile: 'local',
            gossip: {
              heartbeatInterval: config.heartbeatMs,
              options: { metricsRegister: bytesRegister(sink), metricsTopicStrToLabel: new Map() },
            },
          },
          ...(latency == null ? {} : { latency }),
        })
        node.waiters = new Map()
        node.announcements = new ShardAnnouncements(
          {
            peerId: node.peerId,
            pubsub: announcementPubSub(node.libp2p.services.pubsub),
            addresses: () => node.libp2p.getMultiaddrs(),
            sink: (announcement) => {
              const provider = { peerId: announcement.provider, multiaddrs: announcement.multiaddrs }
              node.routing.cacheAnnounced(announcement.shards, provider, announcement.expiresAt)
              for (const shard of announcement.shards) node.waiters.get(shard)?.()
              node.delivered = (node.delivered ?? 0) + announcement.shards.length
            },
          },
          // the bytes phase sends far more than a provider's rate: the limit is not measured here
          { perPeerPerSecond: 10_000, burst: 10_000 },
        )
        node.announcements.start()
        node.routing.attachAnnouncer((shard, groups) => node.announcements.announce(shard, groups))
        return node
      }),
    )
    const earlier = nodes.length
    nodes.push(...created)
    await Promise.all(
      created.map(async (node, b) => {
        const i = first + b
        if (i === 0) return
        const pool = earlier === 0 ? i : earlier
        const targets = sample(random, pool, Math.min(3, pool)).map((j) => nodes[j].addr)
        await node.bootstrap(targets).catch(() => undefined)
      }),
    )
  }
  const threshold = Math.min(Math.floor(config.n / 2), config.tableThreshold)
  const meshed = () =>
    nodes.every((node) => node.tableSize() >= threshold) &&
    nodes.every((node) => node.announcements.topics()[0].meshPeers >= Math.min(4, config.n - 1))
  const waitStart = performance.now()
  while (!meshed() && performance.now() - waitStart < 60_000) await settle(100)
  const join = {
    joinedMs: performance.now() - start,
    tableSizes: summarize(nodes.map((node) => node.tableSize())),
    meshPeers: summarize(nodes.map((node) => node.announcements.topics()[0].meshPeers)),
    connectionsPerNode: summarize(nodes.map((node) => node.libp2p.getConnections().length)),
  }
  log(
    `  [gossip n=${config.n} ${latency == null ? 'loopback' : 'wan'}] joined in ${(join.joinedMs / 1000).toFixed(1)} s, tables p50 ${join.tableSizes.p50}, mesh peers ${join.meshPeers.min}/${join.meshPeers.p50}/${join.meshPeers.max}`,
  )
  return { nodes, sink, join }
}

/** Resolves when `node`'s sink receives `shard`. */
function announced(node, shard) {
  return new Promise((resolve) => {
    node.waiters.set(shard.hex, () => {
      node.waiters.delete(shard.hex)
      resolve()
    })
  })
}

async function findableWith(provider, seeker, shard) {
  const t0 = performance.now()
  const arrived = announced(seeker, shard)
  const provide = provider.routing.provide(shard.hex)
  await arrived
  const result = await seeker.routing.findProviders(shard.hex, { limit: 1 })
  const findableMs = performance.now() - t0
  const found = result.providers.some((p) => p.peerId.equals(provider.peerId))
  const provided = await provide.then(
    () => performance.now() - t0,
    () => undefined,
  )
  return { findableMs, fromCache: result.fromCache === true, found, provideMs: provided, lookups: 1 }
}

/** An announcement alone (no provide, no DHT work beside it): publication to arrival at the seeker. */
async function arrivalAlone(provider, seeker, shard) {
  const t0 = performance.now()
  const arrived = announced(seeker, shard)
  provider.announcements.announce(shard.hex)
  await arrived
  return performance.now() - t0
}

async function findableWithout(provider, seeker, shard, limitMs = 30_000) {
  provider.routing.attachAnnouncer(undefined)
  const t0 = performance.now()
  let provideMs
  const provide = provider.routing.provide(shard.hex).then(
    () => (provideMs = performance.now() - t0),
    () => undefined,
  )
  let lookups = 0
  let findableMs
  try {
    while (performance.now() - t0 < limitMs) {
      lookups++
      const result = await seeker.routing
        .findProviders(shard.hex, { limit: 1, cache: false })
        .catch(() => ({ providers: [] }))
      if (result.providers.some((p) => p.peerId.equals(provider.peerId))) {
        findableMs = performance.now() - t0
        break
      }
    }
    await provide
  } finally {
    provider.routing.attachAnnouncer((s, groups) => provider.announcements.announce(s, groups))
  }
  return { findableMs, fromCache: false, found: findableMs != null, provideMs, lookups }
}

/** Bytes and CPU of `ms` with nothing announced (gossipsub heartbeats, DHT background). */
async function idleWindow(sink, ms) {
  const bytes = sink.bytes
  const cpu = process.cpuUsage()
  const t0 = performance.now()
  await settle(ms)
  return { bytes: sink.bytes - bytes, cpuMs: cpuMs(process.cpuUsage(cpu)), ms: performance.now() - t0 }
}

/** Announcements spread over the network: bytes and CPU against an idle window of the same length. */
async function spreadPhase(net, config, random, { count, shardsEach, label }) {
  const { nodes, sink } = net
  const expected = count * shardsEach * (nodes.length - 1)
  // an idle window before (heartbeats only), to subtract: with the one after, averaged
  const idleBefore = await idleWindow(sink, config.idleWindowMs)
  const deliveredBefore = nodes.reduce((a, n) => a + (n.delivered ?? 0), 0)
  const bytes0 = sink.bytes
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  for (let i = 0; i < count; i++) {
    const provider = nodes[Math.floor(random() * nodes.length)]
    for (let j = 0; j < shardsEach; j++)
      provider.announcements.announce(shardOf(label, i * shardsEach + j).hex)
    await provider.announcements.flush()
    await settle(config.announceGapMs)
  }
  const delivered = () => nodes.reduce((a, n) => a + (n.delivered ?? 0), 0) - deliveredBefore
  const waitStart = performance.now()
  while (delivered() < expected && performance.now() - waitStart < 30_000) await settle(20)
  // gossip (IHAVE/IWANT) of the last messages goes on for a few heartbeats: counted too
  await settle(3 * config.heartbeatMs)
  const ms = performance.now() - t0
  const bytes = sink.bytes - bytes0
  const cpu = cpuMs(process.cpuUsage(cpu0))
  const idleAfter = await idleWindow(sink, config.idleWindowMs)
  // idle bytes and CPU per ms, the mean of the windows before and after, scaled to the spread
  const idleBytes = ((idleBefore.bytes + idleAfter.bytes) / (idleBefore.ms + idleAfter.ms)) * ms
  const idleCpu = ((idleBefore.cpuMs + idleAfter.cpuMs) / (idleBefore.ms + idleAfter.ms)) * ms
  const shards = count * shardsEach
  return {
    announcements: count,
    shardsEach,
    deliveries: delivered(),
    expectedDeliveries: expected,
    ms,
    bytes,
    idleBytes,
    bytesPerShard: (bytes - idleBytes) / shards,
    bytesPerAnnouncement: (bytes - idleBytes) / count,
    bytesPerShardPerNode: (bytes - idleBytes) / shards / nodes.length,
    cpuMs: cpu,
    idleCpuMs: idleCpu,
    cpuMsPerAnnouncement: (cpu - idleCpu) / count,
    /** Without subtracting the idle CPU: an upper bound, robust to a noisy idle window. */
    cpuMsPerAnnouncementRaw: cpu / count,
    idleCpuPercent: (idleCpu / ms) * 100,
    cpuUsPerDelivery: ((cpu - idleCpu) * 1000) / Math.max(1, count * (nodes.length - 1)),
  }
}

/**
 * gossipsub's own cryptography per message: the author signs once, every node that
 * receives a copy verifies its Ed25519 signature (before NSN's validator runs).
 */
async function signatureCost(config) {
  const key = await generateKeyPair('Ed25519')
  const data = new Uint8Array(230).fill(7)
  const signature = await key.sign(data)
  const rounds = Math.min(2_000, config.microMessages)
  let cpu = process.cpuUsage()
  for (let i = 0; i < rounds; i++) await key.sign(data)
  const signUs = (cpuMs(process.cpuUsage(cpu)) * 1000) / rounds
  cpu = process.cpuUsage()
  for (let i = 0; i < rounds; i++) {
    if (!(await key.publicKey.verify(data, signature))) throw new Error('signature refused')
  }
  const verifyUs = (cpuMs(process.cpuUsage(cpu)) * 1000) / rounds
  return { signUs, verifyUs }
}

/** The subscriber's own work per message (decode, validate, rate limit, cache), no network. */
async function microbench(config, author) {
  const cache = new ProviderCache()
  const limits = resolveAnnouncementLimits({ perPeerPerSecond: 1e9, burst: 1e9 })
  const validate = announcementValidator(limits, new AnnouncementRateLimiter(limits), Date.now, {
    received: () => {},
    rejected: () => {},
    accepted: (_topic, a) => {
      // as ShardRouting.cacheAnnounced: one copy of the provider for every shard
      const provider = copyProviderForCache({ peerId: a.provider, multiaddrs: a.multiaddrs })
      for (const shard of a.shards) cache.addAnnounced(shard, provider, a.expiresAt, true)
    },
  })
  const addrs = [new Uint8Array([4, 127, 0, 0, 1, 6, 0x23, 0x28])]
  const run = (shardsEach) => {
    const messages = Array.from(
      { length: Math.max(1, Math.floor(config.microMessages / shardsEach)) },
      (_, i) => ({
        type: 'signed',
        topic: SHARD_ANNOUNCEMENTS_TOPIC,
        from: author,
        data: encodeAnnouncement({
          shards: Array.from({ length: shardsEach }, (_, j) => shardOf('micro', i * shardsEach + j).bytes),
          provider: author.toMultihash().bytes,
          addrs,
          expiresAt: Date.now() + 60_000,
        }),
      }),
    )
    const encodeStart = process.cpuUsage()
    for (let i = 0; i < 1000; i++)
      encodeAnnouncement({ shards: [], provider: author.toMultihash().bytes, addrs, expiresAt: 1 })
    const encodeUs = (cpuMs(process.cpuUsage(encodeStart)) * 1000) / 1000
    const cpu = process.cpuUsage()
    for (const message of messages) {
      if (validate(author, message) !== 'accept') throw new Error('microbench message refused')
    }
    const us = (cpuMs(process.cpuUsage(cpu)) * 1000) / messages.length
    return {
      shardsEach,
      messages: messages.length,
      bytes: messages[0].data.byteLength,
      usPerMessage: us,
      usPerShard: us / shardsEach,
      encodeUs,
    }
  }
  run(1) // warm up
  return { single: run(1), batch: run(config.batchShards), signature: await signatureCost(config) }
}

/** Runs the section; returns its key of the report. */
export async function runGossipSection(options = {}) {
  const config = { ...GOSSIP_DEFAULTS, ...options }
  const log = options.quiet ? () => {} : (...args) => console.log(...args)
  const latency =
    config.mode === 'wan' ? { seed: config.latencySeed, distribution: config.distribution } : null
  const random = seededRandom(config.seed + 1)
  log(`gossip section: n=${config.n}, ${config.mode}, ${config.provides} provides per mode`)
  const net = await buildNetwork(config, latency, log)
  try {
    const withRuns = []
    const withoutRuns = []
    const aloneMs = []
    for (let i = 0; i < config.provides; i++) {
      const [p, s] = sample(random, net.nodes.length, 2)
      const provider = net.nodes[p]
      const seeker = net.nodes[s]
      const order = i % 2 === 0 ? ['with', 'without'] : ['without', 'with']
      for (const mode of order) {
        const shard = shardOf(`findable-${mode}`, i)
        if (mode === 'with') withRuns.push(await findableWith(provider, seeker, shard))
        else withoutRuns.push(await findableWithout(provider, seeker, shard))
      }
      aloneMs.push(await arrivalAlone(provider, seeker, shardOf('alone', i)))
      log(
        `  provide ${i + 1}/${config.provides}: findable with ${withRuns.at(-1).findableMs.toFixed(0)} ms (an announcement alone ${aloneMs.at(-1).toFixed(0)} ms), without ${withoutRuns.at(-1).findableMs?.toFixed(0) ?? 'never'} ms (${withoutRuns.at(-1).lookups} lookups)`,
      )
    }
    const figures = (runs) => ({
      findableMs: summarize(runs.filter((r) => r.findableMs != null).map((r) => r.findableMs)),
      provideMs: summarize(runs.filter((r) => r.provideMs != null).map((r) => r.provideMs)),
      found: runs.filter((r) => r.found).length / runs.length,
      fromCache: runs.filter((r) => r.fromCache).length / runs.length,
      lookupsPerFind: summarize(runs.map((r) => r.lookups)),
    })
    const withAnnouncements = figures(withRuns)
    const withoutAnnouncements = figures(withoutRuns)
    log('  spreading announcements (bytes, CPU)...')
    const single = await spreadPhase(net, config, random, {
      count: config.singleAnnouncements,
      shardsEach: 1,
      label: 'single',
    })
    const batch = await spreadPhase(net, config, random, {
      count: config.batchAnnouncements,
      shardsEach: config.batchShards,
      label: 'batch',
    })
    const micro = await microbench(config, net.nodes[0].peerId)
    const section = {
      date: new Date().toISOString(),
      config: { ...config, quiet: undefined },
      join: net.join,
      findable: {
        withAnnouncements,
        withoutAnnouncements,
        ratioP50: ratio(withAnnouncements.findableMs.p50, withoutAnnouncements.findableMs.p50),
        ratioP95: ratio(withAnnouncements.findableMs.p95, withoutAnnouncements.findableMs.p95),
        provideRatioP50: ratio(withAnnouncements.provideMs.p50, withoutAnnouncements.provideMs.p50),
        announcementAloneMs: summarize(aloneMs),
      },
      spread: { single, batch },
      micro,
    }
    log(gossipSummary(section))
    return section
  } finally {
    await Promise.allSettled(
      net.nodes.map(async (node) => {
        node.routing.attachAnnouncer(undefined)
        node.announcements.stop()
        await node.stop()
      }),
    )
  }
}

const ms = (v) => (v == null ? '–' : `${v.toFixed(0)} ms`)

/** One paragraph for the console. */
export function gossipSummary(s) {
  const w = s.findable.withAnnouncements
  const wo = s.findable.withoutAnnouncements
  return [
    `gossip (n=${s.config.n}, ${s.config.mode}): provide to first findable p50 ${ms(w.findableMs.p50)} with announcements, ${ms(wo.findableMs.p50)} without (${s.findable.ratioP50?.toFixed(3)}x; p95 ${ms(w.findableMs.p95)} vs ${ms(wo.findableMs.p95)}); ${(w.fromCache * 100).toFixed(0)} % answered from the cache`,
    `  bytes per announced shard: ${s.spread.single.bytesPerShard.toFixed(0)} B (1 shard per announcement), ${s.spread.batch.bytesPerShard.toFixed(0)} B (${s.spread.batch.shardsEach} per announcement), network-wide over ${s.config.n} nodes`,
    `  CPU per announcement (all ${s.config.n} nodes, idle subtracted / raw): ${s.spread.single.cpuMsPerAnnouncement.toFixed(2)} / ${s.spread.single.cpuMsPerAnnouncementRaw.toFixed(2)} ms (1 shard), ${s.spread.batch.cpuMsPerAnnouncement.toFixed(2)} / ${s.spread.batch.cpuMsPerAnnouncementRaw.toFixed(2)} ms (${s.spread.batch.shardsEach} shards); subscriber work ${s.micro.single.usPerMessage.toFixed(1)} us/message (1 shard), ${s.micro.batch.usPerShard.toFixed(2)} us/shard (batched); Ed25519 sign ${s.micro.signature.signUs.toFixed(0)} us, verify ${s.micro.signature.verifyUs.toFixed(0)} us`,
  ].join('\n')
}

/** The section as a markdown chapter of latest.md. */
export function gossipMarkdown(s) {
  const w = s.findable.withAnnouncements
  const wo = s.findable.withoutAnnouncements
  const row = (label, a, b, r = '') => `| ${label} | ${a} | ${b} | ${r} |`
  return `
## Shard announcements over gossipsub (${s.date})

${s.config.n} NSN nodes, ${s.config.mode === 'wan' ? `wide-area latency (src/latency, seed ${s.config.latencySeed})` : 'loopback'}, gossipsub heartbeat ${s.config.heartbeatMs} ms; ${s.config.provides} provides per mode, interleaved, on the same network.

| figure | with announcements | without (DHT only) | with/without |
| --- | --- | --- | --- |
${[
  row(
    'provide to first findable on another node p50',
    ms(w.findableMs.p50),
    ms(wo.findableMs.p50),
    `${s.findable.ratioP50?.toFixed(3)}x`,
  ),
  row(
    'provide to first findable p95',
    ms(w.findableMs.p95),
    ms(wo.findableMs.p95),
    `${s.findable.ratioP95?.toFixed(3)}x`,
  ),
  row(
    'provide p50 (records confirmed)',
    ms(w.provideMs.p50),
    ms(wo.provideMs.p50),
    `${s.findable.provideRatioP50?.toFixed(3)}x`,
  ),
  row(
    'announcement alone (no provide beside it): publication to arrival p50',
    ms(s.findable.announcementAloneMs.p50),
    '–',
  ),
  row('lookups until found (mean)', w.lookupsPerFind.mean?.toFixed(1), wo.lookupsPerFind.mean?.toFixed(1)),
  row(
    'answered from the provider cache',
    `${(w.fromCache * 100).toFixed(0)} %`,
    `${(wo.fromCache * 100).toFixed(0)} %`,
  ),
].join('\n')}

| spread phase | announcements | shards each | gossipsub bytes per shard (network-wide) | per shard per node | CPU per announcement (all nodes; idle subtracted / raw) | CPU per delivery (idle subtracted) |
| --- | --- | --- | --- | --- | --- | --- |
${[s.spread.single, s.spread.batch]
  .map(
    (p) =>
      `| ${p.shardsEach === 1 ? 'single' : 'batched'} | ${p.announcements} | ${p.shardsEach} | ${p.bytesPerShard.toFixed(0)} B | ${p.bytesPerShardPerNode.toFixed(1)} B | ${p.cpuMsPerAnnouncement.toFixed(2)} / ${p.cpuMsPerAnnouncementRaw.toFixed(2)} ms | ${p.cpuUsPerDelivery.toFixed(0)} us |`,
  )
  .join('\n')}

Subscriber work per message (decode, validate, rate limit, cache; no network): ${s.micro.single.usPerMessage.toFixed(1)} us for 1 shard (${s.micro.single.bytes} B), ${s.micro.batch.usPerMessage.toFixed(1)} us for ${s.micro.batch.shardsEach} shards (${s.micro.batch.bytes} B, ${s.micro.batch.usPerShard.toFixed(2)} us per shard). gossipsub's Ed25519 signature (\`@libp2p/crypto\`): ${s.micro.signature.signUs.toFixed(0)} us to sign (once per announcement), ${s.micro.signature.verifyUs.toFixed(0)} us to verify (on every node, per copy received).
`
}
