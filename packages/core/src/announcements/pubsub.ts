/**
 * What the announcement service needs of a pubsub router: the few members of
 * `@libp2p/gossipsub`'s `GossipSub` it uses, typed here so that core's main entry does
 * not load gossipsub (`@nsn/core/host`'s `announcementPubSub` adapts a real one).
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'

/** gossipsub's `TopicValidatorResult`, by value. */
export type AnnouncementValidation = 'accept' | 'ignore' | 'reject'

/** A received pubsub message as the validator sees it. */
export interface PubSubMessage {
  /** `signed` carries its author (`from`), verified by gossipsub (`StrictSign`). */
  type: 'signed' | 'unsigned'
  topic: string
  data: Uint8Array
  from?: PeerId
}

/** A topic validator: the peer that delivered the message, and the message. */
export type AnnouncementValidatorFn = (
  propagationSource: PeerId,
  message: PubSubMessage,
) => AnnouncementValidation | Promise<AnnouncementValidation>

/** Score parameters gossipsub keeps per topic (gossipsub's `TopicScoreParams`). */
export type TopicScoreParamsLike = Record<string, number>

/** The members of gossipsub the announcement service uses. */
export interface AnnouncementPubSub {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  /** Topics this node is subscribed to. */
  getTopics(): string[]
  /** Peers known to be subscribed to `topic`. */
  getSubscribers(topic: string): PeerId[]
  /** Peers in this node's mesh of `topic` (ids as strings). */
  getMeshPeers(topic: string): string[]
  publish(topic: string, data: Uint8Array): Promise<{ recipients: PeerId[] }>
  /** Validators by topic; gossipsub runs the topic's one on each new message. */
  readonly topicValidators: Map<string, AnnouncementValidatorFn>
  /**
   * Gives `topic` its score parameters (gossipsub scores a topic only once it has them:
   * per-group topics get theirs when first subscribed). Never removed: gossipsub keeps
   * per-peer stats of a scored topic and reads its parameters for as long as they live.
   */
  addTopicScoreParams(topic: string, params: TopicScoreParamsLike): void
}
