import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { closestEntries, OfflineClosest } from '../src/offline-closest.js'
import { kadId, xorHex } from '../src/peer-addresses.js'

async function peers(n: number): Promise<{ peerId: PeerId; kadId: Uint8Array }[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const peerId = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
      return { peerId, kadId: await kadId(peerId.toMultihash().bytes) }
    }),
  )
}

/** The `count` nearest by sorting every entry: what the selection must equal. */
function bruteForce(entries: { peerId: PeerId; kadId: Uint8Array }[], target: Uint8Array, count: number) {
  return [...entries]
    .sort((a, b) => (xorHex(a.kadId, target) < xorHex(b.kadId, target) ? -1 : 1))
    .slice(0, count)
    .map((e) => e.peerId.toString())
}

/** A peer store of the given peers that counts its reads. */
function countingStore(known: Map<string, string[]>) {
  const store = {
    reads: 0,
    async get(peer: PeerId) {
      store.reads++
      const addrs = known.get(peer.toString())
      if (addrs == null) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
      return { addresses: addrs.map((a) => ({ multiaddr: multiaddr(a) })) }
    },
  }
  return store
}

describe('closestEntries', () => {
  it('picks the same nearest peers, in the same order, as sorting every one by XOR distance', async () => {
    const entries = await peers(150)
    for (let i = 0; i < 20; i++) {
      const target = new Uint8Array(randomBytes(32))
      const count = [1, 5, 20, 200][i % 4] as number
      expect(closestEntries(entries, target, count).map(String)).toEqual(bruteForce(entries, target, count))
    }
    // excluded peers are left out, entries without a Kademlia id too
    const target = entries[0]?.kadId as Uint8Array
    const excluded = [entries[0]?.peerId as PeerId]
    const picked = closestEntries([...entries, { peerId: excluded[0] as PeerId }], target, 20, excluded)
    expect(picked.map(String)).toEqual(bruteForce(entries.slice(1), target, 20))
    expect(closestEntries(entries, target, 0)).toEqual([])
  })
})

describe('OfflineClosest', () => {
  it('answers from cached addresses: a peer is read once until libp2p says it changed or the TTL passes', async () => {
    const entries = await peers(30)
    const known = new Map(entries.map((e, i) => [e.peerId.toString(), [`/ip4/10.0.0.${i + 1}/tcp/9000`]]))
    const store = countingStore(known)
    const events = new EventTarget()
    let now = 0
    const offline = new OfflineClosest(
      { peerStore: store, table: { kBucketSize: 20, kb: { toIterable: () => entries } }, events },
      { capacity: 100, ttl: 60_000, now: () => now },
    )
    offline.start()
    const key = new Uint8Array(randomBytes(32))
    const first = await offline.closest(key)
    expect(first).toHaveLength(20)
    expect(first.map((p) => p.id.toString())).toEqual(bruteForce(entries, await kadId(key), 20))
    expect(first[0]?.multiaddrs.map(String)).toEqual(known.get(first[0]?.id.toString() ?? ''))
    expect(store.reads).toBe(20)

    // the same peers again: no peer-store read
    await offline.closest(key)
    expect(store.reads).toBe(20)

    // a peer changed: only it is read again, with its new addresses
    const changed = first[3]?.id as PeerId
    known.set(changed.toString(), ['/ip4/10.9.9.9/tcp/9000'])
    events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: { id: changed } } }))
    const again = await offline.closest(key)
    expect(store.reads).toBe(21)
    expect(again[3]?.multiaddrs.map(String)).toEqual(['/ip4/10.9.9.9/tcp/9000'])

    // past the TTL, every peer is read again
    now += 60_000
    await offline.closest(key)
    expect(store.reads).toBe(41)

    // a peer the store does not know is left out (and not read again within the TTL)
    known.delete(first[0]?.id.toString() ?? '')
    now += 60_000
    expect(await offline.closest(key)).toHaveLength(19)
    await offline.closest(key)
    expect(store.reads).toBe(61)

    // stopped: no longer listening, and nothing cached
    offline.stop()
    events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: { id: changed } } }))
    await offline.closest(key)
    expect(store.reads).toBe(81)
  })

  it('puts the peer a key names first when the peer store knows it, and leaves out the excluded', async () => {
    const entries = await peers(10)
    const named = (await peers(1))[0]?.peerId as PeerId
    const known = new Map([
      [named.toString(), ['/ip4/10.1.1.1/tcp/9000']],
      ...entries.map((e): [string, string[]] => [e.peerId.toString(), ['/ip4/10.0.0.1/tcp/9000']]),
    ])
    const offline = new OfflineClosest(
      { peerStore: countingStore(known), table: { kBucketSize: 20, kb: { toIterable: () => entries } } },
      { capacity: 100, ttl: 60_000 },
    )
    const exclude = [entries[0]?.peerId as PeerId]
    const answer = await offline.closest(named.toMultihash().bytes, { exclude })
    expect(answer[0]?.id.toString()).toBe(named.toString())
    expect(answer).toHaveLength(10)
    expect(answer.some((p) => p.id.equals(exclude[0]))).toBe(false)
    // a random key names no peer; `count` bounds the table's peers
    expect(await offline.closest(new Uint8Array(randomBytes(32)), { count: 3 })).toHaveLength(3)
  })
})

describe('OfflineClosest and peer-store updates', () => {
  it('does not cache a read that an update overtook, nor a peer without addresses', async () => {
    const entries = await peers(1)
    const peer = entries[0]?.peerId as PeerId
    const events = new EventTarget()
    let addrs: string[] = []
    let reads = 0
    let release: (() => void) | undefined
    const store = {
      async get() {
        reads++
        const seen = addrs
        // the read holds the old record while an update lands
        await new Promise<void>((resolve) => {
          release = resolve
        })
        return { addresses: seen.map((a) => ({ multiaddr: multiaddr(a) })) }
      },
    }
    const offline = new OfflineClosest(
      { peerStore: store, table: { kBucketSize: 20, kb: { toIterable: () => entries } }, events },
      { capacity: 10, ttl: 60_000 },
    )
    offline.start()
    // no address yet: answered without caching
    const first = offline.info(peer)
    release?.()
    expect((await first)?.multiaddrs).toEqual([])
    // a read started before an update and answered after it: the old record, not cached
    addrs = ['/ip4/10.0.0.1/tcp/9000']
    const stale = offline.info(peer)
    addrs = ['/ip4/10.0.0.2/tcp/9000']
    events.dispatchEvent(new CustomEvent('peer:update', { detail: { peer: { id: peer } } }))
    release?.()
    expect((await stale)?.multiaddrs.map(String)).toEqual(['/ip4/10.0.0.1/tcp/9000'])
    const fresh = offline.info(peer)
    release?.()
    expect((await fresh)?.multiaddrs.map(String)).toEqual(['/ip4/10.0.0.2/tcp/9000'])
    expect(reads).toBe(3)
    // that read had no update overtaking it: cached
    await offline.info(peer)
    expect(reads).toBe(3)
    offline.stop()
  })
})
