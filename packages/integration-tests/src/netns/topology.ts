/**
 * Separate hosts on one machine, made of Linux network namespaces: each host has its own
 * IPv4 address in its own /16 (so an IP-group defense sees N groups, not one loopback
 * address), and all of them share one L2 segment.
 *
 * ```
 *  root namespace (the test)        switch namespace            host namespaces
 *  nsn<pid>r<n> 10.100.R.1/32 ──── root ┐                       ┌ eth0 10.101.R.2/8  (host 0)
 *  + a /32 route per host               ├── br0 (bridge) ───────┼ eth0 10.102.R.2/8  (host 1)
 *                                  h0 … ┘                       └ …
 * ```
 *
 * The hosts carry a /8 on-link prefix, so they reach one another (and the root's address)
 * through the bridge without a router. The root namespace gets one /32 address and a /32
 * route per host, never a 10/8 route: a CI machine may use 10.x itself. `R` (the third
 * octet) is derived from the pid and moved on when an address is already in use.
 *
 * Every name carries a per-run prefix (`nsn-<pid>-<serial>-`; the root link is
 * `nsn<pid>r<serial>`), and so does its work dir in the temp dir (data dirs and logs of
 * what runs in it). {@link Topology.destroy} removes everything it made and kills the
 * processes left inside its namespaces; the same happens synchronously on process exit,
 * SIGINT and SIGTERM; {@link sweepStaleTopologies} removes what runs of dead processes
 * left behind.
 *
 * @packageDocumentation
 */

import { type ChildProcess, execFile, execFileSync, type SpawnOptions, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { NetnsCommandError, NetnsUnavailableError, NetnsUnreachableError } from './errors.js'

const execFileAsync = promisify(execFile)

/** First octets of every address: the hosts are `10.(HOST_BASE + i).R.2`, the root `10.ROOT_OCTET.R.1`. */
const ROOT_OCTET = 100
const HOST_BASE = 101
/** Hosts one topology can have (the second octet stays below 255). */
export const MAX_HOSTS = 255 - HOST_BASE
/** TCP port of the reachability probe in each host. */
const PROBE_PORT = 7
/** How long the reachability probe of one host may take. */
const PROBE_TIMEOUT_MS = 10_000

/** One host: a network namespace with one address. */
export interface NetnsHost {
  /** 0-based position in the topology. */
  readonly index: number
  /** The namespace's name (for `ip netns exec`). */
  readonly netns: string
  /** Its IPv4 address (its own /16). */
  readonly ip: string
}

/** Options of {@link Topology.create}. */
export interface TopologyOptions {
  /** How many hosts (1 to {@link MAX_HOSTS}). */
  hosts: number
  /** Check that the root namespace reaches a TCP listener in every host (default true). */
  verify?: boolean
}

/** Runs `ip <args>`; fails with {@link NetnsCommandError}. */
export async function ip(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await execFileAsync('ip', [...args], { encoding: 'utf8' })
    return stdout
  } catch (err) {
    const error = err as NodeJS.ErrnoException & { stderr?: string }
    if (error.code === 'ENOENT') {
      throw new NetnsUnavailableError('the `ip` command (iproute2) is not installed', { cause: err })
    }
    throw new NetnsCommandError(args, error.stderr ?? error.message, { cause: err })
  }
}

/** `ip <args>`, synchronously, errors ignored (cleanup at exit). */
/** What a topology made, so that it can remove exactly that. */
export interface MadeResources {
  /** Namespaces it added. */
  netns: string[]
  /** Whether it added the root's link (named by the topology). */
  rootLink: boolean
  /** Its work dir, or '' before it made one. */
  workDir: string
}

/**
 * Kills what still runs in the namespaces a topology made, deletes them, its root link
 * (`rootLink`) and its work dir; throws the first failure after trying everything.
 */
export async function removeMade(made: MadeResources, rootLink: string): Promise<void> {
  for (const netns of made.netns) killInsideSync(netns)
  const results: Array<PromiseSettledResult<unknown>> = await Promise.allSettled(
    made.netns.map((netns) => ip(['netns', 'del', netns])),
  )
  if (made.rootLink) {
    // normally gone with the switch namespace (a veth dies with its peer), perhaps a moment later
    await ip(['link', 'del', rootLink]).catch(async (err: unknown) => {
      const still = await ip(['link', 'show', rootLink]).then(
        () => true,
        () => false,
      )
      if (still) results.push({ status: 'rejected', reason: err })
    })
  }
  if (made.workDir !== '') {
    results.push(...(await Promise.allSettled([rm(made.workDir, { recursive: true, force: true })])))
  }
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed != null) throw failed.reason
}

