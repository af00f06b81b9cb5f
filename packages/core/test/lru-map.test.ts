import { peerIdFromString } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { AnswerGuard } from '../src/answer-guard.js'
import { AnswerRejectedError } from '../src/errors.js'
import { IntervalGate, LruMap } from '../src/lru-map.js'
import type { SendRequest } from '../src/request-timeouts.js'

const A = peerIdFromString('12D3KooWHvF5rDgLtj5JT1HbLAZZoszNxxRWYdFaXQrcoMNjmYF3')
const B = peerIdFromString('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq')

describe('IntervalGate', () => {
  it('passes a key once per interval, remembering a bounded number of keys', () => {
    let now = 0
    const limiter = new IntervalGate(60_000, 2, () => now)
    expect([limiter.pass('a'), limiter.pass('a'), limiter.pass('b')]).toEqual([true, false, true])
    now = 59_999
    expect(limiter.pass('a')).toBe(false)
    now = 60_000
    expect(limiter.pass('a')).toBe(true)
    // a third key pushes out the least recently used one, which then warns again
    limiter.pass('c')
    expect(limiter.pass('b')).toBe(true)
  })

  it('LruMap keeps at most its capacity, forgetting the least recently used', () => {
    const map = new LruMap<number>(2)
    map.set('a', 1)
    map.set('b', 2)
    map.get('a')
    map.set('c', 3)
    expect([map.get('a'), map.get('b'), map.get('c'), map.size]).toEqual([1, undefined, 3, 2])
  })
})

describe('AnswerGuard.watch', () => {
  it('logs a rejected answer against the peer it came from, once per interval per peer', async () => {
    const lines: unknown[][] = []
    const log = Object.assign((..._args: unknown[]) => undefined, {
      error: (...args: unknown[]) => lines.push(args),
      trace: () => undefined,
      enabled: true,
    })
    const guard = new AnswerGuard({
      dispatchPeer: () => undefined,
      reporter: () => undefined,
      log: log as never,
      warnings: new IntervalGate(60_000, 16, () => 0),
    })
    const send: SendRequest = async function* (to) {
      yield {
        name: 'QUERY_ERROR',
        type: 3,
        from: to,
        error: new AnswerRejectedError('too_large', 'x'),
      } as never
    }
    const watched = guard.watch(send)
    for (const to of [A, A, B]) {
      const events = []
      for await (const event of watched(to, {}, {})) events.push(event.name)
      expect(events).toEqual(['QUERY_ERROR']) // events pass through unchanged
    }
    expect(lines.map((line) => String(line[1]))).toEqual([A.toString(), B.toString()])
  })
})
