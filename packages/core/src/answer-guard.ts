/**
 * The answer guard: NSN's reader of the answers other peers send to this node's own
 * requests (FIND_NODE, GET_PROVIDERS, PING), in place of kad-dht's
 * `network._writeReadMessage`. It writes the request, reads the answer with the inbound
 * guard's {@link FrameReader} (a maximum answer size checked on the length prefix, so a
 * megabyte of 0xff fails after a few bytes), decodes it with the same codec, and
 * sanitises it before kad-dht sees it: at most k closer peers and a bounded number of
 * providers, each with a valid peer id and at most a bounded number of parseable
 * addresses of bounded size, providers without a valid address dropped. What is dropped
 * never reaches the peer store (kad-dht announces every peer of an answer as a
 * discovered peer, whose addresses libp2p merges into the peer store) nor a query
 * result. A peer announced with the same addresses within `announceInterval` is not
 * announced again (see {@link ANSWER_PEER_ANNOUNCE_INTERVAL}). An answer too large or malformed fails that one request: kad-dht reports a
 * query error for the peer and the query moves on to others.
 *
 * @packageDocumentation
 */

import type { AbortOptions, Logger, PeerId, PeerInfo, Stream } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import {
  ANSWER_MAX_ADDRESS_BYTES,
  ANSWER_MAX_ADDRESSES_PER_PEER,
  ANSWER_MAX_PROVIDERS,
  ANSWER_PEER_ANNOUNCE_INTERVAL,
  ANSWER_PEER_ANNOUNCE_MEMORY,
  K_BUCKET_SIZE,
} from './constants.js'
import { AnswerRejectedError, InvalidOptionError } from './errors.js'
import { FrameReader, FrameTooLargeError, TruncatedFrameError } from './inbound-guard.js'
import {
  decodeKadMessage,
  encodeKadMessage,
  frame,
  type KadMessage,
  type KadPeerInfo,
  varintLength,
} from './kad-message.js'
import { IntervalGate } from './lru-map.js'
import type { AnswerDropReason, AnswerRejectReason } from './observer.js'
import { positiveNumber } from './option-checks.js'
import type { SendRequest } from './request-timeouts.js'

/** Options of the answer guard (`nsnKadDHT({ answerGuard })`); every one has a default. */
export interface AnswerGuardInit {
  /** Closer peers kept from one answer. Default: the DHT's k ({@link K_BUCKET_SIZE}). */
  maxCloserPeers?: number
  /** Providers kept from one answer. Default {@link ANSWER_MAX_PROVIDERS}. */
  maxProviders?: number
  /** Addresses kept per peer. Default {@link ANSWER_MAX_ADDRESSES_PER_PEER}. */
  maxAddressesPerPeer?: number
  /** Largest address kept, in bytes. Default {@link ANSWER_MAX_ADDRESS_BYTES}. */
  maxAddressBytes?: number
  /**
   * Largest answer read, in bytes. Default: {@link largestAnswer} of the bounds above
   * (`ANSWER_MAX_SIZE`, about 646 KiB, with the defaults).
   */
  maxAnswerSize?: number
  /**
   * A peer of an answer with the same addresses is announced (kad-dht's `peer` event:
   * routing-table candidate, peer-store merge) at most once per this many ms; 0 announces
   * every time. Default {@link ANSWER_PEER_ANNOUNCE_INTERVAL}.
   */
  announceInterval?: number
}

export type ResolvedAnswerGuardOptions = Required<AnswerGuardInit>

/** Wire bytes of one peer entry (with its field header) of `addresses` addresses of `addressBytes`. */
function largestPeerEntry(addresses: number, addressBytes: number): number {
  const id = 2 + (2 + 42) // the largest inline (identity-multihash) peer id, with its field header
  const body = id + addresses * (1 + varintLength(addressBytes) + addressBytes)
  return 1 + varintLength(body) + body
}

/**
 * Wire bytes of the largest legitimate answer: `closer` closer peers and `providers`
 * providers of `addresses` addresses of `addressBytes` each, plus the type and a key of
 * up to a peer id's length.
 */
export function largestAnswer(
  closer: number,
  providers: number,
  addresses: number,
  addressBytes: number,
): number {
  return (closer + providers) * largestPeerEntry(addresses, addressBytes) + 2 + (2 + 44)
}

/**
 * Merges the defaults with `init`; `k` is the DHT's bucket size.
 *
 * @throws {InvalidOptionError} for a bound that is not a positive number
 */
