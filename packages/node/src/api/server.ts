/**
 * The HTTP API server (node:http, JSON, versioned under `/v1`). Loopback-only by
 * default. A client that disconnects aborts its query; DHT operations are bounded in
 * concurrency (past the bound: 429); while the node starts or stops every route but
 * `/healthz` answers 503.
 *
 * @packageDocumentation
 */

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { API_DRAIN_TIMEOUT, API_MAX_CONCURRENT_QUERIES, NDJSON_CONTENT_TYPE } from '../constants.js'
import {
  ApiAddressInUseError,
  ApiListenError,
  BadRequestError,
  MethodNotAllowedError,
  NodeStartingError,
  NodeStoppingError,
  OverloadedError,
  RouteNotFoundError,
} from '../errors.js'
import { type Logger, silentLogger } from '../logger.js'
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
 * @throws {ApiAddressInUseError} when the address is taken
 * @throws {ApiListenError} for any other listen failure
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { backend } = options
  const host = options.host ?? '127.0.0.1'
  const log = options.log ?? silentLogger()
  const maxConcurrent = options.maxConcurrentQueries ?? API_MAX_CONCURRENT_QUERIES
  const inflight = new Set<Promise<void>>()
  let running = 0

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const start = performance.now()
    const method = req.method ?? 'GET'
    const controller = new AbortController()
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new ClientDisconnectedError())
    })
    req.resume() // no route reads a body
    let path = req.url ?? '/'
    let status = 200
    try {
      const url = new URL(path, 'http://api.invalid')
      path = url.pathname
      log.debug('request received', { method, path })
      const found = match(path)
      if (found == null) throw new RouteNotFoundError(path)
      const routeMethod = found.route.methods[method]
      if (routeMethod == null) throw new MethodNotAllowedError(method, path, Object.keys(found.route.methods))
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

  const server = createServer((req, res) => {
    const task = handle(req, res).catch((err: unknown) => log.error('request handler crashed', { err }))
    inflight.add(task)
    void task.finally(() => inflight.delete(task))
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
