/**
 * The eclipse scenario's shape, shared by `test/eclipse.test.ts` (NSN daemons) and
 * `bench/eclipse.mjs` (NSN beside plain kad-dht): its sizes, and the choice of a shard key
 * no honest node is near.
 *
 * @packageDocumentation
 */

import { commonPrefixLength, kadId, parseShardKey } from '@nsn/core'

/** Honest hosts: enough for a lookup to have honest peers to ask, few enough for a fast run. */
export const ECLIPSE_HONEST = 8
/** Sybils: more than k, so they can fill the bucket around the key in every table. */
export const ECLIPSE_SYBILS = 50
/** Leading bits each Sybil's Kademlia id shares with the key's: past kad-dht's 6-bit bucket prefix. */
export const ECLIPSE_GROUND_BITS = 8
/** An honest node shares fewer leading bits than this with the key (none in the key's bucket). */
export const ECLIPSE_HONEST_BITS_MAX = 6
/** Sybil dials per second per honest host: under libp2p's default of 5 inbound per second per IP. */
export const ECLIPSE_DIAL_RATE = 4

/**
 * The first shard of `candidates` whose key no honest node is near (fewer than
 * {@link ECLIPSE_HONEST_BITS_MAX} leading bits in common), and the most bits any honest
 * node shares with it. An honest node in the key's own bucket would stay there (the Sybils
 * come later and cannot evict a live peer), and a provider there would be found by luck,
 * not because the tables resist; a real attacker picks his key too.
 */
export async function shardAwayFrom(
  honestPeerIds: Uint8Array[],
  candidates: () => string,
): Promise<{ shard: string; nearestBits: number }> {
  const honest = await Promise.all(honestPeerIds.map((id) => kadId(id)))
  for (;;) {
    const shard = candidates()
    const key = await kadId(parseShardKey(shard).multihash)
    const nearestBits = Math.max(...honest.map((id) => commonPrefixLength(id, key)))
    if (nearestBits < ECLIPSE_HONEST_BITS_MAX) return { shard, nearestBits }
  }
}
