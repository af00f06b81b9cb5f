/**
 * The checks every received announcement passes before its providers reach the cache,
 * and why one fails (the `reason` label of the rejection metric):
 *
 * - `unsigned`: gossipsub's `StrictSign` makes every message carry its author and a
 *   signature by the author's key, which gossipsub verifies before NSN sees it. An
 *   unsigned one never passes.
 * - `oversized`: more than `maxBytes` of encoding; refused before decoding.
 * - `malformed`, `too_many_shards`, `too_many_addresses`: see `codec.ts`.
 * - `bad_shard`: a shard hash that is not 32 bytes; `no_shards`: none at all.
 * - `wrong_provider`: the announced provider is not the message's author. The author's
 *   signature is the provider's signature only when they are the same peer, so this is
 *   what makes gossipsub's signature sign the announcement: nobody can announce another
 *   peer as a provider.
 * - `bad_address`: an address that does not parse, or longer than `maxAddressBytes`.
 * - `expired`: its expiry has passed (a replay of an old announcement is refused with it).
 * - `expiry_too_far`: its expiry is further than `maxTtl` plus `clockSkew` from now.
 * - `rate_limited`: its author published more than the local rate limit allows
 *   (`AnnouncementRateLimiter`; checked by the subscriber, last).
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { equals } from 'uint8arrays/equals'
import { toString as uint8ToString } from 'uint8arrays/to-string'
import {
  ANNOUNCEMENT_AUTHOR_QUARANTINE,
  ANNOUNCEMENT_BURST,
  ANNOUNCEMENT_CLOCK_SKEW,
  ANNOUNCEMENT_MAX_ADDRESS_BYTES,
  ANNOUNCEMENT_MAX_ADDRESSES,
  ANNOUNCEMENT_MAX_BYTES,
  ANNOUNCEMENT_MAX_SHARDS,
  ANNOUNCEMENT_MAX_TTL,
  ANNOUNCEMENT_RATE_PEERS,
  ANNOUNCEMENTS_PER_PEER_PER_SECOND,
  SHARD_HASH_LENGTH,
} from '../constants.js'
import { TokenBucket } from '../inbound-guard.js'
import { LruMap } from '../lru-map.js'
import { positiveInteger, positiveNumber } from '../option-checks.js'
import { AnnouncementDecodeError, decodeAnnouncement } from './codec.js'

/** Why an announcement was refused (see the module's docs). */
export type AnnouncementRejectReason =
  | 'unsigned'
  | 'oversized'
  | 'malformed'
  | 'too_many_shards'
  | 'too_many_addresses'
  | 'no_shards'
  | 'bad_shard'
  | 'wrong_provider'
  | 'bad_address'
  | 'expired'
  | 'expiry_too_far'
  | 'rate_limited'

/** Every {@link AnnouncementRejectReason}, for label pre-initialisation. */
export const ANNOUNCEMENT_REJECT_REASONS: readonly AnnouncementRejectReason[] = [
  'unsigned',
  'oversized',
  'malformed',
  'too_many_shards',
  'too_many_addresses',
  'no_shards',
  'bad_shard',
  'wrong_provider',
  'bad_address',
  'expired',
  'expiry_too_far',
  'rate_limited',
]

/** Bounds of an announcement, as a subscriber checks them (defaults in `constants.ts`). */
export interface AnnouncementLimits {
  /** Largest encoding, bytes. Default {@link ANNOUNCEMENT_MAX_BYTES}. */
  maxBytes?: number
  /** Shards per announcement. Default {@link ANNOUNCEMENT_MAX_SHARDS}. */
  maxShards?: number
  /** Addresses per announcement. Default {@link ANNOUNCEMENT_MAX_ADDRESSES}. */
  maxAddresses?: number
  /** Longest address, bytes. Default {@link ANNOUNCEMENT_MAX_ADDRESS_BYTES}. */
  maxAddressBytes?: number
  /** Furthest expiry from now, ms. Default {@link ANNOUNCEMENT_MAX_TTL}. */
  maxTtl?: number
  /** Clock skew tolerated on top of `maxTtl`, ms. Default {@link ANNOUNCEMENT_CLOCK_SKEW}. */
  clockSkew?: number
  /** Announcements one author may publish per second. Default {@link ANNOUNCEMENTS_PER_PEER_PER_SECOND}. */
  perPeerPerSecond?: number
  /** Announcements one author may publish at once. Default {@link ANNOUNCEMENT_BURST}. */
  burst?: number
}

