/**
 * The inbound guard: NSN's reader of inbound `/nsn/kad/1.0.0` streams, in front of
 * kad-dht's handlers. It reads length-prefixed frames with a small maximum size (the
 * length prefix is checked before a byte of the body is read), applies per-peer and
 * global request rate limits, decodes and validates each message (types, keys, peers,
 * addresses), and only then hands it to kad-dht's `handleMessage`; a rejected message
 * resets its stream, is reported to the observer, and never reaches the peer store or
 * the datastore.
 *
 * @packageDocumentation
 */

import type { ComponentLogger, Connection, Logger, PeerId, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import {
  INBOUND_GLOBAL_REQUEST_BURST,
  INBOUND_GLOBAL_REQUESTS_PER_SECOND,
  INBOUND_MAX_ADDRESS_BYTES,
  INBOUND_MAX_ADDRESSES_PER_PEER,
  INBOUND_MAX_MESSAGE_SIZE,
  INBOUND_PEER_REQUEST_BURST,
  INBOUND_PEER_REQUESTS_PER_SECOND,
  INBOUND_TRACKED_PEERS,
  INBOUND_WARN_INTERVAL,
  second,
} from './constants.js'
import { InboundRejectedError } from './errors.js'
import { decodeKadMessage, encodeKadMessage, frame, type KadMessage, varintLength } from './kad-message.js'
import { IntervalGate, LruMap } from './lru-map.js'
import type { InboundRejectReason, InboundRequestType } from './observer.js'
import { positiveNumber } from './option-checks.js'

/** Options of the inbound guard (`nsnKadDHT({ inboundGuard })`); every one has a default. */
export interface InboundGuardInit {
  /** Largest inbound message in bytes. Default {@link INBOUND_MAX_MESSAGE_SIZE} (or what the address bounds need). */
  maxMessageSize?: number
  /** Addresses a message may carry for one peer. Default {@link INBOUND_MAX_ADDRESSES_PER_PEER}. */
  maxAddressesPerPeer?: number
  /** Largest address in bytes. Default {@link INBOUND_MAX_ADDRESS_BYTES}. */
  maxAddressBytes?: number
  /** One peer's request rate. Default {@link INBOUND_PEER_REQUESTS_PER_SECOND}. */
  peerRequestsPerSecond?: number
  /** One peer's burst. Default {@link INBOUND_PEER_REQUEST_BURST}. */
  peerRequestBurst?: number
  /** All peers' request rate. Default {@link INBOUND_GLOBAL_REQUESTS_PER_SECOND}. */
  globalRequestsPerSecond?: number
  /** All peers' burst. Default {@link INBOUND_GLOBAL_REQUEST_BURST}. */
  globalRequestBurst?: number
  /** Peers whose rate buckets are remembered. Default {@link INBOUND_TRACKED_PEERS}. */
  trackedPeers?: number
  /** A rejected peer is logged at most this often, in ms. Default {@link INBOUND_WARN_INTERVAL}. */
  warnInterval?: number
}

export type ResolvedInboundGuardOptions = Required<InboundGuardInit>

/** Wire bytes of an ADD_PROVIDER carrying `addresses` addresses of `addressBytes` each. */
export function largestAddProvider(addresses: number, addressBytes: number): number {
  const address = 1 + varintLength(addressBytes) + addressBytes
  const id = 2 + (2 + 42) // the largest inline (identity-multihash) peer id, with its field header
  const provider = id + addresses * address
  return 2 + (2 + 34) + 1 + varintLength(provider) + provider
}

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not a positive number
 */
export function resolveInboundGuardOptions(init: InboundGuardInit = {}): ResolvedInboundGuardOptions {
  const count = (name: keyof InboundGuardInit, value: number): number =>
    positiveNumber(`inboundGuard.${name}`, value)
  const maxAddressesPerPeer = count(
    'maxAddressesPerPeer',
    init.maxAddressesPerPeer ?? INBOUND_MAX_ADDRESSES_PER_PEER,
  )
  const maxAddressBytes = count('maxAddressBytes', init.maxAddressBytes ?? INBOUND_MAX_ADDRESS_BYTES)
  return {
    maxAddressesPerPeer,
    maxAddressBytes,
    maxMessageSize: count(
      'maxMessageSize',
      init.maxMessageSize ??
        Math.max(INBOUND_MAX_MESSAGE_SIZE, largestAddProvider(maxAddressesPerPeer, maxAddressBytes)),
    ),
    peerRequestsPerSecond: count(
      'peerRequestsPerSecond',
      init.peerRequestsPerSecond ?? INBOUND_PEER_REQUESTS_PER_SECOND,
    ),
    peerRequestBurst: count('peerRequestBurst', init.peerRequestBurst ?? INBOUND_PEER_REQUEST_BURST),
    globalRequestsPerSecond: count(
      'globalRequestsPerSecond',
      init.globalRequestsPerSecond ?? INBOUND_GLOBAL_REQUESTS_PER_SECOND,
    ),
    globalRequestBurst: count('globalRequestBurst', init.globalRequestBurst ?? INBOUND_GLOBAL_REQUEST_BURST),
    trackedPeers: count('trackedPeers', init.trackedPeers ?? INBOUND_TRACKED_PEERS),
    warnInterval: count('warnInterval', init.warnInterval ?? INBOUND_WARN_INTERVAL),
  }
}

// ---- validation

const SHA2_256 = 0x12
const IDENTITY = 0x00
/** Longest inline public key libp2p puts in an identity-multihash peer id. */
const MAX_INLINE_KEY_LENGTH = 42

/** A sha2-256 multihash of 32 bytes: a shard key, or a hashed (RSA or random refresh) peer id. */
function isSha256Multihash(key: Uint8Array): boolean {
  return key.byteLength === 34 && key[0] === SHA2_256 && key[1] === 32
}

/** An identity multihash of an inline public key (Ed25519, secp256k1 peer ids). */
function isIdentityMultihash(key: Uint8Array): boolean {
  const length = key[1] ?? 0
  return (
    key[0] === IDENTITY && length >= 1 && length <= MAX_INLINE_KEY_LENGTH && key.byteLength === 2 + length
  )
}

const REQUEST_TYPES: Partial<Record<MessageType, InboundRequestType>> = {
  [MessageType.PING]: 'ping',
  [MessageType.FIND_NODE]: 'find_node',
  [MessageType.GET_PROVIDERS]: 'get_providers',
  [MessageType.ADD_PROVIDER]: 'add_provider',
}

/** The verdict on one message: its request type, or why it is rejected. */
export type Verdict =
  | { ok: true; type: InboundRequestType }
  | { ok: false; reason: InboundRejectReason; detail: string }

function reject(reason: InboundRejectReason, detail: string): Verdict {
  return { ok: false, reason, detail }
}

/**
 * Checks one inbound request from `sender` against NSN's rules:
 * - types: PING, FIND_NODE, GET_PROVIDERS, ADD_PROVIDER. GET_VALUE and PUT_VALUE are
 *   rejected: NSN stores no records, and kad-dht would store (and serve back) any
 *   `/pk/` or `/ipns/` record a stranger puts, a storage and echo service for nothing;
 * - keys: GET_PROVIDERS and ADD_PROVIDER a sha2-256 multihash of 32 bytes (a shard's CID
 *   multihash); FIND_NODE that or an identity-multihash peer id; PING none checked but
 *   at most a peer id's length (kad-dht echoes a PING back whole);
 * - peers: a request carries no closer peers and no record; providers only in an
 *   ADD_PROVIDER, exactly one, the sender itself, with 1 to `maxAddressesPerPeer`
 *   parseable addresses of at most `maxAddressBytes` each.
 */
export function validateInbound(
  msg: KadMessage,
  sender: PeerId,
  options: ResolvedInboundGuardOptions,
): Verdict {
  const type = REQUEST_TYPES[msg.type]
  if (type == null) return reject('unsupported_type', msg.type)
  const key = msg.key ?? new Uint8Array(0)
  if (msg.record != null) return reject('malformed', 'a record in a request')
  if (msg.closer.length > 0) return reject('too_many_peers', `${msg.closer.length} closer peers in a request`)
  switch (type) {
    case 'ping':
      if (key.byteLength > 2 + MAX_INLINE_KEY_LENGTH) return reject('bad_key', `${key.byteLength}-byte key`)
      break
    case 'find_node':
      if (!isSha256Multihash(key) && !isIdentityMultihash(key)) {
        return reject('bad_key', `${key.byteLength}-byte key is no peer id or shard multihash`)
      }
      break
    default:
      if (!isSha256Multihash(key))
        return reject('bad_key', `${key.byteLength}-byte key is no sha2-256 multihash`)
  }
  if (type !== 'add_provider') {
    if (msg.providers.length > 0)
      return reject('too_many_peers', `${msg.providers.length} providers in a ${type}`)
    return { ok: true, type }
  }
  if (msg.providers.length === 0) return reject('malformed', 'ADD_PROVIDER without a provider')
  if (msg.providers.length > 1) return reject('too_many_peers', `${msg.providers.length} providers`)
  const provider = msg.providers[0] as KadMessage['providers'][number]
  if (!uint8ArrayEquals(provider.id, sender.toMultihash().bytes)) {
    return reject('foreign_provider', 'the provider is not the sender')
  }
  const addrs = provider.multiaddrs
  if (addrs.length === 0) return reject('malformed', 'a provider without addresses')
  if (addrs.length > options.maxAddressesPerPeer)
    return reject('too_many_addresses', `${addrs.length} addresses`)
  for (const addr of addrs) {
    if (addr.byteLength > options.maxAddressBytes)
      return reject('malformed', `a ${addr.byteLength}-byte address`)
    try {
      multiaddr(addr)
    } catch {
      return reject('malformed', 'an unparseable address')
    }
  }
  return { ok: true, type }
}

// ---- rate limits

/** A token bucket: `rate` tokens a second, at most `burst` saved up. */
export class TokenBucket {
  private tokens: number
  private updated: number

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst
    this.updated = now
  }

  /** Tokens available at `now`. */
  available(now: number): number {
    const elapsed = Math.max(0, now - this.updated)
    this.tokens = Math.min(this.burst, this.tokens + (elapsed / second) * this.rate)
    this.updated = now
    return this.tokens
  }

  /** Takes one token when there is one. */
  take(now: number): boolean {
    if (this.available(now) < 1) return false
    this.tokens -= 1
    return true
  }
}

