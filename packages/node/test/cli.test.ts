import { EventEmitter } from 'node:events'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ApiTimeoutError,
  CLIENT_REQUEST_TIMEOUT,
  type CliIo,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_UNREACHABLE,
  EXIT_USAGE,
  exitCodeOf,
  getCli,
  NsnApiClient,
  runCli,
} from '../src/index.js'
import { closedPort, hash, runBin, TempDirs, type WaitEvents, waitFor } from './helpers.js'

const dirs = new TempDirs()
afterAll(() => dirs.cleanup())

/** In-process I/O that records what the CLI writes. */
function io(
  extra: Partial<CliIo> = {},
): CliIo & { out: () => string; err: () => string; written: WaitEvents } {
  let stdout = ''
  let stderr = ''
  const written = new EventTarget()
  const write = (): void => {
    written.dispatchEvent(new Event('write'))
  }
  return {
    stdout: {
      write: (s: string) => {
        stdout += s
        write()
      },
    },
    stderr: {
      write: (s: string) => {
        stderr += s
        write()
      },
    },
    env: {},
    cwd: process.cwd(),
    signals: new EventEmitter(),
    exit: (code: number) => {
      throw new Error(`unexpected exit(${code})`)
    },
    ...extra,
    out: () => stdout,
    err: () => stderr,
    written: { target: written, events: ['write'] },
  }
}

const DAEMON_FLAGS = [
  '--listen',
  '/ip4/127.0.0.1/tcp/0',
  '--api',
  '127.0.0.1:0',
  '--metrics',
  'off',
  '--connection-monitor-interval',
  '0',
  '--log-json',
]

