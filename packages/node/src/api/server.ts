/**
 * The HTTP API server (node:http, JSON, versioned under `/v1`). Loopback-only by
 * default. A client that disconnects aborts its query; DHT operations are bounded in
 * concurrency (past the bound: 429); while the node starts or stops every route but
 * `/healthz` answers 503.
 *
 * Hardened against malformed and unfinished requests: a request target must be a path
 * beginning with a single `/` (else 400); what Node itself refuses (malformed request 400,
 * headers too large 431, unknown `Expect` 417, a request not received in time 408) is
 * answered in the same `{ error: { code, message } }` envelope; a request is executed only
 * once it is received completely, and one not received within `requestTimeout` is cut.
 * HEAD is answered on every GET route (its headers, no body).
 *
 * With a bearer token (`token`), every request but `GET /healthz` must carry
 * `Authorization: Bearer <token>`, checked before anything else (401 with a
 * `WWW-Authenticate` challenge otherwise); without one, the server listens on loopback
 * addresses only.
 *
 * @packageDocumentation
 */

import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import {
  API_CONNECTIONS_CHECK_INTERVAL,
  API_DRAIN_TIMEOUT,
  API_HEADERS_TIMEOUT,
  API_MAX_BATCH_BYTES,
  API_MAX_CONCURRENT_QUERIES,
  API_REQUEST_TIMEOUT,
  NDJSON_CONTENT_TYPE,
} from '../constants.js'
import {
  ApiAddressInUseError,
  ApiListenError,
  ApiTokenRequiredError,
  BadRequestError,
  MethodNotAllowedError,
  NodeStartingError,
  NodeStoppingError,
  OverloadedError,
  PayloadTooLargeError,
  RouteNotFoundError,
} from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
import { type BearerAuth, bearerAuth, isLoopbackHost, isPublicRequest } from './auth.js'
import { toHttpError } from './errors.js'
import { ROUTES, type Route, type RouteContext, type RouteResult } from './routes.js'
import type { ApiBackend, ApiErrorBody } from './types.js'

/** Options of {@link startApiServer}. */
export interface ApiServerOptions {
  backend: ApiBackend
  /** Default `127.0.0.1`. */
  host?: string
  /** 0 picks a free port. */
  port: number
  log?: Logger
  /** DHT operations running at once at most; more are answered 429. Default 64. */
  maxConcurrentQueries?: number
  /** A request whose headers are not all received after this many ms is cut (408). Default {@link API_HEADERS_TIMEOUT}. */
  headersTimeout?: number
  /**
   * A request not received completely after this many ms is cut (408) and not executed.
   * Default {@link API_REQUEST_TIMEOUT}; at least `headersTimeout`.
   */
  requestTimeout?: number
  /** How often requests are checked against those timeouts, ms. Default {@link API_CONNECTIONS_CHECK_INTERVAL}. */
  connectionsCheckingInterval?: number
  /**
   * The bearer token every request but `GET /healthz` must carry (`Authorization: Bearer
   * <token>`). Required when `host` is not a loopback address.
   */
  token?: string
}

/** A running API server. */
export interface ApiServer {
  readonly host: string
  /** The actual port (the one picked when 0 was asked). */
  readonly port: number
  /** `http://host:port`. */
  readonly url: string
  /** DHT operations running now. */
  readonly running: number
  /** Resolves when every in-flight request has answered, or after `timeoutMs`. */
  drain(timeoutMs?: number): Promise<void>
  /** Stops listening and closes every connection. Idempotent. */
  close(): Promise<void>
}

/** Why a request's signal aborted when its client went away. */
class ClientDisconnectedError extends Error {
  override readonly name = 'ClientDisconnectedError'
  constructor() {
    super('client disconnected')
  }
}

function send(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.destroyed || res.headersSent) return
  const text = `${JSON.stringify(body)}\n`
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

/**
 * Writes `lines` as JSON lines, each as soon as it comes; an error on the way ends the
 * answer with an error line (the status is already sent). Resolves when the answer ends.
 */
async function sendLines(
  res: ServerResponse,
  status: number,
  lines: AsyncIterable<unknown>,
  stopping: () => boolean,
  log: Logger,
): Promise<void> {
  if (res.destroyed || res.headersSent) return
  res.writeHead(status, {
    'content-type': `${NDJSON_CONTENT_TYPE}; charset=utf-8`,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  })
  res.flushHeaders()
  try {
    for await (const line of lines) {
      if (res.destroyed) break
      res.write(`${JSON.stringify(line)}\n`)
    }
  } catch (err) {
    if (res.destroyed) return
    const answer = toHttpError(err, stopping())
    if (answer.internal) log.error('streamed request failed', { err })
    else log.warn('streamed answer ended with an error', { status: answer.status, code: answer.code })
    res.write(
      `${JSON.stringify({ error: { code: answer.code, message: answer.message, status: answer.status } })}\n`,
    )
  }
  if (!res.destroyed) res.end()
}

/** The error envelope as a whole raw HTTP answer, for a socket Node gave up parsing. */
function rawErrorAnswer(status: number, code: string, message: string): string {
  const body = `${JSON.stringify({ error: { code, message } } satisfies ApiErrorBody)}\n`
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    'cache-control: no-store',
    'connection: close',
    '',
    body,
  ].join('\r\n')
}

