import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it, onTestFinished, vi } from 'vitest'
import {
  EVICTION_QUARANTINE,
  EVICTION_QUARANTINE_MAX_PEERS,
  InvalidOptionError,
  REQUEST_TIMEOUT_DIAL,
  REQUEST_TIMEOUT_MAX,
  REQUEST_TIMEOUT_MIN,
  REQUEST_TIMEOUT_TRACKED_PEERS,
  REQUEST_TIMEOUT_UNKNOWN_PEER,
  REQUEST_TIMEOUTS_BEFORE_EVICTION,
  RequestTimeouts,
  ResponseTimes,
  resolveRequestTimeoutsOptions,
} from '../src/index.js'

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

function times(init = {}): ResponseTimes {
  return new ResponseTimes(resolveRequestTimeoutsOptions(init))
}

describe('ResponseTimes (the per-peer estimator)', () => {
  it('has named defaults well below the query deadline', () => {
    expect(resolveRequestTimeoutsOptions()).toEqual({
      min: REQUEST_TIMEOUT_MIN,
      max: REQUEST_TIMEOUT_MAX,
      unknownPeer: REQUEST_TIMEOUT_UNKNOWN_PEER,
      dial: REQUEST_TIMEOUT_DIAL,
      evictAfter: REQUEST_TIMEOUTS_BEFORE_EVICTION,
      trackedPeers: REQUEST_TIMEOUT_TRACKED_PEERS,
      quarantine: EVICTION_QUARANTINE,
      quarantinedPeers: EVICTION_QUARANTINE_MAX_PEERS,
    })
    expect(EVICTION_QUARANTINE).toBe(10 * 60_000)
    expect([REQUEST_TIMEOUT_MIN, REQUEST_TIMEOUT_UNKNOWN_PEER, REQUEST_TIMEOUT_MAX]).toEqual([
      1_000, 2_000, 5_000,
    ])
  })

  it('rejects bounds that are not positive, and min above max', () => {
    expect(() => resolveRequestTimeoutsOptions({ min: 0 })).toThrow(InvalidOptionError)
    expect(() => resolveRequestTimeoutsOptions({ min: 3_000, max: 2_000 })).toThrow(/requestTimeouts\.min/)
    expect(() => resolveRequestTimeoutsOptions({ evictAfter: 1.5 })).toThrow(/requestTimeouts\.evictAfter/)
    // a min above the default max raises the max with it
    expect(resolveRequestTimeoutsOptions({ min: 8_000 })).toMatchObject({
      min: 8_000,
      max: 8_000,
      unknownPeer: 8_000,
    })
  })

  it('gives an unknown peer the default, then srtt + 4 * rttvar of its answers (RFC 6298), clamped', () => {
    const t = times({ min: 100, max: 5_000, unknownPeer: 2_000 })
    expect(t.timeoutOf('a')).toBe(2_000)
    t.answered('a', 200) // srtt 200, rttvar 100
    expect(t.timeoutOf('a')).toBe(600)
    t.answered('a', 200) // rttvar 75, srtt 200
    expect(t.timeoutOf('a')).toBe(500)
    for (let i = 0; i < 50; i++) t.answered('a', 200)
    expect(t.timeoutOf('a')).toBeCloseTo(200, 0) // the deviation decays
    const fast = times({ min: 500 })
    fast.answered('a', 10)
    expect(fast.timeoutOf('a')).toBe(500) // 10 + 4 * 5, clamped to min
    t.answered('b', 4_000)
    expect(t.timeoutOf('b')).toBe(5_000) // 4000 + 4 * 2000, clamped to max
  })

  it('counts timeouts in a row, reset by an answer; a timeout gives no sample', () => {
    const t = times({ min: 100 })
    t.answered('a', 300)
    const before = t.timeoutOf('a')
    expect(t.timedOut('a')).toBe(1)
    expect(t.timedOut('a')).toBe(2)
    expect(t.timeoutOf('a')).toBe(before)
    t.answered('a', 300)
    expect(t.timedOut('a')).toBe(1)
    t.forget('a')
    expect(t.timeoutOf('a')).toBe(REQUEST_TIMEOUT_UNKNOWN_PEER)
  })

  it('keeps at most trackedPeers estimates, forgetting the least recently used', () => {
    const t = times({ trackedPeers: 2, min: 10 })
    t.answered('a', 50)
    t.answered('b', 50)
    expect(t.timeoutOf('a')).toBe(150) // touches a
    t.answered('c', 50) // evicts b
    expect(t.size).toBe(2)
    expect(t.timeoutOf('b')).toBe(REQUEST_TIMEOUT_UNKNOWN_PEER)
    expect(t.timeoutOf('a')).toBe(150)
    expect(t.timeoutOf('c')).toBe(150)
  })
})

