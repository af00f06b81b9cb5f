/**
 * {@link ShardAnnouncements}: shard announcements over gossipsub. When this node
 * provides shards it announces them (batched: the shard hashes, its peer id and
 * addresses, an expiry) on the network-wide topic {@link SHARD_ANNOUNCEMENTS_TOPIC} and
 * on the provide's group topics; it validates what others announce and hands the valid
 * providers to a sink (the node puts them in `ShardRouting`'s hot-shard provider cache,
 * so a lookup of an announced shard answers from memory, without a DHT walk).
 *
 * Signatures: gossipsub's `StrictSign` signs every message with its author's libp2p key
 * and verifies it on receipt (before the validator runs), and the validator requires the
 * announced provider to be that author (`wrong_provider` otherwise). The signature is
 * thus the provider's own over the whole announcement, and a second one inside the
 * payload would add bytes and CPU for nothing. What the signature does not stop, a
 * replay of a captured message after gossipsub's seen-cache forgot it, the expiry does:
 * an announcement lives at most `maxTtl` (10 min) and is refused once expired.
 *
 * Parts: `codec.ts` (wire form), `validator.ts` (limits, reasons, rate limiter),
 * `subscriber.ts` (the topic validator), `publisher.ts` (batching), `scoring.ts`
 * (gossipsub peer scoring), `topics.ts` (topic and group names), `pubsub.ts` (what it
 * needs of gossipsub).
 *
 * @packageDocumentation
 */

import type { Logger, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  ANNOUNCE_BATCH_WINDOW,
  ANNOUNCEMENT_RATE_PEERS,
  ANNOUNCEMENT_TTL,
  MAX_GROUP_TOPICS,
  SHARD_ANNOUNCEMENTS_TOPIC,
} from '../constants.js'
import { InvalidOptionError, NsnError } from '../errors.js'
import { IntervalGate } from '../lru-map.js'
import { positiveInteger, positiveNumber } from '../option-checks.js'
import { AnnouncementPublisher, type PublishedAnnouncement } from './publisher.js'
import type { AnnouncementPubSub } from './pubsub.js'
import { announcementTopicScoreParams } from './scoring.js'
import { announcementValidator } from './subscriber.js'
import { groupOfTopic, groupTopic, parseGroupName } from './topics.js'
import {
  type AnnouncementLimits,
  AnnouncementRateLimiter,
  type AnnouncementRejectReason,
  type ResolvedAnnouncementLimits,
  resolveAnnouncementLimits,
  type ValidAnnouncement,
} from './validator.js'

/** More group topics than {@link MAX_GROUP_TOPICS} (or the `maxGroups` option). */
export class TooManyGroupsError extends NsnError<'ERR_TOO_MANY_GROUPS'> {
  static readonly code = 'ERR_TOO_MANY_GROUPS'
  override readonly name = 'TooManyGroupsError'
  readonly code = TooManyGroupsError.code

  constructor(readonly max: number) {
    super(`subscribed to ${max} group topics already (the most this node subscribes to)`)
  }
}

/** What the service reports (the metrics adapter counts it); none may throw. */
export interface ShardAnnouncementsReporter {
  /** An announcement was published on `topic`. */
  published?(event: PublishedAnnouncement): void
  /** A new message of `topic` reached validation. */
  received?(event: { topic: string }): void
  /** A message was refused. */
  rejected?(event: { topic: string; reason: AnnouncementRejectReason }): void
  /** A valid announcement's providers went to the sink. */
  accepted?(event: { topic: string; shards: number }): void
}

/** What {@link ShardAnnouncements} uses. */
export interface ShardAnnouncementsComponents {
  peerId: PeerId
  pubsub: AnnouncementPubSub
  /** This node's addresses, as its announcements carry them. */
  addresses(): Multiaddr[]
  /** Where valid announcements go (the node: `ShardRouting.cacheAnnounced`). */
  sink(announcement: ValidAnnouncement): void
}

