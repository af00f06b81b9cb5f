import { multiaddr } from '@multiformats/multiaddr'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNatObserver, createNsnMetrics, trackNat } from '../src/index.js'
import { samples, value } from './helpers.js'

const RELAY = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
const SELF = '12D3KooWSqZRHSbJsEQ1V2k4Q3VqSmHJ5Rt6TstVSvnzD6BNF3FT'

describe('NAT metrics', () => {
  it('count AutoNAT verdicts, port mappings and hole punches from the observer', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    const observer = createNatObserver(metrics)
    observer.autonatCheck('reachable')
    observer.autonatCheck('unreachable')
    observer.autonatCheck('reachable')
    observer.portMappingChanged(1)
    observer.portMappingChanged(1)
    observer.portMappingChanged(-1)
    observer.holePunch('error')
    observer.holePunch('ok')
    expect(await value(register, 'nsn_p2p_autonat_checks_total', { result: 'reachable' })).toBe(2)
    expect(await value(register, 'nsn_p2p_autonat_checks_total', { result: 'unreachable' })).toBe(1)
    expect(await value(register, 'nsn_p2p_nat_port_mappings')).toBe(1)
    expect(await value(register, 'nsn_p2p_hole_punches_total', { result: 'ok' })).toBe(1)
    expect(await value(register, 'nsn_p2p_hole_punches_total', { result: 'error' })).toBe(1)
  })

  it('read reachability, reservations, relayed connections and public addresses from the node at each scrape', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    let addrs = [multiaddr('/ip4/10.0.0.2/tcp/4001'), multiaddr('/ip4/127.0.0.1/tcp/4001')]
    const connections = [
      { remoteAddr: multiaddr(`/ip4/11.0.0.2/tcp/4001/p2p/${RELAY}/p2p-circuit/p2p/${SELF}`) },
      { remoteAddr: multiaddr('/ip4/11.0.0.3/tcp/4001') },
    ]
    const stop = trackNat({ getMultiaddrs: () => addrs, getConnections: () => connections }, metrics)
    expect(await value(register, 'nsn_p2p_nat_reachability')).toBe(0)
    expect(await value(register, 'nsn_p2p_announced_public_addresses')).toBe(0)
    expect(await value(register, 'nsn_p2p_relayed_connections')).toBe(1)
    addrs = [
      multiaddr(`/ip4/11.0.0.2/tcp/4001/p2p/${RELAY}/p2p-circuit/p2p/${SELF}`),
      multiaddr(`/ip4/11.0.0.2/tcp/4002/p2p/${RELAY}/p2p-circuit/p2p/${SELF}`),
    ]
    expect(await value(register, 'nsn_p2p_relay_reservations')).toBe(1)
    expect(await value(register, 'nsn_p2p_nat_reachability')).toBe(0)
    expect(await value(register, 'nsn_p2p_announced_public_addresses')).toBe(2)
    addrs = [multiaddr(`/ip4/11.0.0.9/tcp/4001/p2p/${SELF}`)]
    expect(await value(register, 'nsn_p2p_nat_reachability')).toBe(1)
    expect(await value(register, 'nsn_p2p_relay_reservations')).toBe(0)
    stop()
    addrs = []
    expect(await value(register, 'nsn_p2p_nat_reachability')).toBe(1)
    expect(await samples(register, 'nsn_p2p_relay_reservations')).toHaveLength(1)
  })
})
