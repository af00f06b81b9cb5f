/**
 * A libp2p metrics component that counts failed connection attempts into
 * `nsn_p2p_connections_failed_total{direction}`, from what libp2p and its TCP transport
 * report through the public `metrics` option of `createLibp2p`: no libp2p internals are
 * touched.
 *
 * @packageDocumentation
 */

import {
  type CalculatedHistogramOptions,
  type CalculatedMetricOptions,
  type CalculatedSummaryOptions,
  type Counter,
  type CounterGroup,
  type Histogram,
  type HistogramGroup,
  type HistogramOptions,
  type Metric,
  type MetricGroup,
  type MetricOptions,
  type Metrics,
  type Startable,
  type StopTimer,
  type Summary,
  type SummaryGroup,
  type SummaryOptions,
  serviceCapabilities,
} from '@libp2p/interface'
import type { ConnectionDirection } from './constants.js'
import type { NsnMetrics } from './metrics.js'

/** What libp2p passes to a counter group's or metric group's `increment`. */
type IncrementValues = Partial<Record<string, number | true>>

/**
 * Counts the failures one registration of an upstream counter group reports. Called with
 * each `increment`; `fail(direction, n)` counts `n` failed attempts.
 */
type FailureTap = (values: IncrementValues, fail: (direction: ConnectionDirection, n: number) => void) => void

/** How many `n` an increment value stands for: `true` is 1, a number itself. */
function amount(value: number | true | undefined): number {
  if (value === true) return 1
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0
}

/** Sums the values of the keys that end with `suffix` (the TCP listener prefixes its address). */
function sumSuffixed(values: IncrementValues, suffix: string): number {
  let n = 0
  for (const [key, value] of Object.entries(values)) {
    if (key.endsWith(suffix)) n += amount(value)
  }
  return n
}

/**
 * `libp2p_tcp_dialer_events_total` counts a TCP connect that was aborted as `abort`, but the
 * TCP transport hands the same counter group to every outbound connection it opens, and
 * a connection closing counts `end` then, synchronously, exactly one of `abort` (closed by
 * a local error: a failed upgrade, an inactivity timeout, a remote reset...), `reset`,
 * `_local_close` or `_remote_close`. So an `abort` that follows an unmatched `end` closes a
 * connection; any other `abort` is a connect aborted before the socket opened. The only
 * state is the count of unmatched `end`s (0 or 1 between two turns of the event loop), per
 * registration.
 */
function tcpDialerEvents(): FailureTap {
  let closing = 0
  return (values, fail) => {
    closing += amount(values.end)
    for (const key of ['reset', '_local_close', '_remote_close']) {
      closing = Math.max(0, closing - amount(values[key]))
    }
    const aborts = amount(values.abort)
    const closes = Math.min(aborts, closing)
    closing -= closes
    // `timeout` is not counted: the transport re-emits a connect timeout as a socket error,
    // which counts `error` as well
    const failures = amount(values.error) + aborts - closes
    if (failures > 0) fail('outbound', failures)
  }
}

/**
 * The upstream groups that report failed connection attempts, by name, each with a factory
 * of its tap (one per registration). The mapping is documented on
 * {@link connectionFailureMetrics}.
 */
const FAILURE_TAPS: ReadonlyMap<string, () => FailureTap> = new Map<string, () => FailureTap>([
  [
    'libp2p_connection_manager_dial_errors_total',
    () => (values, fail) => {
      const outbound = amount(values.outbound)
      const inbound = amount(values.inbound)
      if (outbound > 0) fail('outbound', outbound)
      if (inbound > 0) fail('inbound', inbound)
    },
  ],
  ['libp2p_tcp_dialer_events_total', tcpDialerEvents],
  [
    'libp2p_tcp_dialer_errors_total',
    () => (values, fail) => {
      const n = amount(values.outbound_to_connection)
      if (n > 0) fail('outbound', n)
    },
  ],
  [
    'libp2p_tcp_listener_errors_total',
    () => (values, fail) => {
      const n = sumSuffixed(values, ' inbound_to_connection')
      if (n > 0) fail('inbound', n)
    },
  ],
  [
    'libp2p_tcp_listener_events_total',
    () => (values, fail) => {
      const n = sumSuffixed(values, ' drop')
      if (n > 0) fail('inbound', n)
    },
  ],
])

/** Names of the libp2p metrics that {@link connectionFailureMetrics} reads. */
export const LIBP2P_FAILURE_METRICS: readonly string[] = [...FAILURE_TAPS.keys()]

const noop = (): void => {}

/** One object for every metric nobody reads: each method does nothing. */
const NOOP_METRIC: Metric & MetricGroup = Object.freeze({
  update: noop,
  increment: noop,
  decrement: noop,
  reset: noop,
  observe: noop,
  timer: (): StopTimer => noop,
})

