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
 * - `connections_failed_total{direction}` is not fed here: js-libp2p 3.3 emits no event for
 *   a failed connection attempt, so the node counts them through its metrics component,
 *   `createLibp2p({ metrics: connectionFailureMetrics(metrics) })` (see
 *   {@link connectionFailureMetrics}).
 *
 * Returns a function that removes the listeners and the scrape-time reads; calling it twice
 * is harmless.
 */
export function trackLibp2pConnections(node: Libp2pLike, metrics: NsnMetrics): () => void {
  const { established, closed, duration, active, peers } = metrics.connections

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
  }
}
