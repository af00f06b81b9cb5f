/**
 * The gossipsub metrics of shard announcements: a reporter for core's
 * `ShardAnnouncements` (messages published, received, rejected by reason) and the mesh
 * size per topic, read at scrape time.
 *
 * @packageDocumentation
 */

import type { NsnMetrics } from './metrics.js'

/** What a `ShardAnnouncements` reports (core's `ShardAnnouncementsReporter`, structurally). */
export interface AnnouncementsReporterLike {
  published(event: { topic: string }): void
  received(event: { topic: string }): void
  rejected(event: { reason: string }): void
}

/** The part of core's `ShardAnnouncements` the mesh gauge reads. */
export interface ShardAnnouncementsLike {
  topics(): Array<{ topic: string; meshPeers: number }>
}

/**
 * The reporter to give `ShardAnnouncements` (`reporter`): counts into
 * `nsn_p2p_gossipsub_messages_{published,received,rejected}_total`.
 */
export function announcementsReporter(metrics: NsnMetrics): AnnouncementsReporterLike {
  const { published, received, rejected } = metrics.gossipsub
  return {
    published: ({ topic }) => published.inc({ topic }),
    received: ({ topic }) => received.inc({ topic }),
    rejected: ({ reason }) => rejected.inc({ reason }),
  }
}

/**
 * Makes `nsn_p2p_gossipsub_mesh_peers{topic}` read `announcements.topics()` at every
 * scrape: one series per subscribed topic (a topic left is no longer reported). Returns
 * a function that undoes it.
 */
export function trackShardAnnouncements(
  announcements: ShardAnnouncementsLike,
  metrics: NsnMetrics,
): () => void {
  const { meshPeers } = metrics.gossipsub
  const undo = meshPeers.addCollect((gauge) => {
    gauge.reset()
    for (const { topic, meshPeers: peers } of announcements.topics()) gauge.set({ topic }, peers)
  })
  return () => {
    undo()
    meshPeers.reset()
  }
}