/** Per-peer and global token buckets; the per-peer ones in a bounded LRU. */
export class InboundRateLimiter {
  private readonly peers: LruMap<TokenBucket>
  private readonly global: TokenBucket

  constructor(
    private readonly options: Pick<
      ResolvedInboundGuardOptions,
      | 'peerRequestsPerSecond'
      | 'peerRequestBurst'
      | 'globalRequestsPerSecond'
      | 'globalRequestBurst'
      | 'trackedPeers'
    >,
    private readonly now: () => number = Date.now,
  ) {
    this.peers = new LruMap(options.trackedPeers)
    this.global = new TokenBucket(options.globalRequestsPerSecond, options.globalRequestBurst, now())
  }

  /** How many peers' buckets are held (at most `trackedPeers`). */
  get trackedPeers(): number {
    return this.peers.size
  }

  /**
   * Admits one request from `peer`, or says which limit it is over. A request refused
   * by either limit takes no token from the other.
   */
  admit(peer: string): 'ok' | 'peer' | 'global' {
    const now = this.now()
    let bucket = this.peers.get(peer)
    if (bucket == null) {
      bucket = new TokenBucket(this.options.peerRequestsPerSecond, this.options.peerRequestBurst, now)
      this.peers.set(peer, bucket)
    }
    if (bucket.available(now) < 1) return 'peer'
    if (!this.global.take(now)) return 'global'
    bucket.take(now)
    return 'ok'
  }
}

