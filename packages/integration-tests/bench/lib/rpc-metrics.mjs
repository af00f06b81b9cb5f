// A libp2p metrics component that counts a node's outbound DHT RPCs by message type,
// from what kad-dht's network reports through libp2p's public `metrics` option
// (`<prefix>_outbound_rpc_requests_total` and `_outbound_rpc_errors_total`, incremented
// with `{ [messageType]: true }`), instead of wrapping kad-dht's network. Both
// implementations report alike: plain kad-dht and nsnKadDHT share the default prefix.
// Every other metric is a no-op; functions are not traced.
const PREFIX = 'libp2p_kad_dht'
const noop = () => {}
const NOOP = Object.freeze({
  update: noop,
  increment: noop,
  decrement: noop,
  reset: noop,
  observe: noop,
  timer: () => noop,
})

function counting(onIncrement) {
  return { ...NOOP, increment: (values) => onIncrement(Object.keys(values ?? {})) }
}

/** `createLibp2p({ metrics: rpcCountingMetrics(counter) })`; `counter` from createRpcCounter(). */
export function rpcCountingMetrics(counter) {
  return () => {
    const register = (name, options) => {
      if (options?.calculate != null) return undefined
      if (name === `${PREFIX}_outbound_rpc_requests_total`) {
        return counting((types) => {
          for (const type of types) counter.byType[type] = (counter.byType[type] ?? 0) + 1
        })
      }
      if (name === `${PREFIX}_outbound_rpc_errors_total`) {
        return counting((types) => {
          for (const type of types) {
            counter.errors++
            counter.errorNames[type] = (counter.errorNames[type] ?? 0) + 1
          }
        })
      }
      return NOOP
    }
    return {
      registerMetric: register,
      registerMetricGroup: register,
      registerCounter: register,
      registerCounterGroup: register,
      registerHistogram: register,
      registerHistogramGroup: register,
      registerSummary: register,
      registerSummaryGroup: register,
      trackMultiaddrConnection: noop,
      trackProtocolStream: noop,
      traceFunction: (_name, fn) => fn,
      createTrace: () => undefined,
    }
  }
}