describe('RequestTimeouts (kad-dht sendRequest under the peer timeout)', () => {
  const peer = peerIdFromString(PEER)

  /** A stub of kad-dht's sendRequest: answers after `answerAt` on the fake clock, or never. */
  function stub(clock: { now: number }, answerAfter?: number) {
    const signals: AbortSignal[] = []
    const send = async function* (
      to: PeerId,
      _msg: unknown,
      options: AbortOptions,
    ): AsyncGenerator<QueryEvent> {
      const signal = options.signal as AbortSignal
      signals.push(signal)
      yield { name: 'SEND_QUERY', to } as unknown as QueryEvent
      if (answerAfter != null) {
        clock.now += answerAfter
        yield { name: 'PEER_RESPONSE', from: to } as unknown as QueryEvent
        return
      }
      if (!signal.aborted)
        await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      yield { name: 'QUERY_ERROR', from: to, error: signal.reason } as unknown as QueryEvent
    }
    return { send, signals }
  }

  async function drain(source: AsyncIterable<QueryEvent>): Promise<string[]> {
    const names: string[] = []
    for await (const event of source) names.push(event.name)
    return names
  }

  it('measures answers, aborts a silent request at the peer timeout, and evicts after evictAfter timeouts in a row', async () => {
    const clock = { now: 0 }
    const answering = stub(clock, 40)
    const silent = stub(clock)
    let send = answering.send
    const evicted: string[] = []
    const timeouts = new RequestTimeouts(
      {
        sendRequest: (to, msg, options) => send(to, msg, options),
        evict: async () => true,
        reporter: () => ({ evicted: (reason, p) => evicted.push(`${reason} ${p}`) }),
        now: () => clock.now,
      },
      { min: 20, unknownPeer: 30, evictAfter: 2 },
    )
    expect(await drain(timeouts.sendRequest(peer, {}, {}))).toEqual(['SEND_QUERY', 'PEER_RESPONSE'])
    expect(timeouts.times.timeoutOf(PEER)).toBe(120) // 40 + 4 * 20

    send = silent.send
    expect(await drain(timeouts.sendRequest(peer, {}, {}))).toEqual(['SEND_QUERY', 'QUERY_ERROR'])
    expect(silent.signals[0]?.reason).toMatchObject({ name: 'TimeoutError' })
    expect(evicted).toEqual([])
    await drain(timeouts.sendRequest(peer, {}, {}))
    expect(evicted).toEqual([`timeouts ${PEER}`])
    // forgotten: it starts again as an unknown peer
    expect(timeouts.times.timeoutOf(PEER)).toBe(30)
  })

  it("restarts a timer that fired late (this node's event loop stalled) instead of failing the peer", async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    onTestFinished(() => {
      vi.useRealTimers()
    })
    const clock = { now: 0 }
    const evicted: string[] = []
    // the answer arrives 45 ms after the request, past the 30 ms timeout, but the host was
    // stalled for 5 s meanwhile: the timer fired 5 s late, and the answer sat unread
    const send = async function* (
      to: PeerId,
      _msg: unknown,
      options: AbortOptions,
    ): AsyncGenerator<QueryEvent> {
      yield { name: 'SEND_QUERY', to } as unknown as QueryEvent
      clock.now += 5_000
      await new Promise((resolve) => setTimeout(resolve, 45))
      if (options.signal?.aborted) {
        yield { name: 'QUERY_ERROR', from: to, error: options.signal.reason } as unknown as QueryEvent
        return
      }
      yield { name: 'PEER_RESPONSE', from: to } as unknown as QueryEvent
    }
    const timeouts = new RequestTimeouts(
      {
        sendRequest: (to, msg, options) => send(to, msg, options),
        evict: async () => true,
        reporter: () => ({ evicted: (reason, p) => evicted.push(`${reason} ${p}`) }),
        now: () => clock.now,
      },
      { min: 20, unknownPeer: 30, evictAfter: 1 },
    )
    const names = drain(timeouts.sendRequest(peer, {}, {}))
    // the 30 ms timer fires 5 s late by the node's clock and restarts; the answer at 45 ms
    // comes before the restarted timer's 60 ms
    await vi.advanceTimersByTimeAsync(100)
    expect(await names).toEqual(['SEND_QUERY', 'PEER_RESPONSE'])
    expect(evicted).toEqual([])
  })

  it('gives a request that must dial the dial allowance on top, and takes no sample from it', async () => {
    const clock = { now: 0 }
    // a first contact under wide-area latency: the answer comes after the dial, 80 ms of
    // fake time, where the peer's timeout alone (30 ms, unknown) would have failed it
    const dialling = stub(clock, 80)
    let connected = false
    const aborted: string[] = []
    const timeouts = new RequestTimeouts(
      {
        sendRequest: (to, msg, options) => dialling.send(to, msg, options),
        evict: async () => true,
        reporter: () => undefined,
        connected: () => connected,
        now: () => clock.now,
      },
      { min: 20, unknownPeer: 30, dial: 200 },
    )
    const events = timeouts.sendRequest(peer, {}, {})
    const names: string[] = []
    for await (const event of events) names.push(event.name)
    for (const signal of dialling.signals) if (signal.aborted) aborted.push(String(signal.reason))
    expect(names).toEqual(['SEND_QUERY', 'PEER_RESPONSE'])
    expect(aborted).toEqual([])
    // alive (an answer counted) but not measured: the dial is no part of its response time
    expect(timeouts.times.answersOf(PEER)).toBe(1)
    expect(timeouts.times.responseTimeOf(PEER)).toBeUndefined()
    expect(timeouts.times.timeoutOf(PEER)).toBe(30)
    // once connected, its answers are measured
    connected = true
    expect(await drain(timeouts.sendRequest(peer, {}, {}))).toEqual(['SEND_QUERY', 'PEER_RESPONSE'])
    expect(timeouts.times.responseTimeOf(PEER)).toBe(80)
  })

  it('does not count the caller aborting (the query deadline) as the peer timing out', async () => {
    const clock = { now: 0 }
    const silent = stub(clock)
    const evicted: string[] = []
    const timeouts = new RequestTimeouts(
      {
        sendRequest: silent.send,
        evict: async () => true,
        reporter: () => ({ evicted: (reason) => evicted.push(reason) }),
        now: () => clock.now,
      },
      { unknownPeer: 60_000, evictAfter: 1 },
    )
    const caller = new AbortController()
    const run = drain(timeouts.sendRequest(peer, {}, { signal: caller.signal }))
    caller.abort(new Error('deadline'))
    expect(await run).toEqual(['SEND_QUERY', 'QUERY_ERROR'])
    expect(evicted).toEqual([])
  })

  it("restarts a request's timer while the peer answers other requests, and fails it once the peer is silent", async () => {
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
    // `{ slow: true }` is answered after 150 ms, anything else after 5 ms
    const send = async function* (
      to: PeerId,
      msg: unknown,
      options: AbortOptions,
    ): AsyncGenerator<QueryEvent> {
      const signal = options.signal as AbortSignal
      const late = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))
      await Promise.race([sleep((msg as { slow?: boolean }).slow === true ? 150 : 5), late])
      if (signal.aborted)
        yield { name: 'QUERY_ERROR', from: to, error: signal.reason } as unknown as QueryEvent
      else yield { name: 'PEER_RESPONSE', from: to } as unknown as QueryEvent
    }
    const evicted: string[] = []
    const timeouts = new RequestTimeouts(
      { sendRequest: send, evict: async () => true, reporter: () => ({ evicted: (r) => evicted.push(r) }) },
      { min: 50, max: 50, unknownPeer: 50, evictAfter: 1 },
    )
    // busy, not silent: the peer answers a request every 20 ms meanwhile
    let busy = true
    const others = (async () => {
      while (busy) {
        await drain(timeouts.sendRequest(peer, {}, {}))
        await sleep(15)
      }
    })()
    expect(await drain(timeouts.sendRequest(peer, { slow: true }, {}))).toEqual(['PEER_RESPONSE'])
    busy = false
    await others
    expect(evicted).toEqual([])
    // silent for a whole timeout: failed, and struck
    expect(await drain(timeouts.sendRequest(peer, { slow: true }, {}))).toEqual(['QUERY_ERROR'])
    expect(evicted).toEqual(['timeouts'])
  })

  it('counts the requests that time out in one silence of the peer as one timeout', async () => {
    const clock = { now: 0 }
    const silent = stub(clock)
    const evicted: string[] = []
    const timeouts = new RequestTimeouts(
      {
        sendRequest: silent.send,
        evict: async () => true,
        reporter: () => ({ evicted: (reason) => evicted.push(reason) }),
        now: () => clock.now,
      },
      { min: 20, max: 20, unknownPeer: 20, evictAfter: 2 },
    )
    const concurrent = await Promise.all(
      Array.from({ length: 8 }, () => drain(timeouts.sendRequest(peer, {}, {}))),
    )
    expect(concurrent.every((names) => names.at(-1) === 'QUERY_ERROR')).toBe(true)
    expect(evicted).toEqual([])
    // a later request of a second silence is the second timeout in a row
    await drain(timeouts.sendRequest(peer, {}, {}))
    expect(evicted).toEqual(['timeouts'])
  })
})
