import { once } from 'node:events'
import { createServer, type Server } from 'node:net'
import { NoKnownPeersError } from '@nsn/core'
import { createSilentPeer, routingTableEvents, type SilentPeer, silentPeerEvents } from '@nsn/core/testing'
import { MetricsListenError } from '@nsn/metrics'
import { InvalidShardHashError } from '@nsn/shard-registry'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  type ApiBackend,
  type ApiServer,
  type NsnNode,
  type NsnNodeInit,
  type NsnNodeState,
  OverloadedError,
  startApiServer,
  toHttpError,
} from '../src/index.js'
import { api, apiAddr, apiTestNode, hash, stubBackend, TempDirs, threeNodes, waitFor } from './helpers.js'

const dirs = new TempDirs()

const node = (init: NsnNodeInit = {}): Promise<NsnNode> => apiTestNode(dirs, init)

const addr = apiAddr

describe('HTTP API on a three-node network', () => {
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

  it('GET /v1/id, /v1/peers, /healthz', async () => {
    const id = await api(addr(a), 'GET', '/v1/id')
    expect(id.status).toBe(200)
    expect(id.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(id.body).toEqual({ peerId: a.peerId.toString(), addrs: a.id().addrs })
    const peers = (await api(addr(b), 'GET', '/v1/peers')).body as {
      peers: Array<{ peerId: string; addrs: string[] }>
    }
    expect(peers.peers.map((p) => p.peerId).sort()).toEqual([a.peerId.toString(), c.peerId.toString()].sort())
    expect(peers.peers.every((p) => p.addrs.length > 0 && p.addrs.every((x) => typeof x === 'string'))).toBe(
      true,
    )
    expect(await api(addr(a), 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
  })

  it('PUT provides, GET /v1/shards lists, providers are found elsewhere, DELETE stops', async () => {
    const shard = hash('a1')
    const put = await api(addr(a), 'PUT', `/v1/shards/0x${shard.toUpperCase()}`)
    expect(put.status).toBe(200)
    expect(put.body).toMatchObject({ hash: shard, confirmed: 2, sentTo: 2, quorum: 2, belowQuorum: false })
    expect((put.body as { cid: string }).cid).toMatch(/^bafkrei/)
    expect((put.body as { durationMs: number }).durationMs).toBeGreaterThan(0)

    const shards = (await api(addr(a), 'GET', '/v1/shards')).body as {
      shards: Array<Record<string, unknown>>
    }
    expect(shards.shards).toHaveLength(1)
    expect(Object.keys(shards.shards[0] ?? {}).sort()).toEqual(['cid', 'hash', 'providedAt', 'republishAt'])
    expect(shards.shards[0]).toMatchObject({ hash: shard, cid: (put.body as { cid: string }).cid })

    const found = await api(addr(c), 'GET', `/v1/shards/${shard}/providers?limit=1`)
    expect(found.status).toBe(200)
    const body = found.body as { providers: Array<{ peerId: string; addrs: string[] }>; partial: boolean }
    expect(body.partial).toBe(false)
    expect(body.providers).toHaveLength(1)
    expect(body.providers[0]?.peerId).toBe(a.peerId.toString())
    expect(body.providers[0]?.addrs.length).toBeGreaterThan(0)

    expect(await api(addr(a), 'DELETE', `/v1/shards/${shard}`)).toMatchObject({
      status: 200,
      body: { hash: shard },
    })
    const again = await api(addr(a), 'DELETE', `/v1/shards/${shard}`)
    expect(again.status).toBe(404)
    expect(again.body).toEqual({
      error: { code: 'ERR_SHARD_NOT_PROVIDED', message: `shard ${shard} is not provided by this node` },
    })
  })

  it('a lookup that completes and finds nobody is 200 with an empty list', async () => {
    const found = await api(addr(b), 'GET', `/v1/shards/${hash('0e')}/providers`)
    expect(found.status).toBe(200)
    expect(found.body).toMatchObject({ providers: [], partial: false })
  })

  it('GET /v1/closest-peers by shard hash and by peer id', async () => {
    const byHash = (await api(addr(b), 'GET', `/v1/closest-peers/${hash('77')}`)).body as {
      peers: Array<{ peerId: string }>
    }
    expect(byHash.peers.map((p) => p.peerId).sort()).toEqual(
      [a.peerId.toString(), c.peerId.toString()].sort(),
    )
    const byPeer = await api(addr(b), 'GET', `/v1/closest-peers/${c.peerId.toString()}`)
    expect(byPeer.status).toBe(200)
    expect((byPeer.body as { peers: Array<{ peerId: string }> }).peers[0]?.peerId).toBe(c.peerId.toString())
  })

  it('POST /v1/bootstrap and /v1/refresh report what they did', async () => {
    const boot = await api(addr(b), 'POST', '/v1/bootstrap')
    expect(boot.status).toBe(200)
    expect(boot.body).toMatchObject({ connected: 1, failed: 0, routingTableSize: 2 })
    const refresh = await api(addr(b), 'POST', '/v1/refresh')
    expect(refresh.status).toBe(200)
    expect(refresh.body).toMatchObject({ removed: 0, sizeAfter: 2 })
  })

  it.each([
    ['PUT', '/v1/shards/xyz', 400, 'ERR_INVALID_SHARD_KEY'],
    ['GET', `/v1/shards/${'ab'.repeat(31)}/providers`, 400, 'ERR_INVALID_SHARD_KEY'],
    ['DELETE', '/v1/shards/0x12', 400, 'ERR_INVALID_SHARD_KEY'],
    ['GET', `/v1/shards/${hash('ab')}/providers?limit=0`, 400, 'ERR_BAD_REQUEST'],
    ['GET', `/v1/shards/${hash('ab')}/providers?limit=ten`, 400, 'ERR_BAD_REQUEST'],
    ['GET', '/v1/closest-peers/not-a-key', 400, 'ERR_INVALID_SHARD_KEY'],
    ['PUT', '/v1/shards/%E0%A4%A', 400, 'ERR_BAD_REQUEST'],
    ['GET', '/v2/id', 404, 'ERR_NOT_FOUND'],
    ['GET', '/v1/shards/', 404, 'ERR_NOT_FOUND'],
    ['POST', '/v1/id', 405, 'ERR_METHOD_NOT_ALLOWED'],
    ['GET', '/v1/bootstrap', 405, 'ERR_METHOD_NOT_ALLOWED'],
  ])('%s %s → %i %s', async (method, path, status, code) => {
    const res = await api(addr(b), method, path)
    expect(res.status).toBe(status)
    expect((res.body as { error: { code: string } }).error.code).toBe(code)
    expect(typeof (res.body as { error: { message: string } }).error.message).toBe('string')
    if (status === 405) expect(res.headers.get('allow')).toBeTruthy()
  })
})

describe('HTTP API errors of an isolated or stuck node', () => {
  const nodes: NsnNode[] = []
  const silents: SilentPeer[] = []
  afterEach(async () => {
    await Promise.all(nodes.splice(0).map((n) => n.stop()))
    await Promise.all(silents.splice(0).map((s) => s.stop()))
  })
  afterAll(() => dirs.cleanup())

  async function stuckNode(init: NsnNodeInit): Promise<NsnNode> {
    const silent = await createSilentPeer()
    silents.push(silent)
    // its first bootstrap hangs on the silent peer until the deadline: do not wait for it
    const n = await node({ bootstrap: [silent.addr.toString()], waitForBootstrap: false, ...init })
    nodes.push(n)
    await waitFor(() => n.routing.routingTableSize() === 1, {
      on: routingTableEvents(n.libp2p),
      what: 'the silent peer in the table',
    })
    return n
  }

  it('no known peers → 503 ERR_NO_KNOWN_PEERS; bootstrap with nothing to bootstrap from → 503', async () => {
    const n = await node()
    nodes.push(n)
    const find = await api(addr(n), 'GET', `/v1/shards/${hash('01')}/providers`)
    expect(find.status).toBe(503)
    expect((find.body as { error: { code: string } }).error.code).toBe('ERR_NO_KNOWN_PEERS')
    const boot = await api(addr(n), 'POST', '/v1/bootstrap')
    expect(boot.status).toBe(503)
    expect((boot.body as { error: { message: string } }).error.message).toMatch(
      /no bootstrap peers are configured/,
    )
  })

  it('a query past its deadline → 504 ERR_QUERY_TIMEOUT "DHT query timeout"', async () => {
    const n = await stuckNode({ queryTimeout: 300 })
    const res = await api(addr(n), 'GET', `/v1/shards/${hash('02')}/providers`)
    expect(res.status).toBe(504)
    expect(res.body).toEqual({ error: { code: 'ERR_QUERY_TIMEOUT', message: 'DHT query timeout' } })
  })

  it('past the concurrency bound → 429 ERR_OVERLOADED; a client that disconnects frees its slot', async () => {
    const n = await stuckNode({ queryTimeout: 20_000, maxConcurrentQueries: 1 })
    const controller = new AbortController()
    const first = api(addr(n), 'GET', `/v1/shards/${hash('03')}/providers`, {
      signal: controller.signal,
    }).catch((err: unknown) => err)
    const aborted = async (): Promise<number> =>
      (await n.metrics.metrics.kademlia.queryDuration.get()).values.find(
        (v) =>
          v.metricName?.endsWith('_count') &&
          v.labels.type === 'find_providers' &&
          v.labels.result === 'error',
      )?.value ?? 0
    // the first lookup holds the only slot until it is aborted
    let second: Awaited<ReturnType<typeof api>> | undefined
    await waitFor(
      async () => {
        second = await api(addr(n), 'GET', `/v1/shards/${hash('04')}/providers`)
        return second.status === 429
      },
      { what: 'a 429' },
    )
    expect(second?.body).toMatchObject({ error: { code: 'ERR_OVERLOADED' } })
    expect(second?.headers.get('retry-after')).toBe('1')
    controller.abort()
    expect(await first).toBeInstanceOf(Error)
    // the disconnect aborted the query long before its 20 s deadline
    await waitFor(async () => (await aborted()) === 1, {
      timeoutMs: 5_000,
      what: 'the aborted lookup to end',
    })
  })

  it('stop() while a lookup runs: it answers 503 ERR_STOPPING, and stop is quick', async () => {
    const n = await stuckNode({ queryTimeout: 20_000 })
    const address = addr(n)
    const lookup = api(address, 'GET', `/v1/shards/${hash('05')}/providers`)
    await waitFor(() => silents[0]!.streams.length >= 2, {
      on: silentPeerEvents(silents[0]!),
      what: 'the lookup to reach the silent peer',
    })
    const start = Date.now()
    await n.stop()
    expect(Date.now() - start).toBeLessThan(5_000)
    const res = await lookup
    expect(res.status).toBe(503)
    expect(res.body).toEqual({ error: { code: 'ERR_STOPPING', message: 'node is stopping' } })
    expect(n.state).toBe('stopped')
  })

  it('the API port in use → ApiAddressInUseError; a data dir in use → DataDirError', async () => {
    const blocker: Server = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const { port } = blocker.address() as { port: number }
    try {
      await expect(node({ api: `127.0.0.1:${port}` })).rejects.toMatchObject({
        code: 'ERR_API_ADDRESS_IN_USE',
        message: expect.stringContaining(
          `API cannot listen on 127.0.0.1:${port}: the address is already in use`,
        ),
      })
    } finally {
      blocker.close()
    }
    const first = await node()
    nodes.push(first)
    await expect(node({ dataDir: first.config.dataDir })).rejects.toMatchObject({
      code: 'ERR_DATA_DIR',
      message: expect.stringContaining('locked by another process'),
    })
  })
})

describe('API while starting or stopping, and the error mapping', () => {
  let server: ApiServer | undefined
  afterEach(() => server?.close())

  function backend(state: NsnNodeState): ApiBackend {
    return stubBackend({ state }, 'boom')
  }

  it.each([
    ['starting', 'ERR_STARTING'],
    ['stopping', 'ERR_STOPPING'],
  ] as const)('healthz and every route answer 503 while %s', async (state, code) => {
    server = await startApiServer({ backend: backend(state), port: 0 })
    const address = `127.0.0.1:${server.port}`
    expect(await api(address, 'GET', '/healthz')).toMatchObject({ status: 503, body: { status: state } })
    expect(await api(address, 'GET', '/v1/id')).toMatchObject({ status: 503, body: { error: { code } } })
  })

  it('an unexpected error is a 500 ERR_INTERNAL', async () => {
    server = await startApiServer({ backend: backend('running'), port: 0 })
    const res = await api(`127.0.0.1:${server.port}`, 'GET', '/v1/id')
    expect(res).toMatchObject({
      status: 500,
      body: { error: { code: 'ERR_INTERNAL', message: 'internal error: boom' } },
    })
    expect(toHttpError(Object.assign(new Error('x'), { code: 'ERR_QUERY_TIMEOUT' })).status).toBe(500)
  })

  it('maps the errors of every NSN package by code, never by class', () => {
    // @nsn/shard-registry does not depend on core: its errors carry the NSN brand only
    expect(toHttpError(new InvalidShardHashError('string', 'must be exactly 32 bytes'))).toMatchObject({
      status: 400,
      code: 'ERR_INVALID_SHARD_HASH',
      internal: false,
    })
    expect(toHttpError(new NoKnownPeersError())).toMatchObject({ status: 503, code: 'ERR_NO_KNOWN_PEERS' })
    expect(toHttpError(new OverloadedError(64))).toMatchObject({
      status: 429,
      code: 'ERR_OVERLOADED',
      headers: { 'retry-after': '1' },
    })
    // an NSN error whose code the API does not map is still an internal error
    expect(toHttpError(new MetricsListenError('127.0.0.1', 1, new Error('EACCES')))).toMatchObject({
      status: 500,
      code: 'ERR_INTERNAL',
      internal: true,
    })
  })
})
