/**
 * The peers one lookup knows of, ordered by XOR distance to its target, each in one of
 * four states (go-libp2p-kad-dht's `qpeerset`): heard of, waiting for an answer,
 * queried (it answered), unreachable (it failed or timed out).
 *
 * Which peer is asked next: among the heard peers inside the window of the `k` closest
 * peers not unreachable, the cheapest first: a peer with an open connection before one
 * that must be dialled (a first contact costs 8 to 9 round trips), then the lower
 * measured response time, then the nearer. Every peer of the window that matters is asked
 * eventually; the order only decides which answers come first, so slow peers are tried
 * after fast ones.
 *
 * When it ends (go-libp2p-kad-dht's lookup termination, its `beta` resiliency): once the
 * `beta` closest peers not unreachable have all answered, nothing closer can be learnt
 * from the peers known, and the lookup stops asking.
 *
 * @packageDocumentation
 */

import type { PeerId, PeerInfo } from '@libp2p/interface'

/** Where one peer stands in a lookup. */
export type CandidateState = 'heard' | 'waiting' | 'queried' | 'unreachable'

/** One peer of a lookup. */
export interface Candidate {
  readonly info: PeerInfo
  readonly id: string
  /** XOR of its Kademlia id and the target's. */
  readonly distance: Uint8Array
  state: CandidateState
  /** An open connection when it was heard of (no dial needed). */
  connected: boolean
  /** Its measured response time in ms, when known. */
  rtt?: number
}

/** What the cost order knows of a peer when it is heard of. */
export interface CandidateCost {
  connected: boolean
  rtt?: number
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0)
    if (d !== 0) return d
  }
  return 0
}

function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length)
  for (let i = 0; i < a.length; i++) out[i] = (a[i] ?? 0) ^ (b[i] ?? 0)
  return out
}

/** The peers of one lookup: see the module docs. */
export class LookupCandidates {
  /** Nearest first. */
  private readonly sorted: Candidate[] = []
  private readonly byId = new Map<string, Candidate>()

  constructor(
    private readonly target: Uint8Array,
    private readonly k: number,
    private readonly beta: number,
  ) {}

  /** Peers known (every state). */
  get size(): number {
    return this.sorted.length
  }

  /** Adds a peer heard of; false when it was known already. */
  add(info: PeerInfo, kadId: Uint8Array, cost: CandidateCost): boolean {
    const id = info.id.toString()
    if (this.byId.has(id)) return false
    const candidate: Candidate = {
      info,
      id,
      distance: xor(kadId, this.target),
      state: 'heard',
      connected: cost.connected,
      ...(cost.rtt == null ? {} : { rtt: cost.rtt }),
    }
    let lo = 0
    let hi = this.sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareBytes((this.sorted[mid] as Candidate).distance, candidate.distance) < 0) lo = mid + 1
      else hi = mid
    }
    this.sorted.splice(lo, 0, candidate)
    this.byId.set(id, candidate)
    return true
  }

  /** The candidate of `peer`, if known. */
  get(peer: PeerId | string): Candidate | undefined {
    return this.byId.get(typeof peer === 'string' ? peer : peer.toString())
  }

  /** Moves `peer` to `state`. */
  mark(peer: PeerId | string, state: CandidateState): void {
    const candidate = this.get(peer)
    if (candidate != null) candidate.state = state
  }

  /** The `count` nearest peers not unreachable. */
  window(count = this.k): Candidate[] {
    const out: Candidate[] = []
    for (const candidate of this.sorted) {
      if (candidate.state === 'unreachable') continue
      out.push(candidate)
      if (out.length >= count) break
    }
    return out
  }

  /** The next peer to ask (see the module docs), or undefined when none in the window is left. */
  next(): Candidate | undefined {
    let best: Candidate | undefined
    for (const candidate of this.window()) {
      if (candidate.state !== 'heard') continue
      if (best == null || cheaper(candidate, best)) best = candidate
    }
    return best
  }

  /** Peers being asked. */
  waiting(): number {
    let n = 0
    for (const candidate of this.sorted) if (candidate.state === 'waiting') n++
    return n
  }

  /** True once the `beta` nearest peers not unreachable have all answered (see the module docs). */
  terminated(): boolean {
    const nearest = this.window(this.beta)
    return nearest.length > 0 && nearest.every((candidate) => candidate.state === 'queried')
  }

  /** The `count` nearest peers that answered. */
  closestQueried(count = this.k): Candidate[] {
    const out: Candidate[] = []
    for (const candidate of this.sorted) {
      if (candidate.state !== 'queried') continue
      out.push(candidate)
      if (out.length >= count) break
    }
    return out
  }
}

/** `a` is asked before `b`: connected first, then the faster, then the nearer. */
function cheaper(a: Candidate, b: Candidate): boolean {
  if (a.connected !== b.connected) return a.connected
  const ra = a.rtt ?? Number.POSITIVE_INFINITY
  const rb = b.rtt ?? Number.POSITIVE_INFINITY
  if (ra !== rb) return ra < rb
  return compareBytes(a.distance, b.distance) < 0
}
