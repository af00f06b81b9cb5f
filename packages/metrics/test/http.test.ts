import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Counter, type OpenMetricsContentType, Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import {
  createMetricsHandler,
  createNsnMetrics,
  DEFAULT_METRICS_HOST,
  DEFAULT_METRICS_PORT,
  InvalidMetricsOptionError,
  MetricsAddressInUseError,
  type MetricsServer,
  negotiateFormat,
  OPENMETRICS_CONTENT_TYPE,
  openMetricsExposition,
  PROMETHEUS_CONTENT_TYPE,
  startMetricsServer,
} from '../src/index.js'

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'

function populated(): Registry {
  const register = new Registry()
  const metrics = createNsnMetrics(register)
  metrics.kademlia.providerRecordsPublished.inc(3)
  metrics.kademlia.queryDuration.observe({ type: 'provide', result: 'ok' }, 0.2)
  metrics.kademlia.queryTimeouts.inc({ type: 'find_providers' })
  metrics.kademlia.routingTableSize.set(12)
  return register
}

describe('negotiateFormat', () => {
  it('answers the text format by default and OpenMetrics when preferred', () => {
    expect(negotiateFormat(undefined)).toBe('prometheus')
    expect(negotiateFormat('')).toBe('prometheus')
    expect(negotiateFormat('*/*')).toBe('prometheus')
    expect(negotiateFormat('text/plain')).toBe('prometheus')
    expect(negotiateFormat('application/json')).toBe('prometheus')
    expect(negotiateFormat(PROMETHEUS_ACCEPT)).toBe('openmetrics')
    expect(negotiateFormat('application/openmetrics-text')).toBe('openmetrics')
    expect(negotiateFormat('application/openmetrics-text; version="1.0.0"; charset=utf-8')).toBe(
      'openmetrics',
    )
    expect(negotiateFormat('text/plain;q=0.9, application/openmetrics-text;q=0.5')).toBe('prometheus')
    expect(negotiateFormat('application/openmetrics-text;q=0')).toBe('prometheus')
    expect(negotiateFormat('application/openmetrics-text;version=0.0.1')).toBe('prometheus')
    expect(negotiateFormat('text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0')).toBe(
      'openmetrics',
    )
  })
})

