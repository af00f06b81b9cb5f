/**
 * Test harness for NSN DHT nodes in one process, over real TCP on 127.0.0.1. Other
 * packages' tests reuse it through `@nsn/core/testing`. It needs the optional peer
 * dependencies `libp2p`, `@libp2p/tcp`, `@chainsafe/libp2p-noise`,
 * `@chainsafe/libp2p-yamux`, `@libp2p/identify` and `@libp2p/ping`.
 *
 * @packageDocumentation
 */

import { randomInt } from 'node:crypto'
import { identify } from '@libp2p/identify'
import type { ConnectionGater, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Datastore } from 'interface-datastore'
import { createLibp2p } from 'libp2p'
import { NSN_DHT_PROTOCOL } from './constants.js'
import { createNsnHost, nsnHostOptions } from './host.js'
import type { NsnKadDHTInit } from './kad-dht-service.js'
import { ShardRouting, type ShardRoutingInit, type ShardRoutingLibp2p } from './routing.js'

export interface TestNodeOptions {
  dht?: NsnKadDHTInit
  routing?: ShardRoutingInit
  datastore?: Datastore
  /** libp2p's connection gater (a test that must keep some peers from dialling this node). */
  connectionGater?: ConnectionGater
  /** Start ShardRouting too (default true). */
  startRouting?: boolean
  /** The node's identity (default: a new random one); a seeded key gives a test a known keyspace. */
  privateKey?: PrivateKey
}

export interface TestNode {
  libp2p: ShardRoutingLibp2p
  routing: ShardRouting
  /** The node's first TCP listen address (with /p2p/). */
  addr: Multiaddr
  stop(): Promise<void>
}

/** Starts one DHT node on 127.0.0.1 with a random port. */
export async function createTestNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const libp2p: ShardRoutingLibp2p = await createNsnHost({
    profile: 'local',
    dht: options.dht,
    datastore: options.datastore,
    connectionGater: options.connectionGater,
    ...(options.privateKey == null ? {} : { privateKey: options.privateKey }),
  })
  const routing = new ShardRouting(libp2p, options.routing)
  if (options.startRouting !== false) await routing.start()
  const addr = libp2p.getMultiaddrs()[0]
  if (addr == null) throw new Error('test node has no listen address')
  return {
    libp2p,
    routing,
    addr,
    async stop() {
      await routing.stop()
      await libp2p.stop()
    },
  }
}

/** kad-dht's self-query kept out of the way (hourly), so only the queries under test talk to peers. */
export const QUIET_SELF_QUERY = { initialQuerySelfInterval: 3_600_000, querySelfInterval: 3_600_000 } as const

/**
 * Starts a test node whose routing table holds `peer` only: dialled, and awaited in the
 * table (kad-dht admits a peer after a ping).
 */
export async function createNodeWithOnlyPeer(
  peer: { addr: Multiaddr },
  options: TestNodeOptions = {},
): Promise<TestNode> {
  const node = await createTestNode(options)
  try {
    await node.libp2p.dial(peer.addr)
    await waitFor(() => node.routing.routingTableSize() === 1, {
      on: routingTableEvents(node.libp2p),
      what: 'the peer in the routing table',
    })
  } catch (err) {
    await node.stop()
    throw err
  }
  return node
}

/** Starts `count` unconnected nodes at once; if one fails to start, stops the others. */
export async function createTestNetwork(count: number, options: TestNodeOptions = {}): Promise<TestNode[]> {
  const started = await Promise.allSettled(Array.from({ length: count }, () => createTestNode(options)))
  const nodes = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed != null) {
    await stopAll(nodes)
    throw failed.reason
  }
  return nodes
}

/** Stops every node, whatever fails. */
export async function stopAll(nodes: Array<{ stop(): Promise<void> }>): Promise<void> {
  const results = await Promise.allSettled(nodes.map((node) => node.stop()))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed != null) throw failed.reason
}

/**
 * An NSN host without its DHT service (identify and ping only) on a free 127.0.0.1 port:
 * what tests build attackers and fake DHT peers from.
 */
export async function createHostWithoutDht(init: { privateKey?: PrivateKey } = {}): Promise<Libp2p> {
  const { services: _, ...host } = nsnHostOptions({ profile: 'local', privateKey: init.privateKey })
  return createLibp2p({ ...host, services: { identify: identify(), ping: ping() } })
}

/** A host that handles the NSN DHT protocol itself, with a handler a test gives. */
export interface FakeDhtPeer {
  libp2p: Libp2p
  addr: Multiaddr
  /** Every DHT stream it accepted, with its arrival time. */
  readonly streams: Array<{ stream: Stream; at: number }>
  /** Dispatches `stream` as each DHT stream arrives. */
  readonly events: EventTarget
  /** Aborts every stream it accepted, then stops the host. */
  stop(): Promise<void>
}