/** What Node's parser refused (the `clientError` event), as the API answers it. */
function clientErrorAnswer(
  err: NodeJS.ErrnoException & { reason?: string },
  timeouts: { headers: number; request: number },
): { status: number; code: string; message: string } {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'ERR_HEADERS_TOO_LARGE', message: 'request headers too large' }
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'ERR_HTTP_HEADERS_TIMEOUT':
      return {
        status: 408,
        code: 'ERR_REQUEST_TIMEOUT',
        message: `request not received in time (headers within ${timeouts.headers} ms, the whole request within ${timeouts.request} ms); it was not executed`,
      }
    default:
      return {
        status: 400,
        code: 'ERR_BAD_REQUEST',
        message: `malformed HTTP request: ${err.reason ?? err.code ?? err.message}`,
      }
  }
}

/** At most 100 characters of a request target, for messages and logs. */
const shortTarget = (target: string): string => (target.length > 100 ? `${target.slice(0, 100)}…` : target)

/**
 * The path of a request target, which must be in origin form: a path beginning with a
 * single `/`. `//host/path` would otherwise be read as a URL of another host (and `//[`
 * does not parse at all); the absolute and asterisk forms are refused too.
 */
function pathOf(target: string): URL {
  if (!target.startsWith('/') || target.startsWith('//')) {
    throw new BadRequestError(
      `invalid request target ${JSON.stringify(shortTarget(target))}: it must be a path beginning with a single /`,
    )
  }
  try {
    return new URL(`http://api.invalid${target}`)
  } catch {
    throw new BadRequestError(`invalid request target ${JSON.stringify(shortTarget(target))}`)
  }
}

/**
 * Resolves true once the request is received completely (its body drained: no route reads
 * one), false when its connection closes first (cut by `requestTimeout`, or the client went away).
 */
function received(
  req: IncomingMessage,
  body?: { chunks: Buffer[]; bytes: number; limit: number },
): Promise<boolean> {
  req.on('error', () => undefined) // an aborted request: its connection is gone, nothing to answer
  if (body != null) {
    // a route that reads its body (a batch): kept up to its bound, the rest drained
    req.on('data', (chunk: Buffer) => {
      body.bytes += chunk.length
      if (body.bytes <= body.limit) body.chunks.push(chunk)
    })
  }
  req.resume()
  if (req.readableEnded) return Promise.resolve(true)
  return new Promise((resolve) => {
    req.once('end', () => resolve(true))
    req.once('close', () => resolve(req.complete))
  })
}

/** True when the request goes to a route method that reads its body. */
function readsBody(method: string, target: string): boolean {
  try {
    const found = match(pathOf(target).pathname)
    return found?.route.methods[method]?.body === true
  } catch {
    return false
  }
}

function match(path: string): { route: Route; params: string[] } | undefined {
  for (const route of ROUTES) {
    const m = route.pattern.exec(path)
    if (m != null) return { route, params: m.slice(1) }
  }
  return undefined
}

function decodeParams(params: string[]): string[] {
  return params.map((param) => {
    try {
      return decodeURIComponent(param)
    } catch {
      throw new BadRequestError(`malformed percent-encoding in ${JSON.stringify(param)}`)
    }
  })
}

