/**
 * Which addresses a host tells others about, by profile: the `announceFilter` of libp2p's
 * address manager (what identify, provider records and DHT answers carry about this
 * node) and the `peerInfoMapper` of kad-dht (what this node keeps and passes on about
 * others).
 *
 * @packageDocumentation
 */

import { removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { isLoopback, isPrivate } from '@libp2p/utils'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { InvalidOptionError } from './errors.js'

/** What a profile announces: public addresses only, all but loopback's, or all. */
export type AnnounceScope = 'public' | 'non-loopback' | 'all'

/** Options of {@link announceFilter}. */
export interface AnnounceFilterInit {
  /** Which addresses pass. */
  scope: AnnounceScope
  /**
   * Addresses never announced (`--no-announce`), compared without their `/p2p/<id>`
   * suffix; a filter of its own scope does not apply to them.
   */
  noAnnounce?: readonly string[]
}

/** The part of an address before its last `/p2p/<peer id>`, as a string. */
function withoutPeerId(addr: Multiaddr): string {
  const text = addr.toString()
  const at = text.lastIndexOf('/p2p/')
  // a relay address keeps the relay's /p2p/ (before /p2p-circuit)
  return at >= 0 && !text.slice(at).includes('/p2p-circuit') ? text.slice(0, at) : text
}

/** Is `addr` a public address: not loopback, not private (libp2p's own check), and no `localhost`. */
export function isPublicAddress(addr: Multiaddr): boolean {
  return !isPrivate(addr) && !isLoopback(addr)
}

/** Is `addr` routed through a relay (`/p2p-circuit`)? */
export function isRelayedAddress(addr: Multiaddr): boolean {
  return addr.toString().includes('/p2p-circuit')
}

/**
 * Parses a list of multiaddrs of option `name`.
 *
 * @throws {InvalidOptionError} naming the bad entry
 */
export function parseAddressList(name: string, list: readonly string[] | undefined): Multiaddr[] {
  return (list ?? []).map((text, i) => {
    try {
      return multiaddr(text)
    } catch (err) {
      throw new InvalidOptionError(
        `${name}[${i}]`,
        `${JSON.stringify(text)} is not a multiaddr (${(err as Error).message})`,
      )
    }
  })
}

/**
 * libp2p's `addresses.announceFilter` of a profile: keeps the addresses of `scope` and
 * drops those of `noAnnounce`.
 *
 * @example
 * ```ts
 * const filter = announceFilter({ scope: 'public' })
 * filter([multiaddr('/ip4/127.0.0.1/tcp/4001'), multiaddr('/ip4/8.8.8.8/tcp/4001')]) // only 8.8.8.8
 * ```
 */
export function announceFilter(init: AnnounceFilterInit): (addrs: Multiaddr[]) => Multiaddr[] {
  const never = new Set(parseAddressList('noAnnounce', init.noAnnounce).map(withoutPeerId))
  const { scope } = init
  return (addrs) =>
    addrs.filter((addr) => {
      if (never.has(withoutPeerId(addr))) return false
      if (scope === 'all') return true
      if (scope === 'non-loopback') return !isLoopback(addr)
      return isPublicAddress(addr)
    })
}

/**
 * kad-dht's `peerInfoMapper` of a profile: on `public`, kad-dht's own
 * `removePrivateAddressesMapper` (no loopback or private address of a peer is kept in the
 * routing table's view, passed on in an answer, or returned as a provider's address); on
 * the others, every address.
 */
export const publicPeerInfoMapper = removePrivateAddressesMapper