// ---- the stream reader

/** The length prefix is no varint of at most the maximum size. */
export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError'
}

/** The remote closed its end inside a frame (its length prefix or its body). */
export class TruncatedFrameError extends Error {
  override readonly name = 'TruncatedFrameError'
}

/**
 * Reads length-prefixed frames from a stream, refusing a length prefix over `max`
 * before reading the body (and a prefix longer than `max`'s varint at its first
 * superfluous byte, so a megabyte of 0xff is refused after a few bytes).
 */
export class FrameReader {
  private readonly source: AsyncIterator<Uint8Array | { subarray(): Uint8Array }>
  /** Bytes received and not yet consumed, kept as received (joined once per frame). */
  private chunks: Uint8Array[] = []
  private buffered = 0
  private readonly maxLengthLength: number

  constructor(
    stream: Pick<Stream, typeof Symbol.asyncIterator>,
    private readonly max: number,
  ) {
    this.source = stream[Symbol.asyncIterator]()
    this.maxLengthLength = varintLength(max)
  }

  private async fill(): Promise<boolean> {
    const next = await this.source.next()
    if (next.done === true) return false
    const chunk = next.value instanceof Uint8Array ? next.value : next.value.subarray()
    this.chunks.push(chunk)
    this.buffered += chunk.byteLength
    return true
  }