/** {@link removeMade}, synchronously and ignoring errors (process exit). */
/**
 * Links the root namespace to a topology's switch: a veth whose root end is `rootLink`
 * (address `rootIp`) and whose other end, made as `peer`, is moved into the switch `sw`,
 * renamed `root` and enslaved to `bridge`; a /32 route to each host's address goes through
 * it. `made.rootLink` is set as soon as the link exists, so a failure past it is cleaned up.
 */
export async function linkRootToSwitch(link: {
  sw: string
  bridge: string
  rootLink: string
  peer: string
  rootIp: string
  hostIps: readonly string[]
  made: MadeResources
}): Promise<void> {
  const { sw, bridge, rootLink, peer, rootIp, made } = link
  await ip(['link', 'add', rootLink, 'type', 'veth', 'peer', 'name', peer])
  made.rootLink = true
  await ip(['link', 'set', peer, 'netns', sw])
  await ip(['-n', sw, 'link', 'set', peer, 'name', 'root'])
  await ip(['-n', sw, 'link', 'set', 'root', 'master', bridge, 'up'])
  await ip(['addr', 'add', `${rootIp}/32`, 'dev', rootLink])
  await ip(['link', 'set', rootLink, 'up'])
  for (const hostIp of link.hostIps) {
    await ip(['route', 'add', `${hostIp}/32`, 'dev', rootLink, 'src', rootIp])
  }
}

export function removeMadeSync(made: MadeResources, rootLink: string): void {
  for (const netns of made.netns) {
    killInsideSync(netns)
    ipSync(['netns', 'del', netns])
  }
  if (made.rootLink) ipSync(['link', 'del', rootLink])
  if (made.workDir !== '') rmSync(made.workDir, { recursive: true, force: true })
}

