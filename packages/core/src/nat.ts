/**
 * NAT traversal of a host (the `public` profile): libp2p's own services, each wrapped
 * only to count what it does for the NAT metrics.
 *
 * - AutoNAT (`@libp2p/autonat`, v1): peers dial this node's addresses back; an address
 *   they confirm becomes one libp2p announces, and kad-dht turns server on it. v1, not
 *   `@libp2p/autonat-v2`: it is the protocol every js-libp2p and go-libp2p node of libp2p 3
 *   serves by default (Kubo, the IPFS bootstrappers), and libp2p 3.3's address manager
 *   trusts its verdicts; v2 (per-address nonces, amplification limits) is the better
 *   protocol once peers serve it.
 * - A circuit-relay v2 client ({@link relayReservations}): while the host has no public
 *   address it trusts, it takes {@link RELAY_RESERVATIONS} reservations on relays among its
 *   peers, so it can be reached at `/p2p-circuit` addresses; a node may serve as a relay
 *   (`relayServer`).
 * - DCUtR (`@libp2p/dcutr`): over a relayed connection, both ends dial each other at once
 *   (a hole punch) and move to the direct connection when it works.
 * - UPnP (`@libp2p/upnp-nat`), opt-in: asks the LAN's gateway for a port mapping.
 *
 * AutoNAT also runs again with the connected peers when a public address appears after
 * they connected ({@link AutoNATRecheck}: a UPnP mapping is made seconds after start).
 *
 * The services that look for peers at random (AutoNAT, the relay discovery of the
 * circuit-relay transport) get a {@link PacedRandomWalk} as their `randomWalk`: libp2p's
 * own spins the event loop to a standstill while lookups find no peer.
 *
 * @packageDocumentation
 */

import { type AutoNATServiceInit, autoNAT } from '@libp2p/autonat'
import {
  type CircuitRelayServerInit,
  circuitRelayServer,
  circuitRelayTransport,
} from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { identifyPush } from '@libp2p/identify'
import type { ComponentLogger, Libp2pEvents, PeerId, Startable } from '@libp2p/interface'
import type { AddressManager, TransportManager } from '@libp2p/interface-internal'
import { type UPnPNATInit, uPnPNAT } from '@libp2p/upnp-nat'
import { multiaddr } from '@multiformats/multiaddr'
import type { TypedEventTarget } from 'main-event'
import { isPublicAddress, isRelayedAddress } from './address-filter.js'
import { AutoNATRecheck, type AutoNATRecheckComponents, type AutoNATVerifier } from './autonat-recheck.js'
import {
  AUTONAT_RECHECK_DELAY,
  AUTONAT_REFRESH_INTERVAL,
  AUTONAT_STARTUP_DELAY,
  RELAY_RESERVATIONS,
  RELAY_SERVER_LIMITS,
  second,
} from './constants.js'
import { PacedRandomWalk, type PacedRandomWalkComponents } from './paced-random-walk.js'

/** What the NAT services report, for metrics (`@nsn/metrics` implements it). */
export interface NatObserver {
  /** AutoNAT's verdict on one of this node's addresses: confirmed dialable, or not. */
  autonatCheck?(result: 'reachable' | 'unreachable'): void
  /** UPnP added (`+1`) or removed (`-1`) a port mapping on the gateway. */
  portMappingChanged?(delta: 1 | -1): void
  /** One hole-punch (DCUtR) dial ended: a direct connection (`ok`) or not (`error`). */
  holePunch?(result: 'ok' | 'error'): void
}