/** Options of {@link ShardAnnouncements}; defaults in `constants.ts`. */
export interface ShardAnnouncementsInit extends AnnouncementLimits {
  /** Group topics to subscribe to at start. */
  groups?: readonly string[]
  /** How long shards are collected before they are announced, ms. Default {@link ANNOUNCE_BATCH_WINDOW}. */
  batchWindow?: number
  /** Expiry of this node's announcements from their publication, ms. Default {@link ANNOUNCEMENT_TTL}. */
  ttl?: number
  /** Group topics subscribed to at most. Default {@link MAX_GROUP_TOPICS}. */
  maxGroups?: number
  /** Authors whose rate buckets are kept. Default {@link ANNOUNCEMENT_RATE_PEERS}. */
  maxRatePeers?: number
  reporter?: ShardAnnouncementsReporter
  logger?: Logger
  /** The clock, ms (tests give a fake one). Default `Date.now`. */
  now?: () => number
}

/** A subscribed topic, as `topics()` lists it. */
export interface AnnouncementTopicInfo {
  /** The group name, or null for the network-wide topic. */
  group: string | null
  topic: string
  /** Peers in this node's mesh of the topic. */
  meshPeers: number
  /** Peers known to be subscribed to it. */
  subscribers: number
}

/** Shard announcements over gossipsub (see the module's docs). */
export class ShardAnnouncements {
  /** The limits in effect. */
  readonly limits: ResolvedAnnouncementLimits
  private readonly components: ShardAnnouncementsComponents
  private readonly publisher: AnnouncementPublisher
  private readonly reporter: ShardAnnouncementsReporter
  private readonly log?: Logger
  private readonly maxGroups: number
  private readonly initialGroups: readonly string[]
  private readonly groups = new Set<string>()
  private readonly validate: ReturnType<typeof announcementValidator>
  private readonly warnGate: IntervalGate
  private started = false

  /** @throws {InvalidOptionError} for an out-of-range option; {@link InvalidGroupNameError} for a bad group */
  constructor(components: ShardAnnouncementsComponents, init: ShardAnnouncementsInit = {}) {
    this.components = components
    this.limits = resolveAnnouncementLimits(init)
    this.reporter = init.reporter ?? {}
    this.log = init.logger
    this.maxGroups = init.maxGroups ?? MAX_GROUP_TOPICS
    if (!Number.isInteger(this.maxGroups) || this.maxGroups < 0) {
      throw new InvalidOptionError(
        'announcements.maxGroups',
        `must be an integer >= 0, got ${String(this.maxGroups)}`,
      )
    }
    this.initialGroups = (init.groups ?? []).map(parseGroupName)
    if (new Set(this.initialGroups).size > this.maxGroups) throw new TooManyGroupsError(this.maxGroups)
    const now = init.now ?? Date.now
    const ttl = positiveNumber('announcements.ttl', init.ttl ?? ANNOUNCEMENT_TTL, ' (ms)')
    if (ttl > this.limits.maxTtl) {
      throw new InvalidOptionError(
        'announcements.ttl',
        `must be at most maxTtl (${this.limits.maxTtl} ms), got ${ttl}`,
      )
    }
    const batchWindow = init.batchWindow ?? ANNOUNCE_BATCH_WINDOW
    if (!(Number.isFinite(batchWindow) && batchWindow >= 0)) {
      throw new InvalidOptionError(
        'announcements.batchWindow',
        `must be a finite number >= 0 (ms), got ${batchWindow}`,
      )
    }
    this.warnGate = new IntervalGate(60_000, 1_024, now)
    this.publisher = new AnnouncementPublisher(
      {
        peerId: components.peerId,
        addresses: components.addresses,
        publish: (topic, data) => components.pubsub.publish(topic, data),
      },
      {
        batchWindow,
        ttl,
        maxShards: this.limits.maxShards,
        maxAddresses: this.limits.maxAddresses,
        maxAddressBytes: this.limits.maxAddressBytes,
        now,
      },
      (published) => this.report('published', published),
      (err, topic) => this.log?.error('could not publish a shard announcement on %s - %e', topic, err),
    )
    const rate = new AnnouncementRateLimiter(
      this.limits,
      positiveInteger('announcements.maxRatePeers', init.maxRatePeers ?? ANNOUNCEMENT_RATE_PEERS),
    )
    this.validate = announcementValidator(this.limits, rate, now, {
      received: (topic) => this.report('received', { topic }),
      rejected: (topic, reason, source, detail) => {
        this.report('rejected', { topic, reason })
        const key = source.toString()
        if (this.warnGate.pass(key)) {
          this.log?.('rejected a shard announcement from %s on %s: %s %s', key, topic, reason, detail ?? '')
        }
      },
      accepted: (topic, announcement) => {
        this.components.sink(announcement)
        this.report('accepted', { topic, shards: announcement.shards.length })
      },
    })
  }