function ipSync(args: readonly string[]): string {
  try {
    return execFileSync('ip', [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  } catch {
    return ''
  }
}

/**
 * Fails with {@link NetnsUnavailableError} (a message that says why) unless this process
 * can make network namespaces: root, `ip` installed, `ip netns` working.
 */
export async function assertNetnsAvailable(): Promise<void> {
  if (process.platform !== 'linux') throw new NetnsUnavailableError(`this is ${process.platform}, not Linux`)
  if (process.getuid?.() !== 0) {
    throw new NetnsUnavailableError(`this process runs as uid ${process.getuid?.()}, not root`)
  }
  try {
    await ip(['netns', 'list'])
  } catch (err) {
    if (err instanceof NetnsUnavailableError) throw err
    throw new NetnsUnavailableError(`\`ip netns list\` failed (${(err as Error).message})`, { cause: err })
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/** Kills every process inside namespace `netns` (all of them were started there by a topology's owner). */
export function killInsideSync(netns: string): void {
  for (const pid of ipSync(['netns', 'pids', netns]).split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL')
    } catch {
      // gone already
    }
  }
}

/**
 * The reaper of a topology's resources: a detached shell (its own session, so a signal to
 * the test's process group does not reach it) that waits for `owner` to die, then kills
 * what runs in the namespaces named `prefix*`, deletes them, `rootLink` and `workDir`.
 * It covers an owner killed with SIGKILL, which cannot clean up itself; a topology that is
 * destroyed kills its reaper. Ends at once when `ip` or `sh` is missing.
 */
export function spawnReaper(owner: number, prefix: string, rootLink: string, workDir: string): ChildProcess {
  const script = `
while kill -0 "$0" 2>/dev/null; do sleep 1; done
for ns in $(ip netns list | awk '{print $1}' | grep "^$1"); do
  for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  ip netns del "$ns" 2>/dev/null
done
ip link del "$2" 2>/dev/null
[ -n "$3" ] && rm -rf "$3"
exit 0`
  const child = spawn('sh', ['-c', script, String(owner), prefix, rootLink, workDir], {
    detached: true,
    stdio: 'ignore',
  })
  child.on('error', () => undefined)
  child.unref()
  return child
}

const NETNS_NAME = /^nsn-(\d+)-\d+-/
const ROOT_LINK_NAME = /^nsn(\d+)r\d+$/

/**
 * Removes the namespaces, root links and work dirs that topologies of processes no longer
 * alive left behind (a run killed with SIGKILL cannot clean up), and kills what still runs
 * in those namespaces. Returns what it removed.
 */
export function sweepStaleTopologies(): string[] {
  const removed: string[] = []
  for (const name of readdirSync(tmpdir())) {
    const match = NETNS_NAME.exec(name)
    if (match == null || alive(Number(match[1]))) continue
    rmSync(join(tmpdir(), name), { recursive: true, force: true })
    removed.push(join(tmpdir(), name))
  }
  for (const line of ipSync(['netns', 'list']).split('\n')) {
    const name = line.split(' ')[0] ?? ''
    const match = NETNS_NAME.exec(name)
    if (match == null || alive(Number(match[1]))) continue
    killInsideSync(name)
    ipSync(['netns', 'del', name])
    removed.push(name)
  }
  for (const line of ipSync(['-o', 'link', 'show']).split('\n')) {
    const name = /^\d+:\s+([^:@\s]+)/.exec(line)?.[1] ?? ''
    const match = ROOT_LINK_NAME.exec(name)
    if (match == null || alive(Number(match[1]))) continue
    ipSync(['link', 'del', name])
    removed.push(name)
  }
  return removed
}

/** Topologies not yet destroyed: removed synchronously if the process exits first. */
const live = new Set<Topology>()
let serial = 0
let exitHooked = false

function destroyAllSync(): void {
  for (const topology of live) topology.destroySync()
}

function onSignal(signal: NodeJS.Signals): void {
  destroyAllSync()
  process.removeListener(signal, onSignal)
  // nobody else handles it: die of the signal, as without this handler
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function hookExit(): void {
  if (exitHooked) return
  exitHooked = true
  process.on('exit', destroyAllSync)
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

/** Is `address` already used by an address or a route of the root namespace (`ip -4 -o addr show`, `ip -4 route show table all`)? */
export function inUse(address: string, addrs: string, routes: string): boolean {
  const word = new RegExp(`(^|\\s)${address.replaceAll('.', '\\.')}(/|\\s|$)`, 'm')
  return word.test(addrs) || word.test(routes)
}

/** A switch namespace with a bridge, N host namespaces on it, and a link from the root namespace. */
export class Topology {
  /** Prefix of every namespace name of this topology. */
  readonly prefix: string
  /** The root namespace's address on the link (the source of the test's connections). */
  readonly rootIp: string
  readonly hosts: readonly NetnsHost[]
  /** The switch namespace. */
  readonly switchNetns: string
  /** The link of the root namespace into the switch. */
  readonly rootLink: string
  private readonly made: MadeResources = { netns: [], rootLink: false, workDir: '' }
  /** Cleans up if this process dies without doing so (SIGKILL): see {@link spawnReaper}. */
  private reaper?: ChildProcess
  private destroyed = false

  private constructor(id: number, third: number, hosts: number) {
    this.prefix = `nsn-${process.pid}-${id}-`
    this.switchNetns = `${this.prefix}sw`
    this.rootLink = `nsn${process.pid}r${id}`
    this.rootIp = `10.${ROOT_OCTET}.${third}.1`
    this.hosts = Array.from({ length: hosts }, (_, index) => ({
      index,
      netns: `${this.prefix}h${index}`,
      ip: `10.${HOST_BASE + index}.${third}.2`,
    }))
  }

  /**
   * Builds the topology (and checks it, unless `verify: false`). On any failure it removes
   * what it made before throwing.
   *
   * @throws {NetnsUnavailableError} when namespaces cannot be made here
   * @throws {NetnsCommandError} when an `ip` command fails
   * @throws {NetnsUnreachableError} when the check cannot reach a host
   */
  static async create(options: TopologyOptions): Promise<Topology> {
    const { hosts, verify = true } = options
    if (!(Number.isInteger(hosts) && hosts >= 1 && hosts <= MAX_HOSTS)) {
      throw new RangeError(`hosts must be an integer from 1 to ${MAX_HOSTS}, got ${hosts}`)
    }
    await assertNetnsAvailable()
    sweepStaleTopologies()
    const [addrs, routes] = await Promise.all([
      ip(['-4', '-o', 'addr', 'show']),
      ip(['-4', 'route', 'show', 'table', 'all']),
    ])
    const id = serial++
    let topology: Topology | undefined
    for (let attempt = 0; attempt < 250 && topology == null; attempt++) {
      const candidate = new Topology(id, 1 + ((process.pid + id + attempt) % 250), hosts)
      const planned = [candidate.rootIp, ...candidate.hosts.map((h) => h.ip)]
      if (!planned.some((a) => inUse(a, addrs, routes))) topology = candidate
    }
    if (topology == null) {
      throw new NetnsUnavailableError('every 10.x.R.0 block this topology could use is in use here')
    }
    hookExit()
    live.add(topology)
    topology.made.workDir = mkdtempSync(join(tmpdir(), topology.prefix))
    topology.reaper = spawnReaper(process.pid, topology.prefix, topology.rootLink, topology.made.workDir)
    try {
      await topology.build()
      if (verify) await topology.verify()
    } catch (err) {
      await topology.destroy()
      throw err
    }
    return topology
  }

  /** A temp dir for what runs in the topology (data dirs, logs), removed with it. */
  get workDir(): string {
    return this.made.workDir
  }

  private async addNetns(name: string): Promise<void> {
    await ip(['netns', 'add', name])
    this.made.netns.push(name)
    await ip(['-n', name, 'link', 'set', 'lo', 'up'])
  }

  private async build(): Promise<void> {
    const sw = this.switchNetns
    await this.addNetns(sw)
    await ip(['-n', sw, 'link', 'add', 'br0', 'type', 'bridge'])
    await ip(['-n', sw, 'link', 'set', 'br0', 'up'])
    await Promise.all(
      this.hosts.map(async (host) => {
        await this.addNetns(host.netns)
        const port = `h${host.index}`
        await ip(['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.netns])
        await ip(['-n', sw, 'link', 'set', port, 'master', 'br0', 'up'])
        await ip(['-n', host.netns, 'addr', 'add', `${host.ip}/8`, 'dev', 'eth0'])
        await ip(['-n', host.netns, 'link', 'set', 'eth0', 'up'])
      }),
    )
    // the root's end is made here and its peer moved into the switch
    const peer = `nsn${process.pid}s${this.rootLink.slice(this.rootLink.lastIndexOf('r') + 1)}`
    await linkRootToSwitch({
      sw,
      bridge: 'br0',
      rootLink: this.rootLink,
      peer,
      rootIp: this.rootIp,
      hostIps: this.hosts.map((host) => host.ip),
      made: this.made,
    })
  }

  /** Opens a TCP connection from the root namespace to a short-lived listener in every host. */
  private async verify(): Promise<void> {
    const script = `const s=require('node:net').createServer(c=>{c.end('ok');s.close()});s.listen(${PROBE_PORT},process.argv[1],()=>console.log('listening'));setTimeout(()=>process.exit(2),${PROBE_TIMEOUT_MS}).unref()`
    await Promise.all(
      this.hosts.map(async (host) => {
        const child = this.spawn(host, process.execPath, ['-e', script, host.ip], {
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let output = ''
        child.stdout?.setEncoding('utf8').on('data', (c: string) => {
          output += c
        })
        child.stderr?.setEncoding('utf8').on('data', (c: string) => {
          output += c
        })
        try {
          await new Promise<void>((resolve, reject) => {
            const timer = setTimeout(
              () => reject(new Error(`no listener after ${PROBE_TIMEOUT_MS} ms`)),
              PROBE_TIMEOUT_MS,
            )
            child.stdout?.on('data', () => {
              if (output.includes('listening')) {
                clearTimeout(timer)
                resolve()
              }
            })
            child.once('exit', (code) => {
              clearTimeout(timer)
              reject(new Error(`the probe listener exited (${code}): ${output.trim()}`))
            })
          })
          const answer = await new Promise<string>((resolve, reject) => {
            const socket = connect({ host: host.ip, port: PROBE_PORT, timeout: PROBE_TIMEOUT_MS })
            let data = ''
            socket.setEncoding('utf8')
            socket.on('data', (c: string) => {
              data += c
            })
            socket.on('end', () => resolve(data))
            socket.on('timeout', () => socket.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)))
            socket.on('error', reject)
          })
          if (answer !== 'ok') throw new Error(`the probe answered ${JSON.stringify(answer)}`)
        } catch (err) {
          throw new NetnsUnreachableError(`${host.netns} (${host.ip})`, (err as Error).message, {
            cause: err,
          })
        } finally {
          child.kill('SIGKILL')
        }
      }),
    )
  }

  /**
   * Starts `command` inside `host`'s namespace (`ip netns exec`, which execs: the child's
   * pid is the command's own, and signals reach it).
   */
  spawn(host: NetnsHost, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', host.netns, command, ...args], options)
  }

  /** Kills what still runs in its namespaces, deletes them, the root link and the work dir. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    try {
      await removeMade(this.made, this.rootLink)
    } finally {
      this.reaper?.kill('SIGKILL')
    }
  }

  /** {@link destroy}, synchronously and ignoring errors (process exit). */
  destroySync(): void {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    removeMadeSync(this.made, this.rootLink)
    this.reaper?.kill('SIGKILL')
  }
}
