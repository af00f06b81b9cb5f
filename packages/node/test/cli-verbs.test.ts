// The client verbs of every API call (health, stats, shards, closest, bootstrap, refresh)
// against a real three-node network, with --json and as text; and their text layout
// against fixed answers.
import { EventEmitter } from 'node:events'
import { REGISTRY_CAPACITY } from '@nsn/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { handler as shardsHandler } from '../src/cli/cmds/shards/handler.js'
import { statsLines } from '../src/cli/cmds/stats/handler.js'
import {
  type CliIo,
  EXIT_FAILURE,
  EXIT_OK,
  type NsnNode,
  type NsnNodeInit,
  runCli,
  type StatsResponse,
} from '../src/index.js'
import { api, apiAddr, apiTestNode, hash, TempDirs, threeNodes } from './helpers.js'

const dirs = new TempDirs()

function io(): CliIo & { out: () => string; err: () => string } {
  let stdout = ''
  let stderr = ''
  return {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    cwd: process.cwd(),
    signals: new EventEmitter(),
    exit: (code: number) => {
      throw new Error(`unexpected exit(${code})`)
    },
    out: () => stdout,
    err: () => stderr,
  }
}

/** Runs a verb against `node`'s API; resolves with its exit code and output. */
async function verb(node: NsnNode, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const cli = io()
  const code = await runCli([...argv, '--api', apiAddr(node)], cli)
  return { code, out: cli.out(), err: cli.err() }
}

async function json<T>(node: NsnNode, ...argv: string[]): Promise<T> {
  const run = await verb(node, ...argv, '--json')
  expect(run.err).toBe('')
  expect(run.code).toBe(EXIT_OK)
  return JSON.parse(run.out) as T
}