/** {@link AnnouncementLimits} with every default applied. */
export type ResolvedAnnouncementLimits = Required<AnnouncementLimits>

/**
 * Applies the defaults and checks the ranges.
 *
 * @throws {InvalidOptionError} naming the option that is out of range
 */
export function resolveAnnouncementLimits(limits: AnnouncementLimits = {}): ResolvedAnnouncementLimits {
  return {
    maxBytes: positiveInteger('announcements.maxBytes', limits.maxBytes ?? ANNOUNCEMENT_MAX_BYTES),
    maxShards: positiveInteger('announcements.maxShards', limits.maxShards ?? ANNOUNCEMENT_MAX_SHARDS),
    maxAddresses: positiveInteger(
      'announcements.maxAddresses',
      limits.maxAddresses ?? ANNOUNCEMENT_MAX_ADDRESSES,
    ),
    maxAddressBytes: positiveInteger(
      'announcements.maxAddressBytes',
      limits.maxAddressBytes ?? ANNOUNCEMENT_MAX_ADDRESS_BYTES,
    ),
    maxTtl: positiveNumber('announcements.maxTtl', limits.maxTtl ?? ANNOUNCEMENT_MAX_TTL, ' (ms)'),
    clockSkew: nonNegative('announcements.clockSkew', limits.clockSkew ?? ANNOUNCEMENT_CLOCK_SKEW),
    perPeerPerSecond: positiveNumber(
      'announcements.perPeerPerSecond',
      limits.perPeerPerSecond ?? ANNOUNCEMENTS_PER_PEER_PER_SECOND,
    ),
    burst: positiveInteger('announcements.burst', limits.burst ?? ANNOUNCEMENT_BURST),
  }
}

function nonNegative(option: string, value: number): number {
  if (!(Number.isFinite(value) && value >= 0)) positiveNumber(option, value, ' (ms)')
  return value
}

/** A valid announcement, decoded. Ids and addresses are fresh objects (no buffer of the message kept). */
export interface ValidAnnouncement {
  /** Shard hashes, 64 lower-case hex each, once each. */
  shards: string[]
  provider: PeerId
  multiaddrs: Multiaddr[]
  /** ms since the Unix epoch. */
  expiresAt: number
}

/** What {@link validateAnnouncement} decided. */
export type AnnouncementVerdict =
  | { valid: true; announcement: ValidAnnouncement }
  | { valid: false; reason: AnnouncementRejectReason; detail?: string }

/**
 * Checks an announcement against the limits (everything but the rate, see the module's
 * docs). `author` is the message's signed author (undefined for an unsigned message).
 * Pure: the same input gives the same verdict.
 */
