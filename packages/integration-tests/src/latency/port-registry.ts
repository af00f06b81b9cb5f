/**
 * Which emulated node owns which TCP endpoint, so that both ends of a connection know the
 * pair it links: a dialler finds the node it dials from the address (its `/p2p/` peer id,
 * or the listening port a node registered), and a listener finds the dialler from the
 * remote port of the accepted socket, which the dialler registers once connected. Both
 * ends must live in one process and share one registry (the bench's nodes do).
 *
 * @packageDocumentation
 */

/** `host:port`, with IPv4-mapped IPv6 hosts (`::ffff:127.0.0.1`) written as IPv4. */
export function endpointKey(host: string, port: number): string {
  return `${host.startsWith('::ffff:') ? host.slice(7) : host}:${port}`
}

/** Counts of the connections the emulation delayed, and of those whose pair it could not tell. */
export interface LatencyCounts {
  /** Outbound connections delayed. */
  outbound: number
  /** Inbound connections delayed. */
  inbound: number
  /** Outbound connections to an address no node registered (the RTT was drawn for the address). */
  unmatchedOutbound: number
  /** Inbound connections whose dialler never registered (the RTT was drawn for the address). */
  unmatchedInbound: number
}

/** Maps endpoints to node names (see the module docs). */
export class PortRegistry {
  readonly #listeners = new Map<string, string>()
  readonly #diallers = new Map<string, string>()
  readonly #waiters = new Map<string, Set<(node: string) => void>>()
  /** Counts of the connections delayed through this registry. */
  readonly counts: LatencyCounts = { outbound: 0, inbound: 0, unmatchedOutbound: 0, unmatchedInbound: 0 }

  /** A node listens on `endpoint`. */
  addListener(endpoint: string, node: string): void {
    this.#listeners.set(endpoint, node)
  }

  /** The node stopped listening on `endpoint` (only if it is still the registered one). */
  removeListener(endpoint: string, node: string): void {
    if (this.#listeners.get(endpoint) === node) this.#listeners.delete(endpoint)
  }

  /** The node listening on `endpoint`, if any registered it. */
  listenerAt(endpoint: string): string | undefined {
    return this.#listeners.get(endpoint)
  }

  /** A node dialled from the local `endpoint`; wakes any listener waiting for it. */
  addDialler(endpoint: string, node: string): void {
    this.#diallers.set(endpoint, node)
    const waiters = this.#waiters.get(endpoint)
    if (waiters == null) return
    this.#waiters.delete(endpoint)
    for (const wake of waiters) wake(node)
  }

  /** The dialler's connection from `endpoint` ended (only if it is still the registered one). */
  removeDialler(endpoint: string, node: string): void {
    if (this.#diallers.get(endpoint) === node) this.#diallers.delete(endpoint)
  }

  /**
   * The node that dialled from `endpoint`: at once if it registered, else when it does
   * (the accepting side may see the socket before the dialling side does), or undefined
   * after `timeoutMs`.
   */
  async dialler(endpoint: string, timeoutMs: number): Promise<string | undefined> {
    const known = this.#diallers.get(endpoint)
    if (known != null) return known
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(endpoint)
      if (waiters == null) {
        waiters = new Set()
        this.#waiters.set(endpoint, waiters)
      }
      const set = waiters
      const wake = (node: string | undefined): void => {
        clearTimeout(timer)
        set.delete(wake)
        if (set.size === 0 && this.#waiters.get(endpoint) === set) this.#waiters.delete(endpoint)
        resolve(node)
      }
      const timer = setTimeout(() => wake(undefined), timeoutMs)
      timer.unref?.()
      set.add(wake)
    })
  }

  /** Endpoints registered (listeners, diallers) and listeners still waiting: for leak checks. */
  get size(): { listeners: number; diallers: number; waiting: number } {
    return { listeners: this.#listeners.size, diallers: this.#diallers.size, waiting: this.#waiters.size }
  }
}

/** The registry shared by every latency transport of this process unless one is given. */
export const defaultPortRegistry = new PortRegistry()
