import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { describe, expect, it } from 'vitest'
import {
  CONNECTION_MONITOR_INTERVAL,
  LOCAL_PROFILE,
  MAX_PROVIDERS_PER_KEY_PER_GROUP,
  PING_MAX_OUTBOUND_STREAMS,
} from '../src/constants.js'
import { InvalidOptionError, UnsupportedKadDhtError } from '../src/errors.js'
import { createNsnHost, type NsnHostInit, nsnHostOptions } from '../src/host.js'
import { hooksOf } from '../src/kad-internals.js'

describe('the host builder', () => {
  it('applies the local profile explicitly, and lets explicit options override it', () => {
    const local = nsnHostOptions({ profile: 'local' })
    expect(local.addresses?.listen).toEqual(LOCAL_PROFILE.listen)
    expect(local.connectionManager).toEqual({
      inboundConnectionThreshold: LOCAL_PROFILE.inboundConnectionThreshold,
      maxIncomingPendingConnections: LOCAL_PROFILE.maxIncomingPendingConnections,
      allow: LOCAL_PROFILE.allow,
    })
    expect(local.connectionMonitor).toEqual({ enabled: false })
    const tuned = nsnHostOptions({
      profile: 'local',
      inboundConnectionThreshold: 7,
      connectionMonitorInterval: 2_000,
    })
    expect(tuned.connectionManager?.inboundConnectionThreshold).toBe(7)
    expect(tuned.connectionMonitor).toEqual({
      enabled: true,
      pingInterval: 2_000,
      pingTimeout: { minTimeout: 1_000, maxTimeout: 1_000 },
    })
  })

  it('turns the per-group provider cap off under the local profile only, unless it is set', async () => {
    const perGroup = async (init: NsnHostInit) => {
      const host = await createNsnHost({ ...init, start: false })
      try {
        return hooksOf(host.services.dht).providerLimits?.options.maxProvidersPerKeyPerGroup
      } finally {
        await host.stop()
      }
    }
    expect(await perGroup({ profile: 'local' })).toBe(false)
    expect(await perGroup({ profile: 'local', dht: { providerStore: { maxRecords: 10 } } })).toBe(false)
    expect(
      await perGroup({ profile: 'local', dht: { providerStore: { maxProvidersPerKeyPerGroup: 3 } } }),
    ).toBe(3)
    expect(await perGroup({})).toBe(MAX_PROVIDERS_PER_KEY_PER_GROUP)
    const off = await createNsnHost({ profile: 'local', start: false, dht: { providerStore: false } })
    expect(hooksOf(off.services.dht).providerLimits).toBeUndefined()
    await off.stop()
  })

  it("keeps libp2p's defaults without a profile, but for the connection monitor's", () => {
    const plain = nsnHostOptions()
    expect(plain.addresses?.listen).toEqual([])
    expect(plain.connectionManager).toEqual({})
    // connection-monitor.test.ts says why
    expect(plain.connectionMonitor).toMatchObject({
      enabled: true,
      pingInterval: CONNECTION_MONITOR_INTERVAL,
    })
    expect(Object.keys(plain.services ?? {}).sort()).toEqual(['dht', 'identify', 'ping'])
  })

  it('rejects bad limits and unknown profiles with typed errors', () => {
    expect(() => nsnHostOptions({ inboundConnectionThreshold: -1 })).toThrow(InvalidOptionError)
    expect(() => nsnHostOptions({ muxerKeepAliveInterval: -1 })).toThrow(/muxerKeepAliveInterval/)
    expect(nsnHostOptions({ muxerKeepAliveInterval: 0 }).streamMuxers).toHaveLength(1)
    expect(() => nsnHostOptions({ profile: 'lan' as never })).toThrow(/profile/)
  })

  it('swaps only the DHT service (benchmarks compare plain kad-dht on the same host)', async () => {
    const host = await createNsnHost({
      profile: 'local',
      dhtService: kadDHT({ clientMode: false, peerInfoMapper: passthroughMapper }),
    })
    try {
      expect(host.getMultiaddrs()[0]?.toString()).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
      expect(() => hooksOf(host.services.dht)).toThrow(UnsupportedKadDhtError)
      const nsn = await createNsnHost({ profile: 'local', dht: { queryTimeout: 1_234 } })
      try {
        expect(hooksOf(nsn.services.dht).queryTimeout).toBe(1_234)
      } finally {
        await nsn.stop()
      }
    } finally {
      await host.stop()
    }
  })

  it('answers concurrent pings to one peer (kad-dht evicted a live peer whose second ping hit the stream limit)', async () => {
    const a = await createNsnHost({ profile: 'local' })
    const b = await createNsnHost({ profile: 'local' })
    try {
      await a.dial(b.getMultiaddrs())
      // kad-dht's new-contact and old-contact queues, the refresher and the connection
      // monitor may ping the same peer at once; libp2p's default allows one stream
      const pings = await Promise.allSettled(
        Array.from({ length: PING_MAX_OUTBOUND_STREAMS }, () => a.services.ping.ping(b.peerId)),
      )
      expect(pings.map((p) => (p.status === 'fulfilled' ? 'ok' : (p.reason as Error).name))).toEqual(
        Array.from({ length: PING_MAX_OUTBOUND_STREAMS }, () => 'ok'),
      )
    } finally {
      await Promise.all([a.stop(), b.stop()])
    }
  })
})