export function resolveAnswerGuardOptions(
  init: AnswerGuardInit = {},
  k = K_BUCKET_SIZE,
): ResolvedAnswerGuardOptions {
  const count = (name: keyof AnswerGuardInit, value: number): number =>
    positiveNumber(`answerGuard.${name}`, value)
  const maxCloserPeers = count('maxCloserPeers', init.maxCloserPeers ?? k)
  const maxProviders = count('maxProviders', init.maxProviders ?? ANSWER_MAX_PROVIDERS)
  const maxAddressesPerPeer = count(
    'maxAddressesPerPeer',
    init.maxAddressesPerPeer ?? ANSWER_MAX_ADDRESSES_PER_PEER,
  )
  const maxAddressBytes = count('maxAddressBytes', init.maxAddressBytes ?? ANSWER_MAX_ADDRESS_BYTES)
  const announceInterval = init.announceInterval ?? ANSWER_PEER_ANNOUNCE_INTERVAL
  if (!(Number.isFinite(announceInterval) && announceInterval >= 0)) {
    throw new InvalidOptionError(
      'answerGuard.announceInterval',
      `must be a finite number of ms >= 0, got ${String(announceInterval)}`,
    )
  }
  return {
    announceInterval,
    maxCloserPeers,
    maxProviders,
    maxAddressesPerPeer,
    maxAddressBytes,
    maxAnswerSize: count(
      'maxAnswerSize',
      init.maxAnswerSize ?? largestAnswer(maxCloserPeers, maxProviders, maxAddressesPerPeer, maxAddressBytes),
    ),
  }
}

/** What one sanitised answer lost, per reason (only reasons with drops appear). */
export type AnswerDrops = Partial<Record<AnswerDropReason, number>>

/** A sanitised answer and its peers as kad-dht's `PeerInfo`s. */
export interface SanitisedAnswer {
  message: KadMessage
  /** The closer peers and providers kept, for kad-dht's `peer` events. */
  peers: PeerInfo[]
  dropped: AnswerDrops
}

function add(drops: AnswerDrops, reason: AnswerDropReason, n: number): void {
  if (n > 0) drops[reason] = (drops[reason] ?? 0) + n
}

/**
 * One peer entry: its peer id and at most `maxAddressesPerPeer` valid addresses, or
 * undefined when its id is no peer id (counted in `drops`).
 */
function sanitisePeer(
  peer: KadPeerInfo,
  options: ResolvedAnswerGuardOptions,
  drops: AnswerDrops,
): { wire: KadPeerInfo; info: PeerInfo; hadAddresses: boolean } | undefined {
  let id: PeerInfo['id']
  try {
    id = peerIdFromMultihash(Digest.decode(peer.id))
  } catch {
    add(drops, 'bad_peer_id', 1)
    return undefined
  }
  const kept: Uint8Array[] = []
  const addrs: Multiaddr[] = []
  let bad = 0
  for (const bytes of peer.multiaddrs) {
    if (kept.length === options.maxAddressesPerPeer) break
    if (bytes.byteLength > options.maxAddressBytes) {
      bad++
      continue
    }
    try {
      addrs.push(multiaddr(bytes))
      kept.push(bytes)
    } catch {
      bad++
    }
  }
  add(drops, 'bad_address', bad)
  add(drops, 'too_many_addresses', peer.multiaddrs.length - kept.length - bad)
  const wire: KadPeerInfo = { id: peer.id, multiaddrs: kept }
  if (peer.connection != null) wire.connection = peer.connection
  return { wire, info: { id, multiaddrs: addrs }, hadAddresses: peer.multiaddrs.length > 0 }
}

/**
 * Applies the answer caps to a decoded answer: closer peers beyond `maxCloserPeers`
 * and providers beyond `maxProviders` dropped (first come, kept), peers with an invalid
 * id dropped, addresses unparseable or over `maxAddressBytes` dropped and the rest cut
 * to `maxAddressesPerPeer`, providers left without a valid address dropped. Closer peers
 * sent without any address are kept (kad-dht looks them up in its peer store).
 */
export function sanitiseAnswer(msg: KadMessage, options: ResolvedAnswerGuardOptions): SanitisedAnswer {
  const dropped: AnswerDrops = {}
  const peers: PeerInfo[] = []
  const closer: KadPeerInfo[] = []
  add(dropped, 'too_many_closer_peers', msg.closer.length - options.maxCloserPeers)
  for (const peer of msg.closer.slice(0, options.maxCloserPeers)) {
    const clean = sanitisePeer(peer, options, dropped)
    if (clean == null) continue
    closer.push(clean.wire)
    peers.push(clean.info)
  }
  const providers: KadPeerInfo[] = []
  add(dropped, 'too_many_providers', msg.providers.length - options.maxProviders)
  for (const peer of msg.providers.slice(0, options.maxProviders)) {
    const clean = sanitisePeer(peer, options, dropped)
    if (clean == null) continue
    if (clean.wire.multiaddrs.length === 0) {
      add(dropped, 'provider_without_address', 1)
      continue
    }
    providers.push(clean.wire)
    peers.push(clean.info)
  }
  return { message: { ...msg, closer, providers }, peers, dropped }
}

/** What the answer guard reports (the observer that `ShardRouting` attaches). */
export interface AnswerGuardReporter {
  rejected(reason: AnswerRejectReason): void
  trimmed(reason: AnswerDropReason, dropped: number): void
}

