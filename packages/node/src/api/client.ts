/**
 * A client of a running daemon's HTTP API, used by the CLI verbs. Connection failures
 * become {@link DaemonUnreachableError}; no answer within `timeoutMs`
 * {@link ApiTimeoutError}; error answers {@link ApiResponseError} with the daemon's status
 * and code.
 *
 * @packageDocumentation
 */

import { formatHostPort, parseHostPort } from '../config/fields.js'
import type { HostPort } from '../config/types.js'
import { NDJSON_CONTENT_TYPE } from '../constants.js'
import { ApiResponseError, ApiTimeoutError, DaemonUnreachableError } from '../errors.js'
import type {
  ApiErrorLine,
  ApiPeer,
  ApiTopic,
  BatchShardLine,
  BootstrapResponse,
  ClosestPeersResponse,
  FindProvidersResponse,
  FindProvidersStreamEnd,
  HealthResponse,
  IdResponse,
  PeersResponse,
  ProvideManySummaryLine,
  ProvideResponse,
  RefreshResponse,
  RepublishSummaryLine,
  ShardsResponse,
  StatsResponse,
  StopProvidingResponse,
  SubscribeTopicResponse,
  TopicsResponse,
  UnsubscribeTopicResponse,
} from './types.js'

/** Options of {@link NsnApiClient}. */
export interface NsnApiClientOptions {
  /**
   * Gives up on a call (its whole answer, streamed lines included) after this many ms,
   * with {@link ApiTimeoutError}. Default: none (the CLI passes `--timeout`, default
   * `CLIENT_REQUEST_TIMEOUT`).
   */
  timeoutMs?: number
  /** The daemon's API bearer token, sent as `Authorization: Bearer <token>` on every call. */
  token?: string
}

function unreachableReason(err: unknown): string | undefined {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause
  const code = cause?.code
  if (code === 'ECONNREFUSED') return 'connection refused'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection closed by the daemon'
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'host unreachable'
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') return 'connection timed out'
  if (err instanceof TypeError && err.message === 'fetch failed') return cause?.message ?? 'connection failed'
  return undefined
}

/** Client of an nsn-node daemon's API. */
export class NsnApiClient {
  /** `host:port` of the daemon. */
  readonly api: string
  private readonly base: string
  private readonly timeoutMs?: number
  private readonly authorization?: string

  /** @throws {ConfigError} for a malformed `host:port` */
  constructor(api: HostPort | string, options: NsnApiClientOptions = {}) {
    const address = typeof api === 'string' ? parseHostPort('api', api, {}) : api
    this.api = formatHostPort(address)
    this.base = `http://${this.api}`
    this.timeoutMs = options.timeoutMs
    this.authorization = options.token == null ? undefined : `Bearer ${options.token}`
  }

  id(): Promise<IdResponse> {
    return this.call('GET', '/v1/id')
  }

  peers(): Promise<PeersResponse> {
    return this.call('GET', '/v1/peers')
  }

  /** `GET /v1/stats`: the daemon's summary. */
  stats(): Promise<StatsResponse> {
    return this.call('GET', '/v1/stats')
  }

  /** One page of the provided shards (Kademlia key order); pass a page's `next` as `after`. */
  shards(options: { limit?: number; after?: string } = {}): Promise<ShardsResponse> {
    const query = new URLSearchParams()
    if (options.limit !== undefined) query.set('limit', String(options.limit))
    if (options.after !== undefined) query.set('after', options.after)
    const text = query.toString()
    return this.call('GET', `/v1/shards${text === '' ? '' : `?${text}`}`)
  }

  /** Every provided shard, page after page. */
  async *allShards(options: { limit?: number } = {}): AsyncGenerator<ShardsResponse['shards'][number]> {
    let after: string | undefined
    do {
      const page = await this.shards({ ...options, ...(after === undefined ? {} : { after }) })
      yield* page.shards
      after = page.next
    } while (after !== undefined)
  }

  provide(hash: string): Promise<ProvideResponse> {
    return this.call('PUT', `/v1/shards/${encodeURIComponent(hash)}`)
  }

  /** The daemon's announcement topics (`GET /v1/topics`). */
  topics(): Promise<TopicsResponse> {
    return this.call('GET', '/v1/topics')
  }

  /** One subscribed group's topic (`GET /v1/topics/{name}`). */
  topic(group: string): Promise<ApiTopic> {
    return this.call('GET', `/v1/topics/${encodeURIComponent(group)}`)
  }

