/**
 * An `nsn-node` daemon inside a netns host: started with `ip netns exec`, logging to a
 * file, reached over HTTP at the host's address (the root namespace has a /32 route to
 * it), stopped with SIGTERM and killed if it does not exit.
 *
 * @packageDocumentation
 */

import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { open, readFile } from 'node:fs/promises'
import { BIN, cleanEnv, waitFor } from '@nsn/node/testing'
import type { NetnsHost, Topology } from './topology.js'

/** What starts a process inside a host: a {@link Topology} or a `NatTopology`. */
export type HostSpawner = Pick<Topology, 'spawn'>

/** How a {@link NetnsDaemon} listens inside its host. */
export interface NetnsDaemonInit {
  /** Its data dir (an `identity.key` there fixes its peer id). */
  dataDir: string
  /** The file its stdout and stderr go to. */
  logFile: string
  /** libp2p TCP port on the host's address. Default 4001. */
  p2pPort?: number
  /** HTTP API port on the host's address. Default 5080. */
  apiPort?: number
  /** Metrics port on the host's address. Default 9100. */
  metricsPort?: number
  /**
   * libp2p listen multiaddr. Default `/ip4/<host address>/tcp/<p2pPort>` (a NAT topology
   * listens on its hosts' internet addresses, or `/ip4/0.0.0.0/...`).
   */
  listen?: string
  /** More environment variables (e.g. `DEBUG` for libp2p's debug output in the log file). */
  env?: Record<string, string>
  /** More `nsn-node start` flags (`--bootstrap`, `--profile`...). */
  args?: string[]
}

/** The answer of one API call. */
export interface ApiAnswer<T = unknown> {
  status: number
  body: T
}

/** A daemon in a namespace. */
export class NetnsDaemon {
  readonly host: NetnsHost
  readonly logFile: string
  /** `host:port` of its HTTP API. */
  readonly api: string
  /**
   * Its API bearer token (an API on a host address needs one), given as `NSN_API_TOKEN`;
   * {@link call} sends it, and a client verb takes it the same way.
   */
  readonly token = randomBytes(16).toString('hex')
  /** `host:port` of its `/metrics`. */
  readonly metrics: string
  /** Its libp2p address (without `/p2p/`). */
  readonly p2pAddr: string
  readonly child: ChildProcess
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  private exit?: { code: number | null; signal: NodeJS.Signals | null }

  private constructor(topology: HostSpawner, host: NetnsHost, init: NetnsDaemonInit, logFd: number) {
    this.host = host
    this.logFile = init.logFile
    this.api = `${host.ip}:${init.apiPort ?? 5080}`
    this.metrics = `${host.ip}:${init.metricsPort ?? 9100}`
    this.p2pAddr = `/ip4/${host.ip}/tcp/${init.p2pPort ?? 4001}`
    const args = [
      BIN,
      'start',
      '--data-dir',
      init.dataDir,
      '--listen',
      init.listen ?? this.p2pAddr,
      '--api',
      this.api,
      '--metrics',
      this.metrics,
      '--log-json',
      ...(init.args ?? []),
    ]
    this.child = topology.spawn(host, process.execPath, args, {
      env: { ...cleanEnv({ NSN_API_TOKEN: this.token }), ...init.env },
      stdio: ['ignore', logFd, logFd],
    })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
      })
    })
  }

  /** Starts a daemon in `host` (it answers once {@link healthy} resolves). */
  static async start(topology: HostSpawner, host: NetnsHost, init: NetnsDaemonInit): Promise<NetnsDaemon> {
    const log = await open(init.logFile, 'a')
    try {
      return new NetnsDaemon(topology, host, init, log.fd)
    } finally {
      await log.close() // the child has its own copy
    }
  }

  /** One JSON API call (or the text of `/metrics` under `text`). */
  async call<T = unknown>(
    method: string,
    path: string,
    { timeoutMs = 30_000, address = this.api } = {},
  ): Promise<ApiAnswer<T>> {
    const res = await fetch(`http://${address}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}` },
      signal: AbortSignal.timeout(timeoutMs),
    })
    const text = await res.text()
    let body: unknown = text
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      // not JSON: the text
    }
    return { status: res.status, body: body as T }
  }

  /** The text of its `/metrics`. */
  async metricsText(): Promise<string> {
    const { status, body } = await this.call<string>('GET', '/metrics', { address: this.metrics })
    if (status !== 200) throw new Error(`GET ${this.metrics}/metrics answered ${status}`)
    return String(body)
  }

  /** Resolves once `/healthz` answers 200; fails when the daemon exits first or past `timeoutMs`. */
  async healthy(timeoutMs: number): Promise<void> {
    await waitFor(
      async () => {
        if (this.exit != null) {
          throw new Error(
            `daemon in ${this.host.netns} exited (${JSON.stringify(this.exit)}) before it was healthy; log:\n${await this.tail()}`,
          )
        }
        return this.call('GET', '/healthz', { timeoutMs: 2_000 }).then(
          (r) => r.status === 200,
          () => false,
        )
      },
      { timeoutMs, pollMs: 100, what: `daemon ${this.api} healthy` },
    )
  }

  /** The last `lines` lines of its log. */
  async tail(lines = 30): Promise<string> {
    const text = await readFile(this.logFile, 'utf8').catch((err: unknown) => `(no log: ${String(err)})`)
    return text.trimEnd().split('\n').slice(-lines).join('\n')
  }

  /** SIGTERM, then SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 5_000): Promise<void> {
    if (this.exit != null) return
    this.child.kill('SIGTERM')
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    await this.exited.finally(() => clearTimeout(timer))
  }
}
