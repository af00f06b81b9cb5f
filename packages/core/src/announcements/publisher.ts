/**
 * The provider side: announces the shards this node starts providing in as few messages
 * as the limits allow, one per topic set (the network-wide topic plus the provide's
 * groups). Batching is leading-edge: a shard provided while no batch window is open is
 * announced at once (with whatever else was provided in the same tick) and opens a
 * window ({@link ANNOUNCE_BATCH_WINDOW}); the shards provided during the window go out
 * together when it closes. A lone provide pays no window; a burst costs one message per
 * window.
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { fromString as uint8FromString } from 'uint8arrays/from-string'
import { uniqueAddrs } from '../peer-addresses.js'
import { encodeAnnouncement } from './codec.js'

/** What the publisher needs. */
export interface AnnouncementPublisherComponents {
  peerId: PeerId
  /** This node's addresses, as its announcements carry them. */
  addresses(): Multiaddr[]
  publish(topic: string, data: Uint8Array): Promise<{ recipients: PeerId[] }>
}

/** Options of the publisher (resolved by the service). */
export interface AnnouncementPublisherOptions {
  batchWindow: number
  /** Expiry of an announcement from its publication, ms. */
  ttl: number
  maxShards: number
  maxAddresses: number
  maxAddressBytes: number
  now: () => number
}

/** One published announcement. */
export interface PublishedAnnouncement {
  topic: string
  shards: number
  bytes: number
  recipients: number
}

/** Batches shards and publishes their announcements (see the module's docs). */
export class AnnouncementPublisher {
  /** Pending shards by their topic set (topics joined by a newline). */
  private readonly pending = new Map<string, Set<string>>()
  private timer?: ReturnType<typeof setTimeout>
  private flushing = Promise.resolve()

  constructor(
    private readonly components: AnnouncementPublisherComponents,
    private readonly options: AnnouncementPublisherOptions,
    private readonly onPublished: (published: PublishedAnnouncement) => void,
    private readonly onError: (err: Error, topic: string) => void,
  ) {}

  /** Queues `shard` (64 hex) for announcement on `topics`; published within the batch window. */
  add(shard: string, topics: readonly string[]): void {
    const key = [...new Set(topics)].sort().join('\n')
    let set = this.pending.get(key)
    if (set == null) {
      set = new Set()
      this.pending.set(key, set)
    }
    set.add(shard)
    if (this.timer != null) return // a window is open: published when it closes
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.pending.size > 0) void this.publishPending()
    }, this.options.batchWindow)
    // no window was open: at once, with whatever else this tick provides
    queueMicrotask(() => void this.publishPending())
  }

  /** Publishes everything pending now; resolves when it is published (or failed and reported). */
  flush(): Promise<void> {
    if (this.timer != null) {
      clearTimeout(this.timer)
      this.timer = undefined
    }
    return this.publishPending()
  }

  private publishPending(): Promise<void> {
    if (this.pending.size === 0) return this.flushing
    const batches = [...this.pending]
    this.pending.clear()
    this.flushing = this.flushing.then(() => this.publishAll(batches))
    return this.flushing
  }

  /** Drops what is pending and the timer (at stop). */
  clear(): void {
    if (this.timer != null) clearTimeout(this.timer)
    this.timer = undefined
    this.pending.clear()
  }

  private async publishAll(batches: Array<[string, Set<string>]>): Promise<void> {
    const { maxShards, maxAddresses, maxAddressBytes, ttl, now } = this.options
    const provider = this.components.peerId.toMultihash().bytes
    const addrs = uniqueAddrs(this.components.addresses())
      .map((addr) => addr.bytes)
      .filter((bytes) => bytes.byteLength <= maxAddressBytes)
      .slice(0, maxAddresses)
    for (const [key, set] of batches) {
      const topics = key.split('\n')
      const shards = [...set]
      for (let i = 0; i < shards.length; i += maxShards) {
        const chunk = shards.slice(i, i + maxShards)
        const data = encodeAnnouncement({
          shards: chunk.map((hex) => uint8FromString(hex, 'base16')),
          provider,
          addrs,
          expiresAt: now() + ttl,
        })
        for (const topic of topics) {
          try {
            const { recipients } = await this.components.publish(topic, data)
            this.onPublished({
              topic,
              shards: chunk.length,
              bytes: data.byteLength,
              recipients: recipients.length,
            })
          } catch (err) {
            this.onError(err as Error, topic)
          }
        }
      }
    }
  }
}
