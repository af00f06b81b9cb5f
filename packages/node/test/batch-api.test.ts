import { EventEmitter } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CliIo, EXIT_OK, type NsnNode, type NsnNodeInit, runCli } from '../src/index.js'
import { apiAddr, apiTestNode, TempDirs, threeNodes } from './helpers.js'

const dirs = new TempDirs()
const node = (init: NsnNodeInit = {}): Promise<NsnNode> => apiTestNode(dirs, init)

function hashOf(i: number): string {
  return i.toString(16).padStart(8, '0').repeat(8)
}

async function post(
  address: string,
  path: string,
  body: string | undefined,
  headers: Record<string, string> = {},
): Promise<{ status: number; type: string | null; lines: Array<Record<string, unknown>> }> {
  const res = await fetch(`http://${address}${path}`, { method: 'POST', body, headers })
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

describe('POST /v1/shards and POST /v1/republish', () => {
  let a: NsnNode
  let b: NsnNode
  let c: NsnNode

  beforeAll(async () => {
    ;[a, b, c] = await threeNodes(node)
  })

  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n?.stop()))
    await dirs.cleanup()
  })

  it('provides a batch: one JSON line per shard, then a summary line', async () => {
    const hashes = Array.from({ length: 100 }, (_, i) => hashOf(i + 1))
    const body = hashes.map((hash) => JSON.stringify({ hash })).join('\n')
    const answer = await post(apiAddr(a), '/v1/shards', `${body}\n`)
    expect(answer.status).toBe(200)
    expect(answer.type).toMatch(/^application\/x-ndjson/)
    const shardLines = answer.lines.slice(0, -1)
    expect(shardLines.map((l) => l.hash).sort()).toEqual([...hashes].sort())
    for (const line of shardLines) {
      expect(line).toMatchObject({ confirmed: 2 })
      expect(line.cid).toMatch(/^bafkrei/)
      expect(line.error).toBeUndefined()
    }
    const summary = answer.lines.at(-1)?.summary as Record<string, number>
    expect(summary).toMatchObject({ provided: 100, failed: 0, confirmedMedian: 2 })
    expect(summary.lookups).toBeLessThan(10)
    let held = 0
    for await (const _ of a.shards()) held++
    expect(held).toBe(100)
    const found = await c.findProviders(hashes[42] as string)
    expect(found.providers.map((p) => p.peerId.toString())).toContain(a.id().peerId)
  })

  it('refuses a malformed batch with 400, naming the line', async () => {
    const bad = await post(apiAddr(a), '/v1/shards', `{"hash":"${hashOf(1)}"}\n{"hash":"xyz"}\n`)
    expect(bad.status).toBe(400)
    expect((bad.lines[0]!.error as { message: string }).message).toMatch(/^line 2: /)
    const empty = await post(apiAddr(a), '/v1/shards', '')
    expect(empty.status).toBe(400)
    const notJson = await post(apiAddr(a), '/v1/shards', 'hello\n')
    expect((notJson.lines[0]!.error as { message: string }).message).toMatch(/^line 1: not JSON/)
  })

  it('runs a whole republish cycle: only the summary, or JSON lines when asked', async () => {
    const plain = await post(apiAddr(a), '/v1/republish', undefined)
    expect(plain.status).toBe(200)
    expect(plain.lines).toHaveLength(1)
    expect(plain.lines[0]?.summary).toMatchObject({ shards: 100, failed: 0, confirmedMedian: 2 })

    const streamed = await post(apiAddr(a), '/v1/republish', undefined, { accept: 'application/x-ndjson' })
    expect(streamed.type).toMatch(/^application\/x-ndjson/)
    expect(streamed.lines).toHaveLength(101)
    expect(streamed.lines.at(-1)?.summary).toMatchObject({ shards: 100, failed: 0 })
    expect(streamed.lines[0]).toMatchObject({ confirmed: 2 })
  })
})

/** In-process CLI I/O recording stdout and stderr; `tty` makes them terminals. */
function io(tty: boolean, stdin?: string): Partial<CliIo> & { out: () => string; err: () => string } {
  let stdout = ''
  let stderr = ''
  return {
    stdout: { write: (s: string) => (stdout += s), isTTY: tty },
    stderr: { write: (s: string) => (stderr += s), isTTY: tty },
    env: {},
    cwd: process.cwd(),
    signals: new EventEmitter(),
    ...(stdin == null ? {} : { stdin: [Buffer.from(stdin)] }),
    exit: (code: number) => {
      throw new Error(`unexpected exit(${code})`)
    },
    out: () => stdout,
    err: () => stderr,
  }
}

describe('nsn-node provide --file and nsn-node republish', () => {
  let a: NsnNode
  let b: NsnNode
  let c: NsnNode
  const cliDirs = new TempDirs()

  beforeAll(async () => {
    ;[a, b, c] = await threeNodes((init) => apiTestNode(cliDirs, init))
  })

  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n?.stop()))
    await cliDirs.cleanup()
  })

  it('in a pipe: a plain line per shard, then the summary', async () => {
    const hashes = Array.from({ length: 20 }, (_, i) => hashOf(1000 + i))
    const file = join(await cliDirs.make(), 'shards.txt')
    await writeFile(file, `# shards\n${hashes.join('\n')}\n`)
    const pipe = io(false)
    expect(await runCli(['provide', '--file', file, '--api', apiAddr(a)], pipe)).toBe(EXIT_OK)
    const lines = pipe.out().trim().split('\n')
    expect(lines).toHaveLength(21)
    expect(lines.slice(0, 20).sort()).toEqual(hashes.map((h) => `${h} confirmed by 2`).sort())
    expect(lines[20]).toMatch(/^provided 20 of 20 shards \(0 failed\) with \d+ lookups in \d+ ms$/)
    expect(pipe.out()).not.toContain('\r')
  })

  it('reads hashes from stdin with `-`, and draws a bar on a terminal', async () => {
    const hashes = Array.from({ length: 10 }, (_, i) => hashOf(2000 + i))
    const tty = io(true, hashes.map((hash) => JSON.stringify({ hash })).join('\n'))
    expect(await runCli(['provide', '-', '--api', apiAddr(a)], tty)).toBe(EXIT_OK)
    expect(tty.err()).toContain('\r[##############################] 10/10 shards')
    expect(tty.err()).toMatch(/provided 10 of 10 shards/)
    expect(tty.err()).not.toContain('confirmed by')
  })

  it('names the bad line of a list', async () => {
    const bad = io(false, `${hashOf(1)}\nnope\n`)
    expect(await runCli(['provide', '-', '--api', apiAddr(a)], bad)).not.toBe(EXIT_OK)
    expect(bad.err()).toContain('stdin:2: ')
  })

  it('republish runs a cycle: a line per shard in a pipe, JSON lines with --json', async () => {
    const pipe = io(false)
    expect(await runCli(['republish', '--api', apiAddr(a)], pipe)).toBe(EXIT_OK)
    const lines = pipe.out().trim().split('\n')
    expect(lines).toHaveLength(31)
    expect(lines[30]).toMatch(/^republished 30 of 30 shards \(0 failed\) in \d+ regions with \d+ lookups/)
    const json = io(false)
    expect(await runCli(['republish', '--json', '--api', apiAddr(a)], json)).toBe(EXIT_OK)
    const parsed = json
      .out()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(parsed).toHaveLength(31)
    expect(parsed.at(-1)?.summary).toMatchObject({ shards: 30, failed: 0 })
  })
})
