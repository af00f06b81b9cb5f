/**
 * Real networks, on separate hosts made of network namespaces: three `nsn-node` daemons
 * on public hosts (each its own public-looking address, first octet and IP group; two
 * serve as circuit relays), and one behind a router that masquerades with nftables (no
 * port mapped, no new inbound connection let in). Every daemon runs the `public` profile
 * and listens on 0.0.0.0, so it has loopback, management (10.99.x) and, behind the NAT,
 * LAN (192.168.77.2) addresses that must never reach a peer.
 *
 * Proves: AutoNAT confirms the public hosts, which become DHT servers (in each other's
 * routing tables); the NAT'd host stays a client (in no routing table), takes relay
 * reservations and announces relayed addresses only; its shard is found by every public
 * node, and a peer reaches it through the relay and then directly (DCUtR: the NAT'd side
 * dials back); nothing a peer received holds a loopback or private address; a public host
 * cut off by nftables drop rules ends a lookup by the query deadline with a typed error,
 * and finds the shard again once healed.
 *
 * Runs with `pnpm test:netns` (in `.ci/run` after `pnpm test`). It used to stall under
 * load (a daemon's API silent for 30 s): a host that took relay reservations while no
 * peer was a DHT server yet ran libp2p's random walk on an empty routing table, which
 * spins in microtasks and froze the daemon for good; core's `PacedRandomWalk` fixed it.
 */

import { multiaddr } from '@multiformats/multiaddr'
import { isPublicAddress } from '@nsn/core'
import { waitFor } from '@nsn/node/testing'
import { afterAll, describe, expect, it } from 'vitest'
import {
  NAT_PROBER_SCRIPT,
  type NatHost,
  NatTopology,
  type NetnsDaemon,
  type ProberResult,
} from '../src/netns/index.js'
import { idOf, metric, type Peer, routingTable, startNatDaemons, tearDown } from './nat-daemons.js'

const PUBLIC = 3
/** The daemons' query deadline: short, so the partitioned lookup ends soon. */
const QUERY_TIMEOUT = 3_000
/** How long past the deadline a lookup may take to answer (HTTP, a loaded machine). */
const DEADLINE_MARGIN = 1_500

