/**
 * The NAT metrics (`metrics.nat`): what @nsn/core's NAT services report through their
 * observer (AutoNAT verdicts, UPnP port mappings, hole punches), and what a libp2p node's
 * own state says at every scrape (reachability, relay reservations, relayed connections,
 * announced public addresses).
 *
 * @packageDocumentation
 */

import type { Multiaddr } from '@multiformats/multiaddr'
import { isPublicAddress, isRelayedAddress } from '@nsn/core'
import type { NsnMetrics } from './metrics.js'

/** The observer @nsn/core's host NAT services report to (`NsnHostInit.nat.observer`). */
export interface NatMetricsObserver {
  autonatCheck(result: 'reachable' | 'unreachable'): void
  portMappingChanged(delta: 1 | -1): void
  holePunch(result: 'ok' | 'error'): void
}

/** The part of a libp2p node the NAT gauges read; a `Libp2p` fits it. */
export interface NatLibp2pLike {
  /** The addresses the node announces (after its announce filter). */
  getMultiaddrs(): Multiaddr[]
  /** Open connections (a relayed one has a `/p2p-circuit` remote address). */
  getConnections(): ReadonlyArray<{ remoteAddr: Multiaddr }>
}

/** Counts what the NAT services report into `metrics.nat`. */
export function createNatObserver(metrics: NsnMetrics): NatMetricsObserver {
  const { autonatChecks, portMappings, holePunches } = metrics.nat
  return {
    autonatCheck: (result) => autonatChecks.inc({ result }),
    portMappingChanged: (delta) => (delta > 0 ? portMappings.inc() : portMappings.dec()),
    holePunch: (result) => holePunches.inc({ result }),
  }
}

/** The relay peer id of a `/p2p-circuit` address (the `/p2p/` before it). */
function relayOf(addr: Multiaddr): string {
  const text = addr.toString()
  const before = text.slice(0, text.indexOf('/p2p-circuit'))
  return before.slice(before.lastIndexOf('/p2p/') + 5)
}

/**
 * Reads the NAT gauges from `node` at every scrape: reachability (a public, non-relayed
 * announced address), relay reservations (distinct relays among its `/p2p-circuit`
 * addresses), relayed connections and announced public addresses. Returns a function that
 * stops it.
 */
export function trackNat(node: NatLibp2pLike, metrics: NsnMetrics): () => void {
  const { reachability, relayReservations, relayedConnections, announcedPublicAddresses } = metrics.nat
  const removers = [
    reachability.addCollect((g) =>
      g.set(node.getMultiaddrs().some((a) => isPublicAddress(a) && !isRelayedAddress(a)) ? 1 : 0),
    ),
    relayReservations.addCollect((g) =>
      g.set(new Set(node.getMultiaddrs().filter(isRelayedAddress).map(relayOf)).size),
    ),
    relayedConnections.addCollect((g) =>
      g.set(node.getConnections().filter((c) => isRelayedAddress(c.remoteAddr)).length),
    ),
    announcedPublicAddresses.addCollect((g) => g.set(node.getMultiaddrs().filter(isPublicAddress).length)),
  ]
  return () => {
    for (const remove of removers.splice(0)) remove()
  }
}