/** NAT options of a host (`NsnHostInit.nat`). */
export interface NatInit {
  /** AutoNAT, on in the `public` profile; `false` turns it off. */
  autonat?: boolean | AutoNATServiceInit
  /** Relay reservations while not publicly reachable (`public`: {@link RELAY_RESERVATIONS}); 0 or `false`: none. */
  relayReservations?: number | false
  /** Serve as a circuit relay for others: `true` with {@link RELAY_SERVER_LIMITS}. Default off. */
  relayServer?: boolean | CircuitRelayServerInit
  /** DCUtR hole punching (`public`: on). */
  dcutr?: boolean
  /** UPnP port mapping on the gateway. Default off (opt-in: `--upnp`). */
  upnp?: boolean | UPnPNATInit
  /** Counts of what the services do. */
  observer?: NatObserver
  /**
   * How long after start a host without a trusted public address waits for AutoNAT
   * before it takes relay reservations, in ms. Default {@link RELAY_GRACE}.
   */
  relayGrace?: number
}

/** How long a host waits for AutoNAT before it takes relay reservations, in ms. */
export const RELAY_GRACE = 3 * second

type Factory = (components: any) => unknown

/**
 * `components` with some of them replaced: a view for one service (libp2p's components
 * object is a proxy, so it is wrapped, not copied).
 */
function withComponents(components: object, replace: Record<string, unknown>): any {
  return new Proxy(components, {
    get(target, prop, receiver) {
      if (typeof prop === 'string' && prop in replace) return replace[prop]
      return Reflect.get(target, prop, receiver)
    },
  })
}

/**
 * `factory` given a {@link PacedRandomWalk} as its `randomWalk` component, in place of
 * libp2p's (see `paced-random-walk.ts`).
 */
function withPacedRandomWalk(factory: Factory): Factory {
  return (components: PacedRandomWalkComponents) =>
    factory(withComponents(components, { randomWalk: new PacedRandomWalk(components) }))
}

/** A proxy of `target` whose method `name` is `replacement`; other methods stay bound to `target`. */
function replaceMethod<T extends object>(target: T, name: string, replacement: unknown): T {
  return new Proxy(target, {
    get(t, prop, receiver) {
      if (prop === name) return replacement
      const value = Reflect.get(t, prop, receiver)
      return typeof value === 'function' ? value.bind(t) : value
    },
  })
}

type OpenConnection = (target: unknown, options?: Record<string, unknown>) => Promise<unknown>

interface ConnectionManagerLike {
  openConnection: OpenConnection
  getConnections(): Array<{ direction: string; remoteAddr: { toString(): string } }>
}

/**
 * AutoNAT, its verdicts counted (they go through the address manager), and its dial-backs
 * kept from closing a connection that is not theirs. @libp2p/autonat 3.0.28 dials back
 * with `connectionManager.openConnection(addr)` and closes what it gets: when the server
 * already has a connection to that address (two peers that dialled each other, as
 * bootstrap peers do), libp2p hands that one back (which proves the address dialable:
 * this server dialled it) and AutoNAT closes it, often the very connection the request
 * came on, so the asker reads EOF and no verdict is reached; and when the existing
 * connection is the asker's own (inbound here), its remote address is not the one asked
 * about and the check fails (on the netns NAT test no public host became a DHT server in
 * 30 s). Here an outbound connection of this server to that very address is reused (it
 * proves the address dialable), any other case dials anew (`force`), and neither is closed.
 */