export function validateAnnouncement(
  data: Uint8Array,
  author: PeerId | undefined,
  now: number,
  limits: ResolvedAnnouncementLimits,
): AnnouncementVerdict {
  if (author == null) return { valid: false, reason: 'unsigned' }
  if (data.byteLength > limits.maxBytes) {
    return { valid: false, reason: 'oversized', detail: `${data.byteLength} > ${limits.maxBytes} bytes` }
  }
  let fields: ReturnType<typeof decodeAnnouncement>
  try {
    fields = decodeAnnouncement(data, limits)
  } catch (err) {
    if (err instanceof AnnouncementDecodeError)
      return { valid: false, reason: err.reason, detail: err.message }
    throw err
  }
  if (!equals(fields.provider, author.toMultihash().bytes)) return { valid: false, reason: 'wrong_provider' }
  if (fields.expiresAt <= now) {
    return { valid: false, reason: 'expired', detail: `expired ${now - fields.expiresAt} ms ago` }
  }
  if (fields.expiresAt > now + limits.maxTtl + limits.clockSkew) {
    return { valid: false, reason: 'expiry_too_far', detail: `${fields.expiresAt - now} ms ahead` }
  }
  if (fields.shards.length === 0) return { valid: false, reason: 'no_shards' }
  const shards = new Set<string>()
  for (const shard of fields.shards) {
    if (shard.byteLength !== SHARD_HASH_LENGTH) {
      return { valid: false, reason: 'bad_shard', detail: `${shard.byteLength} bytes` }
    }
    shards.add(uint8ToString(shard, 'base16'))
  }
  const multiaddrs: Multiaddr[] = []
  for (const bytes of fields.addrs) {
    if (bytes.byteLength > limits.maxAddressBytes) {
      return {
        valid: false,
        reason: 'bad_address',
        detail: `${bytes.byteLength} > ${limits.maxAddressBytes} bytes`,
      }
    }
    try {
      // through the string: the Multiaddr keeps no slice of the message
      multiaddrs.push(multiaddr(multiaddr(bytes).toString()))
    } catch (err) {
      return { valid: false, reason: 'bad_address', detail: (err as Error).message }
    }
  }
  return {
    valid: true,
    announcement: { shards: [...shards], provider: author, multiaddrs, expiresAt: fields.expiresAt },
  }
}

/**
 * The local rate limit of announcements: a token bucket per author
 * (`perPeerPerSecond`, `burst`), the buckets of at most `maxPeers` authors (least
 * recently seen forgotten past it, so memory is bounded whatever ids an attacker makes).
 */
export class AnnouncementRateLimiter {
  private readonly authors: LruMap<AuthorRate>

  /**
   * @param quarantine - how long an author whose overflow outran a second bucket of the
   * same rate and burst is refused whole, in ms ({@link ANNOUNCEMENT_AUTHOR_QUARANTINE}).
   * gossipsub's score only graylists the peer that sent the spam; once the spammer has
   * other peers (gossipsub's peer exchange gives it some), honest relays forward its
   * announcements again. The quarantine keys on the author, so those stop too.
   */
  constructor(
    private readonly limits: Pick<ResolvedAnnouncementLimits, 'perPeerPerSecond' | 'burst'>,
    maxPeers = ANNOUNCEMENT_RATE_PEERS,
    private readonly quarantine = ANNOUNCEMENT_AUTHOR_QUARANTINE,
  ) {
    this.authors = new LruMap(maxPeers)
  }

  /** Takes one of `author`'s tokens; false when it has none left or is quarantined. */
  take(author: string, now: number): boolean {
    let state = this.authors.get(author)
    if (state == null) {
      const { perPeerPerSecond, burst } = this.limits
      state = {
        tokens: new TokenBucket(perPeerPerSecond, burst, now),
        overflow: new TokenBucket(perPeerPerSecond, burst, now),
        quarantinedUntil: 0,
      }
      this.authors.set(author, state)
    }
    if (now < state.quarantinedUntil) return false
    if (state.tokens.take(now)) return true
    // past the limit: a second bucket absorbs an honest burst of overflow; sustained
    // sending at more than twice the rate empties it too, and the author is quarantined
    if (!state.overflow.take(now)) state.quarantinedUntil = now + this.quarantine
    return false
  }

  /** Whether `author` is refused whole at `now`. */
  isQuarantined(author: string, now: number): boolean {
    return now < (this.authors.get(author)?.quarantinedUntil ?? 0)
  }
}

/** One author's rate state. */
interface AuthorRate {
  readonly tokens: TokenBucket
  readonly overflow: TokenBucket
  quarantinedUntil: number
}
