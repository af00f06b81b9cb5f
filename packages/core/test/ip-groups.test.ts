import { multiaddr } from '@multiformats/multiaddr'
import { describe, expect, it } from 'vitest'
import { ipGroupOf, ipGroupsOf, ipv6GroupOf } from '../src/ip-groups.js'

const group = (text: string): string | undefined => ipGroupOf(multiaddr(text))

describe('ipGroupOf (IPv4 /16, IPv6 /32, as go-libp2p-kad-dht)', () => {
  it('puts an IPv4 address in its /16', () => {
    expect(group('/ip4/203.0.113.7/tcp/4001')).toBe('ip4/203.0.0.0/16')
    expect(group('/ip4/203.0.200.1/udp/4001/quic-v1')).toBe('ip4/203.0.0.0/16')
    expect(group('/ip4/203.1.113.7/tcp/4001')).toBe('ip4/203.1.0.0/16')
    expect(group('/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA')).toBe(
      'ip4/127.0.0.0/16',
    )
  })

  it('puts an IPv6 address in its /32, whatever its spelling', () => {
    expect(group('/ip6/2001:db8:1:2::1/tcp/4001')).toBe('ip6/2001:db8::/32')
    expect(group('/ip6/2001:0db8:ffff::/tcp/4001')).toBe('ip6/2001:db8::/32')
    expect(group('/ip6/2001:db9::1/tcp/4001')).toBe('ip6/2001:db9::/32')
    expect(group('/ip6/::1/tcp/4001')).toBe('ip6/0:0::/32')
    expect(group('/ip6zone/eth0/ip6/fe80::1/tcp/4001')).toBe('ip6/fe80:0::/32')
  })

  it('puts an IPv4-mapped IPv6 address in the /16 of its IPv4 address', () => {
    expect(group('/ip6/::ffff:203.0.113.7/tcp/4001')).toBe('ip4/203.0.0.0/16')
    expect(ipv6GroupOf('::ffff:cb00:7107')).toBe('ip4/203.0.0.0/16')
    expect(ipv6GroupOf('0:0:0:0:0:ffff:203.0.113.7')).toBe('ip4/203.0.0.0/16')
  })

  it('gives no group to an address that names no IP of the peer', () => {
    expect(group('/dns4/example.org/tcp/4001')).toBeUndefined()
    expect(group('/dnsaddr/bootstrap.example.org')).toBeUndefined()
    expect(
      group(
        '/ip4/198.51.100.1/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit',
      ),
    ).toBeUndefined()
    expect(group('/unix/tmp%2Fnsn.sock')).toBeUndefined()
  })

  it('rejects malformed IPv6 text', () => {
    for (const bad of [
      '1::2::3',
      '12345::',
      'g::1',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      '::ffff:1.2.3.256',
    ]) {
      expect(ipv6GroupOf(bad), bad).toBeUndefined()
    }
  })

  it('ipGroupsOf: the distinct groups of many addresses, none for a peer without an IP address', () => {
    const addrs = [
      '/ip4/203.0.113.7/tcp/1',
      '/ip4/203.0.1.1/tcp/2',
      '/ip6/2001:db8::1/tcp/1',
      '/dns4/a.example/tcp/1',
    ]
    expect(ipGroupsOf(addrs.map((a) => multiaddr(a)))).toEqual(['ip4/203.0.0.0/16', 'ip6/2001:db8::/32'])
    expect(ipGroupsOf([multiaddr('/dns4/a.example/tcp/1')])).toEqual([])
  })
})
