// The libp2p metrics component that counts failed connections, driven by stubs: the calls
// libp2p's upgrader and @libp2p/tcp make on it, without a network.
import type { CounterGroup, MetricGroup, Metrics } from '@libp2p/interface'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { connectionFailureMetrics, createNsnMetrics, LIBP2P_FAILURE_METRICS } from '../src/index.js'
import { value } from './helpers.js'

const FAILED = 'nsn_p2p_connections_failed_total'

function setup(): { register: Registry; component: Metrics } {
  const register = new Registry()
  const component = connectionFailureMetrics(createNsnMetrics(register))({})
  return { register, component }
}

async function failed(register: Registry): Promise<{ inbound: number; outbound: number }> {
  return {
    inbound: await value(register, FAILED, { direction: 'inbound' }),
    outbound: await value(register, FAILED, { direction: 'outbound' }),
  }
}

describe('connectionFailureMetrics: which increments count as failed connections', () => {
  it('the upgrader’s dial errors: outbound and inbound, by the amount incremented', async () => {
    const { register, component } = setup()
    const errors = component.registerCounterGroup('libp2p_connection_manager_dial_errors_total')
    errors.increment({ outbound: true })
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 1 })
    errors.increment({ inbound: true })
    errors.increment({ inbound: 2 })
    expect(await failed(register)).toEqual({ inbound: 3, outbound: 1 })
    errors.increment({ other: true })
    errors.reset()
    expect(await failed(register)).toEqual({ inbound: 3, outbound: 1 })
  })

  it('the upgrader’s other groups (dials, errors by name) count nothing', async () => {
    const { register, component } = setup()
    component.registerCounterGroup('libp2p_connection_manager_dials_total').increment({ outbound: true })
    component.registerCounterGroup('libp2p_connection_manager_dials_outbound_errors_total').increment({
      EncryptionFailedError: true,
    })
    component.registerCounterGroup('libp2p_connection_manager_dials_inbound_errors_total').increment({
      ConnectionDeniedError: true,
    })
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 0 })
  })

  it('the TCP dialer: a failed connect counts once, a timeout too (it also counts error), a connect nothing', async () => {
    const { register, component } = setup()
    const events = component.registerCounterGroup('libp2p_tcp_dialer_events_total', { label: 'event' })
    events.increment({ error: true })
    expect((await failed(register)).outbound).toBe(1)
    // onTimeout counts `timeout`, then re-emits the timeout as a socket error: `error`
    events.increment({ timeout: true })
    events.increment({ error: true })
    expect((await failed(register)).outbound).toBe(2)
    events.increment({ connect: true })
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 2 })
  })

  it('the TCP dialer: an aborted connect counts, a connection closing on a local error does not', async () => {
    const { register, component } = setup()
    const events = component.registerCounterGroup('libp2p_tcp_dialer_events_total', { label: 'event' })
    events.increment({ abort: true }) // connect aborted before the socket opened
    expect((await failed(register)).outbound).toBe(1)

    // an open connection closing: `end`, then one of abort / reset / _local_close / _remote_close
    events.increment({ connect: true })
    events.increment({ end: true })
    events.increment({ abort: true })
    for (const kind of ['reset', '_local_close', '_remote_close']) {
      events.increment({ end: true })
      events.increment({ [kind]: true })
    }
    expect((await failed(register)).outbound).toBe(1)

    // after closes of every kind, an abort alone is again an aborted connect
    events.increment({ abort: true })
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 2 })
  })

  it('the TCP dialer’s errors: a socket lost before its upgrade counts; a failed upgrade is the upgrader’s', async () => {
    const { register, component } = setup()
    const errors = component.registerCounterGroup('libp2p_tcp_dialer_errors_total', { label: 'event' })
    errors.increment({ outbound_to_connection: true })
    errors.increment({ outbound_upgrade: true })
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 1 })
  })

  it('the TCP listener: a socket lost before its upgrade and a dropped socket count inbound, nothing else', async () => {
    const { register, component } = setup()
    const addr = '127.0.0.1:9000'
    const errors = component.registerMetricGroup('libp2p_tcp_listener_errors_total', { label: 'address' })
    const events = component.registerMetricGroup('libp2p_tcp_listener_events_total', { label: 'address' })
    errors.increment({ [`${addr} inbound_to_connection`]: true })
    errors.increment({ [`${addr} inbound_upgrade`]: true }) // the upgrader counts it
    errors.increment({ [`${addr} listen_error`]: true })
    events.increment({ [`${addr} drop`]: true })
    for (const kind of ['connection', 'end', 'abort', 'reset', '_local_close', '_remote_close']) {
      events.increment({ [`${addr} ${kind}`]: true })
    }
    events.update({ [`${addr} drop`]: 5 })
    expect(await failed(register)).toEqual({ inbound: 2, outbound: 0 })
  })

  it('one full failed dial, as libp2p and TCP report it, counts once', async () => {
    const { register, component } = setup()
    const upgrader = component.registerCounterGroup('libp2p_connection_manager_dial_errors_total')
    const dialer = component.registerCounterGroup('libp2p_tcp_dialer_events_total')
    const dialerErrors = component.registerCounterGroup('libp2p_tcp_dialer_errors_total')
    // TCP connected, the upgrade failed, the transport aborted the connection
    dialer.increment({ connect: true })
    upgrader.increment({ outbound: true })
    dialerErrors.increment({ outbound_upgrade: true })
    dialer.increment({ end: true })
    dialer.increment({ abort: true })
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 1 })
  })

  it('each registration of a group has its own close tracking', async () => {
    const { register, component } = setup()
    const a = component.registerCounterGroup('libp2p_tcp_dialer_events_total')
    const b = component.registerCounterGroup('libp2p_tcp_dialer_events_total')
    a.increment({ end: true })
    b.increment({ abort: true }) // b's connect aborted: a's pending close does not hide it
    a.increment({ abort: true })
    expect((await failed(register)).outbound).toBe(1)
  })
})

