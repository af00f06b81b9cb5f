/**
 * Asks the connected peers to check a public address that appears after they connected.
 *
 * `@libp2p/autonat` 3.0.28 (v1) asks a peer to dial this node back only when that peer
 * connects (and, every minute, after dialling new peers it finds on a random walk). An
 * address that appears later, a UPnP port mapping (made a few seconds after start, once
 * the gateway answered) or an announced address added at run time, stays unverified until a
 * new peer connects: on a small network, or with every peer already connected, never.
 * Here, shortly after this node's addresses change while one of them is public, not
 * relayed and unverified, AutoNAT is run again with each connected peer that serves it
 * (AutoNAT itself skips network segments that already answered for that address, so
 * each peer is asked at most once an address).
 *
 * @packageDocumentation
 */

import type {
  ComponentLogger,
  Connection,
  Libp2pEvents,
  Logger,
  PeerStore,
  Startable,
} from '@libp2p/interface'
import type { AddressManager, ConnectionManager } from '@libp2p/interface-internal'
import type { TypedEventTarget } from 'main-event'
import { isPublicAddress, isRelayedAddress } from './address-filter.js'

/** The protocol of AutoNAT v1. */
export const AUTONAT_V1_PROTOCOL = '/libp2p/autonat/1.0.0'

/** What {@link AutoNATRecheck} calls on the AutoNAT service (`@libp2p/autonat`'s `AutoNATService`). */
export interface AutoNATVerifier {
  /** Asks the peer at the other end of `connection` to dial an unverified address back. */
  verifyExternalAddresses(connection: Connection): Promise<void>
}

/** The libp2p components an {@link AutoNATRecheck} uses. */
export interface AutoNATRecheckComponents {
  addressManager: Pick<AddressManager, 'getAddressesWithMetadata'>
  connectionManager: Pick<ConnectionManager, 'getConnections'>
  peerStore: Pick<PeerStore, 'get'>
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
}

/** See the module's description. */
export class AutoNATRecheck implements Startable {
  private timer?: ReturnType<typeof setTimeout>
  private started = false
  private readonly log: Logger

  /**
   * @param autonat - the AutoNAT service, once libp2p has made it
   * @param delay - how long after an address change it asks (changes come in bursts), in ms
   */
  constructor(
    private readonly components: AutoNATRecheckComponents,
    private readonly autonat: () => AutoNATVerifier | undefined,
    private readonly delay: number,
  ) {
    this.log = components.logger.forComponent('nsn:autonat-recheck')
  }

  readonly [Symbol.toStringTag] = '@nsn/autonat-recheck'

  start(): void {
    this.started = true
    this.components.events.addEventListener('self:peer:update', this.onUpdate)
  }

  stop(): void {
    this.started = false
    this.components.events.removeEventListener('self:peer:update', this.onUpdate)
    if (this.timer != null) clearTimeout(this.timer)
    this.timer = undefined
  }

  private readonly onUpdate = (): void => {
    this.schedule()
  }

  /**
   * Runs {@link recheck} `delay` ms from now (once for any number of calls meanwhile):
   * on every change of this node's addresses, and by whoever adds an address that does
   * not change them until it is verified (a UPnP port mapping).
   */
  schedule(): void {
    if (this.timer != null || !this.started) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.recheck().catch((err: unknown) => {
        this.log.error('could not ask peers to check the new addresses - %e', err)
      })
    }, this.delay)
  }

  /** A public, non-relayed address that AutoNAT would check (unverified, its TTL over). */
  private hasUncheckedPublicAddress(): boolean {
    const now = Date.now()
    return this.components.addressManager
      .getAddressesWithMetadata()
      .some(
        ({ multiaddr, verified, expires }) =>
          !verified && expires < now && isPublicAddress(multiaddr) && !isRelayedAddress(multiaddr),
      )
  }

  /** Runs AutoNAT with every connected peer that serves it (one connection each). */
  async recheck(): Promise<number> {
    const autonat = this.autonat()
    if (autonat == null || !this.hasUncheckedPublicAddress()) return 0
    const asked = new Set<string>()
    for (const connection of this.components.connectionManager.getConnections()) {
      const peer = connection.remotePeer.toString()
      if (connection.status !== 'open' || isRelayedAddress(connection.remoteAddr) || asked.has(peer)) continue
      const protocols = await this.components.peerStore.get(connection.remotePeer).then(
        (p) => p.protocols,
        () => [] as string[],
      )
      if (!protocols.includes(AUTONAT_V1_PROTOCOL)) continue
      asked.add(peer)
      autonat.verifyExternalAddresses(connection).catch((err: unknown) => {
        this.log.error('AutoNAT with %s failed - %e', peer, err)
      })
    }
    if (asked.size > 0) this.log('asked %d connected peers to check the new addresses', asked.size)
    return asked.size
  }
}
