// The README's operator examples run as written: the `nsn-node` lines of "Operating a
// running daemon" against a running network (in-process: they have no shell syntax), and
// the "API token" block (but its `start` line, which is the daemon under test) through a
// shell with the built bin as `nsn-node`, adapted only in the API address and the token
// file's path.
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { chmod, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type NsnNode, type NsnNodeInit, runCli } from '../src/index.js'
import { apiAddr, apiTestNode, BIN, cleanEnv, hash, PKG, TempDirs, threeNodes } from './helpers.js'

const dirs = new TempDirs()

/** The fenced `sh` block that follows `heading` in the README. */
async function shBlock(heading: string): Promise<string[]> {
  const readme = await readFile(join(PKG, 'README.md'), 'utf8')
  const start = readme.indexOf(`\n${heading}\n`)
  expect(start, heading).toBeGreaterThan(0)
  const block = /```sh\n([\s\S]*?)\n```/.exec(readme.slice(start))
  expect(block, `the sh block after ${heading}`).not.toBeNull()
  return (block?.[1] ?? '').split('\n')
}

/** Runs `line` in sh with `nsn-node` on the PATH (the built bin); resolves with its exit and output. */
function sh(line: string, bin: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', line], {
      env: cleanEnv({ PATH: `${bin}:${process.env.PATH ?? ''}` }),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      stdout += c
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c
    })
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

/** Runs the CLI in-process on `argv`; resolves with its exit code and output. */
async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = ''
  let stderr = ''
  const code = await runCli(argv, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: {},
    signals: new EventEmitter(),
  })
  return { code, stdout, stderr }
}

/** A comment line of the README as a pattern: `…` anything, numbers any number, plurals optional. */
function pattern(comment: string): RegExp {
  const text = comment.replace(/^# ?/, '').trim()
  const escaped = text
    .split('…')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\d+(\\\.\d+)?/g, '[\\d.]+'))
    .join('.*')
  return new RegExp(
    `^\\s*${escaped.replace(/\b(peer|shard|entrie|hit|misse)s\b/g, '$1s?').replace(/entries\?/, '(entry|entries)')}$`,
  )
}

describe('README operator examples', () => {
  let a: NsnNode
  let b: NsnNode
  let c: NsnNode
  let bin: string
  let tokenFile: string
  let tokenBlock: string[]

  beforeAll(async () => {
    bin = await dirs.make('nsn-readme-bin-')
    await writeFile(join(bin, 'nsn-node'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`)
    await chmod(join(bin, 'nsn-node'), 0o755)
    // the token block's first line makes the token the daemon then uses
    tokenFile = join(await dirs.make(), 'api-token')
    tokenBlock = (await shBlock('### API token')).map((l) => l.replaceAll('/etc/nsn/api-token', tokenFile))
    const made = await sh(tokenBlock[0] as string, bin)
    expect(made).toMatchObject({ code: 0, stderr: '' })
    let first = true
    const make = (init: NsnNodeInit = {}): Promise<NsnNode> => {
      const withToken = first
      first = false
      return apiTestNode(dirs, withToken ? { ...init, apiTokenFile: tokenFile } : init)
    }
    ;[a, b, c] = await threeNodes(make)
  })
  afterAll(async () => {
    await Promise.all([a, b, c].map((n) => n?.stop()))
    await dirs.cleanup()
  })

  it('Operating a running daemon: every nsn-node line, its first output line as shown', async () => {
    const lines = await shBlock('### Operating a running daemon')
    await b.provide(hash('5a'))
    const commands = lines
      .map((line, i) => ({ line, next: lines[i + 1] ?? '' }))
      .filter((l) => l.line.startsWith('nsn-node '))
    expect(commands.map((l) => l.line.split(' ')[1])).toEqual([
      'health',
      'stats',
      'shards',
      'closest',
      'bootstrap',
      'refresh',
    ])
    for (const { line, next } of commands) {
      // in-process (the CLI the bin runs): these lines have no shell syntax
      const run = await cli([...line.split(/\s+/).slice(1), '--api', apiAddr(b)])
      expect(run, line).toMatchObject({ code: 0, stderr: '' })
      if (line.includes('--json')) {
        const keys = [...next.matchAll(/"(\w+)":/g)].map((m) => m[1] as string)
        expect(Object.keys(JSON.parse(run.stdout)), line).toEqual(expect.arrayContaining(keys))
      } else {
        expect(run.stdout.split('\n')[0], line).toMatch(pattern(next))
      }
    }
  })

  it('API token: the client lines work with the token, and not without it', async () => {
    const api = apiAddr(a)
    const lines = tokenBlock
      .slice(1)
      .filter((l) => l.trim() !== '' && !l.startsWith('#') && !l.startsWith('nsn-node start'))
      .map((l) => l.replaceAll('10.0.0.5:5080', api))
    expect(lines).toHaveLength(4)
    for (const line of lines) {
      const run = await sh(line, bin)
      expect(run, line).toMatchObject({ code: 0, stderr: '' })
    }
    const stats = await sh(lines[2] as string, bin)
    expect(JSON.parse(stats.stdout)).toMatchObject({ peerId: a.peerId.toString() })
    // without the token: refused
    const refused = await sh(`nsn-node stats --api ${api}`, bin)
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain('(ERR_UNAUTHORIZED)')
  }, 60_000)
})