describe('client verbs on a three-node network', () => {
  let a: NsnNode
  let b: NsnNode
  let c: NsnNode
  const make = (init: NsnNodeInit = {}): Promise<NsnNode> => apiTestNode(dirs, init)

  beforeAll(async () => {
    ;[a, b, c] = await threeNodes(make)
  })
  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n?.stop()))
    await dirs.cleanup()
  })

  it('health: ok, exit 0', async () => {
    expect(await verb(a, 'health')).toEqual({ code: EXIT_OK, out: 'ok\n', err: '' })
    expect(await json(a, 'health')).toEqual({ status: 'ok' })
  })

  it('shards: none, then the provided shard as a table; --json is GET /v1/shards', async () => {
    expect(await verb(c, 'shards')).toEqual({ code: EXIT_OK, out: 'no shards provided\n', err: '' })
    const shard = hash('b7')
    expect((await verb(c, 'provide', shard)).code).toBe(EXIT_OK)
    const listed = await json<{ shards: Array<{ hash: string; providedAt: number }> }>(c, 'shards')
    expect(listed).toEqual((await api(apiAddr(c), 'GET', '/v1/shards')).body)
    expect(listed.shards.map((s) => s.hash)).toEqual([shard])
    const text = await verb(c, 'shards')
    const lines = text.out.split('\n')
    expect(lines[0]).toBe('1 shard provided:')
    expect(lines[1]).toMatch(/^ {2}HASH {62}PROVIDED {14}NEXT REPUBLISH$/)
    expect(lines[2]).toMatch(
      new RegExp(
        `^  ${shard}  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ  \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ \\(in \\d+ h \\d\\d min\\)$`,
      ),
    )
  })

  it('stats: what the node tracks, after provides and lookups (cache hits included)', async () => {
    const shard = hash('b8')
    expect((await verb(a, 'provide', shard)).code).toBe(EXIT_OK)
    expect((await verb(b, 'find', shard)).code).toBe(EXIT_OK)
    expect((await verb(b, 'find', shard)).code).toBe(EXIT_OK) // from b's provider cache
    const sa = await json<StatsResponse>(a, 'stats')
    expect(sa).toMatchObject({
      peerId: a.peerId.toString(),
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      routingTableSize: 2,
      connections: { peers: 2 },
      shards: { provided: 1, capacity: REGISTRY_CAPACITY },
    })
    expect(sa.operations.provide).toEqual({ ok: 1, timeout: 0, error: 0 })
    expect(sa.connections.open).toBeGreaterThanOrEqual(2)
    expect(sa.uptimeMs).toBeGreaterThanOrEqual(0)
    expect(sa.startedAt).toBeLessThanOrEqual(Date.now())

    const sb = await json<StatsResponse>(b, 'stats')
    expect(sb.operations.find_providers).toEqual({ ok: 1, timeout: 0, error: 0 })
    expect(sb.providerCache).toMatchObject({ hits: 1, misses: 1, hitRate: 0.5, entries: 1 })
    // b provides nothing, and holds a's record (one of k=20 closest of a two-peer network)
    expect(sb.shards.provided).toBe(0)
    expect(sb.providerRecordsStored).toBeGreaterThanOrEqual(1)

    const text = await verb(b, 'stats')
    expect(text.code).toBe(EXIT_OK)
    expect(text.out).toContain(`peer id               ${b.peerId.toString()}\n`)
    expect(text.out).toContain('lookups               1 (1 ok, 0 timed out, 0 failed)\n')
    expect(text.out).toContain('provider cache        50.0% hit rate (1 hits, 1 misses), 1 entry\n')
    expect(text.out).toContain('routing table         2 peers\n')
  })

  it('closest: by shard hash (0x accepted) or peer id, nearest first; --json is the API answer', async () => {
    const shard = hash('c9')
    const byHash = await json<{ peers: Array<{ peerId: string; addrs: string[] }> }>(
      c,
      'closest',
      `0x${shard}`,
    )
    expect(byHash).toEqual((await api(apiAddr(c), 'GET', `/v1/closest-peers/${shard}`)).body)
    expect(byHash.peers.map((p) => p.peerId).sort()).toEqual(
      [a.peerId.toString(), b.peerId.toString()].sort(),
    )
    const text = await verb(c, 'closest', shard)
    expect(text.code).toBe(EXIT_OK)
    const lines = text.out.trimEnd().split('\n')
    expect(lines[0]).toBe(`2 peers closest to ${shard}, nearest first (XOR distance):`)
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/)[1])).toEqual(byHash.peers.map((p) => p.peerId))

    const byPeer = await json<{ peers: Array<{ peerId: string }> }>(b, 'closest', a.peerId.toString())
    expect(byPeer.peers.map((p) => p.peerId)).toContain(c.peerId.toString())
    // a key that is neither: the daemon's 400, exit 2
    const bad = await verb(b, 'closest', 'not-a-key')
    expect(bad.code).toBe(2)
    expect(bad.err).toMatch(/^error: .+ \(ERR_INVALID_SHARD_KEY\)\n$/)
  })

  it('bootstrap: from the configured peer, or through the known peers; text and --json', async () => {
    const r = await json<{ connected: number; failed: number; routingTableSize: number }>(b, 'bootstrap')
    expect(r).toMatchObject({ connected: 1, failed: 0, routingTableSize: 2 })
    const text = await verb(b, 'bootstrap')
    expect(text.out).toMatch(/^bootstrap: connected to 1 peer in [\d.]+ ms; routing table: 2 peers\n$/)
    // a has no bootstrap peers: a lookup of its own id through the peers it knows
    expect((await verb(a, 'bootstrap')).code).toBe(EXIT_OK)
  })

  it('refresh: what it checked and did; text and --json', async () => {
    const r = await json<{ checked: number; sizeAfter: number; lookups: number; errors: string[] }>(
      c,
      'refresh',
    )
    expect(r.sizeAfter).toBe(2)
    expect(r.errors).toEqual([])
    const text = await verb(c, 'refresh')
    expect(text.code).toBe(EXIT_OK)
    expect(text.out).toMatch(
      /^refresh: checked \d+ peers?, removed 0, in [\d.]+ ms\n {2}routing table: 2 → 2 peers\n {2}bucket lookups: \d+\n$/,
    )
  })
})

