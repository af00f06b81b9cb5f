import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { announceFilter, isPublicAddress } from '../src/address-filter.js'
import { RELAY_SERVER_LIMITS } from '../src/constants.js'
import { createNsnHost, type NsnHost, nsnHostOptions } from '../src/host.js'

const addrs = (...list: string[]) => list.map((a) => multiaddr(a))
const texts = (list: Array<{ toString(): string }>) => list.map((a) => a.toString())

describe('announce filters of the profiles', () => {
  const mixed = addrs(
    '/ip4/127.0.0.1/tcp/4001',
    '/ip6/::1/tcp/4001',
    '/ip4/10.1.2.3/tcp/4001',
    '/ip4/192.168.1.2/tcp/4001',
    '/ip4/100.64.0.1/tcp/4001',
    '/dns4/localhost/tcp/4001',
    '/ip4/11.1.2.3/tcp/4001',
    '/ip4/12.1.2.3/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit',
  )

  it('public keeps public addresses only (relayed ones through a public relay included)', () => {
    expect(texts(announceFilter({ scope: 'public' })(mixed))).toEqual([
      '/ip4/11.1.2.3/tcp/4001',
      '/ip4/12.1.2.3/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit',
    ])
    expect(isPublicAddress(multiaddr('/ip4/203.0.113.7/tcp/1'))).toBe(false)
  })

  it('private keeps all but loopback; all keeps every address', () => {
    expect(texts(announceFilter({ scope: 'non-loopback' })(mixed))).not.toContain('/ip4/127.0.0.1/tcp/4001')
    expect(texts(announceFilter({ scope: 'non-loopback' })(mixed))).toContain('/ip4/192.168.1.2/tcp/4001')
    expect(announceFilter({ scope: 'all' })(mixed)).toHaveLength(mixed.length)
  })

  it('drops --no-announce addresses whatever the scope, with or without /p2p/', () => {
    const filter = announceFilter({ scope: 'all', noAnnounce: ['/ip4/11.1.2.3/tcp/4001'] })
    const id = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'
    expect(
      texts(
        filter(addrs('/ip4/11.1.2.3/tcp/4001', `/ip4/11.1.2.3/tcp/4001/p2p/${id}`, '/ip4/1.1.1.1/tcp/1')),
      ),
    ).toEqual(['/ip4/1.1.1.1/tcp/1'])
  })

  it('refuses a bad --no-announce or --announce address with a typed error', () => {
    expect(() => nsnHostOptions({ noAnnounce: ['nope'] })).toThrow(/noAnnounce\[0\]/)
    expect(() => nsnHostOptions({ announce: ['/ip4/1.1.1.1/tcp/1', 'x'] })).toThrow(
      expect.objectContaining({ name: 'InvalidOptionError', option: 'announce[1]' }),
    )
  })
})

describe('host profiles', () => {
  const hosts: NsnHost[] = []
  afterEach(async () => {
    await Promise.all(hosts.splice(0).map((h) => h.stop()))
  })

  it('public: AutoNAT, relay reservations and DCUtR on; UPnP and the relay server opt-in', () => {
    const services = Object.keys(nsnHostOptions({ profile: 'public' }).services ?? {})
    expect(services).toEqual(
      expect.arrayContaining(['autoNAT', 'identifyPush', 'relayReservations', 'dcutr']),
    )
    expect(services).not.toContain('upnp')
    expect(services).not.toContain('relay')
    const opted = Object.keys(
      nsnHostOptions({ profile: 'public', nat: { upnp: true, relayServer: true } }).services ?? {},
    )
    expect(opted).toEqual(expect.arrayContaining(['upnp', 'relay']))
    for (const profile of ['private', 'local'] as const) {
      expect(Object.keys(nsnHostOptions({ profile }).services ?? {})).toEqual(['identify', 'ping', 'dht'])
    }
  })

  it('public: a host with only loopback addresses announces none and stays a DHT client; private and local serve', async () => {
    const pub = await createNsnHost({ profile: 'public', listen: ['/ip4/127.0.0.1/tcp/0'] })
    const priv = await createNsnHost({ profile: 'private', listen: ['/ip4/127.0.0.1/tcp/0'] })
    const local = await createNsnHost({ profile: 'local' })
    hosts.push(pub, priv, local)
    expect(pub.getMultiaddrs()).toEqual([])
    expect(pub.services.dht.getMode()).toBe('client')
    // private drops loopback too: it announces LAN addresses, and this host has none
    expect(priv.getMultiaddrs()).toEqual([])
    expect(priv.services.dht.getMode()).toBe('server')
    expect(local.getMultiaddrs()).toHaveLength(1)
    expect(local.services.dht.getMode()).toBe('server')
  })

  it('public: an announced public address is announced, and the DHT turns server on it', async () => {
    const pub = await createNsnHost({
      profile: 'public',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: ['/ip4/11.2.3.4/tcp/4001', '/ip4/10.0.0.1/tcp/4001'],
    })
    hosts.push(pub)
    expect(texts(pub.getMultiaddrs()).map((a) => a.replace(/\/p2p\/.*$/, ''))).toEqual([
      '/ip4/11.2.3.4/tcp/4001',
    ])
    // kad-dht switches on self:peer:update, debounced by libp2p's address manager
    await expect.poll(() => pub.services.dht.getMode(), { timeout: 5_000 }).toBe('server')
  })

  it('a relay server grants the documented limits (RELAY_SERVER_LIMITS)', async () => {
    const relay = await createNsnHost({
      profile: 'public',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      nat: { relayServer: true, relayReservations: false },
    })
    hosts.push(relay)
    const store = (
      relay.services as unknown as Record<
        string,
        { reservationStore: Record<string, unknown>; hopTimeout: number }
      >
    ).relay!
    expect(store.hopTimeout).toBe(30_000)
    expect(store.reservationStore).toMatchObject({
      maxReservations: 15,
      reservationTtl: 2 * 60 * 60_000,
      defaultDurationLimit: 2 * 60_000,
      defaultDataLimit: 128n * 1024n,
      applyDefaultLimit: true,
    })
    expect(RELAY_SERVER_LIMITS.defaultDataLimit).toBe(128 * 1024)
  })
})