/** What the answer guard uses. */
export interface AnswerGuardComponents {
  /** Announces a peer of an answer as kad-dht's network does (its `peer` event). */
  dispatchPeer(peer: PeerInfo): void
  /** Where rejections and drops are reported. */
  reporter(): AnswerGuardReporter | undefined
  /** Where a rejected answer is logged, against its sender (see {@link AnswerGuard.watch}). */
  log?: Logger
  /** At most one log line per offending peer per interval. */
  warnings?: IntervalGate
  /** The clock of the announcement interval (tests). Default `Date.now`. */
  now?: () => number
}

/** A peer as announced: its id and its addresses, in order (base64, space-separated). */
function announcementKey(peer: PeerInfo): string {
  let key = Buffer.from(peer.id.toMultihash().bytes).toString('base64')
  for (const addr of peer.multiaddrs) key += ` ${Buffer.from(addr.bytes).toString('base64')}`
  return key
}

/** The answer guard of one DHT: see the module docs. */
export class AnswerGuard {
  readonly options: ResolvedAnswerGuardOptions
  /** The peers announced lately, with their addresses ({@link AnswerGuardInit.announceInterval}). */
  private readonly announced: IntervalGate | undefined

  constructor(
    private readonly components: AnswerGuardComponents,
    init: AnswerGuardInit = {},
    k = K_BUCKET_SIZE,
  ) {
    this.options = resolveAnswerGuardOptions(init, k)
    this.announced =
      this.options.announceInterval > 0
        ? new IntervalGate(this.options.announceInterval, ANSWER_PEER_ANNOUNCE_MEMORY, components.now)
        : undefined
  }

  /**
   * Writes `request` to `stream` and reads one answer, as kad-dht's
   * `network._writeReadMessage` does, with the caps applied.
   *
   * @throws {AnswerRejectedError} for an answer too large or malformed
   */
  async writeRead(
    stream: Stream,
    request: Partial<KadMessage>,
    options: AbortOptions = {},
    /** The stream's reader when the stream carries more than one exchange (`stream-pool.ts`). */
    streamReader?: FrameReader,
  ): Promise<KadMessage> {
    const { signal } = options
    signal?.throwIfAborted()
    const onAbort = (): void => stream.abort(signal?.reason ?? new Error('aborted'))
    signal?.addEventListener('abort', onAbort, { once: true })
    try {
      if (!stream.send(frame(encodeKadMessage(request)))) await stream.onDrain(options)
      const reader = streamReader ?? this.reader(stream)
      let body: Uint8Array | undefined
      try {
        body = await reader.next()
      } catch (err) {
        signal?.throwIfAborted()
        if (err instanceof FrameTooLargeError) throw this.reject('too_large', err.message)
        if (err instanceof TruncatedFrameError) throw this.reject('truncated', err.message)
        throw this.reject('malformed', (err as Error).message)
      }
      if (body == null) throw this.reject('malformed', 'the stream ended without an answer')
      let msg: KadMessage
      try {
        msg = decodeKadMessage(body)
      } catch (err) {
        throw this.reject('malformed', (err as Error).message)
      }
      const clean = sanitiseAnswer(msg, this.options)
      const reporter = this.components.reporter()
      for (const [reason, n] of Object.entries(clean.dropped)) {
        reporter?.trimmed(reason as AnswerDropReason, n)
      }
      for (const peer of clean.peers) {
        // the same peer with the same addresses, announced lately: nothing new to tell
        if (this.announced == null || this.announced.pass(announcementKey(peer)))
          this.components.dispatchPeer(peer)
      }
      return clean.message
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  /** A reader of answers on `stream`, under this guard's maximum answer size. */
  reader(stream: Stream): FrameReader {
    return new FrameReader(stream, this.options.maxAnswerSize)
  }

  /**
   * kad-dht's `sendRequest` with every answer this guard rejected logged against the peer
   * that sent it (the stream does not name its peer; the request does), at most once per
   * peer per interval.
   */
  watch(send: SendRequest): SendRequest {
    const { log, warnings } = this.components
    if (log == null) return send
    return async function* (to: PeerId, msg: unknown, options: AbortOptions): AsyncGenerator<QueryEvent> {
      for await (const event of send(to, msg, options)) {
        if (
          event.name === 'QUERY_ERROR' &&
          event.error instanceof AnswerRejectedError &&
          (warnings == null || warnings.pass(to.toString()))
        ) {
          // libp2p's logger has no warn level: its error level is the one shown by default
          log.error('rejected an answer of %p: %s', to, event.error.message)
        }
        yield event
      }
    }
  }

  private reject(reason: AnswerRejectReason, detail: string): AnswerRejectedError {
    this.components.reporter()?.rejected(reason)
    return new AnswerRejectedError(reason, detail)
  }
}
