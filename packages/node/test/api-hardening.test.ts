// The HTTP API against malformed and unfinished requests, over raw sockets on loopback:
// request targets that are not a single-slash path, what Node's parser refuses, requests
// that never finish, HEAD on GET routes, and the warn line of every error answer.
import { connect } from 'node:net'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  API_CONNECTIONS_CHECK_INTERVAL,
  API_HEADERS_TIMEOUT,
  API_REQUEST_TIMEOUT,
  type ApiBackend,
  type ApiServer,
  createLogger,
  createNsnNode,
  silentLogger,
  startApiServer,
} from '../src/index.js'
import { hash, stubBackend, TempDirs } from './helpers.js'

const dirs = new TempDirs()
afterAll(() => dirs.cleanup())

/** A raw answer: status, lower-cased headers, body. */
interface RawAnswer {
  status: number
  headers: Record<string, string>
  body: string
  /** ms from the first byte written to the connection's end. */
  ms: number
}

/**
 * Writes `text` on a fresh connection and resolves with what came back once the server
 * ends the connection (`end: true` also ends ours after writing: a complete exchange).
 */
function raw(port: number, text: string, { end = false } = {}): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const start = performance.now()
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(text)
      if (end) socket.end()
    })
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      data += chunk
    })
    socket.on('error', reject)
    socket.on('close', () => {
      const [head = '', ...rest] = data.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
      }
      resolve({
        status: Number(statusLine.split(' ')[1]),
        headers,
        body: rest.join('\r\n\r\n'),
        ms: performance.now() - start,
      })
    })
  })
}

const envelope = (answer: RawAnswer): unknown => JSON.parse(answer.body)

function backend(calls: string[], peers?: Promise<void>): ApiBackend {
  return stubBackend({
    id: () => ({ peerId: '12D3KooWstub', addrs: ['/ip4/127.0.0.1/tcp/1'] }),
    peers: async () => {
      calls.push('peers')
      await peers
      return []
    },
    shards: async function* () {},
    provide: async (hex) => {
      calls.push(`provide ${hex}`)
      return { confirmed: 1, sentTo: 1, quorum: 1, belowQuorum: false, durationMs: 1 } as never
    },
  })
}

