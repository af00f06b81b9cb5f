/**
 * A standalone HTTP server for `/metrics`, loopback-only by default.
 *
 * @packageDocumentation
 */

import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Registry, RegistryContentType } from 'prom-client'
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT, METRICS_PATH } from './constants.js'
import { InvalidMetricsOptionError, MetricsAddressInUseError, MetricsListenError } from './errors.js'
import { createMetricsHandler } from './http.js'

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** The registry to serve; it must have prom-client's default (Prometheus) content type. */
  register: Registry<RegistryContentType>
  /** Interface to listen on. Default: `127.0.0.1`, never a public interface unless asked. */
  host?: string
  /** Port to listen on; 0 picks a free one. Default: 9100. */
  port?: number
  /** Path of the endpoint. Default: `/metrics`. */
  path?: string
  /** Called when collecting the metrics for a scrape failed. */
  onError?: (err: unknown) => void
}

/** A running metrics server. */
export interface MetricsServer {
  /** The endpoint's URL, for example `http://127.0.0.1:9100/metrics`. */
  readonly url: string
  /** The interface it listens on. */
  readonly host: string
  /** The port it listens on (the one chosen when 0 was asked). */
  readonly port: number
  /** Stops listening and closes open connections, keep-alive ones included; idempotent. */
  close(): Promise<void>
}

function validate(host: string, port: number): void {
  if (typeof host !== 'string' || host.trim() === '') {
    throw new InvalidMetricsOptionError('host', 'must be a non-empty string')
  }
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new InvalidMetricsOptionError('port', `must be an integer from 0 to 65535, got ${String(port)}`)
  }
}

/**
 * Starts an HTTP server that answers `GET /metrics` with {@link createMetricsHandler}, on
 * `127.0.0.1:9100` unless told otherwise. Resolves once it listens.
 *
 * Rejects with {@link InvalidMetricsOptionError} (code `ERR_METRICS_INVALID_OPTION`) for a
 * bad host, port, path or registry, before listening; with {@link MetricsAddressInUseError}
 * (code `ERR_METRICS_ADDRESS_IN_USE`) when the address is taken; with
 * {@link MetricsListenError} (code `ERR_METRICS_LISTEN`) for any other listen failure.
 *
 * @example
 * ```ts
 * const server = await startMetricsServer({ register })
 * console.log(`scrape ${server.url}`) // http://127.0.0.1:9100/metrics
 * await server.close()
 * ```
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_METRICS_HOST
  const requestedPort = options.port ?? DEFAULT_METRICS_PORT
  validate(host, requestedPort)
  const path = options.path ?? METRICS_PATH
  const handler = createMetricsHandler(options.register, { path, onError: options.onError })
  const server = createServer((req, res) => {
    void handler(req, res)
  })

  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening)
      reject(
        err.code === 'EADDRINUSE'
          ? new MetricsAddressInUseError(host, requestedPort, { cause: err })
          : new MetricsListenError(host, requestedPort, err),
      )
    }
    const onListening = (): void => {
      server.off('error', onError)
      resolve()
    }
    server.once('error', onError)
    server.once('listening', onListening)
    server.listen({ host, port: requestedPort })
  })

  const port = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host
  let closing: Promise<void> | undefined

  return {
    url: `http://${urlHost}:${port}${path}`,
    host,
    port,
    close() {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      })
      return closing
    },
  }
}