describe('CLI usage and bad input', () => {
  it.each(getCli().commands.map((c) => c.name))('%s --help', async (name) => {
    const cli = io()
    expect(await runCli([name, '--help'], cli)).toBe(EXIT_OK)
    expect(cli.out()).toContain(`Usage: nsn-node ${name}`)
    expect(cli.out()).toContain('Exit codes:')
    expect(cli.err()).toBe('')
  })

  it('global help, version, no command, unknown command', async () => {
    let cli = io()
    expect(await runCli(['--help'], cli)).toBe(EXIT_OK)
    expect(cli.out()).toMatch(/Commands:\n {2}start/)
    cli = io()
    expect(await runCli(['--version'], cli)).toBe(EXIT_OK)
    expect(cli.out()).toMatch(/^\d+\.\d+\.\d+\n$/)
    cli = io()
    expect(await runCli([], cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toContain('Usage: nsn-node [global options] <command>')
    cli = io()
    expect(await runCli(['launch'], cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toBe('error: unknown command "launch" (see: nsn-node --help)\n')
  })

  it.each([
    [['provide', 'xyz'], 'error: invalid shard key "xyz": must contain only hex characters 0-9 a-f\n'],
    [
      ['find', 'ab'.repeat(31)],
      `error: invalid shard key "${'ab'.repeat(31)}": must be 64 hex characters (32 bytes), got 62\n`,
    ],
    [['find', hash('ab'), '--limit', '0'], 'error: invalid --limit "0": must be an integer from 1 to 1000\n'],
    [['provide'], 'error: missing argument <hash> (see: nsn-node provide --help)\n'],
    [['id', 'extra'], 'error: unexpected argument "extra" (see: nsn-node id --help)\n'],
    [['peers', '--verbose'], "error: unknown option '--verbose' (see: nsn-node peers --help)\n"],
    [['id', '--api'], "error: option '--api <value>' argument missing (see: nsn-node id --help)\n"],
    [
      ['id', '--api', 'localhost:0'],
      'error: invalid config: api: port must be 1-65535, got "0" (from --api)\n',
    ],
    [['start', '--bogus'], "error: unknown option '--bogus' (see: nsn-node start --help)\n"],
    [
      ['start', '--listen', '/ip4/nope'],
      'error: invalid config: listen[0]: "/ip4/nope" is not a valid multiaddr (Invalid IPv4 address "nope") (from --listen)\n',
    ],
    [
      ['start', '--api', '127.0.0.1:99999'],
      'error: invalid config: api: port must be 0-65535 (0 picks a free port), got "99999" (from --api)\n',
    ],
  ])('%j → exit 2 with one clear line', async (argv, line) => {
    const cli = io()
    expect(await runCli(argv, cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toBe(line)
    expect(cli.out()).toBe('')
  })

  it('start with an unreadable, an invalid or an unknown-key config file → exit 2 naming the file', async () => {
    const dir = await dirs.make()
    const missing = join(dir, 'missing.json')
    let cli = io()
    expect(await runCli(['start', '--config', missing], cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toBe(`error: config file ${missing}: unreadable (ENOENT)\n`)

    const invalid = join(dir, 'invalid.json')
    await writeFile(invalid, '{ "api": "127.0.0.1:5080", }')
    cli = io()
    expect(await runCli(['start', '--config', invalid], cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toMatch(
      new RegExp(`^error: config file ${invalid}: invalid JSON at line 1 column 28: .+\n$`),
    )

    const unknown = join(dir, 'unknown.json')
    await writeFile(unknown, '{ "apiPort": 5080 }')
    cli = io({ env: { NSN_CONFIG: unknown } })
    expect(await runCli(['start'], cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toMatch(new RegExp(`^error: config file ${unknown}: unknown key "apiPort"`))
  })

  it('a client verb with no daemon → exit 3 with one clear line', async () => {
    const port = await closedPort()
    const cli = io({ env: { NSN_API: `127.0.0.1:${port}` } })
    expect(await runCli(['id'], cli)).toBe(EXIT_UNREACHABLE)
    expect(cli.err()).toBe(
      `error: cannot reach the nsn-node daemon at 127.0.0.1:${port} (connection refused): is it running? (start it with: nsn-node start)\n`,
    )
  })
})

describe('CLI request timeout and global options', () => {
  /** A server that accepts connections and never answers; closed by `close()`. */
  async function silentApi(): Promise<{ addr: string; requests: () => number; close(): Promise<void> }> {
    let requests = 0
    const server = createServer(() => {
      requests++ // and no answer
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return {
      addr: `127.0.0.1:${port}`,
      requests: () => requests,
      close: () =>
        new Promise<void>((resolve) => {
          server.closeAllConnections()
          server.close(() => resolve())
        }),
    }
  }

  it('every client verb gives up on a daemon that never answers: typed error, one line, exit 3', async () => {
    const api = await silentApi()
    try {
      const verbs = [
        ['id'],
        ['peers'],
        ['provide', hash('e1')],
        ['find', hash('e1')],
        ['find', hash('e1'), '--stream'],
        ['stop-providing', hash('e1')],
        ['health'],
        ['stats'],
        ['shards'],
        ['closest', hash('e1')],
        ['bootstrap'],
        ['refresh'],
      ]
      for (const verb of verbs) {
        const cli = io()
        expect(await runCli([...verb, '--api', api.addr, '--timeout', '150ms'], cli)).toBe(EXIT_UNREACHABLE)
        expect(cli.err()).toBe(
          `error: the nsn-node daemon at ${api.addr} did not answer within 150 ms (is it stuck or overloaded? wait longer with --timeout)\n`,
        )
        expect(cli.out()).toBe('')
      }
      expect(api.requests()).toBe(verbs.length)
      // from the environment too
      const cli = io({ env: { NSN_API: api.addr, NSN_TIMEOUT: '100' } })
      expect(await runCli(['id'], cli)).toBe(EXIT_UNREACHABLE)
      expect(cli.err()).toContain('did not answer within 100 ms')
    } finally {
      await api.close()
    }
  })

  it('the client throws ApiTimeoutError; the CLI default is CLIENT_REQUEST_TIMEOUT', async () => {
    const api = await silentApi()
    try {
      const client = new NsnApiClient(api.addr, { timeoutMs: 50 })
      await expect(client.id()).rejects.toMatchObject({
        name: 'ApiTimeoutError',
        code: 'ERR_API_TIMEOUT',
        timeoutMs: 50,
      })
      expect(exitCodeOf(new ApiTimeoutError(api.addr, 50))).toBe(EXIT_UNREACHABLE)
      const cli = io()
      expect(await runCli(['id', '--help'], cli)).toBe(EXIT_OK)
      expect(cli.out()).toContain(`--timeout <ms>`)
      expect(cli.out()).toContain(`[default: ${CLIENT_REQUEST_TIMEOUT}; env: NSN_TIMEOUT]`)
      expect(CLIENT_REQUEST_TIMEOUT).toBe(60_000)
    } finally {
      await api.close()
    }
  })

  it.each([
    [
      ['id', '--timeout', 'soon'],
      'error: invalid config: timeout: must be a duration in ms (an integer, or with a unit: 500ms, 10s, 5m, 12h), got "soon" (from --timeout)\n',
    ],
    [
      ['id', '--timeout', '0'],
      'error: invalid config: timeout: must be at least 1 ms, got 0 (from --timeout)\n',
    ],
    [
      ['--verbose', 'id'],
      "error: unknown option '--verbose' before the command (global options: --api, --api-token-file, --timeout, --json; see: nsn-node --help)\n",
    ],
    [['--api'], "error: option '--api <host:port>' argument missing (see: nsn-node --help)\n"],
    [['--timeout', '1s', 'start'], "error: unknown option '--timeout' (see: nsn-node start --help)\n"],
  ])('%j → exit 2 with one clear line', async (argv, line) => {
    const cli = io()
    expect(await runCli(argv, cli)).toBe(EXIT_USAGE)
    expect(cli.err()).toBe(line)
  })

  it('global options before the verb work as after it; the verb’s own flag wins', async () => {
    const port = await closedPort()
    const api = await silentApi()
    try {
      for (const argv of [
        ['--api', `127.0.0.1:${port}`, 'id'],
        [`--api=127.0.0.1:${port}`, '--json', 'peers'],
        ['--api', api.addr, 'id', '--api', `127.0.0.1:${port}`],
      ]) {
        const cli = io()
        expect(await runCli(argv, cli)).toBe(EXIT_UNREACHABLE)
        expect(cli.err()).toContain(
          `cannot reach the nsn-node daemon at 127.0.0.1:${port} (connection refused)`,
        )
      }
      const cli = io()
      expect(await runCli(['--timeout', '100', '--api', api.addr, 'id'], cli)).toBe(EXIT_UNREACHABLE)
      expect(cli.err()).toContain('did not answer within 100 ms')
      const help = io()
      expect(await runCli(['--api', api.addr, '--help'], help)).toBe(EXIT_OK)
      expect(help.out()).toContain('Usage: nsn-node [global options] <command> [options]')
    } finally {
      await api.close()
    }
  })

  it('the built bin, a daemon that never answers and --timeout before the verb: exit 3', async () => {
    const api = await silentApi()
    try {
      const run = await runBin(['--api', api.addr, '--timeout', '200', 'id'])
      expect(run.code).toBe(EXIT_UNREACHABLE)
      expect(run.stderr).toContain(`the nsn-node daemon at ${api.addr} did not answer within 200 ms`)
    } finally {
      await api.close()
    }
  })
})

describe('CLI start in-process, driven by signals', () => {
  it('a second signal forces the exit (128 + signal number)', async () => {
    const signals = new EventEmitter()
    const exits: number[] = []
    const daemon = io({ signals, exit: (code) => exits.push(code) })
    const exit = runCli(['start', ...DAEMON_FLAGS, '--data-dir', await dirs.make()], daemon)
    await waitFor(() => daemon.err().includes('"msg":"ready"'), {
      on: daemon.written,
      what: 'the ready line',
    })
    signals.emit('SIGTERM', 'SIGTERM')
    signals.emit('SIGINT', 'SIGINT')
    expect(exits).toEqual([130])
    expect(daemon.err()).toContain('"msg":"second signal: exiting now"')
    expect(await exit).toBe(EXIT_OK) // in-process, the graceful stop still completes
  })

  it('runs the daemon, answers the client verbs, stops on SIGTERM with exit 0', async () => {
    const signals = new EventEmitter()
    const daemon = io({ signals })
    const dataDir = await dirs.make()
    const exit = runCli(['start', ...DAEMON_FLAGS, '--data-dir', dataDir], daemon)
    let ready: { api: string; peerId: string } | undefined
    await waitFor(
      () => {
        const line = daemon
          .err()
          .split('\n')
          .find((l) => l.includes('"msg":"ready"'))
        if (line != null) ready = JSON.parse(line) as { api: string; peerId: string }
        return ready != null
      },
      { on: daemon.written, what: 'the ready line' },
    )
    const api = ['--api', ready?.api as string]

    let cli = io()
    expect(await runCli(['id', ...api, '--json'], cli)).toBe(EXIT_OK)
    expect(JSON.parse(cli.out())).toMatchObject({ peerId: ready?.peerId })

    cli = io()
    expect(await runCli(['peers', ...api], cli)).toBe(EXIT_OK)
    expect(cli.out()).toBe('no peers in the routing table\n')

    // alone: the provide fails (exit 1) with the daemon's typed error
    cli = io()
    expect(await runCli(['provide', hash('c1'), ...api], cli)).toBe(EXIT_FAILURE)
    expect(cli.err()).toBe('error: no known peers: the routing table is empty (ERR_NO_KNOWN_PEERS)\n')
    cli = io()
    expect(await runCli(['find', hash('c1'), ...api], cli)).toBe(EXIT_FAILURE)
    expect(cli.err()).toContain('(ERR_NO_KNOWN_PEERS)')

    // the failed provide left the shard registered (it is retried): stop providing it, twice
    cli = io()
    expect(await runCli(['stop-providing', hash('c1'), ...api], cli)).toBe(EXIT_OK)
    expect(cli.out()).toBe(`stopped providing ${hash('c1')}\n`)
    cli = io()
    expect(await runCli(['stop-providing', hash('c1'), ...api], cli)).toBe(EXIT_FAILURE)
    expect(cli.err()).toBe(
      `error: shard ${hash('c1')} is not provided by this node (ERR_SHARD_NOT_PROVIDED)\n`,
    )

    signals.emit('SIGTERM', 'SIGTERM')
    expect(await exit).toBe(EXIT_OK)
    expect(daemon.err()).toContain('"msg":"stopped"')
    expect(signals.listenerCount('SIGTERM')).toBe(0)

    // the daemon is gone: exit 3
    cli = io()
    expect(await runCli(['peers', ...api], cli)).toBe(EXIT_UNREACHABLE)
  })
})

describe('CLI provide output', () => {
  /** An API that answers every PUT /v1/shards/{hash} with `body`. */
  async function stubApi(body: Record<string, unknown>): Promise<{ addr: string; close(): Promise<void> }> {
    const server = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ hash: req.url?.split('/').pop(), cid: 'bafkreistub', ...body }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return {
      addr: `127.0.0.1:${port}`,
      close: () => new Promise<void>((resolve, reject) => server.close((e) => (e ? reject(e) : resolve()))),
    }
  }

  it('prints how many peers confirmed the record, and says when below the quorum', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { confirmed: 20, sentTo: 20, quorum: 15, belowQuorum: false, durationMs: 12 },
        '  record confirmed by 20 of 20 peers in 12 ms\n',
      ],
      [
        { confirmed: 3, sentTo: 19, quorum: 15, belowQuorum: true, durationMs: 40 },
        '  record confirmed by 3 of 19 peers in 40 ms\n  below the quorum: 15 confirmations needed\n',
      ],
    ]
    for (const [body, expected] of cases) {
      const api = await stubApi(body)
      try {
        const cli = io()
        expect(await runCli(['provide', hash('d1'), '--api', api.addr], cli)).toBe(EXIT_OK)
        expect(cli.out()).toBe(`provided ${hash('d1')}\n  cid: bafkreistub\n${expected}`)
      } finally {
        await api.close()
      }
    }
  })
})
