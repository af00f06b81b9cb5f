import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it } from 'vitest'
import {
  expectNever,
  seededRandom,
  seedMessage,
  TEST_SEED_ENV,
  testSeed,
  WaitTimeoutError,
  waitFor,
} from '../src/testing.js'

/** An EventTarget that counts its listeners, to check that a wait cleans up. */
class CountingTarget extends EventTarget {
  listeners = 0
  override addEventListener(...args: Parameters<EventTarget['addEventListener']>): void {
    this.listeners++
    super.addEventListener(...args)
  }
  override removeEventListener(...args: Parameters<EventTarget['removeEventListener']>): void {
    this.listeners--
    super.removeEventListener(...args)
  }
}

describe('waitFor', () => {
  it('re-checks on the given events only, and removes its listeners', async () => {
    const target = new CountingTarget()
    let value = 0
    let checks = 0
    const waiting = waitFor(
      () => {
        checks++
        return value === 2
      },
      { on: { target, events: ['change'] }, what: 'value 2' },
    )
    expect(target.listeners).toBe(1)
    await new Promise(setImmediate)
    expect(checks).toBe(1) // the first check, at once
    value = 2 // no event: not seen yet
    await new Promise(setImmediate)
    expect(checks).toBe(1)
    target.dispatchEvent(new Event('change'))
    await waiting
    expect(checks).toBe(2)
    expect(target.listeners).toBe(0)
  })

  it('listens to Node EventEmitters too, and checks once more when an event came during an async check', async () => {
    const emitter = new EventEmitter()
    let value = 0
    let release: (() => void) | undefined
    const waiting = waitFor(
      async () => {
        const seen = value
        if (seen === 0) await new Promise<void>((resolve) => (release = resolve))
        return seen === 1
      },
      { on: { target: emitter, events: ['change'] } },
    )
    await new Promise(setImmediate)
    value = 1
    emitter.emit('change') // arrives while the first check still runs
    release?.()
    await waiting
    expect(emitter.listenerCount('change')).toBe(0)
  })

  it('polls where no event is given', async () => {
    const started = Date.now()
    await waitFor(() => Date.now() - started >= 30, { pollMs: 5 })
  })

  it('fails past its limit naming what, how long and what re-checked it', async () => {
    const target = new EventTarget()
    const error = await waitFor(() => false, {
      on: { target, events: ['peer:add', 'peer:remove'] },
      timeoutMs: 20,
      what: () => 'a full table (now 1)',
    }).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(WaitTimeoutError)
    expect((error as Error).message).toBe(
      'timed out after 20 ms waiting for a full table (now 1) (re-checked on peer:add, peer:remove)',
    )
    const polled = await waitFor(() => false, { timeoutMs: 20, pollMs: 5, what: 'x' }).catch((e: Error) => e)
    expect((polled as Error).message).toBe(
      'timed out after 20 ms waiting for x (re-checked on a poll every 5 ms)',
    )
  })

  it('fails with the error of a predicate that throws', async () => {
    await expect(
      waitFor(() => {
        throw new Error('daemon gone')
      }),
    ).rejects.toThrow('daemon gone')
  })
})

describe('expectNever', () => {
  it('resolves when the predicate stays false for the window', async () => {
    await expectNever(() => false, { forMs: 20, what: 'anything' })
  })

  it('fails as soon as an event makes it hold', async () => {
    const target = new EventTarget()
    let happened = false
    const started = performance.now()
    const watching = expectNever(() => happened, {
      forMs: 10_000,
      on: { target, events: ['stream'] },
      what: 'a new stream',
    })
    happened = true
    target.dispatchEvent(new Event('stream'))
    await expect(watching).rejects.toThrow('a new stream happened within 10000 ms')
    expect(performance.now() - started).toBeLessThan(1_000)
  })
})

describe('seeded random choices', () => {
  const saved = process.env[TEST_SEED_ENV]
  afterEach(() => {
    if (saved == null) delete process.env[TEST_SEED_ENV]
    else process.env[TEST_SEED_ENV] = saved
  })

  it('repeat for the same seed and differ for another', () => {
    const draw = (seed: number) => {
      const random = seededRandom(seed)
      return [random.next(), random.int(10), random.pick(['a', 'b', 'c']), [...random.bytes(4)]]
    }
    expect(draw(42)).toEqual(draw(42))
    expect(draw(42)).not.toEqual(draw(43))
    const random = seededRandom(7)
    for (let i = 0; i < 1_000; i++) {
      const x = random.next()
      expect(x >= 0 && x < 1).toBe(true)
    }
    const sample = seededRandom(7).sample([1, 2, 3, 4, 5], 3)
    expect(new Set(sample).size).toBe(3)
    expect(seededRandom(7).sample([1, 2], 5).sort()).toEqual([1, 2])
  })

  it('take the seed from NSN_TEST_SEED to replay a run, and name it in the failure line', () => {
    process.env[TEST_SEED_ENV] = '123456'
    expect(testSeed()).toBe(123456)
    expect(seedMessage()).toBe(
      'random choices of this test were seeded with 123456: replay them with NSN_TEST_SEED=123456',
    )
    process.env[TEST_SEED_ENV] = 'soon'
    expect(() => testSeed()).toThrow('NSN_TEST_SEED must be an integer in [0, 2^32), got "soon"')
    delete process.env[TEST_SEED_ENV]
    const drawn = testSeed()
    expect(Number.isInteger(drawn)).toBe(true)
    expect(testSeed()).toBe(drawn) // one seed for the whole file
  })
})
