/**
 * Outbound DHT stream slots: at most `perPeer` DHT streams of this node are open to one
 * peer at once; a request past it waits, first come first served, for a stream to close
 * (at most `queuePerPeer` requests per peer wait; past that a request fails at once with
 * {@link OverloadedError}, a local overload).
 *
 * Why: libp2p resets a peer's DHT streams past its `maxInboundStreams`
 * (`INBOUND_STREAMS_PER_CONNECTION`, 32) with `TooManyInboundProtocolStreamsError`, and
 * refuses this node's own past `maxOutboundStreams` with
 * `TooManyOutboundProtocolStreamsError`. kad-dht opens a stream per request without
 * waiting, so 64 concurrent lookups on a 3-node network opened 64 streams to each peer,
 * 32 were reset, and those lookups failed with "no peer answered" though every peer was
 * healthy. Waiting for a slot instead keeps every peer under its limit.
 *
 * A slot is taken before the stream is opened and given back when the stream has closed
 * (its `close` event: both sides closed, or aborted), not when the answer is read: the
 * peer counts the stream until then. The request-timeouts wrapper (`request-timeouts.ts`)
 * sits inside {@link StreamSlots.sendRequest}, so the wait for a slot is no part of a
 * peer's request timeout: this node's own limit never strikes or evicts a peer.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import { OUTBOUND_STREAM_QUEUE_PER_PEER, OUTBOUND_STREAMS_PER_CONNECTION } from './constants.js'
import { OverloadedError } from './errors.js'
import { positiveInteger } from './option-checks.js'
import type { SendRequest } from './request-timeouts.js'

/** Options of the stream slots (`nsnKadDHT({ streamSlots })`). */
export interface StreamSlotsInit {
  /**
   * DHT streams open to one peer at once at most. Default
   * {@link OUTBOUND_STREAMS_PER_CONNECTION} (32): what a peer with NSN's defaults accepts.
   */
  perPeer?: number
  /** Requests to one peer waiting for a slot at most. Default {@link OUTBOUND_STREAM_QUEUE_PER_PEER}. */
  queuePerPeer?: number
}

export type ResolvedStreamSlotsOptions = Required<StreamSlotsInit>

/**
 * Merges the defaults with `init`.
 *
 * @throws {InvalidOptionError} for a bound that is not an integer >= 1
 */
export function resolveStreamSlotsOptions(init: StreamSlotsInit = {}): ResolvedStreamSlotsOptions {
  return {
    perPeer: positiveInteger('streamSlots.perPeer', init.perPeer ?? OUTBOUND_STREAMS_PER_CONNECTION),
    queuePerPeer: positiveInteger(
      'streamSlots.queuePerPeer',
      init.queuePerPeer ?? OUTBOUND_STREAM_QUEUE_PER_PEER,
    ),
  }
}

/**
 * The key under which {@link StreamSlots.sendRequest} hands its slot down, through
 * kad-dht's request options (kad-dht spreads them into the options of its `openStream`),
 * to the stream that {@link StreamSlots.openStream} opens.
 */
export const STREAM_SLOT: unique symbol = Symbol.for('@nsn/core/stream-slot')

/** One held slot; {@link StreamSlot.free} is idempotent. */
export class StreamSlot {
  private freed = false
  /** True once the slot is tied to a stream: the stream's close frees it. */
  bound = false

  constructor(private readonly onFree: () => void) {}

  /** Gives the slot back (once). */
  free(): void {
    if (this.freed) return
    this.freed = true
    this.onFree()
  }

  /** Frees the slot when `stream` has closed (at once if it already has). */
  bindTo(stream: Stream): void {
    this.bound = true
    if (stream.status !== 'open' && stream.status !== 'closing') {
      this.free()
      return
    }
    stream.addEventListener('close', () => this.free(), { once: true })
  }
}

interface Waiter {
  resolve(slot: StreamSlot): void
  reject(err: unknown): void
}

interface PeerSlots {
  open: number
  waiting: Waiter[]
}

type Opener = (peer: PeerId, protocol: string | string[], options?: AbortOptions) => Promise<Stream>

