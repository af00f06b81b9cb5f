/**
 * A random walk that waits between its lookups: the `randomWalk` component given to the
 * services that look for peers at random (the circuit-relay transport's relay discovery,
 * AutoNAT), in place of libp2p's own.
 *
 * libp2p 3.3.11's `RandomWalk` starts the next random `getClosestPeers` as soon as one
 * ends, for as long as a consumer waits for a peer. When a lookup ends at once with no
 * peer (an empty routing table, as on a node whose peers are all still DHT clients, or
 * alone on the network) that loop never leaves the microtask queue: timers, sockets and
 * the HTTP API starve, and the process spins at full CPU until it is killed. On the
 * netns NAT test a host that took relay reservations before any peer was a DHT server
 * froze that way. Here every lookup starts at least {@link RANDOM_WALK_INTERVAL} ms after
 * the one before it, and one that found no peer doubles the wait, up to
 * {@link RANDOM_WALK_MAX_BACKOFF} ms, so the walk resumes once the table has peers.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerInfo, PeerRouting } from '@libp2p/interface'
import type { RandomWalk } from '@libp2p/interface-internal'
import { RANDOM_WALK_INTERVAL, RANDOM_WALK_MAX_BACKOFF } from './constants.js'

/** Options of a {@link PacedRandomWalk}. */
export interface PacedRandomWalkInit {
  /** Least time from the start of one lookup to the start of the next, in ms. Default {@link RANDOM_WALK_INTERVAL}. */
  interval?: number
  /** Longest wait after lookups that found no peer, in ms. Default {@link RANDOM_WALK_MAX_BACKOFF}. */
  maxBackoff?: number
}

/** What a {@link PacedRandomWalk} walks with (libp2p's components have it). */
export interface PacedRandomWalkComponents {
  peerRouting: Pick<PeerRouting, 'getClosestPeers'>
}

/** Resolves after `ms`, or rejects with the signal's reason once it aborts. */
function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(signal.reason)
      return
    }
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

/**
 * libp2p's `RandomWalk` interface: `walk()` yields peers found by lookups of random keys,
 * one lookup at a time, paced (see the module's description). A walk ends when its
 * signal aborts (rejecting with the signal's reason, as libp2p's does) or when a lookup
 * throws (with that error).
 */
export class PacedRandomWalk implements RandomWalk {
  private readonly interval: number
  private readonly maxBackoff: number

  constructor(
    private readonly components: PacedRandomWalkComponents,
    init: PacedRandomWalkInit = {},
  ) {
    this.interval = init.interval ?? RANDOM_WALK_INTERVAL
    this.maxBackoff = init.maxBackoff ?? RANDOM_WALK_MAX_BACKOFF
    if (!(this.interval > 0 && this.maxBackoff >= this.interval)) {
      throw new RangeError(
        `a random walk needs interval > 0 and maxBackoff >= interval, got ${this.interval} and ${this.maxBackoff}`,
      )
    }
  }

  readonly [Symbol.toStringTag] = '@nsn/paced-random-walk'

  async *walk(options: AbortOptions = {}): AsyncGenerator<PeerInfo> {
    const { signal } = options
    let backoff = this.interval
    while (true) {
      signal?.throwIfAborted()
      const started = performance.now()
      let found = 0
      const key = crypto.getRandomValues(new Uint8Array(32))
      for await (const peer of this.components.peerRouting.getClosestPeers(key, { signal })) {
        found++
        yield peer
      }
      let wait = this.interval
      if (found > 0) backoff = this.interval
      else {
        wait = backoff
        backoff = Math.min(backoff * 2, this.maxBackoff)
      }
      const left = wait - (performance.now() - started)
      if (left > 0) await pause(left, signal)
    }
  }
}