/**
 * Starts a {@link FakeDhtPeer} whose DHT streams go to `onStream`; a stream whose handler
 * throws is aborted.
 */
export async function createFakeDhtPeer(
  onStream: (stream: Stream) => void | Promise<void>,
  { protocol = NSN_DHT_PROTOCOL }: { protocol?: string } = {},
): Promise<FakeDhtPeer> {
  const libp2p = await createHostWithoutDht()
  const streams: FakeDhtPeer['streams'] = []
  const events = new EventTarget()
  await libp2p.handle(
    protocol,
    async (stream) => {
      streams.push({ stream, at: Date.now() })
      events.dispatchEvent(new Event('stream'))
      try {
        await onStream(stream)
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      }
    },
    { maxInboundStreams: 1024 },
  )
  const addr = libp2p.getMultiaddrs()[0]
  if (addr == null) throw new Error('fake DHT peer has no listen address')
  return {
    libp2p,
    addr,
    streams,
    events,
    async stop() {
      for (const { stream } of streams) stream.abort(new Error('fake DHT peer stopping'))
      await libp2p.stop()
    },
  }
}

/** A peer that speaks identify and ping, accepts the NSN DHT protocol, and never answers on it. */
export type SilentPeer = FakeDhtPeer

/**
 * Starts a {@link SilentPeer} on 127.0.0.1. With `reset: true` it resets every DHT
 * stream at once instead (a peer that fails fast rather than hanging).
 */
export function createSilentPeer({
  protocol = NSN_DHT_PROTOCOL,
  reset = false,
}: {
  protocol?: string
  reset?: boolean
} = {}): Promise<SilentPeer> {
  return createFakeDhtPeer(
    (stream) => {
      if (reset) stream.abort(new Error('silent peer resets DHT streams'))
    },
    { protocol },
  )
}

/** Something whose events may change what a {@link waitFor} checks. */
export interface WaitEvents {
  /** An `EventTarget` (libp2p, kad-dht's routing table) or a Node `EventEmitter`. */
  target: EventTarget | EmitterLike
  events: readonly string[]
}

/** The part of a Node `EventEmitter` that {@link waitFor} listens with. */
export interface EmitterLike {
  on(event: string, listener: () => void): unknown
  off(event: string, listener: () => void): unknown
}

export interface WaitForOptions {
  /** What is awaited, for the error; a function is read when the wait fails (the state then). */
  what?: string | (() => string)
  /** Default {@link WAIT_TIMEOUT_MS}. */
  timeoutMs?: number
  /** Events that re-check the predicate: the wait re-checks only on them unless `pollMs` is given. */
  on?: WaitEvents | readonly WaitEvents[]
  /**
   * Re-checks every `pollMs` too: the fallback where no event tells of a change (a
   * datastore, a child process behind HTTP). Default {@link WAIT_POLL_MS} without `on`,
   * no polling with it.
   */
  pollMs?: number
}

/** What {@link waitFor} fails with past its limit. */
export class WaitTimeoutError extends Error {
  override name = 'WaitTimeoutError'
}

/** How long {@link waitFor} waits by default. */
export const WAIT_TIMEOUT_MS = 10_000
/** How often {@link waitFor} polls where no event is given. */
export const WAIT_POLL_MS = 50

/**
 * Resolves when `predicate` holds: checked at once, then again on every event of `on`
 * (and every `pollMs` where no event exists). Fails past `timeoutMs` with an error that
 * names what it waited for, for how long, and what re-checked it; a predicate that
 * throws fails the wait with its error.
 */
export function waitFor(
  predicate: () => boolean | Promise<boolean>,
  options: WaitForOptions = {},
): Promise<void> {
  const { timeoutMs = WAIT_TIMEOUT_MS, what = 'condition' } = options
  const sources: readonly WaitEvents[] =
    options.on == null ? [] : 'target' in options.on ? [options.on] : options.on
  const pollMs = options.pollMs ?? (sources.length === 0 ? WAIT_POLL_MS : undefined)
  const triggers = [
    ...new Set(sources.flatMap((s) => s.events)),
    ...(pollMs == null ? [] : [`a poll every ${pollMs} ms`]),
  ]
  return new Promise<void>((resolve, reject) => {
    const cleanups: Array<() => void> = []
    let settled = false
    let checking = false
    let again = false
    const finish = (error?: unknown): void => {
      if (settled) return
      settled = true
      for (const cleanup of cleanups) cleanup()
      if (error === undefined) resolve()
      else reject(error)
    }
    const check = (): void => {
      if (settled) return
      if (checking) {
        again = true // an event arrived during an asynchronous check: check once more after it
        return
      }
      checking = true
      again = false
      Promise.resolve()
        .then(predicate)
        .then(
          (holds) => {
            checking = false
            if (holds) finish()
            else if (again) check()
          },
          (err: unknown) => {
            checking = false
            finish(err)
          },
        )
    }
    for (const { target, events } of sources) {
      for (const event of events) {
        if ('addEventListener' in target) {
          target.addEventListener(event, check)
          cleanups.push(() => target.removeEventListener(event, check))
        } else {
          target.on(event, check)
          cleanups.push(() => target.off(event, check))
        }
      }
    }
    if (pollMs != null) {
      const poll = setInterval(check, pollMs)
      cleanups.push(() => clearInterval(poll))
    }
    const timer = setTimeout(() => {
      const described = typeof what === 'function' ? what() : what
      finish(
        new WaitTimeoutError(
          `timed out after ${timeoutMs} ms waiting for ${described} (re-checked on ${triggers.join(', ') || 'nothing'})`,
        ),
      )
    }, timeoutMs)
    cleanups.push(() => clearTimeout(timer))
    check()
  })
}