describe('NAT traversal and partitions: 3 public hosts, one behind an nft masquerade', () => {
  let topology: NatTopology | undefined
  const daemons: NetnsDaemon[] = []
  let failed = false

  afterAll(async () => {
    await tearDown(daemons, topology, failed)
  }, 60_000)

  it('public hosts serve, the NAT’d host is a client reached through a relay, no private address leaks, a partition heals', async ({
    onTestFailed,
  }) => {
    onTestFailed(() => {
      failed = true
    })
    topology = await NatTopology.create({ publicHosts: PUBLIC })
    const topo = topology
    const natIndex = PUBLIC
    const { ids } = await startNatDaemons(topo, daemons, {
      args: (host) => [
        '--query-timeout',
        String(QUERY_TIMEOUT),
        ...(host.index < 2 ? ['--relay-server'] : []),
      ],
    })
    const publics = daemons.slice(0, PUBLIC)
    const nat = daemons[natIndex]!
    const table = routingTable

    // 1. AutoNAT confirms every public host: each announces its public address, says it
    //    is reachable, and the others hold it in their routing tables (kad-dht admits servers only)
    let tables: Peer[][] = []
    await waitFor(
      async () => {
        tables = await Promise.all(publics.map(table))
        return tables.every((t, i) => publics.every((_, j) => j === i || t.some((p) => p.peerId === ids[j])))
      },
      {
        timeoutMs: 30_000,
        pollMs: 250,
        what: () =>
          `every public host in the others' routing tables (now ${JSON.stringify(tables.map((t) => t.map((p) => p.peerId.slice(-6))))})`,
      },
    )
    for (const [i, d] of publics.entries()) {
      const { addrs } = await idOf(d)
      expect(addrs.map((a) => a.replace(/\/p2p\/.*$/, ''))).toEqual([
        `/ip4/${topo.publicHosts[i]!.internetIp}/tcp/4001`,
      ])
      const text = await d.metricsText()
      expect(metric(text, 'nsn_p2p_nat_reachability')).toBe(1)
      expect(metric(text, 'nsn_p2p_autonat_checks_total', '{result="reachable"}')).toBeGreaterThanOrEqual(1)
      expect(metric(text, 'nsn_p2p_announced_public_addresses')).toBe(1)
    }

    // 2. the NAT'd host: no address AutoNAT could confirm, so a DHT client, in no routing table
    const natMetrics0 = await nat.metricsText()
    expect(metric(natMetrics0, 'nsn_p2p_nat_reachability')).toBe(0)
    for (const d of publics) expect((await table(d)).map((p) => p.peerId)).not.toContain(ids[natIndex])
    // ...while it holds the servers in its own table (it learns they serve from identify-push)
    await waitFor(async () => (await table(nat)).length >= 1, {
      timeoutMs: 10_000,
      pollMs: 250,
      what: 'the NAT’d host to hold a public host in its routing table',
    })

    // 3. nothing a public-profile peer received holds a loopback or private address
    const received: string[] = []
    for (const d of daemons) {
      received.push(...(await idOf(d)).addrs)
      for (const p of await table(d)) received.push(...p.addrs)
      const closest = await d.call<{ peers: Peer[] }>('GET', `/v1/closest-peers/${'c3'.repeat(32)}`)
      expect(closest.status, JSON.stringify(closest.body)).toBe(200)
      for (const p of closest.body.peers) received.push(...p.addrs)
    }
    expect(received.length).toBeGreaterThan(PUBLIC)
    const leaked = received.filter((a) => !isPublicAddress(multiaddr(a)) || /\/(127|10|192\.168)\./.test(a))
    expect(leaked).toEqual([])

    // 4. a partition: host 2 cut off by nft drop rules. A shard host 1 provides meanwhile is
    //    on hosts 0 and 1 only; host 2's lookup ends by the deadline with a typed error
    const cut = topo.publicHosts[2]!
    const isolated = publics[2]!
    await topo.partition(cut)
    const shardB = 'b2'.repeat(32)
    const providedB = await publics[1]!.call<{ confirmed: number }>('PUT', `/v1/shards/${shardB}`)
    expect(providedB.status, JSON.stringify(providedB.body)).toBe(200)
    const started = performance.now()
    const during = await isolated.call<{ error?: { code: string; message: string }; providers?: Peer[] }>(
      'GET',
      `/v1/shards/${shardB}/providers`,
    )
    const took = performance.now() - started
    expect(took).toBeLessThan(QUERY_TIMEOUT + DEADLINE_MARGIN)
    expect([503, 504], JSON.stringify(during.body)).toContain(during.status)
    expect(during.body.error?.code).toMatch(/^ERR_(NO_PEER_ANSWERED|QUERY_TIMEOUT|NO_KNOWN_PEERS)$/)

    // 5. healed, it finds the shard again
    await topo.heal(cut)
    let after: { status: number; providers: string[] } = { status: 0, providers: [] }
    await waitFor(
      async () => {
        const { status, body } = await isolated.call<{ providers?: Peer[] }>(
          'GET',
          `/v1/shards/${shardB}/providers`,
        )
        after = { status, providers: (body.providers ?? []).map((p) => p.peerId) }
        return status === 200 && after.providers.includes(ids[1]!)
      },
      {
        timeoutMs: 20_000,
        pollMs: 500,
        what: () => `the healed host to find the shard (last: ${JSON.stringify(after)})`,
      },
    )
    // 6. the NAT'd host takes relay reservations and announces relayed addresses only
    let natAddrs: string[] = []
    await waitFor(
      async () => {
        natAddrs = (await idOf(nat)).addrs
        return natAddrs.length > 0
      },
      { timeoutMs: 20_000, pollMs: 250, what: 'the NAT’d host to announce relayed addresses' },
    )
    expect(natAddrs.every((a) => a.includes('/p2p-circuit'))).toBe(true)
    const natMetrics = await nat.metricsText()
    expect(metric(natMetrics, 'nsn_p2p_nat_reachability')).toBe(0)
    expect(metric(natMetrics, 'nsn_p2p_relay_reservations')).toBeGreaterThanOrEqual(1)

    // 7. it provides a shard; every public host finds it, at relayed addresses
    const shardA = 'a1'.repeat(32)
    const provided = await nat.call<{ confirmed: number }>('PUT', `/v1/shards/${shardA}`)
    expect(provided.status, JSON.stringify(provided.body)).toBe(200)
    expect(provided.body.confirmed).toBeGreaterThanOrEqual(1)
    let found: Peer[] = []
    for (const d of publics) {
      const { status, body } = await d.call<{ providers: Peer[] }>('GET', `/v1/shards/${shardA}/providers`)
      expect(status, JSON.stringify(body)).toBe(200)
      const provider = body.providers.find((p) => p.peerId === ids[natIndex])
      expect(provider, `${d.host.netns} finds the NAT’d provider`).toBeDefined()
      expect(provider!.addrs.length).toBeGreaterThan(0)
      expect(provider!.addrs.every((a) => a.includes('/p2p-circuit'))).toBe(true)
      found = body.providers
    }

    // 8. a peer on a public host reaches it: through the relay, then directly (DCUtR)
    const target = found.find((p) => p.peerId === ids[natIndex])!
    const prober = await runProber(topo, topo.publicHosts[2]!, {
      listen: `/ip4/${topo.publicHosts[2]!.internetIp}/tcp/4101`,
      addrs: target.addrs.map((a) =>
        a.includes('/p2p/') && a.endsWith(ids[natIndex]!) ? a : `${a}/p2p/${ids[natIndex]}`,
      ),
      directWithinMs: 10_000,
    })
    expect(prober.relayed).toBe(true)
    expect(prober.pingMs).toBeGreaterThanOrEqual(0)
    // the NAT'd host dialled the prober's public address through its NAT: the direct
    // connection comes from the router's public address
    expect(prober.directAddr, 'a direct connection replaced the relayed one').toMatch(
      new RegExp(`^/ip4/${topo.router.publicIp.replaceAll('.', '\\.')}/tcp/\\d+`),
    )
    await waitFor(
      async () => metric(await nat.metricsText(), 'nsn_p2p_hole_punches_total', '{result="ok"}') >= 1,
      { timeoutMs: 5_000, pollMs: 200, what: 'the NAT’d host to count its connection upgrade' },
    )

    // 9. what peers received about it holds no loopback or private address either
    const leakedNat = found
      .flatMap((p) => p.addrs)
      .filter((a) => !isPublicAddress(multiaddr(a)) || /\/(127|10|192\.168)\./.test(a))
    expect(leakedNat).toEqual([])
  })
})

/** Runs the NAT prober (a separate process) in `host`; resolves with its result. */
async function runProber(
  topology: NatTopology,
  host: NatHost,
  config: { listen: string; addrs: string[]; directWithinMs: number },
): Promise<ProberResult> {
  const child = topology.spawn(host, process.execPath, [NAT_PROBER_SCRIPT, JSON.stringify(config)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (c: string) => {
    out += c
  })
  child.stderr?.setEncoding('utf8').on('data', (c: string) => {
    err += c
  })
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`the prober exited with ${code}: ${err.trim()}`)
  return JSON.parse(out.trim().split('\n').pop() ?? '') as ProberResult
}
