/**
 * What the NAT scenarios share: one `nsn-node` daemon per host of a {@link NatTopology}
 * (public profile, listening on 0.0.0.0, every public host a bootstrap peer of the
 * others), the routing-table and metrics reads, and printing the daemons' logs when a
 * test failed.
 */

import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { NatHost, NatTopology, NetnsDaemon as NetnsDaemonType } from '../src/netns/index.js'
import { NetnsDaemon } from '../src/netns/index.js'

/** A routing-table or lookup peer as the API answers it. */
export interface Peer {
  peerId: string
  addrs: string[]
}

/** The value of one sample of `/metrics` text (`NaN` when absent). */
export function metric(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `))
  return line == null ? Number.NaN : Number(line.split(' ')[1])
}

/** How each daemon starts. */
export interface NatDaemonsInit {
  /** More `nsn-node start` flags for the daemon of `host`. */
  args?: (host: NatHost) => string[]
}

/** The daemons of a topology: `daemons[i]` runs on `topology.hosts[i]`, `ids[i]` is its peer id. */
export interface NatDaemons {
  daemons: NetnsDaemonType[]
  ids: string[]
  /** A public host's libp2p address, `/p2p/` included. */
  addrOf(index: number): string
}

/**
 * Starts one daemon per host, each with its identity in its data dir under the
 * topology's work dir: the public hosts, then (once they answer) the NAT'd host, as one
 * joins a running network. Pushes each to `into` as soon as it is spawned (so the caller
 * stops every one, also when a later one fails); resolves once all are healthy.
 */
export async function startNatDaemons(
  topo: NatTopology,
  into: NetnsDaemonType[],
  init: NatDaemonsInit = {},
): Promise<NatDaemons> {
  const root = topo.workDir
  const keys = await Promise.all(topo.hosts.map(() => generateKeyPair('Ed25519')))
  const ids = keys.map((k) => k.publicKey.toString())
  const addrOf = (i: number) => `/ip4/${topo.publicHosts[i]!.internetIp}/tcp/4001/p2p/${ids[i]}`
  const daemons: NetnsDaemonType[] = []
  const start = async (host: NatHost): Promise<NetnsDaemonType> => {
    const i = host.index
    const dataDir = join(root, `node-${i}`)
    await mkdir(dataDir, { recursive: true, mode: 0o700 })
    await writeFile(join(dataDir, 'identity.key'), privateKeyToProtobuf(keys[i]!), { mode: 0o600 })
    const bootstrap = topo.publicHosts
      .filter((h) => h.index !== i)
      .flatMap((h) => ['--bootstrap', addrOf(h.index)])
    const daemon = await NetnsDaemon.start(topo, host, {
      dataDir,
      logFile: join(root, `node-${i}.log`),
      listen: '/ip4/0.0.0.0/tcp/4001',
      ...(process.env.NSN_NAT_DEBUG == null ? {} : { env: { DEBUG: process.env.NSN_NAT_DEBUG } }),
      args: ['--profile', 'public', ...(init.args?.(host) ?? []), ...bootstrap],
    })
    daemons.push(daemon)
    into.push(daemon)
    return daemon
  }
  // the public network first: nobody dials the NAT'd host, so it must find its bootstrap
  // peers listening (a bootstrap peer that is not up yet is not dialled again for minutes)
  for (const host of topo.publicHosts) await start(host)
  await Promise.all(daemons.map((d) => d.healthy(30_000)))
  await (await start(topo.natHost)).healthy(30_000)
  return { daemons, ids, addrOf }
}

/** The routing-table peers of `d`. */
export async function routingTable(d: NetnsDaemonType): Promise<Peer[]> {
  const { status, body } = await d.call<{ peers: Peer[] }>('GET', '/v1/peers')
  if (status !== 200) throw new Error(`GET ${d.api}/v1/peers answered ${status}: ${JSON.stringify(body)}`)
  return body.peers
}

/** `GET /v1/id` of `d`. */
export async function idOf(d: NetnsDaemonType): Promise<Peer> {
  return (await d.call<Peer>('GET', '/v1/id')).body
}

/**
 * Stops every daemon, then destroys the topology; after a failed test, prints each
 * daemon's log tail first (all of it under `NSN_NAT_DEBUG`). Rethrows a failed stop.
 */
export async function tearDown(
  daemons: NetnsDaemonType[],
  topology: NatTopology | undefined,
  failed: boolean,
): Promise<void> {
  if (failed) {
    for (const d of daemons)
      console.error(
        `--- ${d.host.netns} (${d.api}) log tail ---\n${await d.tail(process.env.NSN_NAT_DEBUG == null ? 25 : 3000)}`,
      )
  }
  const stops = await Promise.allSettled(daemons.map((d) => d.stop()))
  await topology?.destroy()
  const failedStop = stops.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failedStop != null) throw failedStop.reason
}
