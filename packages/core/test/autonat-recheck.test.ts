import type { ComponentLogger, Connection, Libp2pEvents } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { TypedEventEmitter } from 'main-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { AUTONAT_V1_PROTOCOL, AutoNATRecheck } from '../src/autonat-recheck.js'

const silent = (() => {
  const log = Object.assign(() => undefined, {
    error: () => undefined,
    trace: () => undefined,
    enabled: false,
  })
  return { forComponent: () => log } as unknown as ComponentLogger
})()

function connection(peer: string, addr: string, status = 'open'): Connection {
  return {
    remotePeer: { toString: () => peer },
    remoteAddr: multiaddr(addr),
    status,
  } as unknown as Connection
}

/** An AutoNATRecheck over stub components: `addrs` are this node's addresses with metadata. */
function setup(
  addrs: Array<{ addr: string; verified: boolean; expires: number }>,
  connections: Connection[],
  protocols: Record<string, string[]>,
) {
  const events = new TypedEventEmitter<Libp2pEvents>()
  const asked: string[] = []
  const recheck = new AutoNATRecheck(
    {
      addressManager: {
        getAddressesWithMetadata: () =>
          addrs.map(({ addr, verified, expires }) => ({
            multiaddr: multiaddr(addr),
            verified,
            expires,
            type: 'ip-mapping' as const,
          })),
      },
      connectionManager: { getConnections: () => connections },
      peerStore: {
        get: async (peerId: { toString(): string }) => {
          const list = protocols[peerId.toString()]
          if (list == null) throw Object.assign(new Error('not found'), { name: 'NotFoundError' })
          return { protocols: list } as never
        },
      },
      events,
      logger: silent,
    },
    () => ({
      verifyExternalAddresses: async (c: Connection) => {
        asked.push(c.remotePeer.toString())
      },
    }),
    1_000,
  )
  return { recheck, events, asked }
}

describe('AutoNAT re-check of a public address that appears after the peers connected', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('asks each connected AutoNAT peer once, over an open direct connection, a delay after the change', async () => {
    vi.useFakeTimers()
    const { recheck, events, asked } = setup(
      [
        { addr: '/ip4/192.168.1.2/tcp/4001', verified: true, expires: Date.now() + 60_000 },
        { addr: '/ip4/13.1.0.2/tcp/4001', verified: false, expires: 0 },
      ],
      [
        connection('a', '/ip4/11.1.0.2/tcp/4001'),
        connection('a', '/ip4/11.1.0.2/tcp/50000'),
        connection('b', '/ip4/12.1.0.2/tcp/4001'),
        connection('c', '/ip4/15.1.0.2/tcp/4001'), // does not serve AutoNAT
        connection(
          'd',
          '/ip4/16.1.0.2/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit',
        ),
        connection('e', '/ip4/17.1.0.2/tcp/4001', 'closing'),
      ],
      {
        a: [AUTONAT_V1_PROTOCOL],
        b: [AUTONAT_V1_PROTOCOL, '/ipfs/id/1.0.0'],
        c: ['/ipfs/id/1.0.0'],
        d: [AUTONAT_V1_PROTOCOL],
        e: [AUTONAT_V1_PROTOCOL],
      },
    )
    recheck.start()
    events.safeDispatchEvent('self:peer:update', { detail: {} as never })
    recheck.schedule()
    await vi.advanceTimersByTimeAsync(999)
    expect(asked).toEqual([])
    await vi.advanceTimersByTimeAsync(1)
    expect(asked).toEqual(['a', 'b'])
    recheck.stop()
    events.safeDispatchEvent('self:peer:update', { detail: {} as never })
    recheck.schedule()
    await vi.advanceTimersByTimeAsync(5_000)
    expect(asked).toEqual(['a', 'b'])
  })

  it('asks nobody while every public address is verified, or only private ones are unverified', async () => {
    const { recheck, asked } = setup(
      [
        { addr: '/ip4/11.1.0.9/tcp/4001', verified: true, expires: Date.now() + 60_000 },
        { addr: '/ip4/192.168.1.2/tcp/4001', verified: false, expires: 0 },
        {
          addr: '/ip4/12.1.0.2/tcp/4001/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA/p2p-circuit',
          verified: false,
          expires: 0,
        },
      ],
      [connection('a', '/ip4/11.1.0.2/tcp/4001')],
      { a: [AUTONAT_V1_PROTOCOL] },
    )
    expect(await recheck.recheck()).toBe(0)
    expect(asked).toEqual([])
  })
})
