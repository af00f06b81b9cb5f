import { EventEmitter } from 'node:events'
import { multiaddr } from '@multiformats/multiaddr'
import { type FindProvidersSummary, QueryTimeoutError, type ShardPeer } from '@nsn/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type ApiBackend,
  ApiResponseError,
  type ApiServer,
  type CliIo,
  EXIT_OK,
  NsnApiClient,
  type NsnNode,
  type NsnNodeInit,
  runCli,
  startApiServer,
} from '../src/index.js'
import { api, apiAddr, apiTestNode, hash, stubBackend, TempDirs, threeNodes, waitFor } from './helpers.js'

const dirs = new TempDirs()
const NDJSON = { accept: 'application/x-ndjson' }

const node = (init: NsnNodeInit = {}): Promise<NsnNode> => apiTestNode(dirs, init)

const addr = apiAddr

/** A GET with `Accept: application/x-ndjson`: the status, content type and parsed lines. */
async function lines(
  address: string,
  path: string,
): Promise<{ status: number; type: string | null; lines: Array<Record<string, unknown>> }> {
  const res = await fetch(`http://${address}${path}`, { headers: NDJSON })
  const text = await res.text()
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    lines: text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

/** In-process CLI I/O that records stdout. */
function io(): CliIo & { out: () => string } {
  let stdout = ''
  return {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => undefined },
    env: {},
    cwd: process.cwd(),
    signals: new EventEmitter(),
    exit: (code: number) => {
      throw new Error(`unexpected exit(${code})`)
    },
    out: () => stdout,
  }
}

async function metric(n: NsnNode, name: string): Promise<number> {
  const found = (await n.metrics.register.getMetricsAsJSON()).find((m) => m.name === name)
  return Number(found?.values[0]?.value ?? Number.NaN)
}