/**
 * The window a negative assertion needs: resolves when `predicate` stayed false for
 * `forMs`, fails as soon as it holds (re-checked on `on`'s events, or polled).
 */
export async function expectNever(
  predicate: () => boolean | Promise<boolean>,
  options: { forMs: number; what: string; on?: WaitForOptions['on']; pollMs?: number },
): Promise<void> {
  const { forMs, what, ...rest } = options
  const happened = await waitFor(predicate, { ...rest, timeoutMs: forMs, what }).then(
    () => true,
    (err: unknown) => {
      if (err instanceof WaitTimeoutError) return false
      throw err
    },
  )
  if (happened) throw new Error(`${what} happened within ${forMs} ms`)
}

/** The routing table of a node built with `nsnKadDHT`: its peer:add and peer:remove. */
export function routingTableEvents(libp2p: ShardRoutingLibp2p): WaitEvents {
  const dht = libp2p.services.dht as unknown as { routingTable: EventTarget }
  return { target: dht.routingTable, events: ['peer:add', 'peer:remove'] }
}

/** libp2p's connection:open and connection:close. */
export function connectionEvents(libp2p: Libp2p): WaitEvents {
  return { target: libp2p, events: ['connection:open', 'connection:close'] }
}

/** A silent peer's `stream` arrivals. */
export function silentPeerEvents(silent: SilentPeer): WaitEvents {
  return { target: silent.events, events: ['stream'] }
}

/** Both: what changes a node's routing table or its connections. */
export function nodeEvents(node: { libp2p: ShardRoutingLibp2p }): WaitEvents[] {
  return [routingTableEvents(node.libp2p), connectionEvents(node.libp2p)]
}

/** A seeded pseudo-random source for the choices tests make (mulberry32). */
export interface SeededRandom {
  readonly seed: number
  /** A float in [0, 1). */
  next(): number
  /** An integer in [0, n). */
  int(n: number): number
  /** One item of a non-empty list. */
  pick<T>(items: readonly T[]): T
  /** `count` distinct items (all of them when there are fewer), in random order. */
  sample<T>(items: readonly T[], count: number): T[]
  /** `length` random bytes. */
  bytes(length: number): Uint8Array
}

/** A {@link SeededRandom} from `seed` (a 32-bit unsigned integer): the same seed gives the same choices. */
export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  return {
    seed: seed >>> 0,
    next,
    int,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('cannot pick from an empty list')
      return items[int(items.length)] as T
    },
    sample<T>(items: readonly T[], count: number): T[] {
      const pool = [...items]
      const picked: T[] = []
      while (picked.length < count && pool.length > 0) picked.push(pool.splice(int(pool.length), 1)[0] as T)
      return picked
    },
    bytes(length: number): Uint8Array {
      const out = new Uint8Array(length)
      for (let i = 0; i < length; i++) out[i] = int(256)
      return out
    },
  }
}

/** The environment variable that replays a run's random choices. */
export const TEST_SEED_ENV = 'NSN_TEST_SEED'

let drawnSeed: number | undefined

/**
 * The seed of this test file's random choices: `NSN_TEST_SEED` when set (to replay a
 * failed run), else one drawn once. Print it when a test fails: {@link seedMessage}.
 */
export function testSeed(): number {
  const fromEnv = process.env[TEST_SEED_ENV]
  if (fromEnv != null && fromEnv !== '') {
    const seed = Number(fromEnv)
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
      throw new Error(`${TEST_SEED_ENV} must be an integer in [0, 2^32), got "${fromEnv}"`)
    }
    return seed
  }
  drawnSeed ??= randomInt(0x1_0000_0000)
  return drawnSeed
}

/** The line a failed test prints so that its random choices can be replayed. */
export function seedMessage(seed = testSeed()): string {
  return `random choices of this test were seeded with ${seed}: replay them with ${TEST_SEED_ENV}=${seed}`
}
