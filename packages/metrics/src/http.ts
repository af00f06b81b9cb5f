/**
 * The `/metrics` request handler: Prometheus text format by default, OpenMetrics when the
 * scraper's `Accept` header prefers it.
 *
 * @packageDocumentation
 */

import type { IncomingMessage, ServerResponse } from 'node:http'
import { Registry, type RegistryContentType } from 'prom-client'
import { METRICS_PATH, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE } from './constants.js'
import { InvalidMetricsOptionError } from './errors.js'
import { openMetricsExposition } from './openmetrics.js'

/** The two exposition formats the handler writes. */
export type ExpositionFormat = 'prometheus' | 'openmetrics'

/** Options of {@link createMetricsHandler}. */
export interface MetricsHandlerOptions {
  /** Path the handler answers on; every other path is a 404. Default: `/metrics`. */
  path?: string
  /** Called when collecting the metrics failed (the scrape is answered with a 500). */
  onError?: (err: unknown) => void
}

/** A Node `http` request handler; it never rejects. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>

interface MediaRange {
  type: string
  params: Map<string, string>
  q: number
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = []
  for (const part of header.split(',')) {
    const [rawType, ...rawParams] = part.split(';')
    const type = rawType?.trim().toLowerCase() ?? ''
    if (type === '') {
      continue
    }
    const params = new Map<string, string>()
    for (const param of rawParams) {
      const eq = param.indexOf('=')
      if (eq > 0) {
        params.set(
          param.slice(0, eq).trim().toLowerCase(),
          param
            .slice(eq + 1)
            .trim()
            .replace(/^"|"$/g, ''),
        )
      }
    }
    const q = params.has('q') ? Number(params.get('q')) : 1
    ranges.push({ type, params, q: Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0 })
  }
  return ranges
}

/**
 * Chooses the exposition format from an `Accept` header. OpenMetrics is chosen when the
 * header accepts `application/openmetrics-text` (version 1.0.0 or unversioned) with a
 * quality at least as high as any it gives the text format (`text/plain`, `text/*`,
 * `*\/*`). Everything else, including no header and headers that accept neither, gets the
 * Prometheus text format 0.0.4, which every scraper reads.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined || accept.trim() === '') {
    return 'prometheus'
  }
  let openMetricsQ = 0
  let textQ = 0
  for (const { type, params, q } of parseAccept(accept)) {
    const version = params.get('version')
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0')) {
      openMetricsQ = Math.max(openMetricsQ, q)
    } else if (type === 'text/plain' && (version === undefined || version === '0.0.4')) {
      textQ = Math.max(textQ, q)
    } else if (type === 'text/*' || type === '*/*') {
      textQ = Math.max(textQ, q)
    }
  }
  return openMetricsQ > 0 && openMetricsQ >= textQ ? 'openmetrics' : 'prometheus'
}

function assertPrometheusRegistry(register: Registry<RegistryContentType>): void {
  if (register.contentType !== Registry.PROMETHEUS_CONTENT_TYPE) {
    throw new InvalidMetricsOptionError(
      'register',
      `must have the Prometheus content type (${Registry.PROMETHEUS_CONTENT_TYPE}); OpenMetrics is written separately`,
    )
  }
}

/**
 * The exposition of `register` in `format`, with its content type. `register` must have
 * prom-client's default (Prometheus) content type.
 */
export async function exposition(
  register: Registry<RegistryContentType>,
  format: ExpositionFormat,
): Promise<{ body: string; contentType: string }> {
  assertPrometheusRegistry(register)
  if (format === 'openmetrics') {
    return { body: await openMetricsExposition(register), contentType: OPENMETRICS_CONTENT_TYPE }
  }
  return { body: await register.metrics(), contentType: PROMETHEUS_CONTENT_TYPE }
}

/** The path of a request target, without its query; undefined when it does not parse. */
function pathnameOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://localhost').pathname
  } catch {
    return undefined
  }
}

function answer(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  })
  res.end(body)
}

/**
 * Returns a Node `http` request handler that serves `register` on `GET /metrics` (and
 * `HEAD`): the Prometheus text format (`text/plain; version=0.0.4`) by default, OpenMetrics
 * 1.0.0 when the `Accept` header prefers it (see {@link negotiateFormat}). Other paths get
 * 404 and other methods 405 (with `Allow: GET, HEAD`); a failure while collecting the
 * metrics is a 500.
 *
 * `register` must have prom-client's default (Prometheus) content type; the OpenMetrics
 * answer is written separately, without changing any metric.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * createServer(createMetricsHandler(register)).listen(9100, '127.0.0.1')
 * ```
 */
export function createMetricsHandler(
  register: Registry<RegistryContentType>,
  options: MetricsHandlerOptions = {},
): MetricsHandler {
  assertPrometheusRegistry(register)
  const path = options.path ?? METRICS_PATH
  if (!path.startsWith('/')) {
    throw new InvalidMetricsOptionError('path', `must start with "/", got ${JSON.stringify(path)}`)
  }

  return async (req, res) => {
    if (pathnameOf(req.url) !== path) {
      answer(res, 404, 'Not Found\n')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      answer(res, 405, 'Method Not Allowed\n', { allow: 'GET, HEAD' })
      return
    }
    let result: { body: string; contentType: string }
    try {
      result = await exposition(register, negotiateFormat(req.headers.accept))
    } catch (err) {
      options.onError?.(err)
      answer(res, 500, `failed to collect metrics: ${err instanceof Error ? err.message : String(err)}\n`)
      return
    }
    res.writeHead(200, {
      'content-type': result.contentType,
      'content-length': String(Buffer.byteLength(result.body)),
      'cache-control': 'no-store',
      vary: 'Accept',
    })
    res.end(req.method === 'HEAD' ? undefined : result.body)
  }
}