  private byteAt(index: number): number {
    for (const chunk of this.chunks) {
      if (index < chunk.byteLength) return chunk[index] as number
      index -= chunk.byteLength
    }
    throw new RangeError('beyond the buffered bytes')
  }

  /** Removes `skip + length` bytes and returns the last `length` of them. */
  private consume(skip: number, length: number): Uint8Array {
    const out = new Uint8Array(length)
    let offset = -skip
    let dropped = 0
    for (const chunk of this.chunks) {
      if (offset + chunk.byteLength > 0 && offset < length) {
        const from = Math.max(0, -offset)
        const to = Math.min(chunk.byteLength, length - offset)
        out.set(chunk.subarray(from, to), offset + from)
      }
      offset += chunk.byteLength
      if (offset <= length) dropped++
      else break
    }
    const rest = this.chunks.slice(dropped)
    if (rest.length > 0) {
      const first = rest[0] as Uint8Array
      const usedOfFirst = first.byteLength - (offset - length)
      rest[0] = first.subarray(usedOfFirst)
    }
    this.chunks = rest
    this.buffered -= skip + length
    return out
  }

  /** The next frame's body, or undefined when the remote closed its end between frames. */
  async next(): Promise<Uint8Array | undefined> {
    let length = 0
    let prefix = 0
    for (;;) {
      if (prefix === this.buffered) {
        if (!(await this.fill())) {
          if (prefix === 0) return undefined
          throw new TruncatedFrameError('stream ended inside a length prefix')
        }
        continue
      }
      if (prefix === this.maxLengthLength) throw new FrameTooLargeError('length prefix too long')
      const byte = this.byteAt(prefix)
      length += (byte & 0x7f) * 2 ** (7 * prefix)
      prefix++
      if ((byte & 0x80) === 0) break
    }
    if (length > this.max) throw new FrameTooLargeError(`${length} bytes > ${this.max}`)
    while (this.buffered < prefix + length) {
      if (!(await this.fill())) {
        throw new TruncatedFrameError(
          `stream ended after ${this.buffered - prefix} bytes of a ${length}-byte message`,
        )
      }
    }
    return this.consume(prefix, length)
  }
}

/** What the guard reports (the observer that `ShardRouting` attaches, when there is one). */
export interface InboundGuardReporter {
  handled(type: InboundRequestType): void
  rejected(reason: InboundRejectReason, peer: PeerId): void
}