describe('openMetricsExposition', () => {
  it('writes counter families without _total, samples with it, canonical le and # EOF', async () => {
    const text = await openMetricsExposition(populated())
    expect(text.endsWith('# EOF\n')).toBe(true)
    expect(text.match(/# EOF/g)).toHaveLength(1)
    expect(text).toContain('# TYPE nsn_p2p_kademlia_provider_records_published counter')
    expect(text).toContain('# HELP nsn_p2p_kademlia_provider_records_published Provider records published')
    expect(text).toContain('\nnsn_p2p_kademlia_provider_records_published_total 3\n')
    expect(text).toContain('nsn_p2p_kademlia_query_timeouts_total{type="find_providers"} 1')
    expect(text).toContain('# TYPE nsn_p2p_kademlia_query_duration_seconds histogram')
    expect(text).toContain(
      'nsn_p2p_kademlia_query_duration_seconds_bucket{le="10.0",type="provide",result="ok"} 1',
    )
    expect(text).toContain(
      'nsn_p2p_kademlia_query_duration_seconds_bucket{le="+Inf",type="provide",result="ok"} 1',
    )
    expect(text).toContain(
      'nsn_p2p_kademlia_query_duration_seconds_bucket{le="0.1",type="provide",result="ok"} 0',
    )
    expect(text).toContain('nsn_p2p_kademlia_query_duration_seconds_count{type="provide",result="ok"} 1')
    expect(text).toContain('nsn_p2p_kademlia_routing_table_size 12')
    expect(text).not.toMatch(/_total_total/)
  })

  it('leaves the registry’s own text exposition unchanged (prom-client’s OpenMetrics mode would strip _total)', async () => {
    const register = populated()
    const before = await register.metrics()
    await openMetricsExposition(register)
    expect(await register.metrics()).toBe(before)
    expect(before).toContain('nsn_p2p_kademlia_provider_records_published_total 3')

    // what the module guards against: prom-client renames counters in place in OpenMetrics mode
    const shared = new Registry()
    const counter = new Counter({ name: 'demo_requests_total', help: 'demo', registers: [shared] })
    counter.inc()
    const view = new Registry<OpenMetricsContentType>()
    view.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    view.registerMetric(counter)
    await view.metrics()
    expect(await shared.metrics()).not.toContain('demo_requests_total')
  })

  it('escapes label values and help, and applies the registry’s default labels', async () => {
    const register = new Registry()
    register.setDefaultLabels({ node: 'a"b\\c' })
    new Counter({
      name: 'odd_total',
      help: 'line\nwith "quotes" \\',
      labelNames: ['x'],
      registers: [register],
    }).inc({
      x: 'new\nline',
    })
    const text = await openMetricsExposition(register)
    expect(text).toContain('# HELP odd line\\nwith \\"quotes\\" \\\\')
    expect(text).toContain('odd_total{x="new\\nline",node="a\\"b\\\\c"} 1')
  })

  it('an empty registry is just # EOF', async () => {
    expect(await openMetricsExposition(new Registry())).toBe('# EOF\n')
  })
})

describe('createMetricsHandler over HTTP', () => {
  let server: Server | undefined
  afterEach(async () => {
    server?.closeAllConnections()
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
    server = undefined
  })

  async function serve(register: Registry, onError?: (err: unknown) => void): Promise<string> {
    server = createServer(createMetricsHandler(register, { onError }))
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  }

  it('GET /metrics answers the Prometheus text format', async () => {
    const register = populated()
    const base = await serve(register)
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(PROMETHEUS_CONTENT_TYPE)
    expect(res.headers.get('content-type')).toBe(register.contentType)
    const body = await res.text()
    expect(body).toBe(await register.metrics())
    expect(body).toContain('# HELP nsn_p2p_kademlia_provider_records_published_total')
    expect(body).toContain('nsn_p2p_kademlia_provider_records_published_total 3')
    expect((await fetch(`${base}/metrics?debug=1`)).status).toBe(200)
  })

  it('answers OpenMetrics to a scraper that prefers it, as Prometheus does', async () => {
    const register = populated()
    const base = await serve(register)
    const res = await fetch(`${base}/metrics`, { headers: { accept: PROMETHEUS_ACCEPT } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(OPENMETRICS_CONTENT_TYPE)
    expect(res.headers.get('vary')).toBe('Accept')
    const body = await res.text()
    expect(body.endsWith('# EOF\n')).toBe(true)
    expect(body).toContain('nsn_p2p_kademlia_provider_records_published_total 3')
    // and the text format afterwards still has its _total names
    expect(await (await fetch(`${base}/metrics`)).text()).toContain(
      '# TYPE nsn_p2p_kademlia_query_timeouts_total counter',
    )
  })

  it('HEAD answers headers only; other paths are 404; other methods 405', async () => {
    const base = await serve(populated())
    const head = await fetch(`${base}/metrics`, { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(100)
    expect(await head.text()).toBe('')
    expect((await fetch(`${base}/`)).status).toBe(404)
    expect((await fetch(`${base}/metrics/`)).status).toBe(404)
    expect((await fetch(`${base}/v1/id`)).status).toBe(404)
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${base}/metrics`, { method })
      expect(res.status).toBe(405)
      expect(res.headers.get('allow')).toBe('GET, HEAD')
    }
  })

  it('a failing collect is a 500 reported to onError, and the next scrape works', async () => {
    const register = new Registry()
    let fail = true
    new Counter({
      name: 'flaky_total',
      help: 'fails once',
      registers: [register],
      collect() {
        if (fail) throw new Error('source unavailable')
      },
    })
    const errors: unknown[] = []
    const base = await serve(register, (err) => errors.push(err))
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(500)
    expect(await res.text()).toContain('source unavailable')
    expect(errors).toHaveLength(1)
    fail = false
    expect((await fetch(`${base}/metrics`)).status).toBe(200)
  })

  it('refuses an OpenMetrics-typed registry and a relative path', () => {
    const openMetricsRegistry = new Registry<OpenMetricsContentType>()
    openMetricsRegistry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE)
    expect(() => createMetricsHandler(openMetricsRegistry)).toThrow(InvalidMetricsOptionError)
    expect(() => createMetricsHandler(new Registry(), { path: 'metrics' })).toThrow(/must start with/)
  })
})

describe('startMetricsServer', () => {
  const servers: MetricsServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()))
  })

  it('defaults to 127.0.0.1:9100', () => {
    expect(DEFAULT_METRICS_HOST).toBe('127.0.0.1')
    expect(DEFAULT_METRICS_PORT).toBe(9100)
  })

  it('listens on loopback, serves /metrics at its url, and closes cleanly with a keep-alive client', async () => {
    const register = populated()
    const server = await startMetricsServer({ register, port: 0 })
    servers.push(server)
    expect(server.host).toBe('127.0.0.1')
    expect(server.port).toBeGreaterThan(0)
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`)
    const res = await fetch(server.url, { headers: { connection: 'keep-alive' } })
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('nsn_p2p_kademlia_routing_table_size 12')
    const started = Date.now()
    await server.close()
    await server.close()
    expect(Date.now() - started).toBeLessThan(2_000)
    await expect(fetch(server.url)).rejects.toThrow()
  })

  it('fails with a typed error naming the address when the port is in use', async () => {
    const first = await startMetricsServer({ register: new Registry(), port: 0 })
    servers.push(first)
    const err = await startMetricsServer({ register: new Registry(), port: first.port }).catch(
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(MetricsAddressInUseError)
    const typed = err as MetricsAddressInUseError
    expect(typed.code).toBe('ERR_METRICS_ADDRESS_IN_USE')
    expect(typed.name).toBe('MetricsAddressInUseError')
    expect(typed.port).toBe(first.port)
    expect(typed.message).toContain(`127.0.0.1:${first.port}`)
    expect(typed.message).toContain('already in use')
    expect(typed.toObject()).toEqual({ name: typed.name, code: typed.code, message: typed.message })
    expect((typed.cause as NodeJS.ErrnoException).code).toBe('EADDRINUSE')
  })

  it('rejects bad options before listening', async () => {
    await expect(startMetricsServer({ register: new Registry(), port: 70_000 })).rejects.toThrow(
      InvalidMetricsOptionError,
    )
    await expect(startMetricsServer({ register: new Registry(), port: 1.5 })).rejects.toThrow(/integer/)
    await expect(startMetricsServer({ register: new Registry(), host: '' })).rejects.toThrow(/host/)
  })

  it('serves a custom path', async () => {
    const server = await startMetricsServer({ register: populated(), port: 0, path: '/prom' })
    servers.push(server)
    expect(server.url.endsWith('/prom')).toBe(true)
    expect((await fetch(server.url)).status).toBe(200)
    expect((await fetch(server.url.replace('/prom', '/metrics'))).status).toBe(404)
  })
})