/**
 * Starts the API server; resolves once it listens.
 *
 * @throws {ApiTokenRequiredError} when `host` is not a loopback address and no `token` is given
 * @throws {ApiTokenError} when `token` is unusable (too short, not visible ASCII)
 * @throws {ApiAddressInUseError} when the address is taken
 * @throws {ApiListenError} for any other listen failure
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { backend } = options
  const host = options.host ?? '127.0.0.1'
  if (options.token == null && !isLoopbackHost(host)) throw new ApiTokenRequiredError(host)
  const auth: BearerAuth | undefined = options.token == null ? undefined : bearerAuth(options.token)
  const log = options.log ?? silentLogger()
  const maxConcurrent = options.maxConcurrentQueries ?? API_MAX_CONCURRENT_QUERIES
  const headersTimeout = options.headersTimeout ?? API_HEADERS_TIMEOUT
  const requestTimeout = Math.max(options.requestTimeout ?? API_REQUEST_TIMEOUT, headersTimeout)
  /** Sockets whose current answer has begun: a late parser error there cannot be answered. */
  const answering = new WeakSet<Socket>()
  const inflight = new Set<Promise<void>>()
  let running = 0

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now()
    const method = req.method ?? 'GET'
    const controller = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new ClientDisconnectedError())
    })
    res.once('prefinish', () => answering.delete(req.socket))
    let path = shortTarget(req.url ?? '/')
    let status = 200
    // executed only once received completely: a PUT whose body never ends is cut, not run
    const body = readsBody(method, req.url ?? '/')
      ? { chunks: [], bytes: 0, limit: API_MAX_BATCH_BYTES }
      : undefined
    if (!(await received(req, body))) {
      log.debug('request not received completely; not executed', { method, path })
      return
    }
    answering.add(req.socket)
    try {
      const url = pathOf(req.url ?? '/')
      path = url.pathname
      log.debug('request received', { method, path })
      // first of all: a request without the token learns nothing, not even which routes exist
      if (auth != null && !isPublicRequest(method, path)) auth.check(req.headers.authorization)
      const found = match(path)
      if (found == null) throw new RouteNotFoundError(path)
      const methods = found.route.methods
      // HEAD on a GET route: the GET's answer, whose body Node leaves out
      const routeMethod = methods[method] ?? (method === 'HEAD' ? methods.GET : undefined)
      if (routeMethod == null) {
        const allow = Object.keys(methods)
        throw new MethodNotAllowedError(method, path, allow.includes('GET') ? [...allow, 'HEAD'] : allow)
      }
      if (found.route.always !== true && backend.state !== 'running') {
        throw backend.state === 'starting' || backend.state === 'created'
          ? new NodeStartingError()
          : new NodeStoppingError()
      }
      const ctx: RouteContext = {
        backend,
        params: decodeParams(found.params),
        query: url.searchParams,
        accept: req.headers.accept ?? '',
        signal: controller.signal,
      }
      if (body != null) {
        if (body.bytes > body.limit) throw new PayloadTooLargeError(body.limit)
        ctx.body = Buffer.concat(body.chunks)
      }
      const respond = async (result: RouteResult): Promise<void> => {
        status = result.status ?? 200
        if (result.lines == null) send(res, status, result.body)
        else
          await sendLines(
            res,
            status,
            result.lines,
            () => backend.state === 'stopping' || backend.state === 'stopped',
            log.child({ method, path }),
          )
      }
      if (routeMethod.dht === true) {
        if (running >= maxConcurrent) throw new OverloadedError(maxConcurrent)
        running++
        try {
          // a streamed answer holds its slot until its last line
          await respond(await routeMethod.handler(ctx))
        } finally {
          running--
        }
      } else {
        await respond(await routeMethod.handler(ctx))
      }
    } catch (err) {
      if (controller.signal.reason instanceof ClientDisconnectedError) {
        log.debug('client disconnected; its request was aborted', { method, path })
        res.destroy()
        return
      }
      const answer = toHttpError(err, backend.state === 'stopping' || backend.state === 'stopped')
      status = answer.status
      if (answer.internal) log.error('request failed', { method, path, err })
      else
        log.warn('request answered with an error', { method, path, status: answer.status, code: answer.code })
      send(
        res,
        answer.status,
        { error: { code: answer.code, message: answer.message } } satisfies ApiErrorBody,
        answer.headers,
      )
    } finally {
      log.debug('request', { method, path, status, durationMs: Math.round(performance.now() - start) })
    }
  }

  const server = createServer(
    {
      headersTimeout,
      requestTimeout,
      connectionsCheckingInterval: options.connectionsCheckingInterval ?? API_CONNECTIONS_CHECK_INTERVAL,
    },
    (req, res) => {
      const task = handle(req, res).catch((err: unknown) => log.error('request handler crashed', { err }))
      inflight.add(task)
      void task.finally(() => inflight.delete(task))
    },
  )
  // what Node refuses before a request reaches `handle`: the same envelope as every error
  server.on('clientError', (err: NodeJS.ErrnoException & { reason?: string }, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable || answering.has(socket as Socket)) {
      socket.destroy()
      return
    }
    const answer = clientErrorAnswer(err, { headers: headersTimeout, request: requestTimeout })
    log.warn('request refused', { status: answer.status, code: answer.code, reason: err.code })
    socket.end(rawErrorAnswer(answer.status, answer.code, answer.message))
  })
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const expect = shortTarget(req.headers.expect ?? '')
    const path = shortTarget(req.url ?? '/')
    log.warn('request answered with an error', {
      method: req.method,
      path,
      status: 417,
      code: 'ERR_EXPECTATION_FAILED',
    })
    send(res, 417, {
      error: {
        code: 'ERR_EXPECTATION_FAILED',
        message: `unsupported Expect: ${JSON.stringify(expect)} (only 100-continue is)`,
      },
    } satisfies ApiErrorBody)
  })

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      reject(
        err.code === 'EADDRINUSE'
          ? new ApiAddressInUseError(host, options.port, { cause: err })
          : new ApiListenError(host, options.port, err),
      )
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port: options.port })
  })
  server.on('error', (err) => log.error('API server error', { err }))

  const port = (server.address() as AddressInfo).port
  let closing: Promise<void> | undefined

  return {
    host,
    port,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    get running() {
      return running
    },
    async drain(timeoutMs = API_DRAIN_TIMEOUT) {
      if (inflight.size === 0) return
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        Promise.allSettled([...inflight]),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs)
        }),
      ])
      clearTimeout(timer)
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), API_DRAIN_TIMEOUT)
        server.close(() => {
          clearTimeout(force)
          resolve()
        })
        // with no request in flight, no answer can be cut: close keep-alive and half-dead
        // connections at once instead of waiting for their timeouts
        if (inflight.size === 0) server.closeAllConnections()
        else server.closeIdleConnections()
      })
      return closing
    },
  }
}