  /** Subscribes the daemon to a group's topic (`PUT /v1/topics/{name}`). */
  subscribeTopic(group: string): Promise<SubscribeTopicResponse> {
    return this.call('PUT', `/v1/topics/${encodeURIComponent(group)}`)
  }

  /** Unsubscribes the daemon from a group's topic (`DELETE /v1/topics/{name}`). */
  unsubscribeTopic(group: string): Promise<UnsubscribeTopicResponse> {
    return this.call('DELETE', `/v1/topics/${encodeURIComponent(group)}`)
  }

  stopProviding(hash: string): Promise<StopProvidingResponse> {
    return this.call('DELETE', `/v1/shards/${encodeURIComponent(hash)}`)
  }

  findProviders(hash: string, options: { limit?: number } = {}): Promise<FindProvidersResponse> {
    const query = options.limit == null ? '' : `?limit=${options.limit}`
    return this.call('GET', `/v1/shards/${encodeURIComponent(hash)}/providers${query}`)
  }

  /**
   * The lookup streamed (`Accept: application/x-ndjson`): yields each provider as the
   * daemon finds it and returns the last line (`{ done, partial, durationMs, found,
   * fromCache }`). An error line from the daemon is thrown as {@link ApiResponseError};
   * an answer cut before its last line as {@link DaemonUnreachableError}.
   */
  async *findProvidersStream(
    hash: string,
    options: { limit?: number } = {},
  ): AsyncGenerator<ApiPeer, FindProvidersStreamEnd, undefined> {
    const query = options.limit == null ? '' : `?limit=${options.limit}`
    const res = await this.fetch('GET', `/v1/shards/${encodeURIComponent(hash)}/providers${query}`, {
      accept: NDJSON_CONTENT_TYPE,
    })
    if (!res.ok || res.body == null) {
      await this.answer(res)
      throw new ApiResponseError(res.status, 'ERR_BAD_RESPONSE', `the daemon at ${this.api} sent no lines`)
    }
    const cut = (err?: unknown): DaemonUnreachableError =>
      new DaemonUnreachableError(this.api, 'the connection closed before the answer was complete', {
        cause: err,
      })
    const decoder = new TextDecoder()
    let buffer = ''
    const reader = res.body.getReader()
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>
        try {
          chunk = await reader.read()
        } catch (err) {
          throw this.timedOut(err) ?? cut(err)
        }
        if (chunk.done) throw cut()
        buffer += decoder.decode(chunk.value, { stream: true })
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const text = buffer.slice(0, nl).trim()
          buffer = buffer.slice(nl + 1)
          if (text === '') continue
          const line = this.parseLine(res.status, text)
          if ('done' in line) return line
          if ('error' in line) {
            throw new ApiResponseError(line.error.status ?? res.status, line.error.code, line.error.message)
          }
          yield line
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined)
    }
  }

  /**
   * Provides many shards (`POST /v1/shards`): `onShard` hears each shard's line as the
   * daemon completes it; resolves with the summary line.
   */
  async provideMany(
    hashes: readonly string[],
    onShard: (line: BatchShardLine) => void = () => undefined,
  ): Promise<ProvideManySummaryLine['summary']> {
    const body = hashes.map((hash) => `{"hash":"${hash}"}\n`).join('')
    const res = await this.fetch('POST', '/v1/shards', { 'content-type': NDJSON_CONTENT_TYPE }, body)
    const last = await this.readLines<ProvideManySummaryLine>(res, onShard)
    return last.summary
  }

  /**
   * Runs a whole republish cycle (`POST /v1/republish`, JSON lines): `onShard` hears each
   * shard as its region completes; resolves with the summary.
   */
  async republish(
    onShard: (line: BatchShardLine) => void = () => undefined,
  ): Promise<RepublishSummaryLine['summary']> {
    const res = await this.fetch('POST', '/v1/republish', { accept: NDJSON_CONTENT_TYPE })
    const last = await this.readLines<RepublishSummaryLine>(res, onShard)
    return last.summary
  }

  /** Reads a JSON-lines answer whose last line is `{ summary }`; other lines go to `onLine`. */
  private async readLines<T extends { summary: unknown }>(
    res: Response,
    onLine: (line: BatchShardLine) => void,
  ): Promise<T> {
    if (!res.ok || res.body == null) {
      await this.answer(res)
      throw new ApiResponseError(res.status, 'ERR_BAD_RESPONSE', `the daemon at ${this.api} sent no lines`)
    }
    const decoder = new TextDecoder()
    let buffer = ''
    const reader = res.body.getReader()
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>
        try {
          chunk = await reader.read()
        } catch (err) {
          throw (
            this.timedOut(err) ??
            new DaemonUnreachableError(this.api, 'the connection closed before the answer was complete', {
              cause: err,
            })
          )
        }
        if (chunk.done) {
          throw new DaemonUnreachableError(this.api, 'the connection closed before the answer was complete')
        }
        buffer += decoder.decode(chunk.value, { stream: true })
        for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
          const text = buffer.slice(0, nl).trim()
          buffer = buffer.slice(nl + 1)
          if (text === '') continue
          const line = this.parseLine(res.status, text) as unknown as Record<string, unknown>
          if ('summary' in line) return line as T
          if ('error' in line && !('hash' in line)) {
            const error = (line as unknown as ApiErrorLine).error
            throw new ApiResponseError(error.status ?? res.status, error.code, error.message)
          }
          onLine(line as unknown as BatchShardLine)
        }
      }
    } finally {
      await reader.cancel().catch(() => undefined)
    }
  }

  closestPeers(key: string): Promise<ClosestPeersResponse> {
    return this.call('GET', `/v1/closest-peers/${encodeURIComponent(key)}`)
  }

  bootstrap(): Promise<BootstrapResponse> {
    return this.call('POST', '/v1/bootstrap')
  }

  refresh(): Promise<RefreshResponse> {
    return this.call('POST', '/v1/refresh')
  }

  /** `GET /healthz`; resolves with the status whether it is 200 or 503. */
  async health(): Promise<HealthResponse & { ok: boolean }> {
    const res = await this.fetch('GET', '/healthz')
    const body = (await res.json().catch(() => ({ status: 'unknown' }))) as HealthResponse
    return { ...body, ok: res.ok }
  }

  private async fetch(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<Response> {
    try {
      return await fetch(`${this.base}${path}`, {
        method,
        headers: this.authorization == null ? headers : { ...headers, authorization: this.authorization },
        ...(body == null ? {} : { body }),
        signal: this.timeoutMs == null ? undefined : AbortSignal.timeout(this.timeoutMs),
      })
    } catch (err) {
      const timedOut = this.timedOut(err)
      if (timedOut != null) throw timedOut
      const reason = unreachableReason(err)
      if (reason != null) throw new DaemonUnreachableError(this.api, reason, { cause: err })
      throw err
    }
  }

  /** The typed error for `err` when it is this client's timeout firing. */
  private timedOut(err: unknown): ApiTimeoutError | undefined {
    if (this.timeoutMs == null || (err as Error | undefined)?.name !== 'TimeoutError') return undefined
    return new ApiTimeoutError(this.api, this.timeoutMs, { cause: err })
  }

  private parseLine(status: number, text: string): ApiPeer | FindProvidersStreamEnd | ApiErrorLine {
    try {
      const line = JSON.parse(text) as unknown
      if (typeof line === 'object' && line !== null)
        return line as ApiPeer | FindProvidersStreamEnd | ApiErrorLine
    } catch {
      // below
    }
    throw new ApiResponseError(
      status,
      'ERR_BAD_RESPONSE',
      `the daemon at ${this.api} sent a line that is no JSON object`,
    )
  }

  private async call<T>(method: string, path: string): Promise<T> {
    return this.answer(await this.fetch(method, path))
  }

  /** The JSON body of `res`, or the error it carries. */
  private async answer<T>(res: Response): Promise<T> {
    let text: string
    try {
      text = await res.text()
    } catch (err) {
      throw (
        this.timedOut(err) ??
        new DaemonUnreachableError(this.api, 'the connection closed before the answer was complete', {
          cause: err,
        })
      )
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      throw new ApiResponseError(
        res.status,
        'ERR_BAD_RESPONSE',
        `the daemon at ${this.api} answered HTTP ${res.status} with no JSON`,
      )
    }
    if (!res.ok) {
      const error = (body as { error?: { code?: unknown; message?: unknown } }).error
      throw new ApiResponseError(
        res.status,
        typeof error?.code === 'string' ? error.code : `HTTP_${res.status}`,
        typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`,
      )
    }
    return body as T
  }
}
