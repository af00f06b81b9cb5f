import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { PeerInfo } from '@libp2p/interface'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { PacedRandomWalk } from '../src/paced-random-walk.js'

const LONELY_HOST = fileURLToPath(new URL('./fixtures/lonely-public-host.mjs', import.meta.url))

/**
 * A peer routing whose lookups find `results[n]` peers on the n-th call (none past the
 * list), ending at once. Past `spinGuard` calls each lookup first waits a macrotask, so
 * a walk that spins cannot freeze the test: it only makes too many calls.
 */
function stubRouting(results: number[] = [], spinGuard = 50) {
  const calls: number[] = []
  const peer = (i: number) => ({ id: { toString: () => `peer-${i}` }, multiaddrs: [] }) as unknown as PeerInfo
  return {
    calls,
    peerRouting: {
      async *getClosestPeers(): AsyncGenerator<PeerInfo> {
        calls.push(Date.now())
        if (calls.length > spinGuard) await new Promise((resolve) => setImmediate(resolve))
        for (let i = 0; i < (results[calls.length - 1] ?? 0); i++) yield peer(i)
      },
    },
  }
}

describe('a paced random walk', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('waits between lookups that find no peer, doubling the wait up to the cap, and resets once one finds peers', async () => {
    vi.useFakeTimers()
    const { calls, peerRouting } = stubRouting([0, 0, 0, 0, 0, 2, 0])
    const walk = new PacedRandomWalk({ peerRouting }, { interval: 1_000, maxBackoff: 4_000 })
    const controller = new AbortController()
    const peers: string[] = []
    const walking = (async () => {
      for await (const peer of walk.walk({ signal: controller.signal })) peers.push(peer.id.toString())
    })()
    const ended = walking.catch((err: unknown) => err)
    await vi.advanceTimersByTimeAsync(0)
    expect(calls).toHaveLength(1)
    // the waits after each empty lookup: 1 s, 2 s, 4 s, 4 s (the cap)
    for (const [wait, total] of [
      [1_000, 2],
      [2_000, 3],
      [4_000, 4],
      [4_000, 5],
    ] as const) {
      await vi.advanceTimersByTimeAsync(wait - 1)
      expect(calls).toHaveLength(total - 1)
      await vi.advanceTimersByTimeAsync(1)
      expect(calls).toHaveLength(total)
    }
    // the 5th wait of 4 s, then a lookup that finds two peers; the next one comes 1 s later
    await vi.advanceTimersByTimeAsync(4_000)
    expect(calls).toHaveLength(6)
    expect(peers).toEqual(['peer-0', 'peer-1'])
    await vi.advanceTimersByTimeAsync(1_000)
    expect(calls).toHaveLength(7)
    // then an empty one: back to the shortest wait
    await vi.advanceTimersByTimeAsync(1_000)
    expect(calls).toHaveLength(8)
    controller.abort(new Error('done walking'))
    expect(await ended).toEqual(new Error('done walking'))
    await vi.advanceTimersByTimeAsync(60_000)
    expect(calls).toHaveLength(8)
  })

  it('makes one lookup per interval when every lookup ends at once with no peer (libp2p’s walk spins)', async () => {
    const { calls, peerRouting } = stubRouting()
    const walk = new PacedRandomWalk({ peerRouting }, { interval: 1_000, maxBackoff: 30_000 })
    const controller = new AbortController()
    const ended = (async () => {
      for await (const _ of walk.walk({ signal: controller.signal })) {
        // no peer is ever found
      }
    })().catch((err: unknown) => err)
    await new Promise((resolve) => setTimeout(resolve, 300))
    controller.abort()
    expect((await ended) as Error).toHaveProperty('name', 'AbortError')
    expect(calls).toHaveLength(1)
  })

  it('ends with the lookup’s error when a lookup throws', async () => {
    const failure = new Error('no peer routers')
    const walk = new PacedRandomWalk({
      peerRouting: {
        // biome-ignore lint/correctness/useYield: a lookup that fails before its first peer
        async *getClosestPeers(): AsyncGenerator<PeerInfo> {
          throw failure
        },
      },
    })
    await expect(walk.walk().next()).rejects.toBe(failure)
  })

  it('rejects an interval that is not positive, or a cap below the interval', () => {
    const peerRouting = stubRouting().peerRouting
    expect(() => new PacedRandomWalk({ peerRouting }, { interval: 0 })).toThrow(RangeError)
    expect(() => new PacedRandomWalk({ peerRouting }, { interval: 2_000, maxBackoff: 1_000 })).toThrow(
      RangeError,
    )
  })

  it('a public host alone on the network keeps its event loop turning once it looks for relays', async () => {
    // a separate process: with libp2p's own walk the host's event loop stops for good,
    // and this test's with it if it ran here
    const child = spawn(process.execPath, [LONELY_HOST], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk
    })
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const code = await exited.finally(() => clearTimeout(timer))
    expect(code, `the host froze or failed: ${err}`).toBe(0)
    const { lateMs } = JSON.parse(out.trim()) as { lateMs: number }
    // a frozen loop never fires the timer; a loaded machine may fire it late by a little
    expect(lateMs).toBeLessThan(2_000)
  })
})
