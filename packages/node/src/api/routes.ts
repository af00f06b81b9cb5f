/**
 * The API's routes, exactly DESIGN.md's table, each a small handler from request
 * parameters to a JSON body. Handlers marked `dht` run a DHT operation and count toward
 * the concurrency bound.
 *
 * @packageDocumentation
 */

import {
  type FindProvidersResult,
  type FindProvidersSummary,
  type ProvideManyShardResult,
  parseGroupName,
  parseShardKey,
  type ShardPeer,
} from '@nsn/core'
import {
  MAX_FIND_PROVIDERS_LIMIT,
  MAX_SHARDS_PAGE_SIZE,
  NDJSON_CONTENT_TYPE,
  SHARDS_PAGE_SIZE,
} from '../constants.js'
import { BadRequestError, GossipOffError, RouteNotFoundError, ShardNotProvidedError } from '../errors.js'
import type {
  ApiBackend,
  ApiPeer,
  ApiShard,
  BatchShardLine,
  BootstrapResponse,
  ClosestPeersResponse,
  FindProvidersResponse,
  FindProvidersStreamEnd,
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

/** What a handler gets. */
export interface RouteContext {
  backend: ApiBackend
  /** Path parameters, percent-decoded. */
  params: string[]
  query: URLSearchParams
  /** The request's `Accept` header ('' without one). */
  accept: string
  /** Aborts when the client disconnects (and with the node's own stop). */
  signal: AbortSignal
  /** The request body, for a method that reads it (`body: true`). */
  body?: Buffer
}

/** A handler's answer: one JSON body, or JSON lines written as they come. */
export interface RouteResult {
  status?: number
  body?: unknown
  /**
   * An answer streamed as JSON lines (`application/x-ndjson`), one value a line, each
   * written as soon as it is produced. An error while it runs ends the answer with a
   * last line `{ error: { code, message, status } }` (the status the error would have had).
   */
  lines?: AsyncIterable<unknown>
}

export interface RouteMethod {
  handler(ctx: RouteContext): Promise<RouteResult> | RouteResult
  /** Runs a DHT operation: bounded in concurrency. */
  dht?: boolean
  /** Reads the request body (bounded by `API_MAX_BATCH_BYTES`), given as `ctx.body`. */
  body?: boolean
}

export interface Route {
  /** Matched against the whole path; groups are the parameters. */
  pattern: RegExp
  methods: Readonly<Partial<Record<string, RouteMethod>>>
  /** Served while the node starts or stops (health). */
  always?: boolean
}

/** A peer with its addresses as strings. */
export function toApiPeer(peer: ShardPeer): ApiPeer {
  return { peerId: peer.peerId.toString(), addrs: peer.multiaddrs.map((addr) => addr.toString()) }
}

function shardParam(ctx: RouteContext): ReturnType<typeof parseShardKey> {
  return parseShardKey(ctx.params[0] ?? '')
}

/** Parses `?limit=`: absent, or an integer from 1 to {@link MAX_FIND_PROVIDERS_LIMIT}. */
export function parseLimit(query: URLSearchParams): number | undefined {
  const raw = query.get('limit')
  if (raw == null) return undefined
  const limit = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN
  if (!(limit >= 1 && limit <= MAX_FIND_PROVIDERS_LIMIT)) {
    throw new BadRequestError(
      `invalid limit ${JSON.stringify(raw)}: must be an integer from 1 to ${MAX_FIND_PROVIDERS_LIMIT}`,
    )
  }
  return limit
}

/**
 * Parses `GET /v1/shards`'s `?limit=` (1 to {@link MAX_SHARDS_PAGE_SIZE}, default
 * {@link SHARDS_PAGE_SIZE}) and `?after=` (the 64 hex characters of a Kademlia key: a
 * previous page's `next`).
 */
export function parseShardsPage(query: URLSearchParams): { limit: number; after?: Uint8Array } {
  const raw = query.get('limit')
  let limit = SHARDS_PAGE_SIZE
  if (raw != null) {
    limit = /^\d{1,7}$/.test(raw) ? Number(raw) : Number.NaN
    if (!(limit >= 1 && limit <= MAX_SHARDS_PAGE_SIZE)) {
      throw new BadRequestError(
        `invalid limit ${JSON.stringify(raw)}: must be an integer from 1 to ${MAX_SHARDS_PAGE_SIZE}`,
      )
    }
  }
  const after = query.get('after')
  if (after == null) return { limit }
  if (!/^[0-9a-f]{64}$/.test(after)) {
    throw new BadRequestError(
      `invalid after ${JSON.stringify(after.slice(0, 100))}: must be 64 lower-case hex characters (a page's next)`,
    )
  }
  return { limit, after: Uint8Array.from(Buffer.from(after, 'hex')) }
}

const round = (ms: number): number => Math.round(ms * 10) / 10

/** True when the `Accept` header asks for JSON lines (`application/x-ndjson`). */
export function wantsJsonLines(accept: string): boolean {
  return accept.split(',').some((range) => range.split(';')[0]?.trim().toLowerCase() === NDJSON_CONTENT_TYPE)
}

/**
 * The JSON lines of a streamed lookup: one `{ peerId, addrs }` per provider as it is
 * found, then `{ done: true, partial, durationMs, found, fromCache }`. `first` is the
 * stream's first step, taken by the handler so that an error before any provider keeps
 * its HTTP status.
 */
async function* providerLines(
  first: IteratorResult<ShardPeer, FindProvidersSummary>,
  stream: AsyncIterator<ShardPeer, FindProvidersSummary, undefined>,
): AsyncGenerator<unknown, void, undefined> {
  let step = first
  try {
    while (step.done !== true) {
      yield toApiPeer(step.value)
      step = await stream.next()
    }
  } finally {
    // the client went away mid-stream: end the lookup too
    if (step.done !== true) await stream.return?.(undefined as never)
  }
  const { partial, durationMs, found, fromCache } = step.value
  yield {
    done: true,
    partial,
    durationMs: round(durationMs),
    found,
    fromCache,
  } satisfies FindProvidersStreamEnd
}

/** A backend without a streamed lookup: its whole answer, then the summary. */
async function* streamOf(
  lookup: Promise<FindProvidersResult>,
): AsyncGenerator<ShardPeer, FindProvidersSummary, undefined> {
  const result = await lookup
  yield* result.providers
  return {
    found: result.providers.length,
    partial: result.partial,
    durationMs: result.durationMs,
    fromCache: result.fromCache === true,
  }
}

/** The backend's topic operations, or a {@link GossipOffError} when it has none. */
function topicsOf(
  backend: ApiBackend,
): Required<Pick<ApiBackend, 'topics' | 'topic' | 'subscribeTopic' | 'unsubscribeTopic'>> {
  const { topics, topic, subscribeTopic, unsubscribeTopic } = backend
  if (topics == null || topic == null || subscribeTopic == null || unsubscribeTopic == null) {
    throw new GossipOffError()
  }
  return {
    topics: topics.bind(backend),
    topic: topic.bind(backend),
    subscribeTopic: subscribeTopic.bind(backend),
    unsubscribeTopic: unsubscribeTopic.bind(backend),
  }
}

/** Parses `?group=` of a provide: absent, or one or more group names (repeated or comma-separated). */
export function parseGroups(query: URLSearchParams): string[] | undefined {
  const raw = query.getAll('group')
  if (raw.length === 0) return undefined
  return raw.flatMap((value) => value.split(',').map((name) => parseGroupName(name.trim())))
}

/**
 * The hashes of a batch body: JSON lines, one `{ "hash": "<64 hex>" }` a line (blank
 * lines skipped).
 *
 * @throws {BadRequestError} naming the line that is not such an object or whose hash is
 * not a shard hash, or for a body without a line
 */
export function parseBatchBody(body: Buffer | undefined): string[] {
  const hashes: string[] = []
  const text = (body ?? Buffer.alloc(0)).toString('utf8')
  let line = 0
  for (const raw of text.split('\n')) {
    line++
    const trimmed = raw.trim()
    if (trimmed === '') continue
    let value: unknown
    try {
      value = JSON.parse(trimmed)
    } catch {
      throw new BadRequestError(`line ${line}: not JSON (expected {"hash":"<64 hex>"})`)
    }
    const hash = (value as { hash?: unknown } | null)?.hash
    if (typeof hash !== 'string') throw new BadRequestError(`line ${line}: expected {"hash":"<64 hex>"}`)
    try {
      hashes.push(parseShardKey(hash).hex)
    } catch (err) {
      throw new BadRequestError(`line ${line}: ${(err as Error).message}`)
    }
  }
  if (hashes.length === 0) throw new BadRequestError('empty batch: one {"hash":"<64 hex>"} line per shard')
  return hashes
}

function shardLine(result: ProvideManyShardResult): BatchShardLine {
  return {
    hash: result.hash,
    ...(result.cid == null ? {} : { cid: result.cid }),
    confirmed: result.confirmed,
    ...(result.error == null
      ? {}
      : {
          error: {
            code: (result.error as { code?: string }).code ?? 'ERR_INTERNAL',
            message: result.error.message,
          },
        }),
  }
}

/**
 * JSON lines fed by callbacks: `run(push)` pushes lines as work completes and resolves
 * with the last line; an error of `run` is thrown by the iteration (the server writes it
 * as the last line).
 */
async function* linesOf(run: (push: (line: unknown) => void) => Promise<unknown>): AsyncGenerator<unknown> {
  const queue: unknown[] = []
  let wake: (() => void) | undefined
  let finished = false
  let failure: { err: unknown } | undefined
  let last: unknown
  run((line) => {
    queue.push(line)
    wake?.()
  }).then(
    (value) => {
      last = value
      finished = true
      wake?.()
    },
    (err: unknown) => {
      failure = { err }
      finished = true
      wake?.()
    },
  )
  for (;;) {
    while (queue.length > 0) yield queue.shift()
    if (finished) break
    await new Promise<void>((resolve) => {
      wake = resolve
    })
    wake = undefined
  }
  while (queue.length > 0) yield queue.shift()
  if (failure != null) throw failure.err
  yield last
}

/** The route table. */
export const ROUTES: readonly Route[] = [
  {
    pattern: /^\/healthz$/,
    always: true,
    methods: {
      GET: {
        handler: ({ backend }) =>
          backend.state === 'running'
            ? { body: { status: 'ok' } }
            : { status: 503, body: { status: backend.state } },
      },
    },
  },
  {
    pattern: /^\/v1\/id$/,
    methods: {
      GET: { handler: ({ backend }): RouteResult => ({ body: backend.id() satisfies IdResponse }) },
    },
  },
  {
    pattern: /^\/v1\/stats$/,
    methods: {
      GET: { handler: async ({ backend }) => ({ body: (await backend.stats()) satisfies StatsResponse }) },
    },
  },
  {
    pattern: /^\/v1\/peers$/,
    methods: {
      GET: {
        handler: async ({ backend }) => ({
          body: { peers: (await backend.peers()).map(toApiPeer) } satisfies PeersResponse,
        }),
      },
    },
  },
  {
    pattern: /^\/v1\/shards$/,
    methods: {
      POST: {
        dht: true,
        body: true,
        handler: async (ctx) => {
          const provideMany = ctx.backend.provideMany
          if (provideMany == null) throw new RouteNotFoundError('/v1/shards')
          const hashes = parseBatchBody(ctx.body)
          return {
            lines: linesOf(async (push) => {
              const { summary } = await provideMany.call(ctx.backend, hashes, {
                signal: ctx.signal,
                onShard: (r) => push(shardLine(r)),
              })
              return {
                summary: {
                  provided: summary.provided,
                  failed: summary.failed,
                  confirmedMedian: summary.confirmedMedian,
                  lookups: summary.lookups,
                  durationMs: round(summary.durationMs),
                },
              } satisfies ProvideManySummaryLine
            }),
          }
        },
      },
      GET: {
        handler: async ({ backend, query, signal }) => {
          const { limit, after } = parseShardsPage(query)
          const shards: ApiShard[] = []
          let next: string | undefined
          let last: Uint8Array | undefined
          for await (const entry of backend.shards({ ...(after === undefined ? {} : { after }), signal })) {
            if (shards.length === limit) {
              next = Buffer.from(last as Uint8Array).toString('hex')
              break
            }
            shards.push({
              hash: entry.hex,
              cid: parseShardKey(entry.hash).cid.toString(),
              providedAt: entry.providedAt,
              republishAt: entry.republishAt,
            })
            last = entry.key
          }
          return { body: { shards, ...(next === undefined ? {} : { next }) } satisfies ShardsResponse }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/republish$/,
    methods: {
      POST: {
        dht: true,
        handler: async (ctx) => {
          const cycle = ctx.backend.republishCycle
          if (cycle == null) throw new RouteNotFoundError('/v1/republish')
          const summaryOf = (s: Awaited<ReturnType<typeof cycle>>): RepublishSummaryLine => ({
            summary: {
              shards: s.shards,
              regions: s.regions,
              lookups: s.lookups,
              confirmedMedian: s.confirmedMedian,
              failed: s.failed,
              durationMs: round(s.durationMs),
            },
          })
          if (!wantsJsonLines(ctx.accept)) {
            return { body: summaryOf(await cycle.call(ctx.backend, { signal: ctx.signal })) }
          }
          return {
            lines: linesOf(async (push) =>
              summaryOf(
                await cycle.call(ctx.backend, { signal: ctx.signal, onShard: (r) => push(shardLine(r)) }),
              ),
            ),
          }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/shards\/([^/]+)$/,
    methods: {
      PUT: {
        dht: true,
        handler: async (ctx) => {
          const key = shardParam(ctx)
          const groups = parseGroups(ctx.query)
          const result = await ctx.backend.provide(key.hex, {
            signal: ctx.signal,
            ...(groups == null ? {} : { groups }),
          })
          return {
            body: {
              hash: key.hex,
              cid: key.cid.toString(),
              confirmed: result.confirmed,
              sentTo: result.sentTo,
              quorum: result.quorum,
              belowQuorum: result.belowQuorum,
              durationMs: round(result.durationMs),
            } satisfies ProvideResponse,
          }
        },
      },
      DELETE: {
        handler: async (ctx) => {
          const key = shardParam(ctx)
          if (!(await ctx.backend.stopProviding(key.hex))) throw new ShardNotProvidedError(key.hex)
          return { body: { hash: key.hex, cid: key.cid.toString() } satisfies StopProvidingResponse }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/shards\/([^/]+)\/providers$/,
    methods: {
      GET: {
        dht: true,
        handler: async (ctx) => {
          const key = shardParam(ctx)
          const limit = parseLimit(ctx.query)
          if (wantsJsonLines(ctx.accept)) {
            const options = { limit, signal: ctx.signal }
            const stream =
              ctx.backend.findProvidersStream?.(key.hex, options) ??
              streamOf(ctx.backend.findProviders(key.hex, options))
            return { lines: providerLines(await stream.next(), stream) }
          }
          const result = await ctx.backend.findProviders(key.hex, { limit, signal: ctx.signal })
          return {
            body: {
              providers: result.providers.map(toApiPeer),
              partial: result.partial,
              durationMs: round(result.durationMs),
            } satisfies FindProvidersResponse,
          }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/closest-peers\/([^/]+)$/,
    methods: {
      GET: {
        dht: true,
        handler: async (ctx) => {
          const peers = await ctx.backend.closestPeers(ctx.params[0] ?? '', { signal: ctx.signal })
          return { body: { peers: peers.map(toApiPeer) } satisfies ClosestPeersResponse }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/bootstrap$/,
    methods: {
      POST: {
        dht: true,
        handler: async (ctx) => {
          const r = await ctx.backend.bootstrap({ signal: ctx.signal })
          return {
            body: {
              connected: r.connected,
              failed: r.failed,
              routingTableSize: r.routingTableSize,
              durationMs: round(r.durationMs),
            } satisfies BootstrapResponse,
          }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/refresh$/,
    methods: {
      POST: {
        dht: true,
        handler: async (ctx) => {
          const r = await ctx.backend.refresh({ signal: ctx.signal })
          return {
            body: {
              removed: r.removed,
              checked: r.checked,
              sizeBefore: r.sizeBefore,
              sizeAfter: r.sizeAfter,
              lookups: r.lookups,
              failedLookups: r.failedLookups,
              errors: r.errors.map((e) => e.message),
              durationMs: round(r.durationMs),
            } satisfies RefreshResponse,
          }
        },
      },
    },
  },
  {
    pattern: /^\/v1\/topics$/,
    methods: {
      GET: {
        handler: ({ backend }) => ({ body: { topics: topicsOf(backend).topics() } satisfies TopicsResponse }),
      },
    },
  },
  {
    pattern: /^\/v1\/topics\/([^/]+)$/,
    methods: {
      GET: {
        handler: (ctx) => ({ body: topicsOf(ctx.backend).topic(parseGroupName(ctx.params[0] ?? '')) }),
      },
      PUT: {
        handler: async (ctx) => {
          const { topic, created } = await topicsOf(ctx.backend).subscribeTopic(
            parseGroupName(ctx.params[0] ?? ''),
          )
          return {
            status: created ? 201 : 200,
            body: { ...topic, subscribed: created } satisfies SubscribeTopicResponse,
          }
        },
      },
      DELETE: {
        handler: async (ctx) => {
          const group = parseGroupName(ctx.params[0] ?? '')
          await topicsOf(ctx.backend).unsubscribeTopic(group)
          return { body: { group, unsubscribed: true } satisfies UnsubscribeTopicResponse }
        },
      },
    },
  },
]
