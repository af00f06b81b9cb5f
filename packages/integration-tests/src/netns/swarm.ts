/**
 * The Sybil swarm (`sybil-swarm.ts`) as a child process inside a netns host: started with
 * the test's own Node (24, which strips the script's types), its JSON lines read from
 * stdout, its stderr in a log file.
 *
 * @packageDocumentation
 */

import type { ChildProcess } from 'node:child_process'
import { open, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from '@nsn/node/testing'
import type { SwarmConfig, SwarmEvent } from './sybil-swarm.js'
import type { NetnsHost, Topology } from './topology.js'

/** The attacker script. */
export const SYBIL_SWARM_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'sybil-swarm.ts')

export type { SwarmConfig, SwarmEvent, SybilInfo } from './sybil-swarm.js'

/** A running swarm. */
export class SybilSwarm {
  readonly child: ChildProcess
  readonly logFile: string
  /** The lines it wrote on stdout, in order. */
  readonly events: SwarmEvent[] = []
  private exit?: { code: number | null; signal: NodeJS.Signals | null }
  private readonly exited: Promise<void>
  private readonly changes = new EventTarget()

  private constructor(
    topology: Topology,
    host: NetnsHost,
    config: SwarmConfig,
    logFd: number,
    logFile: string,
  ) {
    this.logFile = logFile
    this.child = topology.spawn(host, process.execPath, [SYBIL_SWARM_SCRIPT, JSON.stringify(config)], {
      stdio: ['ignore', 'pipe', logFd],
    })
    let buffer = ''
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk
      for (let nl = buffer.indexOf('\n'); nl >= 0; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        try {
          this.events.push(JSON.parse(line) as SwarmEvent)
        } catch {
          // not an event
        }
      }
      this.changes.dispatchEvent(new Event('change'))
    })
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal }
        this.changes.dispatchEvent(new Event('change'))
        resolve()
      })
    })
  }

  /** Starts the swarm in `host` with `config` (its `ip` should be the host's). */
  static async start(
    topology: Topology,
    host: NetnsHost,
    config: SwarmConfig,
    logFile: string,
  ): Promise<SybilSwarm> {
    const log = await open(logFile, 'a')
    try {
      return new SybilSwarm(topology, host, config, log.fd, logFile)
    } finally {
      await log.close()
    }
  }

  /** Resolves with its first `name` line; fails if it exits first or past `timeoutMs`, with its log. */
  async next<N extends SwarmEvent['event']>(
    name: N,
    timeoutMs: number,
  ): Promise<Extract<SwarmEvent, { event: N }>> {
    let found: SwarmEvent | undefined
    await waitFor(
      async () => {
        found = this.events.find((e) => e.event === name)
        if (found == null && this.exit != null) {
          throw new Error(
            `the Sybil swarm exited (${JSON.stringify(this.exit)}) before "${name}"; log:\n${await this.tail()}`,
          )
        }
        return found != null
      },
      {
        on: { target: this.changes, events: ['change'] },
        timeoutMs,
        what: `the Sybil swarm's "${name}" line`,
      },
    )
    return found as Extract<SwarmEvent, { event: N }>
  }

  /** The last `lines` lines of its stderr. */
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