  /** Subscribes to the network-wide topic and the configured groups. Idempotent. */
  start(): void {
    if (this.started) return
    this.started = true
    this.join(SHARD_ANNOUNCEMENTS_TOPIC)
    for (const group of this.initialGroups) this.subscribe(group)
  }

  /** Unsubscribes from every topic and drops pending announcements. Idempotent. */
  stop(): void {
    if (!this.started) return
    this.started = false
    this.publisher.clear()
    for (const group of [...this.groups]) this.unsubscribe(group)
    this.leave(SHARD_ANNOUNCEMENTS_TOPIC)
  }

  /**
   * Announces that this node provides `shard` (64 hex), on the network-wide topic and the
   * topics of `groups`, within the batch window. Groups need not be subscribed to.
   *
   * @throws {InvalidGroupNameError} for a bad group name
   */
  announce(shard: string, groups: readonly string[] = []): void {
    if (!this.started) return
    const topics = [SHARD_ANNOUNCEMENTS_TOPIC, ...groups.map(groupTopic)]
    this.publisher.add(shard, topics)
  }

  /** Publishes what is pending now (tests, benchmarks, and `stop` callers that want it sent). */
  flush(): Promise<void> {
    return this.publisher.flush()
  }

  /**
   * Subscribes to a group's topic. False when it was subscribed already.
   *
   * @throws {InvalidGroupNameError} for a bad group name
   * @throws {TooManyGroupsError} past `maxGroups`
   */
  subscribe(group: string): boolean {
    const name = parseGroupName(group)
    if (this.groups.has(name)) return false
    if (this.groups.size >= this.maxGroups) throw new TooManyGroupsError(this.maxGroups)
    this.groups.add(name)
    this.join(groupTopic(name))
    return true
  }

  /**
   * Unsubscribes from a group's topic. False when it was not subscribed.
   *
   * @throws {InvalidGroupNameError} for a bad group name
   */
  unsubscribe(group: string): boolean {
    const name = parseGroupName(group)
    if (!this.groups.delete(name)) return false
    this.leave(groupTopic(name))
    return true
  }

  /** True when subscribed to the group's topic. */
  isSubscribed(group: string): boolean {
    return this.groups.has(group)
  }

  /** The subscribed topics: the network-wide one first, then the groups by name. */
  topics(): AnnouncementTopicInfo[] {
    if (!this.started) return []
    const { pubsub } = this.components
    const info = (topic: string): AnnouncementTopicInfo => ({
      group: groupOfTopic(topic) ?? null,
      topic,
      meshPeers: pubsub.getMeshPeers(topic).length,
      subscribers: pubsub.getSubscribers(topic).length,
    })
    return [SHARD_ANNOUNCEMENTS_TOPIC, ...[...this.groups].sort().map(groupTopic)].map(info)
  }

  private join(topic: string): void {
    const { pubsub } = this.components
    pubsub.addTopicScoreParams(topic, announcementTopicScoreParams() as unknown as Record<string, number>)
    pubsub.topicValidators.set(topic, this.validate)
    pubsub.subscribe(topic)
  }

  private leave(topic: string): void {
    const { pubsub } = this.components
    pubsub.unsubscribe(topic)
    pubsub.topicValidators.delete(topic)
  }

  private report<K extends keyof ShardAnnouncementsReporter>(
    name: K,
    event: Parameters<NonNullable<ShardAnnouncementsReporter[K]>>[0],
  ): void {
    try {
      ;(this.reporter[name] as ((e: typeof event) => void) | undefined)?.(event)
    } catch (err) {
      this.log?.error('announcement reporter %s threw - %e', name, err)
    }
  }
}
