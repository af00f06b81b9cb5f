/**
 * The subscriber side: the topic validator gossipsub runs on every new message of an
 * announcement topic. It validates (`validator.ts`), applies the author's rate limit,
 * hands a valid announcement to the sink (the provider cache) and tells gossipsub
 * whether to forward it (`accept`), drop it (`ignore`) or drop it and penalise the peer
 * that delivered it (`reject`: see `scoring.ts`).
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import type { AnnouncementValidation, AnnouncementValidatorFn, PubSubMessage } from './pubsub.js'
import {
  type AnnouncementRateLimiter,
  type AnnouncementRejectReason,
  type ResolvedAnnouncementLimits,
  type ValidAnnouncement,
  validateAnnouncement,
} from './validator.js'

/** What the subscriber reports. */
export interface AnnouncementSubscriberEvents {
  /** A new message reached validation. */
  received(topic: string): void
  /** It was refused. */
  rejected(topic: string, reason: AnnouncementRejectReason, source: PeerId, detail?: string): void
  /** It was valid; its providers go to the cache. */
  accepted(topic: string, announcement: ValidAnnouncement): void
}

/**
 * The validator of announcement topics (one function for all of them). A message that
 * fails only on time (past its author's rate limit, or expired) is rejected when the
 * author delivered it itself, and ignored when a relay did (the relay forwarded it while
 * it was valid there: before this node's limit ran out, or before it expired).
 */
export function announcementValidator(
  limits: ResolvedAnnouncementLimits,
  rate: AnnouncementRateLimiter,
  now: () => number,
  events: AnnouncementSubscriberEvents,
): AnnouncementValidatorFn {
  return (source: PeerId, message: PubSubMessage): AnnouncementValidation => {
    const { topic } = message
    events.received(topic)
    const author = message.type === 'signed' ? message.from : undefined
    const at = now()
    const verdict = validateAnnouncement(message.data, author, at, limits)
    if (!verdict.valid) {
      events.rejected(topic, verdict.reason, source, verdict.detail)
      // expiry is a matter of time: a relay may have forwarded it while it was valid
      if (verdict.reason === 'expired' && author != null && !source.equals(author)) return 'ignore'
      return 'reject'
    }
    if (!rate.take(verdict.announcement.provider.toString(), at)) {
      events.rejected(topic, 'rate_limited', source)
      return source.equals(verdict.announcement.provider) ? 'reject' : 'ignore'
    }
    events.accepted(topic, verdict.announcement)
    return 'accept'
  }
}
