/**
 * An internet on one machine, with a NAT: public hosts with public-looking addresses, a
 * router namespace that masquerades (nftables) for one host behind it, and a management
 * network that the test (the root namespace) reaches every host's API through.
 *
 * ```
 *                         switch namespace: br0, "the internet"
 *  public host i  eth0 (11+i).1.0.2 ─┤                       ├─ eth0 (11+P).1.0.2  router
 *                                                                 eth1 192.168.77.1/24
 *                                                                   │ nft masquerade,
 *                                                                   │ no new inbound
 *                                                   NAT'd host  eth0 192.168.77.2/24
 *  root namespace  nsn<pid>r<n> 10.99.R.1/32 ── mg0 (bridge) ── m0 10.99.R.(10+i)/32 on every host
 * ```
 *
 * - Public addresses: `11.1.0.2`, `12.1.0.2`, ... (one first octet each: distinct IP groups
 *   and distinct AutoNAT network segments, which AutoNAT keys on the first octet). libp2p's
 *   private-address check treats them as public (RFC 5737/1918/6598 ranges would not be),
 *   and they exist only inside this topology's namespaces: the root namespace has no route
 *   to them, so they never clash with the machine's own networks nor with another run.
 *   Every host of the internet has an on-link default route on `eth0`.
 * - The NAT'd host reaches the internet only through the router: `masquerade` on the
 *   router's `eth0`, and a `forward` chain that drops every new connection from outside
 *   (a home router's NAT). Nothing maps a port to it.
 * - Management: each host's `m0` has a /32 in `10.99.R.0/24` and a /32 route to the root's
 *   address only, so hosts cannot reach each other through it; the root has a /32 route
 *   per host, never a 10/8 route. The eclipse topology uses `10.100+.x.x`.
 *
 * Names carry the per-run prefix `nsn-<pid>-<serial>-` (and the root link
 * `nsn<pid>r<1000+serial>`), so `sweepStaleTopologies` clears what a killed run left;
 * {@link NatTopology.destroy} removes everything, and so does process exit, SIGINT or
 * SIGTERM (synchronously).
 *
 * @packageDocumentation
 */

