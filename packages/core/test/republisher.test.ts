import { ShardRegistry } from '@nsn/shard-registry'
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { ProvidedShardEntry } from '../src/provided-shards.js'
import { type PublishFn, Republisher, type RepublishRun } from '../src/republisher.js'

const hash = (byte: number): Uint8Array => new Uint8Array(32).fill(byte)

/** A registry in memory and a republisher whose publish is a stub: no libp2p, no sockets. */
function setup(publish: PublishFn, options: { concurrency?: number; busy?: Set<string> } = {}) {
  const registry = new ShardRegistry({ capacity: 10, republishInterval: 1_000, republishJitter: 1 })
  const runs: RepublishRun[] = []
  const republisher = new Republisher(registry, publish, {
    checkInterval: 60_000,
    concurrency: options.concurrency ?? 2,
    retryDelay: 500,
    isBusy: (entry) => options.busy?.has(entry.hex) === true,
    onRun: (run) => runs.push(run),
  })
  return { registry, republisher, runs }
}

/** A publish that hangs until its signal aborts; `begun` resolves once it was called. */
function hangingPublish(): { publish: PublishFn; begun: Promise<void> } {
  let started: (() => void) | undefined
  const begun = new Promise<void>((resolve) => {
    started = resolve
  })
  const publish: PublishFn = (_entry, signal) =>
    new Promise<number>((_resolve, reject) => {
      started?.()
      signal.addEventListener('abort', () => reject(signal.reason), { once: true })
    })
  return { publish, begun }
}

describe('Republisher (stubs, fake clock)', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('republishes each shard when it falls due, and only then', async () => {
    vi.useFakeTimers()
    const published: string[] = []
    const { registry, republisher, runs } = setup(async (entry) => {
      published.push(entry.hex)
      return 20
    })
    await registry.add(hash(1))
    await registry.markPublished(hash(1))
    republisher.start()
    await vi.advanceTimersByTimeAsync(990)
    expect(published).toEqual([])
    await vi.advanceTimersByTimeAsync(20)
    expect(published).toEqual([(await registry.get(hash(1)))?.hex])
    expect(runs.at(-1)).toMatchObject({ republished: 1, failed: 0 })
    // marked published again: the next turn is one interval later
    expect((await registry.get(hash(1)))?.republishAt).toBeGreaterThan(Date.now() + 900)
    await republisher.stop()
    expect(vi.getTimerCount()).toBe(0)
  })

  it('retries a failed republish after the retry delay', async () => {
    vi.useFakeTimers()
    let attempts = 0
    const { registry, republisher, runs } = setup(async () => {
      attempts++
      if (attempts === 1) throw new Error('nobody answered')
      return 3
    })
    await registry.add(hash(2))
    republisher.start()
    republisher.schedule()
    await vi.advanceTimersByTimeAsync(1)
    expect(attempts).toBe(1)
    expect(runs.at(-1)).toMatchObject({ republished: 0, failed: 1 })
    // the first attempt ran at the start (0 ms); the retry is due 500 ms after it
    await vi.advanceTimersByTimeAsync(497)
    expect(attempts).toBe(1)
    await vi.advanceTimersByTimeAsync(3)
    expect(attempts).toBe(2)
    expect(runs.at(-1)).toMatchObject({ republished: 1, failed: 0 })
    await republisher.stop()
  })

  it('leaves shards a provide call is publishing alone, and runs at most `concurrency` at once', async () => {
    const busy = new Set<string>()
    let running = 0
    let peak = 0
    const seen: string[] = []
    const { registry, republisher } = setup(
      async (entry) => {
        seen.push(entry.hex)
        running++
        peak = Math.max(peak, running)
        // a macrotask: the other workers reach their publish meanwhile
        await new Promise((resolve) => setImmediate(resolve))
        running--
        return 1
      },
      { concurrency: 2, busy },
    )
    for (let i = 1; i <= 6; i++) await registry.add(hash(i))
    const skipped = (await registry.get(hash(3))) as ProvidedShardEntry
    busy.add(skipped.hex)
    republisher.start()
    const run = await republisher.runNow({ all: true })
    expect(run.republished).toBe(5)
    expect(seen).not.toContain(skipped.hex)
    expect(peak).toBe(2)
    await republisher.stop()
  })

  it('aborts the in-flight republish of a shard that leaves the registry, without counting a failure', async () => {
    const { publish, begun } = hangingPublish()
    const { registry, republisher } = setup(publish)
    await registry.add(hash(7))
    republisher.start()
    const run = republisher.runNow({ all: true })
    await begun
    const entry = (await registry.get(hash(7))) as ProvidedShardEntry
    await registry.delete(hash(7))
    republisher.cancel(entry.hex)
    expect(await run).toMatchObject({ republished: 0, failed: 0 })
    await republisher.stop()
  })

  it('stop() aborts a running run and clears its timer', async () => {
    const { publish, begun } = hangingPublish()
    const { registry, republisher } = setup(publish)
    await registry.add(hash(8))
    republisher.start()
    const run = republisher.runNow({ all: true }).catch((err: unknown) => err)
    await begun
    await republisher.stop()
    expect(await run).toBeInstanceOf(Error)
  })
})