function countedAutoNAT(
  init: AutoNATServiceInit,
  observer: NatObserver | undefined,
  onCreated: (service: AutoNATVerifier) => void,
): Factory {
  const factory = autoNAT({
    startupDelay: AUTONAT_STARTUP_DELAY,
    refreshInterval: AUTONAT_REFRESH_INTERVAL,
    ...init,
  })
  return (
    components: {
      addressManager: AddressManager
      connectionManager: ConnectionManagerLike
    } & PacedRandomWalkComponents,
  ) => {
    const cm = components.connectionManager
    const openConnection: OpenConnection = async (target, options) => {
      const wanted = String(target).replace(/\/p2p\/[^/]+$/, '')
      const existing = cm
        .getConnections()
        .find(
          (c) =>
            c.direction === 'outbound' && c.remoteAddr.toString().replace(/\/p2p\/[^/]+$/, '') === wanted,
        )
      // this server dialled that very address already: it is dialable, and the
      // connection is not AutoNAT's to close
      if (existing != null) return replaceMethod(existing, 'close', async () => undefined)
      // a new dial, left open: closing it set off a new identify and a new check on every
      // dial-back (a storm that starved the daemons), while an open one is reused by the
      // next check of that address, and the connection manager prunes it like any other
      const connection = (await cm.openConnection(target, { ...options, force: true })) as object
      return replaceMethod(connection, 'close', async () => undefined)
    }
    const replace: Record<string, unknown> = {
      connectionManager: replaceMethod(cm, 'openConnection', openConnection),
      // its search for peers to ask (every minute while an address is unverified)
      randomWalk: new PacedRandomWalk(components),
    }
    if (observer?.autonatCheck != null) {
      let am = components.addressManager
      am = replaceMethod(
        am,
        'confirmObservedAddr',
        (...args: Parameters<AddressManager['confirmObservedAddr']>) => {
          observer.autonatCheck?.('reachable')
          return components.addressManager.confirmObservedAddr(...args)
        },
      )
      am = replaceMethod(
        am,
        'removeObservedAddr',
        (...args: Parameters<AddressManager['removeObservedAddr']>) => {
          observer.autonatCheck?.('unreachable')
          return components.addressManager.removeObservedAddr(...args)
        },
      )
      replace.addressManager = am
    }
    const service = factory(withComponents(components, replace)) as AutoNATVerifier
    onCreated(service)
    return service
  }
}