import { type ChildProcess, execFile, type SpawnOptions, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { NetnsCommandError, NetnsUnavailableError } from './errors.js'
import {
  assertNetnsAvailable,
  inUse,
  ip,
  linkRootToSwitch,
  type MadeResources,
  type NetnsHost,
  removeMade,
  removeMadeSync,
  spawnReaper,
  sweepStaleTopologies,
} from './topology.js'

const execFileAsync = promisify(execFile)

/** Second octet of the management network: `10.99.R.x`. */
const MGMT_OCTET = 99
/** First octet of public host 0; host i gets `FIRST_PUBLIC_OCTET + i`. */
const FIRST_PUBLIC_OCTET = 11
/** The NAT'd LAN (inside the router and the NAT'd host only). */
const LAN = { router: '192.168.77.1', host: '192.168.77.2', prefix: 24 }
/** Serial numbers of NAT topologies (root link names `nsn<pid>r<1000+n>`, apart from {@link Topology}'s). */
const SERIAL_BASE = 1000

/** A host of a {@link NatTopology}: `ip` is its management address (APIs listen there). */
export interface NatHost extends NetnsHost {
  /** The address other hosts reach it at: its public address, or the router's for the NAT'd host. */
  readonly internetIp: string
  /** Its own address on its network (public, or the LAN's). */
  readonly ownIp: string
}

/** Options of {@link NatTopology.create}. */
export interface NatTopologyOptions {
  /** Hosts on the internet (1 to 40). */
  publicHosts: number
  /**
   * Run a UPnP IGD on the router: `miniupnpd` (Debian package miniupnpd-nftables) on
   * its LAN side, adding port mappings to the router's nftables chains. Default off.
   */
  upnp?: boolean
}

/** Where Debian's miniupnpd-nftables installs the daemon. */
const MINIUPNPD = '/usr/sbin/miniupnpd'

/** Runs `nft -f <file>` inside `netns`. */
async function nft(netns: string, rules: string, dir: string): Promise<void> {
  const file = join(dir, `nft-${netns}-${Date.now()}-${Math.random().toString(36).slice(2)}.nft`)
  await writeFile(file, rules)
  const args = ['netns', 'exec', netns, 'nft', '-f', file]
  try {
    await execFileAsync('ip', args, { encoding: 'utf8' })
  } catch (err) {
    const error = err as NodeJS.ErrnoException & { stderr?: string }
    if (/nft.*(not found|No such file)/.test(error.stderr ?? '')) {
      throw new NetnsUnavailableError('`nft` (Debian package nftables) is not installed', { cause: err })
    }
    throw new NetnsCommandError(args, error.stderr ?? error.message, { cause: err })
  } finally {
    await rm(file, { force: true })
  }
}

/** Fails unless Debian's miniupnpd(-nftables) is installed. */
async function assertMiniupnpd(): Promise<void> {
  try {
    await execFileAsync(MINIUPNPD, ['--version'], { encoding: 'utf8' })
  } catch (err) {
    throw new NetnsUnavailableError(
      `${MINIUPNPD} (Debian package miniupnpd-nftables) is not installed or does not run`,
      { cause: err },
    )
  }
}

/** Topologies not yet destroyed: removed synchronously if the process exits first. */
const live = new Set<NatTopology>()
let serial = 0
let exitHooked = false

function onSignal(signal: NodeJS.Signals): void {
  for (const topology of live) topology.destroySync()
  process.removeListener(signal, onSignal)
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
}

function hookExit(): void {
  if (exitHooked) return
  exitHooked = true
  process.on('exit', () => {
    for (const topology of live) topology.destroySync()
  })
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

/** Public hosts, a masquerading router, one host behind it, and a management network. */
export class NatTopology {
  readonly prefix: string
  readonly switchNetns: string
  readonly rootLink: string
  /** The root namespace's management address. */
  readonly rootIp: string
  /** The hosts with public addresses. */
  readonly publicHosts: readonly NatHost[]
  /** The host behind the NAT. */
  readonly natHost: NatHost
  /** The router's namespace and public address. */
  readonly router: { readonly netns: string; readonly publicIp: string }
  private readonly made: MadeResources = { netns: [], rootLink: false, workDir: '' }
  /** Cleans up if this process dies without doing so (SIGKILL): see {@link spawnReaper}. */
  private reaper?: ChildProcess
  private readonly partitioned = new Set<string>()
  private destroyed = false
  private gateway?: ChildProcess
  private gatewayLog = ''

  private constructor(id: number, third: number, publicHosts: number) {
    this.prefix = `nsn-${process.pid}-${id}-`
    this.switchNetns = `${this.prefix}inet`
    this.rootLink = `nsn${process.pid}r${SERIAL_BASE + id}`
    this.rootIp = `10.${MGMT_OCTET}.${third}.1`
    const mgmt = (i: number) => `10.${MGMT_OCTET}.${third}.${10 + i}`
    this.publicHosts = Array.from({ length: publicHosts }, (_, index) => {
      const pub = `${FIRST_PUBLIC_OCTET + index}.1.0.2`
      return { index, netns: `${this.prefix}p${index}`, ip: mgmt(index), internetIp: pub, ownIp: pub }
    })
    this.router = { netns: `${this.prefix}nat`, publicIp: `${FIRST_PUBLIC_OCTET + publicHosts}.1.0.2` }
    this.natHost = {
      index: publicHosts,
      netns: `${this.prefix}lan0`,
      ip: mgmt(publicHosts),
      internetIp: this.router.publicIp,
      ownIp: LAN.host,
    }
  }

  /** Every host: the public ones, then the NAT'd one. */
  get hosts(): readonly NatHost[] {
    return [...this.publicHosts, this.natHost]
  }

  /** A temp dir for what runs in the topology (data dirs, logs), removed with it. */
  get workDir(): string {
    return this.made.workDir
  }

  /**
   * Builds the topology; on any failure it removes what it made before throwing.
   *
   * @throws {NetnsUnavailableError} when namespaces or nftables are not available here
   * @throws {NetnsCommandError} when an `ip` or `nft` command fails
   */
  static async create(options: NatTopologyOptions): Promise<NatTopology> {
    const { publicHosts } = options
    if (!(Number.isInteger(publicHosts) && publicHosts >= 1 && publicHosts <= 40)) {
      throw new RangeError(`publicHosts must be an integer from 1 to 40, got ${publicHosts}`)
    }
    await assertNetnsAvailable()
    if (options.upnp === true) await assertMiniupnpd()
    sweepStaleTopologies()
    const [addrs, routes] = await Promise.all([
      ip(['-4', '-o', 'addr', 'show']),
      ip(['-4', 'route', 'show', 'table', 'all']),
    ])
    const id = serial++
    let topology: NatTopology | undefined
    for (let attempt = 0; attempt < 250 && topology == null; attempt++) {
      const candidate = new NatTopology(id, 1 + ((process.pid + id + attempt) % 250), publicHosts)
      const planned = [candidate.rootIp, ...candidate.hosts.map((h) => h.ip)]
      if (!planned.some((a) => inUse(a, addrs, routes))) topology = candidate
    }
    if (topology == null) {
      throw new NetnsUnavailableError(
        `every 10.${MGMT_OCTET}.R.0 block this topology could use is in use here`,
      )
    }
    hookExit()
    live.add(topology)
    topology.made.workDir = mkdtempSync(join(tmpdir(), topology.prefix))
    topology.reaper = spawnReaper(process.pid, topology.prefix, topology.rootLink, topology.made.workDir)
    try {
      await topology.build()
      if (options.upnp === true) await topology.startGateway()
    } catch (err) {
      await topology.destroy()
      throw err
    }
    return topology
  }

  private async addNetns(name: string): Promise<void> {
    await ip(['netns', 'add', name])
    this.made.netns.push(name)
    await ip(['-n', name, 'link', 'set', 'lo', 'up'])
  }

  /** A veth from the switch's bridge `bridge` (port `port`) to `dev` in `netns`. */
  private async plug(bridge: string, port: string, netns: string, dev: string): Promise<void> {
    const sw = this.switchNetns
    await ip(['-n', sw, 'link', 'add', port, 'type', 'veth', 'peer', 'name', dev, 'netns', netns])
    await ip(['-n', sw, 'link', 'set', port, 'master', bridge, 'up'])
    await ip(['-n', netns, 'link', 'set', dev, 'up'])
  }

  /** `m0`: the host's management address, with a route to the root's address only. */
  private async plugManagement(host: NatHost, port: string): Promise<void> {
    await this.plug('mg0', port, host.netns, 'm0')
    await ip(['-n', host.netns, 'addr', 'add', `${host.ip}/32`, 'dev', 'm0'])
    await ip(['-n', host.netns, 'route', 'add', `${this.rootIp}/32`, 'dev', 'm0'])
  }

  private async build(): Promise<void> {
    const sw = this.switchNetns
    await this.addNetns(sw)
    for (const bridge of ['br0', 'mg0']) {
      await ip(['-n', sw, 'link', 'add', bridge, 'type', 'bridge'])
      await ip(['-n', sw, 'link', 'set', bridge, 'up'])
    }
    await Promise.all(
      this.publicHosts.map(async (host) => {
        await this.addNetns(host.netns)
        await this.plug('br0', `p${host.index}`, host.netns, 'eth0')
        await ip(['-n', host.netns, 'addr', 'add', `${host.ownIp}/32`, 'dev', 'eth0'])
        await ip(['-n', host.netns, 'route', 'add', 'default', 'dev', 'eth0'])
        await this.plugManagement(host, `m${host.index}`)
      }),
    )

    // the router: public side on the internet, LAN side to the NAT'd host
    const router = this.router.netns
    const lan = this.natHost.netns
    await this.addNetns(router)
    await this.addNetns(lan)
    await this.plug('br0', 'nat', router, 'eth0')
    await ip(['-n', router, 'addr', 'add', `${this.router.publicIp}/32`, 'dev', 'eth0'])
    await ip(['-n', router, 'route', 'add', 'default', 'dev', 'eth0'])
    await ip(['-n', router, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', lan])
    await ip(['-n', router, 'addr', 'add', `${LAN.router}/${LAN.prefix}`, 'dev', 'eth1'])
    await ip(['-n', router, 'link', 'set', 'eth1', 'up'])
    await ip(['-n', lan, 'addr', 'add', `${LAN.host}/${LAN.prefix}`, 'dev', 'eth0'])
    await ip(['-n', lan, 'link', 'set', 'eth0', 'up'])
    await ip(['-n', lan, 'route', 'add', 'default', 'via', LAN.router])
    await this.plugManagement(this.natHost, `m${this.natHost.index}`)
    await execFileAsync('ip', ['netns', 'exec', router, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'])
    // one table for the NAT and for miniupnpd's chains (empty unless a UPnP gateway runs):
    // the forward chain drops new inbound connections except those a mapping lets in
    await nft(
      router,
      `table inet nsn_nat {
  chain miniupnpd {
  }
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    iifname "eth0" jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "eth0" jump postrouting_miniupnpd
    oifname "eth0" masquerade
  }
  chain forward {
    type filter hook forward priority filter; policy drop;
    ct state established,related accept
    iifname "eth0" oifname "eth1" jump miniupnpd
    iifname "eth1" oifname "eth0" accept
  }
}
`,
      this.made.workDir,
    )

    // the root's management link: its end made here, its peer moved into the switch
    const peer = `nsn${process.pid}s${SERIAL_BASE + Number(this.prefix.split('-')[2])}`
    await linkRootToSwitch({
      sw,
      bridge: 'mg0',
      rootLink: this.rootLink,
      peer,
      rootIp: this.rootIp,
      hostIps: this.hosts.map((host) => host.ip),
      made: this.made,
    })
  }

  /**
   * Starts miniupnpd in the router's namespace: UPnP IGD (no NAT-PMP) on the LAN side,
   * mappings for LAN hosts to ports 1024-65535 only, into `nsn_nat`'s chains. Its log is
   * {@link gatewayOutput}; it dies with the namespace.
   */
  private async startGateway(): Promise<void> {
    const conf = join(this.made.workDir, 'miniupnpd.conf')
    await writeFile(
      conf,
      [
        'ext_ifname=eth0',
        'listening_ip=eth1',
        'http_port=0',
        'enable_natpmp=no',
        'enable_upnp=yes',
        'secure_mode=yes',
        'system_uptime=yes',
        `uuid=${randomUUID()}`,
        'upnp_table_name=nsn_nat',
        'upnp_nat_table_name=nsn_nat',
        'upnp_forward_chain=miniupnpd',
        'upnp_nat_chain=prerouting_miniupnpd',
        'upnp_nat_postrouting_chain=postrouting_miniupnpd',
        `allow 1024-65535 ${LAN.router.replace(/\.\d+$/, '.0')}/${LAN.prefix} 1024-65535`,
        'deny 0-65535 0.0.0.0/0 0-65535',
        '',
      ].join('\n'),
    )
    const child = this.spawn(
      { index: -1, netns: this.router.netns, ip: '' },
      MINIUPNPD,
      ['-f', conf, '-d', '-P', join(this.made.workDir, 'miniupnpd.pid')],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    this.gateway = child
    const onOutput = (chunk: Buffer) => {
      this.gatewayLog = (this.gatewayLog + chunk.toString('utf8')).slice(-20_000)
    }
    child.stdout?.on('data', onOutput)
    child.stderr?.on('data', onOutput)
    // it answers SSDP once it listens on its HTTP port
    const deadline = Date.now() + 10_000
    while (!/HTTP listening on port \d+/.test(this.gatewayLog)) {
      if (child.exitCode != null || child.signalCode != null || Date.now() > deadline) {
        throw new NetnsUnavailableError(`miniupnpd did not start in ${this.router.netns}: ${this.gatewayLog}`)
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** What the UPnP gateway (miniupnpd) printed, its last 20,000 characters. */
  get gatewayOutput(): string {
    return this.gatewayLog
  }

  /** The router's nftables rules (`nft list table inet nsn_nat`): the UPnP mappings are there. */
  async routerRules(): Promise<string> {
    const { stdout } = await execFileAsync(
      'ip',
      ['netns', 'exec', this.router.netns, 'nft', 'list', 'table', 'inet', 'nsn_nat'],
      {
        encoding: 'utf8',
      },
    )
    return stdout
  }

  /**
   * Cuts `host` off the internet: nftables rules in its namespace drop every packet in
   * and out of its `eth0` (silently, as a dead link does); management still works.
   */
  async partition(host: NatHost): Promise<void> {
    await nft(
      host.netns,
      `table inet nsn_partition {
  chain input { type filter hook input priority filter; policy accept; iifname "eth0" drop; }
  chain output { type filter hook output priority filter; policy accept; oifname "eth0" drop; }
}
`,
      this.made.workDir,
    )
    this.partitioned.add(host.netns)
  }

  /** Ends the partition of `host`. */
  async heal(host: NatHost): Promise<void> {
    await nft(host.netns, 'delete table inet nsn_partition\n', this.made.workDir)
    this.partitioned.delete(host.netns)
  }

  /** Starts `command` inside `host`'s namespace (`ip netns exec` execs: the pid is the command's). */
  spawn(host: NetnsHost, command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    return spawn('ip', ['netns', 'exec', host.netns, command, ...args], options)
  }

  /** Kills what runs in its namespaces, deletes them, the root link and the work dir. Idempotent. */
  async destroy(): Promise<void> {
    if (this.destroyed) return
    this.destroyed = true
    live.delete(this)
    this.gateway?.kill('SIGKILL')
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
    this.gateway?.kill('SIGKILL')
    removeMadeSync(this.made, this.rootLink)
    this.reaper?.kill('SIGKILL')
  }
}
