/**
 * Which buckets a scheduled refresh looks up. A bucket lookup that found no new peer for
 * its bucket is not repeated at every refresh: the bucket waits 3, then 7, then 15
 * refreshes, and so on, up to a longest gap (an hour by default: Kademlia, section 2.3,
 * refreshes a bucket in which no lookup ran for an hour; go-libp2p-kad-dht refreshes every
 * bucket every 10 min, near the first wait, 20 min at NSN's 5-min interval). A bucket is
 * due again at once when it holds fewer peers than after its last lookup (a peer was
 * evicted or went away), and its backoff starts over when a lookup of it found new peers
 * or failed. Explicit refreshes look up every bucket; their lookups count here too.
 *
 * Measured with `bench/idle-probe.mjs`: on 100 idle nodes in one process every refresh
 * ran its self-lookup and 3 bucket lookups, about 20 FIND_NODE each, and those bursts
 * were most of the nodes' CPU time; in a network that changes nothing, a bucket lookup
 * finds no one new.
 *
 * @packageDocumentation
 */

interface BucketState {
  /** Refreshes to skip before the next lookup of this bucket. */
  skips: number
  /** Lookups in a row that found no new peer. */
  fruitless: number
  /** The bucket's peers right after its last lookup. */
  peers: number
}

/** Per-bucket backoff of the scheduled refresh's lookups (see the module comment). */
export class BucketRefreshBackoff {
  private readonly maxSkips: number
  private readonly buckets = new Map<number, BucketState>()

  /**
   * @param maxSkips - most refreshes in a row that skip one bucket (the longest gap
   *   between two lookups of a bucket is `maxSkips + 1` refresh intervals); 0 looks up
   *   every bucket at every refresh
   */
  constructor(maxSkips: number) {
    this.maxSkips = Math.max(0, Math.floor(maxSkips))
  }

  /**
   * Whether bucket `cpl` (peers sharing `cpl` leading bits with this node), holding
   * `peers` peers now, is looked up by this refresh. A bucket that is not due has one
   * skip counted.
   */
  due(cpl: number, peers: number): boolean {
    const state = this.buckets.get(cpl)
    if (state == null || peers < state.peers || state.skips === 0) return true
    state.skips--
    return false
  }

  /**
   * Records a lookup of bucket `cpl` (by any refresh, scheduled or not): its peers before
   * and after, and whether the lookup failed (a failed lookup proves nothing: the bucket
   * stays due).
   */
  looked(cpl: number, before: number, after: number, failed: boolean): void {
    const fruitless = failed || after > before ? 0 : (this.buckets.get(cpl)?.fruitless ?? 0) + 1
    this.buckets.set(cpl, {
      fruitless,
      skips: fruitless === 0 ? 0 : Math.min(2 ** (fruitless + 1) - 1, this.maxSkips),
      peers: after,
    })
  }
}