describe('connectionFailureMetrics: everything else is a no-op', () => {
  it('other registrations return one shared no-op object, whatever the name: nothing kept per name', async () => {
    const { register, component } = setup()
    const first = component.registerCounterGroup('libp2p_example_0')
    for (let i = 1; i < 10_000; i++) {
      expect(component.registerCounterGroup(`libp2p_example_${i}`)).toBe(first)
    }
    const all = [
      component.registerMetric('m'),
      component.registerMetricGroup('mg'),
      component.registerCounter('c'),
      component.registerCounterGroup('cg'),
      component.registerHistogram('h', { buckets: [1] }),
      component.registerHistogramGroup('hg'),
      component.registerSummary('s'),
      component.registerSummaryGroup('sg'),
    ]
    for (const metric of all) expect(metric).toBe(first)
    const metric = component.registerMetric('m')
    metric.update(1)
    metric.increment()
    metric.decrement(2)
    metric.reset()
    metric.timer()()
    component.registerHistogram('h').observe(1)
    component.registerHistogramGroup('hg').timer('k')()
    component.registerSummaryGroup('sg').observe({ k: 1 })
    component.registerMetricGroup('mg').increment({ outbound: true })
    // a name read for failures, registered as a single metric rather than a group, is a no-op
    const single = component.registerCounter('libp2p_connection_manager_dial_errors_total')
    expect(single).toBe(first)
    single.increment()
    expect(await failed(register)).toEqual({ inbound: 0, outbound: 0 })
  })

  it('calculated metrics return undefined, their callbacks are never called', () => {
    const { component } = setup()
    const calculate = (): never => {
      throw new Error('not called')
    }
    expect(component.registerMetric('m', { calculate })).toBeUndefined()
    expect(component.registerMetricGroup('mg', { calculate })).toBeUndefined()
    expect(component.registerCounter('c', { calculate })).toBeUndefined()
    expect(component.registerCounterGroup('libp2p_tcp_dialer_events_total', { calculate })).toBeUndefined()
    expect(component.registerHistogram('h', { calculate })).toBeUndefined()
    expect(component.registerSummaryGroup('sg', { calculate })).toBeUndefined()
  })

  it('traceFunction returns the function itself, createTrace undefined, tracking does nothing', () => {
    const { component } = setup()
    const fn = async (x: number): Promise<number> => x
    expect(component.traceFunction('libp2p.peerRouting.findPeer', fn)).toBe(fn)
    expect(component.createTrace()).toBeUndefined()
    expect(() => component.trackMultiaddrConnection({} as never)).not.toThrow()
    expect(() => component.trackProtocolStream({} as never)).not.toThrow()
  })

  it('names the groups it reads', () => {
    expect([...LIBP2P_FAILURE_METRICS].sort()).toEqual([
      'libp2p_connection_manager_dial_errors_total',
      'libp2p_tcp_dialer_errors_total',
      'libp2p_tcp_dialer_events_total',
      'libp2p_tcp_listener_errors_total',
      'libp2p_tcp_listener_events_total',
    ])
  })
})

