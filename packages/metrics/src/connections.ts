/**
 * Wires a libp2p node's connection events to the connection metrics.
 *
 * @packageDocumentation
 */

import { second } from '@nsn/core'
import type { ConnectionDirection } from './constants.js'
import type { NsnMetrics } from './metrics.js'

/** The part of a libp2p `Connection` the metrics use. */
export interface ConnectionLike {
  /** Who opened it. */
  readonly direction: ConnectionDirection
  /** Epoch milliseconds: `open` when the underlying transport connection opened, `close` once closed. */
  readonly timeline: { readonly open: number; readonly close?: number }
}

/** libp2p events the connection metrics listen to. */
export type Libp2pConnectionEvent = 'connection:open' | 'connection:close'

/**
 * The part of a libp2p node the connection metrics need; a `Libp2p` from `createLibp2p`
 * fits it. `connection:open` and `connection:close` events carry a {@link ConnectionLike}.
 */
export interface Libp2pLike {
  addEventListener(type: Libp2pConnectionEvent, listener: (event: CustomEvent) => void): void
  removeEventListener(type: Libp2pConnectionEvent, listener: (event: CustomEvent) => void): void
  /** Open connections. */
  getConnections(): readonly unknown[]
  /** Peers with at least one open connection. */
  getPeers(): readonly unknown[]
}

/** Options of {@link trackLibp2pConnections}. */
export interface TrackConnectionsOptions {
  /**
   * Count failed connection attempts by hooking js-libp2p's internals (see
   * {@link trackLibp2pConnections}). Default: true.
   */
  failures?: boolean
}

type AsyncMethod = (...args: never[]) => Promise<unknown>

/**
 * js-libp2p 3.x internals through which every connection attempt passes: the transport
 * manager's `dial` (one call per address dialled, whoever asked for it: `libp2p.dial`,
 * kad-dht's queries, the reconnect queue) and the upgrader's `upgradeInbound` (every
 * incoming connection, including those the connection manager refuses).
 */
interface Libp2pInternals {
  transportManager?: { dial?: AsyncMethod }
  upgrader?: { upgradeInbound?: AsyncMethod }
}

function isConnectionLike(value: unknown): value is ConnectionLike {
  if (typeof value !== 'object' || value === null) {
    return false
  }
  const { direction, timeline } = value as Partial<ConnectionLike>
  return (
    (direction === 'inbound' || direction === 'outbound') &&
    typeof timeline === 'object' &&
    timeline !== null &&
    typeof timeline.open === 'number'
  )
}

/** Reads libp2p's components; its proxy throws for a component that is not set. */
function readInternals(node: unknown): Libp2pInternals {
  try {
    const components = (node as { components?: Record<string, unknown> }).components
    if (components == null) {
      return {}
    }
    return {
      transportManager: components.transportManager as Libp2pInternals['transportManager'],
      upgrader: components.upgrader as Libp2pInternals['upgrader'],
    }
  } catch {
    return {}
  }
}

/**
 * Replaces `target[key]`, an async method, with a wrapper that calls `onRejected` when it
 * rejects. Returns the undo: it restores the original when the wrapper is still in place,
 * and otherwise (something wrapped it after us) turns the wrapper into a pass-through.
 */
function hookRejections<K extends string>(
  target: { [P in K]?: AsyncMethod },
  key: K,
  onRejected: () => void,
): () => void {
  const original = target[key]
  if (typeof original !== 'function') {
    return () => {}
  }
  const hadOwn = Object.hasOwn(target, key)
  let active = true
  const wrapper = function (this: unknown, ...args: never[]): Promise<unknown> {
    let result: Promise<unknown>
    try {
      result = original.apply(this, args)
    } catch (err) {
      if (active) {
        onRejected()
      }
      throw err
    }
    if (active) {
      result.catch(() => {
        if (active) {
          onRejected()
        }
      })
    }
    return result
  } as AsyncMethod
  target[key] = wrapper as (typeof target)[K]
  return () => {
    active = false
    if (target[key] === wrapper) {
      if (hadOwn) {
        target[key] = original as (typeof target)[K]
      } else {
        delete target[key]
      }
    }
  }
}

/**
 * Feeds a libp2p node's connections into `metrics.connections`. Call it before
 * `libp2p.start()` to see every connection.
 *
 * - `connection:open` increments `connections_established_total{direction}`;
 * - `connection:close` increments `connections_closed_total{direction}` and observes
 *   `connection_duration_seconds` from the connection's own timeline (`open` to `close`),
 *   so nothing is kept per connection;
 * - `active_connections` and `connected_peers` read `getConnections()` and `getPeers()`
 *   at every scrape, so they are exact and never drift;
 * - `connections_failed_total{direction}`: js-libp2p 3.3 emits no event for a failed
 *   connection attempt, so with `failures` (the default) the node's transport manager
 *   `dial` and upgrader `upgradeInbound` are wrapped, when the node exposes them (a
 *   `Libp2p` from `createLibp2p` does, through its `components`), to count the attempts
 *   that reject: an outbound dial of one address that failed or was aborted, an inbound
 *   connection refused (for instance by the connection manager's rate limit) or whose
 *   upgrade failed. A node without those internals gets no automatic failure count; code
 *   that dials can still call `metrics.connections.failed.inc({ direction: 'outbound' })`.
 *
 * Returns a function that removes the listeners, the scrape-time reads and the wrappers;
 * calling it twice is harmless.
 */
export function trackLibp2pConnections(
  node: Libp2pLike,
  metrics: NsnMetrics,
  options: TrackConnectionsOptions = {},
): () => void {
  const { established, closed, duration, active, peers, failed } = metrics.connections

  const onOpen = (event: CustomEvent): void => {
    const connection: unknown = event.detail
    if (isConnectionLike(connection)) {
      established.inc({ direction: connection.direction })
    }
  }
  const onClose = (event: CustomEvent): void => {
    const connection: unknown = event.detail
    if (!isConnectionLike(connection)) {
      return
    }
    closed.inc({ direction: connection.direction })
    const seconds = ((connection.timeline.close ?? Date.now()) - connection.timeline.open) / second
    if (Number.isFinite(seconds) && seconds >= 0) {
      duration.observe(seconds)
    }
  }
  node.addEventListener('connection:open', onOpen)
  node.addEventListener('connection:close', onClose)
  const removeActive = active.addCollect((gauge) => gauge.set(node.getConnections().length))
  const removePeers = peers.addCollect((gauge) => gauge.set(node.getPeers().length))

  const undo: Array<() => void> = []
  if (options.failures !== false) {
    const { transportManager, upgrader } = readInternals(node)
    if (transportManager != null) {
      undo.push(hookRejections(transportManager, 'dial', () => failed.inc({ direction: 'outbound' })))
    }
    if (upgrader != null) {
      undo.push(hookRejections(upgrader, 'upgradeInbound', () => failed.inc({ direction: 'inbound' })))
    }
  }

  let tracking = true
  return () => {
    if (!tracking) {
      return
    }
    tracking = false
    node.removeEventListener('connection:open', onOpen)
    node.removeEventListener('connection:close', onClose)
    removeActive()
    removePeers()
    for (const fn of undo) {
      fn()
    }
  }
}
