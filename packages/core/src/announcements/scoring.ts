/**
 * gossipsub's peer scoring for announcement topics: how a peer that sends invalid or
 * too many announcements is scored out.
 *
 * A subscriber rejects (`TopicValidatorResult.Reject`) every invalid announcement, and
 * every announcement past its author's rate limit that the author itself sent. gossipsub
 * counts each rejection against the peer that delivered it (P4, invalid message
 * deliveries) and its score falls by `weight x count^2`: with the weight -10 here, three
 * rejections in a row put it at -90, below the graylist threshold (-80): gossipsub then
 * drops every RPC of that peer before it is read (nothing of it reaches validation, the
 * cache or the mesh), it is pruned from meshes (score below 0) and no longer gossiped to
 * (below -10). The count decays by 3 % a second ({@link INVALID_DECAY}): a graylisted
 * peer's RPCs are dropped unread, so its count stops near 3 to 5 and it stays out for
 * about 10 to 20 s after it stops (each further burst puts it out again); an honest peer
 * that relayed one bad message stays above every threshold (-10 is the gossip threshold,
 * not below it).
 *
 * Honest relays are never penalised for others' traffic: they forward only what they
 * validated, and a relayed message that fails only on time (past its author's rate
 * limit here, or expired on the way) is ignored, not rejected.
 *
 * The mesh-delivery penalties (P3, P3b) are off: announcements come in bursts when
 * shards are provided, and a quiet mesh is not a misbehaving one.
 *
 * @packageDocumentation
 */

import type { TopicScoreParams } from '@libp2p/gossipsub/score'

/** Weight of one squared invalid delivery. */
export const INVALID_WEIGHT = -10

/** Share of the invalid-delivery count kept at each decay interval (1 s). */
export const INVALID_DECAY = 0.97

/** Score thresholds (gossipsub's defaults, named here since the weights are tuned to them). */
export const ANNOUNCEMENT_SCORE_THRESHOLDS = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 10,
  opportunisticGraftThreshold: 20,
} as const

/** Score parameters of one announcement topic. */
export function announcementTopicScoreParams(): TopicScoreParams {
  return {
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 1,
    firstMessageDeliveriesDecay: 0.5,
    firstMessageDeliveriesCap: 10,
    meshMessageDeliveriesWeight: 0,
    meshMessageDeliveriesDecay: 0.5,
    meshMessageDeliveriesCap: 1,
    meshMessageDeliveriesThreshold: 1,
    meshMessageDeliveriesWindow: 10,
    meshMessageDeliveriesActivation: 5000,
    meshFailurePenaltyWeight: 0,
    meshFailurePenaltyDecay: 0.5,
    invalidMessageDeliveriesWeight: INVALID_WEIGHT,
    invalidMessageDeliveriesDecay: INVALID_DECAY,
  }
}