/** DCUtR, each of its dials counted by result. */
function countedDcutr(observer?: NatObserver): Factory {
  const factory = dcutr()
  if (observer?.holePunch == null) return factory
  return (components: { connectionManager: { openConnection: (...args: any[]) => Promise<unknown> } }) => {
    const cm = components.connectionManager
    const connectionManager = new Proxy(cm, {
      get(target, prop, receiver) {
        if (prop === 'openConnection') {
          return async (...args: any[]) => {
            try {
              const connection = await target.openConnection(...args)
              observer.holePunch?.('ok')
              return connection
            } catch (err) {
              observer.holePunch?.('error')
              throw err
            }
          }
        }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    return factory(withComponents(components, { connectionManager }))
  }
}

/** UPnP, its port mappings counted; `onMapped` is called after each mapping is added. */
function countedUPnP(init: UPnPNATInit, observer: NatObserver | undefined, onMapped: () => void): Factory {
  const factory = uPnPNAT(init)
  return (components: { addressManager: AddressManager }) => {
    const am = components.addressManager
    const addressManager = new Proxy(am, {
      get(target, prop, receiver) {
        if (prop === 'addPublicAddressMapping') {
          return (...args: Parameters<AddressManager['addPublicAddressMapping']>) => {
            observer?.portMappingChanged?.(1)
            const added = target.addPublicAddressMapping(...args)
            onMapped()
            return added
          }
        }
        if (prop === 'removePublicAddressMapping') {
          return (...args: Parameters<AddressManager['removePublicAddressMapping']>) => {
            observer?.portMappingChanged?.(-1)
            return target.removePublicAddressMapping(...args)
          }
        }
        const value = Reflect.get(target, prop, receiver)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    return factory(withComponents(components, { addressManager }))
  }
}

interface RelayReservationsComponents {
  addressManager: AddressManager
  transportManager: TransportManager
  events: TypedEventTarget<Libp2pEvents>
  logger: ComponentLogger
  peerId: PeerId
}

/**
 * Takes `count` relay reservations (listens on `count` `/p2p-circuit` addresses; the
 * circuit-relay transport finds relays among the peers) once the host has gone `grace` ms
 * without a public, non-relayed address it trusts (AutoNAT-confirmed or announced). A
 * host that is reachable never takes any.
 */
class RelayReservations implements Startable {
  private timer?: ReturnType<typeof setTimeout>
  private listening = false
  private readonly log

  constructor(
    private readonly components: RelayReservationsComponents,
    private readonly count: number,
    private readonly grace: number,
  ) {
    this.log = components.logger.forComponent('nsn:relay-reservations')
  }

  readonly [Symbol.toStringTag] = '@nsn/relay-reservations'

  private reachable(): boolean {
    return this.components.addressManager
      .getAddresses()
      .some((addr) => isPublicAddress(addr) && !isRelayedAddress(addr))
  }

  start(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined
      if (this.reachable() || this.listening) return
      this.listening = true
      this.log(
        'no public address confirmed after %d ms: taking %d relay reservations',
        this.grace,
        this.count,
      )
      const addrs = Array.from({ length: this.count }, () => multiaddr('/p2p-circuit'))
      this.components.transportManager.listen(addrs).catch((err: unknown) => {
        this.log.error('could not listen on relay addresses - %e', err)
      })
    }, this.grace)
  }

  stop(): void {
    if (this.timer != null) clearTimeout(this.timer)
    this.timer = undefined
  }
}

/** The relay server's options: {@link RELAY_SERVER_LIMITS}. */
export function relayServerInit(): CircuitRelayServerInit {
  const { maxReservations, reservationTtl, defaultDurationLimit, defaultDataLimit, hopTimeout } =
    RELAY_SERVER_LIMITS
  return {
    hopTimeout,
    reservations: {
      maxReservations,
      reservationTtl,
      defaultDurationLimit,
      defaultDataLimit: BigInt(defaultDataLimit),
      applyDefaultLimit: true,
    },
  }
}

/** What {@link natServices} adds to a host. */
export interface NatParts {
  /** Transports to add (the circuit-relay transport). */
  transports: Factory[]
  /** Services to add, by name. */
  services: Record<string, Factory>
}

/** The NAT transports and services of `init` (nothing when everything is off). */
export function natServices(init: NatInit): NatParts {
  const { observer } = init
  const services: Record<string, Factory> = {}
  const transports: Factory[] = []
  let recheck: AutoNATRecheck | undefined
  if (init.autonat !== false && init.autonat != null) {
    let autonat: AutoNATVerifier | undefined
    services.autoNAT = countedAutoNAT(init.autonat === true ? {} : init.autonat, observer, (service) => {
      autonat = service
    })
    // an address that appears after the peers connected (a UPnP mapping) is checked too
    services.autoNATRecheck = (components: AutoNATRecheckComponents) => {
      recheck = new AutoNATRecheck(components, () => autonat, AUTONAT_RECHECK_DELAY)
      return recheck
    }
    // a confirmed address turns the DHT server (a new protocol) and changes the announced
    // addresses: identify-push tells connected peers at once, or they would learn it only
    // on their next connection (and never admit this node to their routing tables)
    services.identifyPush = identifyPush()
  }
  const reservations = init.relayReservations === false ? 0 : (init.relayReservations ?? 0)
  if (reservations > 0 || init.relayServer || init.dcutr === true) {
    // the transport also dials relayed addresses of others; its relay discovery walks
    transports.push(withPacedRandomWalk(circuitRelayTransport()))
  }
  if (reservations > 0) {
    const grace = init.relayGrace ?? RELAY_GRACE
    services.relayReservations = (components: RelayReservationsComponents) =>
      new RelayReservations(components, reservations, grace)
  }
  if (init.relayServer != null && init.relayServer !== false) {
    services.relay = circuitRelayServer(init.relayServer === true ? relayServerInit() : init.relayServer)
  }
  if (init.dcutr === true) services.dcutr = countedDcutr(observer)
  if (init.upnp != null && init.upnp !== false) {
    // a mapping is an unverified address until AutoNAT confirms it: ask the connected peers
    services.upnp = countedUPnP(init.upnp === true ? {} : init.upnp, observer, () => recheck?.schedule())
  }
  return { transports, services }
}

/** The NAT options of the `public` profile, `init` over them. */
export function publicNatInit(init: NatInit = {}): NatInit {
  return {
    autonat: true,
    relayReservations: RELAY_RESERVATIONS,
    dcutr: true,
    upnp: false,
    relayServer: false,
    ...init,
  }
}
