import { describe, expect, it } from 'vitest'
import {
  FIND_PROVIDERS_LIMIT,
  InvalidOptionError,
  K_BUCKET_SIZE,
  LOCAL_PROFILE,
  NSN_DHT_PROTOCOL,
  PROVIDER_RECORD_TTL,
  QUERY_TIMEOUT,
  QueryAbortedError,
  QueryTimeoutError,
  REFRESH_INTERVAL,
  REGISTRY_CAPACITY,
  REPUBLISH_JITTER,
  REPUBLISH_MARGIN,
  resolveKadDHTOptions,
  startDeadline,
} from '../src/index.js'

describe('NSN defaults', () => {
  it('match DESIGN.md', () => {
    expect(NSN_DHT_PROTOCOL).toBe('/nsn/kad/1.0.0')
    expect(K_BUCKET_SIZE).toBe(20)
    expect(QUERY_TIMEOUT).toBe(10_000)
    expect(REFRESH_INTERVAL).toBe(5 * 60_000)
    expect(PROVIDER_RECORD_TTL).toBe(12 * 3_600_000)
    expect(REGISTRY_CAPACITY).toBe(1_000_000)
    expect(FIND_PROVIDERS_LIMIT).toBe(20)
  })

  it('republish before the TTL lapses, jitter included', () => {
    expect(REPUBLISH_MARGIN).toBeGreaterThan(REPUBLISH_JITTER)
    expect(PROVIDER_RECORD_TTL - REPUBLISH_MARGIN - REPUBLISH_JITTER).toBeGreaterThan(0)
  })

  it('resolve kad-dht options from NSN defaults', () => {
    const resolved = resolveKadDHTOptions()
    expect(resolved.queryTimeout).toBe(QUERY_TIMEOUT)
    expect(resolved.providerRecordTtl).toBe(PROVIDER_RECORD_TTL)
    expect(resolved.kad.protocol).toBe(NSN_DHT_PROTOCOL)
    expect(resolved.kad.kBucketSize).toBe(20)
    expect(resolved.kad.clientMode).toBe(false)
    expect(resolved.kad.reprovide?.validity).toBe(PROVIDER_RECORD_TTL)
    expect(resolved.kad.networkDialTimeout).toMatchObject({
      minTimeout: QUERY_TIMEOUT,
      maxTimeout: QUERY_TIMEOUT,
    })
    // routing-table diversity is on unless turned off explicitly
    expect(resolved.routingDiversity).toEqual({ perBucket: 2, perTable: 3 })
    expect(resolveKadDHTOptions({ routingDiversity: false }).routingDiversity).toBe(false)
    expect(resolveKadDHTOptions({ routingDiversity: { perTable: 6 } }).routingDiversity).toEqual({
      perBucket: 2,
      perTable: 6,
    })
  })

  it('the local host profile names the diversity filter and the per-group provider cap it turns off', () => {
    expect(LOCAL_PROFILE.routingDiversity).toBe(false)
    expect(LOCAL_PROFILE.maxProvidersPerKeyPerGroup).toBe(false)
  })

  it('let every value be overridden', () => {
    const resolved = resolveKadDHTOptions({
      protocol: '/test/kad/1.0.0',
      kBucketSize: 4,
      queryTimeout: 500,
      providerRecordTtl: 2_000,
      providerCleanupInterval: 100,
      networkDialTimeout: { minTimeout: 100 },
      reprovide: { concurrency: 2 },
    })
    expect(resolved.kad.protocol).toBe('/test/kad/1.0.0')
    expect(resolved.kad.kBucketSize).toBe(4)
    expect(resolved.queryTimeout).toBe(500)
    expect(resolved.kad.reprovide).toEqual({ concurrency: 2, validity: 2_000, interval: 100 })
    expect(resolved.kad.networkDialTimeout).toEqual({ minTimeout: 100, maxTimeout: 500 })
  })

  it.each([
    [{ queryTimeout: 0 }, 'queryTimeout'],
    [{ queryTimeout: Number.NaN }, 'queryTimeout'],
    [{ providerRecordTtl: -1 }, 'providerRecordTtl'],
    [{ kBucketSize: 0 }, 'kBucketSize'],
    [{ kBucketSize: 2.5 }, 'kBucketSize'],
    [{ routingDiversity: { perBucket: 0 } }, 'routingDiversity.perBucket'],
    [{ routingDiversity: { perTable: 2.5 } }, 'routingDiversity.perTable'],
    [{ routingDiversity: true as never }, 'routingDiversity'],
    [{ providerStore: { maxProvidersPerKeyPerGroup: 0 } }, 'providerStore.maxProvidersPerKeyPerGroup'],
    [{ providerStore: { maxProvidersPerKeyPerGroup: 1.5 } }, 'providerStore.maxProvidersPerKeyPerGroup'],
    [
      { providerStore: { maxProvidersPerKeyPerGroup: true as never } },
      'providerStore.maxProvidersPerKeyPerGroup',
    ],
  ])('reject %j naming the field', (init, field) => {
    expect(() => resolveKadDHTOptions(init)).toThrow(InvalidOptionError)
    expect(() => resolveKadDHTOptions(init)).toThrow(field)
  })
})

describe('deadlines', () => {
  it('time out with QueryTimeoutError and clear their timer', async () => {
    const deadline = startDeadline(20)
    await new Promise((resolve) => deadline.signal.addEventListener('abort', resolve))
    expect(deadline.timedOut).toBe(true)
    expect(deadline.translate(new Error('aborted'))).toBeInstanceOf(QueryTimeoutError)
    deadline.clear()
  })

  it('follow a parent signal and tell it apart from the time limit', () => {
    const parent = new AbortController()
    const deadline = startDeadline(60_000, parent.signal)
    parent.abort()
    expect(deadline.signal.aborted).toBe(true)
    expect(deadline.timedOut).toBe(false)
    expect(deadline.translate(new Error('aborted'))).toBeInstanceOf(QueryAbortedError)
    deadline.clear()
  })

  it('pass through errors that are not aborts', () => {
    const deadline = startDeadline(60_000)
    const err = new Error('boom')
    expect(deadline.translate(err)).toBe(err)
    deadline.clear()
  })
})