describe('API hardening', () => {
  let server: ApiServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it.each([
    ['GET //[ HTTP/1.1', '//['],
    ['GET //evil.example/v1/id HTTP/1.1', '//evil.example/v1/id'],
    ['GET http://api.invalid/v1/id HTTP/1.1', 'http://api.invalid/v1/id'],
    ['OPTIONS * HTTP/1.1', '*'],
  ])('%s → 400 in the envelope, never another path', async (line, target) => {
    const calls: string[] = []
    server = await startApiServer({ backend: backend(calls), port: 0 })
    const answer = await raw(server.port, `${line}\r\nHost: x\r\nConnection: close\r\n\r\n`)
    expect(answer.status).toBe(400)
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(envelope(answer)).toEqual({
      error: {
        code: 'ERR_BAD_REQUEST',
        message: `invalid request target ${JSON.stringify(target)}: it must be a path beginning with a single /`,
      },
    })
    expect(calls).toEqual([])
  })

  it("Node's own 400, 431 and 417 answers come in the envelope", async () => {
    server = await startApiServer({ backend: backend([]), port: 0 })
    const bad = await raw(server.port, 'GARBAGE\r\n\r\n')
    expect(bad.status).toBe(400)
    expect(envelope(bad)).toMatchObject({
      error: { code: 'ERR_BAD_REQUEST', message: expect.stringMatching(/^malformed HTTP request: /) },
    })

    const big = await raw(
      server.port,
      `GET /v1/id HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`,
    )
    expect(big.status).toBe(431)
    expect(envelope(big)).toEqual({
      error: { code: 'ERR_HEADERS_TOO_LARGE', message: 'request headers too large' },
    })

    const expectation = await raw(
      server.port,
      'GET /v1/id HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n',
    )
    expect(expectation.status).toBe(417)
    expect(envelope(expectation)).toEqual({
      error: {
        code: 'ERR_EXPECTATION_FAILED',
        message: 'unsupported Expect: "teapot" (only 100-continue is)',
      },
    })
  })

  it('a request whose headers or body never finish is cut with 408 and not executed; a slow answer is not cut', async () => {
    const calls: string[] = []
    let release: () => void = () => undefined
    const peersHeld = new Promise<void>((resolve) => {
      release = resolve
    })
    server = await startApiServer({
      backend: backend(calls, peersHeld),
      port: 0,
      headersTimeout: 150,
      requestTimeout: 300,
      connectionsCheckingInterval: 50,
    })
    const port = server.port
    // a slow answer: received at once, answered after the cuts below
    const slow = fetch(`http://127.0.0.1:${port}/v1/peers`)

    const headers = await raw(port, 'GET /v1/id HTTP/1.1\r\nHost: x\r\n')
    expect(headers.status).toBe(408)
    expect(envelope(headers)).toMatchObject({ error: { code: 'ERR_REQUEST_TIMEOUT' } })

    const body = await raw(
      port,
      `PUT /v1/shards/${hash('ab')} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc`,
    )
    expect(body.status).toBe(408)
    expect(envelope(body)).toEqual({
      error: {
        code: 'ERR_REQUEST_TIMEOUT',
        message:
          'request not received in time (headers within 150 ms, the whole request within 300 ms); it was not executed',
      },
    })
    expect(body.ms).toBeLessThan(2_000)
    expect(calls).toEqual(['peers']) // the PUT was not executed

    // the same PUT with its whole body is
    const whole = await raw(
      port,
      `PUT /v1/shards/${hash('ab')} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`,
    )
    expect(whole.status).toBe(200)
    expect(calls).toEqual(['peers', `provide ${hash('ab')}`])

    release()
    const res = await slow
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ peers: [] })
  })

  it('HEAD is answered on GET routes: the headers, no body', async () => {
    server = await startApiServer({ backend: backend([]), port: 0 })
    const get = await fetch(`${server.url}/v1/id`)
    const getBody = await get.text()
    const head = await raw(server.port, 'HEAD /v1/id HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
    expect(head.headers['content-type']).toBe('application/json; charset=utf-8')
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(getBody)))

    const health = await fetch(`${server.url}/healthz`, { method: 'HEAD' })
    expect(health.status).toBe(200)
    expect(await health.text()).toBe('')

    const post = await fetch(`${server.url}/v1/bootstrap`, { method: 'HEAD' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('POST')
    const put = await fetch(`${server.url}/v1/shards`, { method: 'PUT' })
    expect(put.headers.get('allow')).toBe('POST, GET, HEAD')
  })

  it('error answers are logged at warn with method, path and code', async () => {
    const lines: string[] = []
    const log = createLogger({ level: 'warn', json: true, stream: { write: (l: string) => lines.push(l) } })
    server = await startApiServer({ backend: backend([]), port: 0, log })
    await fetch(`${server.url}/v1/nope`)
    await fetch(`${server.url}/v1/shards/xyz`, { method: 'PUT' })
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(records).toEqual([
      expect.objectContaining({
        level: 'warn',
        method: 'GET',
        path: '/v1/nope',
        status: 404,
        code: 'ERR_NOT_FOUND',
      }),
      expect.objectContaining({
        level: 'warn',
        method: 'PUT',
        path: '/v1/shards/xyz',
        status: 400,
        code: 'ERR_INVALID_SHARD_KEY',
      }),
    ])
  })
})

describe('API request timeouts of a real daemon (the defaults)', () => {
  it('the defaults cut an unfinished request within 10 s', async () => {
    expect(
      Math.max(API_HEADERS_TIMEOUT, API_REQUEST_TIMEOUT) + API_CONNECTIONS_CHECK_INTERVAL,
    ).toBeLessThanOrEqual(10_000)
    const node = await createNsnNode({
      profile: 'local',
      api: '127.0.0.1:0',
      metrics: null,
      dataDir: await dirs.make(),
      refreshInterval: 0,
      processMetrics: false,
      logger: silentLogger(),
    })
    try {
      const answer = await raw(node.apiAddress.port, 'GET /v1/id HTTP/1.1\r\nHost: x\r\n')
      expect(answer.status).toBe(408)
      expect(answer.ms).toBeLessThan(10_000)
      expect(answer.ms).toBeGreaterThanOrEqual(API_HEADERS_TIMEOUT - 100)
    } finally {
      await node.stop()
    }
  }, 20_000)
})