describe('client verbs: text layout', () => {
  it('stats lines', () => {
    const stats: StatsResponse = {
      peerId: '12D3KooWexample',
      version: '1.2.3',
      startedAt: Date.UTC(2026, 11, 2, 9, 0, 0),
      uptimeMs: (3 * 3600 + 2 * 60 + 5) * 1000,
      routingTableSize: 12,
      connections: { open: 14, peers: 12 },
      shards: { provided: 120, capacity: 10_000 },
      providerRecordsStored: 340,
      operations: {
        provide: { ok: 118, timeout: 0, error: 2 },
        find_providers: { ok: 50, timeout: 1, error: 1 },
        closest_peers: { ok: 3, timeout: 0, error: 0 },
        find_peer: { ok: 0, timeout: 0, error: 0 },
        bootstrap: { ok: 1, timeout: 0, error: 0 },
        refresh: { ok: 36, timeout: 0, error: 0 },
        republish: { ok: 2, timeout: 0, error: 0 },
      },
      providerCache: { hits: 30, misses: 10, hitRate: 0.75, entries: 12, bytes: 4096 },
    }
    expect(statsLines(stats)).toBe(
      [
        'peer id               12D3KooWexample',
        'version               1.2.3',
        'uptime                3 h 02 min (since 2026-12-02 09:00:00Z)',
        'routing table         12 peers',
        'connections           14 open to 12 peers',
        'shards provided       120 (capacity 10000)',
        'provider records      340 stored for other peers',
        'lookups               52 (50 ok, 1 timed out, 1 failed)',
        'provides              120 (118 ok, 0 timed out, 2 failed)',
        'closest-peer lookups  3 (3 ok, 0 timed out, 0 failed)',
        'republish runs        2 (2 ok, 0 timed out, 0 failed)',
        'bootstraps            1 (1 ok, 0 timed out, 0 failed)',
        'refreshes             36 (36 ok, 0 timed out, 0 failed)',
        'provider cache        75.0% hit rate (30 hits, 10 misses), 12 entries',
        '',
      ].join('\n'),
    )
    expect(statsLines({ ...stats, providerCache: null })).toContain('provider cache        off\n')
  })

  it('health of a starting daemon: exit 1', async () => {
    const { createServer } = await import('node:http')
    const server = createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' })
      res.end('{"status":"starting"}')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const cli = io()
      const port = (server.address() as { port: number }).port
      expect(await runCli(['health', '--api', `127.0.0.1:${port}`], cli)).toBe(EXIT_FAILURE)
      expect(cli.out()).toBe('starting\n')
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })

  it('shards: the next republish relative to now', async () => {
    const { createServer } = await import('node:http')
    const now = Date.UTC(2026, 11, 2, 12, 0, 0)
    const body = {
      shards: [
        {
          hash: hash('01'),
          cid: 'bafk1',
          providedAt: now - 60_000,
          republishAt: now + (11 * 60 + 21) * 60_000,
        },
        { hash: hash('02'), cid: 'bafk2', providedAt: now - 120_000, republishAt: now - 1 },
      ],
    }
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify(body))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const cli = io()
      const port = (server.address() as { port: number }).port
      const code = await shardsHandler(
        { values: { api: `127.0.0.1:${port}` }, positionals: [] },
        cli,
        () => now,
      )
      expect(code).toBe(EXIT_OK)
      expect(cli.out()).toBe(
        [
          '2 shards provided:',
          `  HASH${' '.repeat(62)}PROVIDED              NEXT REPUBLISH`,
          `  ${hash('01')}  2026-12-02 11:59:00Z  2026-12-02 23:21:00Z (in 11 h 21 min)`,
          `  ${hash('02')}  2026-12-02 11:58:00Z  2026-12-02 11:59:59Z (due)`,
          '',
        ].join('\n'),
      )
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})
