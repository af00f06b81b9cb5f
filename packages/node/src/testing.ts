/**
 * Test helpers for NSN daemons, shared with other packages' tests as
 * `@nsn/node/testing`: temp dirs, the built bin as a child process (daemons and CLI
 * calls), JSON log lines, bounded waits that fail the test.
 *
 * @packageDocumentation
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WaitTimeoutError, waitFor } from '@nsn/core/testing'

/** This package's directory (from `src/` in tests and from `dist/` once built). */
export const PKG = join(dirname(fileURLToPath(import.meta.url)), '..')
/** The built `nsn-node` bin. */
export const BIN = join(PKG, 'dist', 'bin.js')

/** A shard hash made of one repeated byte. */
export const hash = (byte: string): string => byte.repeat(32)

/** Daemon flags every test network wants on loopback: the local profile, free ports, JSON logs. */
export const LOOPBACK_FLAGS = [
  '--profile',
  'local',
  '--api',
  '127.0.0.1:0',
  '--metrics',
  '127.0.0.1:0',
  '--log-json',
]

/** The environment without NSN_* and DEBUG variables of the outer shell. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value != null && !key.startsWith('NSN_') && key !== 'DEBUG') env[key] = value
  }
  return { ...env, ...extra }
}

/** Temp dirs removed by {@link TempDirs.cleanup}. */
export class TempDirs {
  private readonly dirs: string[] = []

  async make(prefix = 'nsn-node-test-'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix))
    this.dirs.push(dir)
    return dir
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
  }
}

/**
 * The one bounded wait of the tests, `@nsn/core/testing`'s: it re-checks on events where
 * they exist (a node's routing table, its connections) and polls otherwise (a daemon
 * behind HTTP).
 */
export { type WaitEvents, type WaitForOptions, waitFor } from '@nsn/core/testing'

/** @deprecated {@link waitFor} under its former name. */
export const waitUntil: typeof waitFor = waitFor

/** A JSON log line of a daemon. */
export type LogRecord = Record<string, unknown> & { level: string; msg: string }

/** What the `ready` line carries. */
export interface Ready {
  peerId: string
  addrs: string[]
  api: string
  metrics: string | null
}

/** How a child process ended. */
export interface Exit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** A daemon (`nsn-node start`) run as a child process with JSON logs. */
export class Daemon {
  readonly child: ChildProcess
  readonly logs: LogRecord[] = []
  /** stderr lines that are not JSON. */
  readonly otherLines: string[] = []
  readonly exited: Promise<Exit>
  private exit?: Exit
  /** Dispatches `log` on each chunk of stderr and `exit` when the process ends. */
  private readonly events = new EventTarget()

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [BIN, 'start', ...args], {
      env: cleanEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let buffer = ''
    this.child.stderr?.setEncoding('utf8')
    this.child.stderr?.on('data', (chunk: string) => {
      buffer += chunk
      let newline = buffer.indexOf('\n')
      while (newline >= 0) {
        const line = buffer.slice(0, newline)
        buffer = buffer.slice(newline + 1)
        try {
          this.logs.push(JSON.parse(line) as LogRecord)
        } catch {
          this.otherLines.push(line)
        }
        newline = buffer.indexOf('\n')
      }
      this.events.dispatchEvent(new Event('log'))
    })
    this.child.stdout?.resume()
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        this.events.dispatchEvent(new Event('exit'))
        resolve(this.exit)
      })
    })
  }

  /**
   * Resolves with the first log record matching `predicate` (past or future), re-checked
   * on each line the daemon writes; fails when the daemon exits first or past `timeoutMs`,
   * with its stderr.
   */
  async waitForLog(
    predicate: (record: LogRecord) => boolean,
    { timeoutMs = 15_000, what = 'a log line' } = {},
  ): Promise<LogRecord> {
    let found: LogRecord | undefined
    try {
      await waitFor(
        () => {
          found = this.logs.find(predicate)
          if (found == null && this.exit != null) {
            throw new Error(
              `daemon exited (${JSON.stringify(this.exit)}) before ${what}; stderr:\n${this.stderrText()}`,
            )
          }
          return found != null
        },
        { on: { target: this.events, events: ['log', 'exit'] }, timeoutMs, what },
      )
    } catch (err) {
      if (err instanceof WaitTimeoutError) throw new Error(`${err.message}; stderr:\n${this.stderrText()}`)
      throw err
    }
    return found as LogRecord
  }

  /** Resolves with the `ready` line. */
  async ready(timeoutMs = 15_000): Promise<Ready> {
    const record = await this.waitForLog((r) => r.msg === 'ready', { timeoutMs, what: 'the ready line' })
    return record as unknown as Ready
  }

  stderrText(): string {
    return [...this.logs.map((r) => JSON.stringify(r)), ...this.otherLines].join('\n')
  }

  /** Sends `signal` and resolves with the exit and how long it took; fails past `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<Exit & { ms: number }> {
    const start = Date.now()
    if (this.exit == null) this.child.kill(signal)
    let timer: ReturnType<typeof setTimeout> | undefined
    const exit = await Promise.race([
      this.exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`daemon did not exit within ${timeoutMs} ms of ${signal}`)),
          timeoutMs,
        )
      }),
    ]).finally(() => clearTimeout(timer))
    return { ...exit, ms: Date.now() - start }
  }

  /** Kills it if it still runs (cleanup). */
  async kill(): Promise<void> {
    if (this.exit == null) {
      this.child.kill('SIGKILL')
      await this.exited
    }
  }
}

/** Runs the bin to completion. */
export function runBin(
  args: string[],
  { env = {}, timeoutMs = 20_000 }: { env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Exit & { stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: cleanEnv(env),
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
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`nsn-node ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}`))
    }, timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** A port that nothing listens on (bound then released). */
export async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** JSON of an API call. */
export async function api(
  address: string,
  method: string,
  path: string,
  init: { signal?: AbortSignal } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`http://${address}${path}`, { method, signal: init.signal })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
}
