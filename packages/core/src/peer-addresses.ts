/**
 * Address and XOR helpers of the routing facade: a peer's addresses once each, the
 * Kademlia id of a key, XOR distances, and the parsing of a lookup target (a shard or
 * a peer id).
 *
 * @packageDocumentation
 */

import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Multiaddr } from '@multiformats/multiaddr'
import { sha256 } from 'multiformats/hashes/sha2'
import { InvalidShardKeyError } from './errors.js'
import { parseShardKey, type ShardKeyInput } from './shard-key.js'

const P2P_CODE = 421

/** The addresses once each, without a trailing `/p2p/<id>` (it names the peer already). */
export function uniqueAddrs(addrs: Iterable<Multiaddr>): Multiaddr[] {
  const seen = new Map<string, Multiaddr>()
  for (const addr of addrs) {
    const bare = addr.getComponents().at(-1)?.name === 'p2p' ? addr.decapsulateCode(P2P_CODE) : addr
    seen.set(bare.toString(), bare)
  }
  return [...seen.values()]
}

/** The Kademlia id of a DHT key (or a peer id's multihash): its sha2-256 digest. */
export async function kadId(bytes: Uint8Array): Promise<Uint8Array> {
  return (await sha256.digest(bytes)).digest
}

/** The XOR of two equal-length ids, as lower-case hex. */
export function xorHex(a: Uint8Array, b: Uint8Array): string {
  let out = ''
  for (let i = 0; i < a.length; i++) out += (((a[i] ?? 0) ^ (b[i] ?? 0)) & 0xff).toString(16).padStart(2, '0')
  return out
}

/** Orders hex distances of equal length, nearest first. */
export function compareDistance(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/**
 * The DHT key of a lookup target: a shard (key, 64 hex or 32 bytes) or a peer id
 * (object or string).
 *
 * @throws {InvalidShardKeyError} when it is neither
 */
export function dhtKeyOf(key: ShardKeyInput | PeerId): Uint8Array {
  if (typeof key === 'object' && key != null && 'toMultihash' in key) return key.toMultihash().bytes
  if (typeof key === 'string' && !/^(0x)?[0-9a-fA-F]{64}$/.test(key)) {
    try {
      return peerIdFromString(key).toMultihash().bytes
    } catch {
      // not a peer id either: let the shard parser name the rule
    }
  }
  return parseShardKey(key as ShardKeyInput).multihash
}

/**
 * Parses a peer id.
 *
 * @throws {InvalidShardKeyError} naming the input when it is not a peer id
 */
export function parsePeerId(text: string): PeerId {
  try {
    return peerIdFromString(text)
  } catch (err) {
    throw new InvalidShardKeyError(text, `must be a peer id (${(err as Error).message})`)
  }
}
