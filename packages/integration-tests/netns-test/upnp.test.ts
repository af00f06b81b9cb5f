/**
 * UPnP port mapping on a real IGD: the NAT router of {@link NatTopology} runs miniupnpd
 * (Debian's miniupnpd-nftables) on its LAN side; two public hosts, and one host behind
 * the router whose daemon runs `--upnp`. Without a mapping the router lets no new
 * inbound connection in (the NAT scenario of nat.test.ts).
 *
 * Proves: the NAT'd daemon finds the gateway (SSDP), asks it for a mapping of its TCP
 * port, and counts it (`nsn_p2p_nat_port_mappings`); the router forwards that port (its
 * nftables chains hold the mapping); AutoNAT on the public hosts dials the NAT'd host at
 * the router's public address and port and confirms it, so the NAT'd host announces
 * that address, says it is reachable, and becomes a DHT server that the public hosts
 * hold in their routing tables.
 *
 * Runs with `pnpm test:netns` (root, iproute2, nftables, miniupnpd-nftables).
 */

import { waitFor } from '@nsn/node/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { NatTopology, type NetnsDaemon } from '../src/netns/index.js'
import { idOf, metric, routingTable, startNatDaemons, tearDown } from './nat-daemons.js'

describe('UPnP: a host behind a router with a UPnP gateway maps its port and becomes reachable', () => {
  let topology: NatTopology | undefined
  const daemons: NetnsDaemon[] = []
  let failed = false

  afterAll(async () => {
    if (failed && topology != null) console.error(`--- miniupnpd ---\n${topology.gatewayOutput}`)
    await tearDown(daemons, topology, failed)
  }, 60_000)

  it('maps the port on the gateway, is confirmed by AutoNAT at the mapped address, serves the DHT', async ({
    onTestFailed,
  }) => {
    onTestFailed(() => {
      failed = true
    })
    topology = await NatTopology.create({ publicHosts: 2, upnp: true })
    const topo = topology
    const natIndex = topo.natHost.index
    const { daemons: all, ids } = await startNatDaemons(topo, daemons, {
      args: (host) => (host.index === natIndex ? ['--upnp'] : []),
    })
    const nat = all[natIndex]!
    const publics = all.slice(0, natIndex)
    const mapped = `/ip4/${topo.router.publicIp}/tcp/4001`

    // 1. the mapping: counted by the node, and in the router's nftables chains
    await waitFor(async () => metric(await nat.metricsText(), 'nsn_p2p_nat_port_mappings') >= 1, {
      timeoutMs: 30_000,
      pollMs: 250,
      what: 'the NAT’d host to count a UPnP port mapping',
    })
    const rules = await topo.routerRules()
    expect(rules, rules).toMatch(/dnat.*192\.168\.77\.2:4001/)

    // 2. reachable there: AutoNAT confirms the mapped address, which it announces (and
    //    nothing private), and the DHT turns server: the public hosts admit it
    let addrs: string[] = []
    await waitFor(
      async () => {
        addrs = (await idOf(nat)).addrs.map((a) => a.replace(/\/p2p\/.*$/, ''))
        return addrs.includes(mapped)
      },
      { timeoutMs: 30_000, pollMs: 250, what: () => `the NAT’d host to announce ${mapped} (now ${addrs})` },
    )
    expect(addrs.filter((a) => !a.includes('/p2p-circuit'))).toEqual([mapped])
    const natMetrics = await nat.metricsText()
    expect(metric(natMetrics, 'nsn_p2p_nat_reachability')).toBe(1)
    expect(metric(natMetrics, 'nsn_p2p_autonat_checks_total', '{result="reachable"}')).toBeGreaterThanOrEqual(
      1,
    )
    await waitFor(
      async () => {
        const tables = await Promise.all(publics.map(routingTable))
        return tables.every((t) => t.some((p) => p.peerId === ids[natIndex]))
      },
      {
        timeoutMs: 20_000,
        pollMs: 250,
        what: 'every public host to hold the NAT’d host in its routing table',
      },
    )
  })
})