/** What the guard uses. */
export interface InboundGuardComponents {
  logger: ComponentLogger
  /**
   * kad-dht's handler of one message (`rpc.handleMessage`), given the connection the
   * message arrived on as well (the provider store takes a record's IP group from it).
   */
  handleMessage(peer: PeerId, msg: KadMessage, connection: Connection): Promise<KadMessage | undefined>
  /** Where rejections and handled requests are reported. */
  reporter(): InboundGuardReporter | undefined
  /** The clock of the rate limits and the warn log. Default `Date.now`. */
  now?: () => number
}

/** The inbound guard of one DHT: see the module docs. */
export class InboundGuard {
  readonly options: ResolvedInboundGuardOptions
  readonly limiter: InboundRateLimiter
  private readonly log: Logger
  private readonly warned: IntervalGate
  private readonly now: () => number

  constructor(
    private readonly components: InboundGuardComponents,
    init: InboundGuardInit = {},
    /** How long a stream may wait for its next message, in ms (kad-dht's `incomingMessageTimeout`). */
    private readonly messageTimeout = 10 * second,
  ) {
    this.options = resolveInboundGuardOptions(init)
    this.now = components.now ?? Date.now
    this.limiter = new InboundRateLimiter(this.options, this.now)
    this.warned = new IntervalGate(this.options.warnInterval, this.options.trackedPeers, this.now)
    this.log = components.logger.forComponent('nsn:inbound-guard')
  }

  /**
   * Serves one inbound DHT stream as kad-dht's `onIncomingStream` does (messages in
   * order, an answer for each that has one, the stream aborted when no message arrives
   * within the message timeout), with every message checked first.
   */
  async onIncomingStream(stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer
    const reader = new FrameReader(stream, this.options.maxMessageSize)
    let timer: ReturnType<typeof setTimeout> | undefined
    const arm = (): void => {
      clearTimeout(timer)
      timer = setTimeout(
        () => stream.abort(new Error('no DHT message within the timeout')),
        this.messageTimeout,
      )
    }
    arm()
    try {
      for (;;) {
        let body: Uint8Array | undefined
        try {
          body = await reader.next()
        } catch (err) {
          if (err instanceof FrameTooLargeError) return this.reject(stream, peer, 'too_large', err.message)
          if (err instanceof TruncatedFrameError) return this.reject(stream, peer, 'truncated', err.message)
          throw err
        }
        if (body == null) {
          await stream.close()
          return
        }
        const admitted = this.limiter.admit(peer.toString())
        if (admitted !== 'ok') return this.reject(stream, peer, 'rate_limited', `over the ${admitted} rate`)
        let msg: KadMessage
        try {
          msg = decodeKadMessage(body)
        } catch (err) {
          const reason = (err as Error).name === 'UnknownMessageTypeError' ? 'unsupported_type' : 'malformed'
          return this.reject(stream, peer, reason, (err as Error).message)
        }
        const verdict = validateInbound(msg, peer, this.options)
        if (!verdict.ok) return this.reject(stream, peer, verdict.reason, verdict.detail)
        this.components.reporter()?.handled(verdict.type)
        const answer = await this.components.handleMessage(peer, msg, connection)
        if (answer != null) {
          if (!stream.send(frame(encodeKadMessage(answer)))) await stream.onDrain()
        }
        arm()
      }
    } catch (err) {
      this.log.trace('inbound stream from %p failed - %e', peer, err)
      stream.abort(err as Error)
    } finally {
      clearTimeout(timer)
    }
  }

  private reject(stream: Stream, peer: PeerId, reason: InboundRejectReason, detail: string): void {
    stream.abort(new InboundRejectedError(reason, detail))
    this.components.reporter()?.rejected(reason, peer)
    if (this.warned.pass(peer.toString())) {
      // libp2p's logger has no warn level: its error level is the one shown by default
      // filters (`DEBUG=*:error`), and this is logged at most once per interval per peer
      this.log.error(
        'rejected an inbound DHT message from %p: %s (%s); its next rejections are not logged for %d ms',
        peer,
        reason,
        detail,
        this.options.warnInterval,
      )
    }
  }
}