/** The outbound DHT stream slots of one DHT: see the module docs. */
export class StreamSlots {
  readonly options: ResolvedStreamSlotsOptions
  private readonly peers = new Map<string, PeerSlots>()

  constructor(init: StreamSlotsInit = {}) {
    this.options = resolveStreamSlotsOptions(init)
  }

  /** Streams open to `peer` now (held slots). */
  openTo(peer: PeerId | string): number {
    return this.peers.get(peer.toString())?.open ?? 0
  }

  /** Requests waiting for a slot of `peer` now. */
  waitingFor(peer: PeerId | string): number {
    return this.peers.get(peer.toString())?.waiting.length ?? 0
  }

  /**
   * A slot of `peer`: at once while fewer than `perPeer` are held, else when one is
   * given back (first come first served).
   *
   * @throws {OverloadedError} when `queuePerPeer` requests already wait for `peer`
   * @throws the signal's reason when it aborts while waiting
   */
  acquire(peer: PeerId | string, signal?: AbortSignal): Promise<StreamSlot> {
    const key = peer.toString()
    signal?.throwIfAborted()
    let slots = this.peers.get(key)
    if (slots == null) {
      slots = { open: 0, waiting: [] }
      this.peers.set(key, slots)
    }
    const state = slots
    if (state.open < this.options.perPeer) {
      state.open++
      return Promise.resolve(this.slotOf(key, state))
    }
    if (state.waiting.length >= this.options.queuePerPeer) {
      return Promise.reject(
        new OverloadedError(
          `overloaded: ${state.waiting.length} DHT requests to ${key} are already waiting, retry later`,
        ),
      )
    }
    return new Promise<StreamSlot>((resolve, reject) => {
      const onAbort = (): void => {
        const at = state.waiting.indexOf(waiter)
        if (at >= 0) state.waiting.splice(at, 1)
        this.forgetIfIdle(key, state)
        reject(signal?.reason)
      }
      const waiter: Waiter = {
        resolve: (slot) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(slot)
        },
        reject,
      }
      state.waiting.push(waiter)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  private slotOf(key: string, state: PeerSlots): StreamSlot {
    return new StreamSlot(() => {
      const next = state.waiting.shift()
      if (next != null) {
        // the slot passes to the next waiter: `open` is unchanged
        next.resolve(this.slotOf(key, state))
        return
      }
      state.open--
      this.forgetIfIdle(key, state)
    })
  }

  private forgetIfIdle(key: string, state: PeerSlots): void {
    if (state.open === 0 && state.waiting.length === 0 && this.peers.get(key) === state)
      this.peers.delete(key)
  }

  /**
   * `openStream` of libp2p's connection manager, for the DHT `protocol`: in the slot that
   * {@link StreamSlots.sendRequest} handed down in `options`, else in a slot taken here;
   * the slot is freed when the stream closes, or at once when it could not be opened.
   * Other protocols pass through.
   */
  openStream(open: Opener, protocol: string): Opener {
    return async (peer, protocols, options = {}) => {
      const dht = protocols === protocol || (Array.isArray(protocols) && protocols.includes(protocol))
      if (!dht) return open(peer, protocols, options)
      const handed = (options as { [STREAM_SLOT]?: StreamSlot })[STREAM_SLOT]
      const slot = handed ?? (await this.acquire(peer, options.signal))
      try {
        const stream = await open(peer, protocols, options)
        slot.bindTo(stream)
        return stream
      } catch (err) {
        slot.free()
        throw err
      }
    }
  }

  /**
   * kad-dht's `sendRequest` with a slot of `to` taken before the inner call runs (and its
   * per-peer timeout starts), handed down to the stream the inner call opens; freed when
   * that stream closes, or when the call ends without a stream.
   */
  sendRequest(inner: SendRequest): SendRequest {
    const slots = this
    return async function* slotted(to, msg, options: AbortOptions = {}): AsyncGenerator<QueryEvent> {
      const slot = await slots.acquire(to, options.signal)
      try {
        yield* inner(to, msg, { ...options, [STREAM_SLOT]: slot } as AbortOptions)
      } finally {
        if (!slot.bound) slot.free()
      }
    }
  }
}
