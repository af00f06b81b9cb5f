/**
 * A libp2p transport wrapper that emulates wide-area round-trip times on a real transport
 * (`@libp2p/tcp` on loopback in the bench):
 *
 * - every connection between two emulated nodes gets the RTT of their unordered pair
 *   ({@link pairRtt}: seeded, the same in both directions and in every run);
 * - each end delays what it writes by half the RTT ({@link DelayLine}: a per-connection
 *   FIFO, each chunk released at `sent + rtt / 2`, never reordered; graceful closes and
 *   resets travel behind the data), so a request and its answer cost one RTT;
 * - a dial resolves one RTT later than the socket would (the TCP handshake); Noise, Yamux
 *   and multistream-select pay their round trips through the delayed data path.
 *
 * The pair is identified from the dialled address (its `/p2p/` peer id, or the node that
 * registered the listening port) on the dialling side, and from the remote port of the
 * accepted socket on the listening side, which the dialler registers as soon as it is
 * connected ({@link PortRegistry}). Both ends must therefore be emulated nodes of one
 * process; a connection whose pair cannot be told gets an RTT drawn for the address and
 * is counted (`registry.counts.unmatched*`).
 *
 * @example
 * ```ts
 * import { tcp } from '@libp2p/tcp'
 * const transports = [latencyTransport(tcp(), { seed: 1 })]
 * ```
 *
 * @packageDocumentation
 */

import type {
  Connection,
  CreateListenerOptions,
  DialTransportOptions,
  Listener,
  MultiaddrConnection,
  PeerId,
  Transport,
  Upgrader,
} from '@libp2p/interface'
import { serviceCapabilities, transportSymbol } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { type ChunkList, DelayLine } from './delay-line.js'
import { InvalidLatencyOptionError, UnsupportedConnectionError } from './errors.js'
import { defaultPortRegistry, endpointKey, type PortRegistry } from './port-registry.js'
import { checkRttDistribution, DEFAULT_RTT_DISTRIBUTION, pairRtt, type RttDistribution } from './rtt-model.js'

/** Queued bytes per connection above which writers are asked to wait (a 1 Gbit/s x 250 ms window). */
export const DEFAULT_HIGH_WATER_MARK = 32 * 1024 * 1024

/** How long the listening side waits for the dialler to register its port, ms. */
export const DEFAULT_DIALLER_WAIT_MS = 2_000

/** Options of {@link latencyTransport}. */
export interface LatencyOptions {
  /** Seed of the RTT draws: the same seed gives every pair the same RTT. */
  seed: number | string
  /** How RTTs are drawn. Default {@link DEFAULT_RTT_DISTRIBUTION} (`wan`). */
  distribution?: RttDistribution
  /** Endpoint registry shared by both ends. Default: the process-wide {@link defaultPortRegistry}. */
  registry?: PortRegistry
  /** See {@link DEFAULT_HIGH_WATER_MARK}. */
  highWaterMark?: number
  /** See {@link DEFAULT_DIALLER_WAIT_MS}. */
  diallerWaitMs?: number
}

/** The components the wrapper itself needs (libp2p passes all of them to the inner transport too). */
export interface LatencyTransportComponents {
  peerId: PeerId
}

/** The parts of libp2p's `AbstractMultiaddrConnection` the wrapper patches. */
interface DelayableConnection {
  sendData(data: ChunkList): { sentBytes: number; canSendMore: boolean }
  sendClose(options?: { signal?: AbortSignal }): Promise<void>
  sendReset(err: Error): void
  addEventListener(type: 'close', listener: () => void, options?: { once?: boolean }): void
  dispatchEvent(event: Event): boolean
  remoteAddr: Multiaddr
  socket?: { localAddress?: string; localPort?: number }
}

