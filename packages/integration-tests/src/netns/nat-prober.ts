/**
 * A peer that reaches a host behind NAT, as a consumer of a found provider would: a
 * public-profile NSN host in a public host's namespace that dials the provider at the
 * addresses a lookup returned (relayed ones), waits for a direct connection to replace
 * the relayed one (DCUtR: the NAT'd side dials this host's announced public address),
 * then pings it.
 *
 * Run it with Node 24 inside the namespace: `node nat-prober.ts '<json of ProberConfig>'`.
 * It writes one JSON line on stdout, {@link ProberResult}, and exits 0; 1 with the error on
 * stderr when the dial fails. It imports packages only (no relative import), so Node runs
 * the file as it is.
 *
 * @packageDocumentation
 */

import { multiaddr } from '@multiformats/multiaddr'
import { createNsnHost } from '@nsn/core/host'

/** What the prober is told. */
export interface ProberConfig {
  /** Its listen address (a free port on its host's public address). */
  listen: string
  /** Addresses of the peer to reach, each with `/p2p/<id>`. */
  addrs: string[]
  /** How long to wait for a direct connection after the relayed one, in ms. */
  directWithinMs: number
}

/** What it found. */
export interface ProberResult {
  /** The remote address of the first connection. */
  firstAddr: string
  /** The first connection ran through a relay. */
  relayed: boolean
  /** Round trip of a ping to the peer after the upgrade window (direct when DCUtR made a connection), in ms. */
  pingMs: number
  /** The remote address of a direct connection that replaced it, if one did in time. */
  directAddr: string | null
}

const config = JSON.parse(process.argv[2] ?? '{}') as ProberConfig
const host = await createNsnHost({
  profile: 'public',
  listen: [config.listen],
  // the operator's word that it is reachable there: the NAT'd peer dials it back directly
  announce: [config.listen],
  nat: { autonat: false, relayReservations: false, dcutr: true },
})
let code = 0
try {
  const connection = await host.dial(config.addrs.map((a) => multiaddr(a)))
  const firstAddr = connection.remoteAddr.toString()
  let directAddr: string | null = null
  const until = Date.now() + config.directWithinMs
  while (directAddr == null && Date.now() < until) {
    const direct = host
      .getConnections(connection.remotePeer)
      .find((c) => !c.remoteAddr.toString().includes('/p2p-circuit'))
    if (direct != null) directAddr = direct.remoteAddr.toString()
    else await new Promise((resolve) => setTimeout(resolve, 100))
  }
  // over the direct connection when DCUtR made one (it closes the relayed one), else the relayed one
  const pingMs = await host.services.ping.ping(connection.remotePeer)
  const result: ProberResult = { firstAddr, relayed: firstAddr.includes('/p2p-circuit'), pingMs, directAddr }
  process.stdout.write(`${JSON.stringify(result)}\n`)
} catch (err) {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
  code = 1
} finally {
  await host.stop()
}
process.exit(code)