/** Options of {@link connectionFailureMetrics}. */
export interface ConnectionFailureMetricsInit<Components = unknown> {
  /**
   * Another libp2p metrics component that receives every call as well, for libp2p's own
   * metrics: `prometheusMetrics({ registry })` puts the `libp2p_*` metrics in the same
   * registry. Without it, every metric but the failure counts above is a no-op.
   */
  forward?: (components: Components) => Metrics
}

type RegisterMethod =
  | 'registerMetric'
  | 'registerMetricGroup'
  | 'registerCounter'
  | 'registerCounterGroup'
  | 'registerHistogram'
  | 'registerHistogramGroup'
  | 'registerSummary'
  | 'registerSummaryGroup'

type Calculated = CalculatedMetricOptions<unknown>

function isCalculated(options: MetricOptions | undefined): options is Calculated {
  return options != null && 'calculate' in options && options.calculate != null
}

/** The libp2p metrics component of {@link connectionFailureMetrics}. */
class ConnectionFailureMetrics implements Metrics, Startable {
  readonly [Symbol.toStringTag] = '@nsn/metrics/connection-failures'
  readonly [serviceCapabilities] = ['@libp2p/metrics']

  constructor(
    private readonly failed: NsnMetrics['connections']['failed'],
    private readonly forward: (Metrics & Partial<Startable>) | undefined,
  ) {}

  beforeStart(): Promise<void> | void {
    return this.forward?.beforeStart?.()
  }

  start(): Promise<void> | void {
    return this.forward?.start?.()
  }

  afterStart(): Promise<void> | void {
    return this.forward?.afterStart?.()
  }

  beforeStop(): Promise<void> | void {
    return this.forward?.beforeStop?.()
  }

  stop(): Promise<void> | void {
    return this.forward?.stop?.()
  }

  afterStop(): Promise<void> | void {
    return this.forward?.afterStop?.()
  }

  trackMultiaddrConnection(...args: Parameters<Metrics['trackMultiaddrConnection']>): void {
    this.forward?.trackMultiaddrConnection(...args)
  }

  trackProtocolStream(...args: Parameters<Metrics['trackProtocolStream']>): void {
    this.forward?.trackProtocolStream(...args)
  }

  /**
   * Registers with the forward component, if any, and wraps a counter or metric group that
   * reports failed connections so that its increments are counted too; anything else is the
   * forward component's own object, or the shared no-op.
   */
  private register(method: RegisterMethod, name: string, options?: MetricOptions): unknown {
    const forward = this.forward
    const registered =
      forward == null
        ? undefined
        : (forward[method] as (this: Metrics, name: string, options?: MetricOptions) => unknown).call(
            forward,
            name,
            options,
          )
    if (isCalculated(options)) return registered
    const isGroup = method === 'registerCounterGroup' || method === 'registerMetricGroup'
    const tap = isGroup ? FAILURE_TAPS.get(name)?.() : undefined
    if (tap == null) return forward == null ? NOOP_METRIC : registered
    const inner = registered as Partial<MetricGroup> | undefined
    const fail = (direction: ConnectionDirection, n: number): void => this.failed.inc({ direction }, n)
    const group: MetricGroup = {
      increment: (values) => {
        inner?.increment?.(values)
        tap(values, fail)
      },
      update: (values) => inner?.update?.(values),
      decrement: (values) => inner?.decrement?.(values),
      reset: () => inner?.reset?.(),
      timer: (key) => inner?.timer?.(key) ?? noop,
    }
    return group
  }

  registerMetric(name: string, options?: MetricOptions): Metric
  registerMetric(name: string, options: CalculatedMetricOptions): void
  registerMetric(name: string, options?: MetricOptions): Metric | undefined {
    return this.register('registerMetric', name, options) as Metric | undefined
  }

  registerMetricGroup(name: string, options?: MetricOptions): MetricGroup
  registerMetricGroup(name: string, options: CalculatedMetricOptions<Record<string, number>>): void
  registerMetricGroup(name: string, options?: MetricOptions): MetricGroup | undefined {
    return this.register('registerMetricGroup', name, options) as MetricGroup | undefined
  }

  registerCounter(name: string, options?: MetricOptions): Counter
  registerCounter(name: string, options: CalculatedMetricOptions): void
  registerCounter(name: string, options?: MetricOptions): Counter | undefined {
    return this.register('registerCounter', name, options) as Counter | undefined
  }

  registerCounterGroup(name: string, options?: MetricOptions): CounterGroup
  registerCounterGroup(name: string, options: CalculatedMetricOptions<Record<string, number>>): void
  registerCounterGroup(name: string, options?: MetricOptions): CounterGroup | undefined {
    return this.register('registerCounterGroup', name, options) as CounterGroup | undefined
  }

  registerHistogram(name: string, options?: HistogramOptions): Histogram
  registerHistogram(name: string, options: CalculatedHistogramOptions): void
  registerHistogram(name: string, options?: HistogramOptions): Histogram | undefined {
    return this.register('registerHistogram', name, options) as Histogram | undefined
  }