describe('connectionFailureMetrics with a forward component', () => {
  /** A metrics component that records what it is asked. */
  function recorder() {
    const calls: string[] = []
    const group = (name: string): MetricGroup & CounterGroup => ({
      increment: (values) => calls.push(`${name} +${JSON.stringify(values)}`),
      update: (values) => calls.push(`${name} =${JSON.stringify(values)}`),
      decrement: () => calls.push(`${name} -`),
      reset: () => calls.push(`${name} reset`),
      timer: () => () => calls.push(`${name} timer`),
    })
    const register = (name: string, options?: { calculate?: unknown }) => {
      calls.push(`register ${name}`)
      return options?.calculate == null ? group(name) : undefined
    }
    const traced = (): void => {}
    const forward = {
      calls,
      traced,
      start: () => {
        calls.push('start')
      },
      stop: () => {
        calls.push('stop')
      },
      trackMultiaddrConnection: () => calls.push('trackMultiaddrConnection'),
      trackProtocolStream: () => calls.push('trackProtocolStream'),
      registerMetric: register,
      registerMetricGroup: register,
      registerCounter: register,
      registerCounterGroup: register,
      registerHistogram: register,
      registerHistogramGroup: register,
      registerSummary: register,
      registerSummaryGroup: register,
      traceFunction: () => traced,
      createTrace: () => 'trace',
    }
    return forward
  }

  it('forwards every call and still counts failures', async () => {
    const register = new Registry()
    const forward = recorder()
    const seen: unknown[] = []
    const component = connectionFailureMetrics(createNsnMetrics(register), {
      forward: (components: { name: string }) => {
        seen.push(components)
        return forward as unknown as Metrics
      },
    })({ name: 'components' }) as Metrics & { start(): void; stop(): void }
    expect(seen).toEqual([{ name: 'components' }])

    const errors = component.registerCounterGroup('libp2p_connection_manager_dial_errors_total')
    errors.increment({ inbound: true })
    errors.reset()
    const other = component.registerMetricGroup('libp2p_other')
    other.update({ a: 1 })
    expect(component.registerMetric('calc', { calculate: () => 1 })).toBeUndefined()
    component.trackMultiaddrConnection({} as never)
    component.trackProtocolStream({} as never)
    expect(component.traceFunction('x', () => 1)).toBe(forward.traced)
    expect(component.createTrace()).toBe('trace')
    await component.start()
    await component.stop()

    expect(forward.calls).toEqual([
      'register libp2p_connection_manager_dial_errors_total',
      'libp2p_connection_manager_dial_errors_total +{"inbound":true}',
      'libp2p_connection_manager_dial_errors_total reset',
      'register libp2p_other',
      'libp2p_other ={"a":1}',
      'register calc',
      'trackMultiaddrConnection',
      'trackProtocolStream',
      'start',
      'stop',
    ])
    expect(await failed(register)).toEqual({ inbound: 1, outbound: 0 })
  })
})