describe('GET /v1/shards/{hash}/providers streamed as JSON lines, and `nsn-node find --stream`, on three nodes', () => {
  const nodes: NsnNode[] = []
  let a: NsnNode
  let b: NsnNode
  let c: NsnNode

  beforeAll(async () => {
    ;[a, b, c] = await threeNodes(node)
    nodes.push(a, b, c)
  })

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await dirs.cleanup()
  })

  it('streams one line per provider then a done line; the repeat comes from the cache, counted as a hit', async () => {
    const shard = hash('b1')
    await a.provide(shard)
    const first = await lines(addr(c), `/v1/shards/${shard}/providers`)
    expect(first.status).toBe(200)
    expect(first.type).toBe('application/x-ndjson; charset=utf-8')
    expect(first.lines).toHaveLength(2)
    expect(first.lines[0]).toMatchObject({ peerId: a.peerId.toString() })
    expect(first.lines[0]?.addrs).toContainEqual(expect.stringMatching(/^\/ip4\//))
    expect(first.lines[1]).toMatchObject({ done: true, partial: false, found: 1, fromCache: false })
    expect(typeof first.lines[1]?.durationMs).toBe('number')

    const again = await lines(addr(c), `/v1/shards/${shard}/providers`)
    expect(again.lines[0]).toEqual(first.lines[0])
    expect(again.lines[1]).toMatchObject({ done: true, partial: false, found: 1, fromCache: true })
    expect(await metric(c, 'nsn_p2p_provider_cache_hits_total')).toBe(1)
    expect(await metric(c, 'nsn_p2p_provider_cache_misses_total')).toBe(1)
    expect(await metric(c, 'nsn_p2p_provider_cache_entries')).toBe(1)

    // without the Accept header: the JSON answer of before, from the cache too
    const json = await api(addr(c), 'GET', `/v1/shards/${shard}/providers`)
    expect(json.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(Object.keys(json.body as object).sort()).toEqual(['durationMs', 'partial', 'providers'])
    expect((json.body as { providers: unknown[] }).providers).toEqual([first.lines[0]])
    expect(await metric(c, 'nsn_p2p_provider_cache_hits_total')).toBe(2)
  })

  it('?limit=1 streams the first provider only and ends', async () => {
    const shard = hash('b2')
    await a.provide(shard)
    await b.provide(shard)
    const res = await lines(addr(c), `/v1/shards/${shard}/providers?limit=1`)
    expect(res.lines).toHaveLength(2)
    expect([a.peerId.toString(), b.peerId.toString()]).toContain(res.lines[0]?.peerId)
    expect(res.lines[1]).toMatchObject({ done: true, found: 1, partial: false })
  })

  it('errors before the first line keep their status and JSON body', async () => {
    const bad = await lines(addr(c), `/v1/shards/${hash('ab')}/providers?limit=0`)
    expect(bad.status).toBe(400)
    expect(bad.type).toBe('application/json; charset=utf-8')
    expect(bad.lines[0]).toMatchObject({ error: { code: 'ERR_BAD_REQUEST' } })
    const lone = await node()
    nodes.push(lone)
    const none = await lines(addr(lone), `/v1/shards/${hash('ab')}/providers`)
    expect(none.status).toBe(503)
    expect(none.lines[0]).toMatchObject({ error: { code: 'ERR_NO_KNOWN_PEERS' } })
  })

  it('nsn-node find --stream prints a line per provider as it comes, then a summary; --json gives the lines', async () => {
    const shard = hash('b3')
    await a.provide(shard)
    const human = io()
    expect(await runCli(['find', shard, '--stream', '--api', addr(b)], human)).toBe(EXIT_OK)
    const out = human.out().split('\n')
    expect(out[0]).toMatch(new RegExp(`^${a.peerId.toString()} {2}/ip4/127\\.0\\.0\\.1/tcp/\\d+`))
    expect(out[1]).toMatch(new RegExp(`^found 1 provider for ${shard} in [\\d.]+ ms$`))
    expect(out.slice(2)).toEqual([''])

    const again = io()
    expect(await runCli(['find', shard, '--stream', '--api', addr(b)], again)).toBe(EXIT_OK)
    expect(again.out()).toMatch(/ in [\d.]+ ms \(from the provider cache\)\n$/)

    const json = io()
    expect(await runCli(['find', shard, '--stream', '--json', '--limit', '1', '--api', addr(b)], json)).toBe(
      EXIT_OK,
    )
    const parsed = json
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(parsed).toHaveLength(2)
    expect(parsed[0]).toMatchObject({ peerId: a.peerId.toString() })
    expect(parsed[1]).toMatchObject({ done: true, found: 1 })
  })
})

describe('the streamed lookup through the API server (a backend the test drives)', () => {
  let server: ApiServer | undefined
  afterEach(() => server?.close())

  const PEER = '12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp'
  const peer = (port: number): ShardPeer =>
    ({
      peerId: { toString: () => PEER },
      multiaddrs: [multiaddr(`/ip4/10.0.0.1/tcp/${port}`)],
    }) as unknown as ShardPeer

  function backend(stream: () => AsyncGenerator<ShardPeer, FindProvidersSummary, undefined>): ApiBackend {
    return stubBackend({ findProvidersStream: stream })
  }

  it('writes each provider as soon as it is found, before the lookup ends', async () => {
    let release: () => void = () => undefined
    const released = new Promise<void>((resolve) => {
      release = resolve
    })
    server = await startApiServer({
      port: 0,
      backend: backend(async function* () {
        yield peer(1)
        await released
        yield peer(2)
        return { found: 2, partial: false, durationMs: 5, fromCache: false }
      }),
    })
    const client = new NsnApiClient(`127.0.0.1:${server.port}`)
    const stream = client.findProvidersStream(hash('ab'))
    // the first line arrives while the lookup still runs
    expect((await stream.next()).value).toEqual({ peerId: PEER, addrs: ['/ip4/10.0.0.1/tcp/1'] })
    expect(server.running).toBe(1) // a streamed answer holds its concurrency slot
    release()
    expect((await stream.next()).value).toEqual({ peerId: PEER, addrs: ['/ip4/10.0.0.1/tcp/2'] })
    expect(await stream.next()).toEqual({
      done: true,
      value: { done: true, found: 2, partial: false, durationMs: 5, fromCache: false },
    })
    await waitFor(() => server?.running === 0, { what: 'the slot freed' })
  })

  it('an error after the first line ends the answer with an error line, which the client throws', async () => {
    server = await startApiServer({
      port: 0,
      backend: backend(async function* () {
        yield peer(1)
        throw new QueryTimeoutError(10_000)
      }),
    })
    const raw = await lines(`127.0.0.1:${server.port}`, `/v1/shards/${hash('ab')}/providers`)
    expect(raw.status).toBe(200)
    expect(raw.lines).toEqual([
      { peerId: PEER, addrs: ['/ip4/10.0.0.1/tcp/1'] },
      { error: { code: 'ERR_QUERY_TIMEOUT', message: 'DHT query timeout', status: 504 } },
    ])
    const stream = new NsnApiClient(`127.0.0.1:${server.port}`).findProvidersStream(hash('ab'))
    await stream.next()
    const err = await stream.next().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiResponseError)
    expect(err).toMatchObject({ status: 504, remoteCode: 'ERR_QUERY_TIMEOUT' })
  })
})