  registerHistogramGroup(name: string, options?: HistogramOptions): HistogramGroup
  registerHistogramGroup(name: string, options: CalculatedHistogramOptions<Record<string, number>>): void
  registerHistogramGroup(name: string, options?: HistogramOptions): HistogramGroup | undefined {
    return this.register('registerHistogramGroup', name, options) as HistogramGroup | undefined
  }

  registerSummary(name: string, options?: SummaryOptions): Summary
  registerSummary(name: string, options: CalculatedSummaryOptions): void
  registerSummary(name: string, options?: SummaryOptions): Summary | undefined {
    return this.register('registerSummary', name, options) as Summary | undefined
  }

  registerSummaryGroup(name: string, options?: SummaryOptions): SummaryGroup
  registerSummaryGroup(name: string, options: CalculatedSummaryOptions<Record<string, number>>): void
  registerSummaryGroup(name: string, options?: SummaryOptions): SummaryGroup | undefined {
    return this.register('registerSummaryGroup', name, options) as SummaryGroup | undefined
  }

  /** Returns `fn` itself (or what the forward component makes of it): nothing is traced. */
  traceFunction<F extends (...args: never[]) => unknown>(name: string, fn: F, options?: unknown): F {
    const forward = this.forward
    if (forward == null) return fn
    return (forward.traceFunction as (name: string, fn: F, options?: unknown) => F).call(
      forward,
      name,
      fn,
      options,
    )
  }

  /** No trace (undefined), unless the forward component makes one. */
  createTrace(): unknown {
    return this.forward?.createTrace()
  }
}

/**
 * A libp2p metrics component that counts failed connection attempts into
 * `metrics.connections.failed` (`nsn_p2p_connections_failed_total{direction}`):
 * `createLibp2p({ metrics: connectionFailureMetrics(metrics) })`. js-libp2p 3.3 emits no
 * event for a failed attempt, but its upgrader and its TCP transport count them through
 * this public component; nothing of libp2p's internals is touched.
 *
 * The groups read (js-libp2p 3.3, @libp2p/tcp 11.0), and how their increments map to a
 * `direction`. Each failed attempt counts once, at the layer where it stopped:
 *
 * - `libp2p_connection_manager_dial_errors_total` (the upgrader, any transport):
 *   - `outbound` → outbound: a dialled connection whose upgrade failed (encryption, muxer,
 *     gater, the remote refusing or hanging up, the dial aborted during the upgrade);
 *   - `inbound` → inbound: an incoming connection refused by the connection manager (rate
 *     limit, too many pending or open connections, deny list) or by the gater, or whose
 *     upgrade failed or timed out.
 * - `libp2p_tcp_dialer_events_total` (the TCP dialer, before any upgrade):
 *   - `error` → outbound: the TCP connect failed (refused, unreachable, timed out);
 *   - `abort` → outbound: the TCP connect was aborted before the socket opened (the
 *     dial's per-address or overall timeout, the caller's signal, shutdown). The transport
 *     hands the same group to each connection it opens, which counts `end` then `abort`
 *     when it closes on a local error: such an `abort`, right after an `end`, is a
 *     connection closing and is not counted.
 * - `libp2p_tcp_dialer_errors_total`: `outbound_to_connection` → outbound: the socket
 *   closed between connect and upgrade (the upgrader never saw it).
 * - `libp2p_tcp_listener_errors_total`: `<address> inbound_to_connection` → inbound: an
 *   accepted socket closed before it could be upgraded (the upgrader never saw it).
 * - `libp2p_tcp_listener_events_total`: `<address> drop` → inbound: a socket the listener
 *   dropped at its `maxConnections` (only with `tcp({ maxConnections })`).
 *
 * Left out because another key already counts the same attempt: the TCP dialer's `timeout`
 * (a connect timeout also counts `error`), its `outbound_upgrade` and the listener's
 * `<address> inbound_upgrade` (the upgrader counts those), and the `end`, `abort`, `reset`,
 * `_local_close`, `_remote_close` events of connections that close. Failures before any
 * transport is tried (no address, dialling self, the gater refusing a peer or an address)
 * are no connection attempt and are not counted. Transports other than TCP report their
 * failed upgrades through the upgrader only.
 *
 * Every other metric is one shared no-op object, `traceFunction` returns the function
 * unchanged, `createTrace` returns undefined, `trackMultiaddrConnection` and
 * `trackProtocolStream` do nothing; nothing is kept per metric name. With `init.forward`
 * (for instance `prometheusMetrics({ registry })`), every call also goes to that component,
 * so libp2p's own `libp2p_*` metrics keep working beside the failure count: libp2p takes a
 * single metrics component.
 *
 * The component counts for as long as the node lives; {@link trackLibp2pConnections} feeds
 * the other connection metrics from libp2p's events.
 */
export function connectionFailureMetrics<Components = unknown>(
  metrics: NsnMetrics,
  init: ConnectionFailureMetricsInit<Components> = {},
): (components: Components) => Metrics {
  return (components) => new ConnectionFailureMetrics(metrics.connections.failed, init.forward?.(components))
}