function isDelayable(maConn: unknown): maConn is DelayableConnection {
  const c = maConn as Partial<DelayableConnection> | null
  return (
    typeof c?.sendData === 'function' &&
    typeof c.sendClose === 'function' &&
    typeof c.sendReset === 'function' &&
    typeof c.addEventListener === 'function'
  )
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted()
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The IP (or DNS name) and TCP port of an address, if it has both. */
function hostPort(ma: Multiaddr): { host: string; port: number } | undefined {
  const components = ma.getComponents()
  const host = components.find((c) => ['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(c.name))?.value
  const port = Number(components.find((c) => c.name === 'tcp')?.value)
  return host == null || !Number.isInteger(port) ? undefined : { host, port }
}

function peerIdOf(ma: Multiaddr): string | undefined {
  return ma.getComponents().findLast((c) => c.name === 'p2p')?.value
}

/** An upgrader calling `upgrader`'s own methods (bound: it may keep private state) except those overridden. */
function delegate(upgrader: Upgrader, overrides: Partial<Upgrader>): Upgrader {
  return {
    upgradeOutbound: (maConn: MultiaddrConnection, opts: never) => upgrader.upgradeOutbound(maConn, opts),
    upgradeInbound: (maConn: MultiaddrConnection, opts: never) => upgrader.upgradeInbound(maConn, opts),
    createInboundAbortSignal: (signal) => upgrader.createInboundAbortSignal(signal),
    getStreamMuxers: () => upgrader.getStreamMuxers(),
    getConnectionEncrypters: () => upgrader.getConnectionEncrypters(),
    ...overrides,
  } as Upgrader
}

class LatencyTransport implements Transport {
  readonly [transportSymbol] = true as const
  readonly #tag: string
  readonly [serviceCapabilities]: string[]
  readonly listenFilter: Transport['listenFilter']
  readonly dialFilter: Transport['dialFilter']
  readonly #inner: Transport
  readonly #self: string
  readonly #seed: number | string
  readonly #distribution: RttDistribution
  readonly #registry: PortRegistry
  readonly #highWaterMark: number
  readonly #diallerWaitMs: number

  constructor(inner: Transport, self: string, options: LatencyOptions) {
    this.#inner = inner
    this.#self = self
    this.#seed = options.seed
    this.#distribution = checkRttDistribution(options.distribution ?? DEFAULT_RTT_DISTRIBUTION)
    this.#registry = options.registry ?? defaultPortRegistry
    this.#highWaterMark = options.highWaterMark ?? DEFAULT_HIGH_WATER_MARK
    this.#diallerWaitMs = options.diallerWaitMs ?? DEFAULT_DIALLER_WAIT_MS
    this.#tag = `latency(${inner[Symbol.toStringTag]})`
    this[serviceCapabilities] = [
      ...((inner as unknown as Record<symbol, string[]>)[serviceCapabilities] ?? ['@libp2p/transport']),
    ]
    this.listenFilter = (addrs) => inner.listenFilter(addrs)
    this.dialFilter = (addrs) => inner.dialFilter(addrs)
  }

  get [Symbol.toStringTag](): string {
    return this.#tag
  }

  /** The RTT to the node at `ma` (and whether the node is known). */
  #rttTo(ma: Multiaddr): { rtt: number; matched: boolean } {
    const address = hostPort(ma)
    const remote =
      peerIdOf(ma) ??
      (address == null ? undefined : this.#registry.listenerAt(endpointKey(address.host, address.port)))
    if (remote != null)
      return { rtt: pairRtt(this.#seed, this.#distribution, this.#self, remote), matched: true }
    return {
      rtt: pairRtt(this.#seed, this.#distribution, this.#self, `address:${ma.toString()}`),
      matched: false,
    }
  }

  async dial(ma: Multiaddr, options: DialTransportOptions): Promise<Connection> {
    const { rtt, matched } = this.#rttTo(ma)
    // the TCP handshake: SYN out, SYN-ACK back
    await sleep(rtt, options.signal)
    const upgrader = delegate(options.upgrader, {
      upgradeOutbound: (maConn: MultiaddrConnection, opts: never) => {
        this.#delay(maConn, rtt / 2, 'outbound')
        if (!matched) this.#registry.counts.unmatchedOutbound++
        return options.upgrader.upgradeOutbound(maConn, opts)
      },
    })
    return this.#inner.dial(ma, { ...options, upgrader })
  }

  createListener(options: CreateListenerOptions): Listener {
    const upgrader = delegate(options.upgrader, {
      upgradeInbound: (maConn: MultiaddrConnection, opts: never) => {
        this.#delay(maConn, undefined, 'inbound')
        return options.upgrader.upgradeInbound(maConn, opts)
      },
    })
    const listener = this.#inner.createListener({ ...options, upgrader })
    const registered: string[] = []
    const listen = listener.listen.bind(listener)
    const close = listener.close.bind(listener)
    listener.listen = async (ma: Multiaddr) => {
      await listen(ma)
      for (const addr of listener.getAddrs()) {
        const address = hostPort(addr)
        if (address == null) continue
        const key = endpointKey(address.host, address.port)
        this.#registry.addListener(key, this.#self)
        registered.push(key)
      }
    }
    listener.close = async () => {
      for (const key of registered.splice(0)) this.#registry.removeListener(key, this.#self)
      await close()
    }
    return listener
  }

  /** Puts a delay line in front of the connection's writes; inbound lines learn their delay from the registry. */
  #delay(maConn: MultiaddrConnection, oneWay: number | undefined, direction: 'inbound' | 'outbound'): void {
    if (!isDelayable(maConn)) throw new UnsupportedConnectionError(`${direction} ${String(maConn)}`)
    const c = maConn
    const sendData = c.sendData.bind(c)
    const sendClose = c.sendClose.bind(c)
    const sendReset = c.sendReset.bind(c)
    const line = new DelayLine(
      {
        // one chunk a call: the socket's sendData stops at the first write that fills the
        // kernel buffer, but the chunk that filled it was taken, and so must the rest be
        write: (chunks) => {
          for (const chunk of chunks)
            sendData({ byteLength: chunk.byteLength, [Symbol.iterator]: () => [chunk][Symbol.iterator]() })
        },
        close: (opts) => sendClose(opts),
        reset: (err) => sendReset(err),
        drain: () => c.dispatchEvent(new Event('drain')),
      },
      oneWay,
      this.#highWaterMark,
    )
    c.sendData = (data) => line.send(data)
    c.sendClose = (opts) => line.close(opts)
    c.sendReset = (err) => line.reset(err)
    const cleanups: (() => void)[] = [() => line.end()]
    c.addEventListener(
      'close',
      () => {
        for (const cleanup of cleanups) cleanup()
      },
      { once: true },
    )

    if (direction === 'outbound') {
      this.#registry.counts.outbound++
      const local = c.socket
      if (local?.localAddress != null && local.localPort != null) {
        const key = endpointKey(local.localAddress, local.localPort)
        this.#registry.addDialler(key, this.#self)
        cleanups.push(() => this.#registry.removeDialler(key, this.#self))
      }
      return
    }
    this.#registry.counts.inbound++
    const remote = hostPort(c.remoteAddr)
    const key = remote == null ? undefined : endpointKey(remote.host, remote.port)
    const resolve = (node: string | undefined): void => {
      if (node == null) {
        this.#registry.counts.unmatchedInbound++
        line.setOneWay(pairRtt(this.#seed, this.#distribution, this.#self, `address:${key}`) / 2)
        return
      }
      line.setOneWay(pairRtt(this.#seed, this.#distribution, this.#self, node) / 2)
    }
    if (key == null) resolve(undefined)
    else void this.#registry.dialler(key, this.#diallerWaitMs).then(resolve)
  }
}

/**
 * Wraps a libp2p transport factory (e.g. `tcp()`) so that its connections pay emulated
 * wide-area RTTs: see the module docs.
 *
 * @throws {InvalidLatencyOptionError} for a bad distribution or a missing seed
 */
export function latencyTransport<C>(
  inner: (components: C) => Transport,
  options: LatencyOptions,
): (components: C & LatencyTransportComponents) => Transport {
  if (options?.seed == null) throw new InvalidLatencyOptionError('seed', 'is required')
  checkRttDistribution(options.distribution ?? DEFAULT_RTT_DISTRIBUTION)
  for (const name of ['highWaterMark', 'diallerWaitMs'] as const) {
    const v = options[name]
    if (v != null && !(Number.isFinite(v) && v > 0)) {
      throw new InvalidLatencyOptionError(name, `must be a finite number > 0, got ${String(v)}`)
    }
  }
  return (components) => new LatencyTransport(inner(components), components.peerId.toString(), options)
}
