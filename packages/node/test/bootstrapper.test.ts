// The bootstrapper's refresh right after the first successful bootstrap, on a stub target.
import type { BootstrapResult, RefreshResult } from '@nsn/core'
import { describe, expect, it, vi } from 'vitest'
import { Bootstrapper, createLogger } from '../src/index.js'

const BOOTSTRAPPED: BootstrapResult = {
  connected: 1,
  failed: 0,
  routingTableSize: 1,
  durationMs: 1,
  partial: false,
}
const REFRESHED: RefreshResult = {
  removed: 0,
  checked: 0,
  sizeBefore: 1,
  sizeAfter: 7,
  lookups: 3,
  skipped: 0,
  failedLookups: 0,
  errors: [],
  durationMs: 2,
}

function recordingLog() {
  const lines: string[] = []
  const log = createLogger({
    json: true,
    level: 'debug',
    stream: { write: (line: string) => lines.push(line) },
  })
  return { log, lines: () => lines.map((line) => JSON.parse(line) as { msg: string; level: string }) }
}

describe('Bootstrapper', () => {
  it('refreshes the routing table once, right after the first successful bootstrap', async () => {
    let refreshes = 0
    let tableSize = 0
    const target = {
      bootstrap: async () => {
        tableSize = 1
        return BOOTSTRAPPED
      },
      routingTableSize: () => tableSize,
      refresh: async () => {
        refreshes++
        return REFRESHED
      },
    }
    const { log, lines } = recordingLog()
    const bootstrapper = new Bootstrapper(target, { addrs: ['/ip4/127.0.0.1/tcp/1'], log })
    bootstrapper.start()
    expect(await bootstrapper.firstAttempt).toMatchObject({ status: 'bootstrapped' })
    await bootstrapper.stop() // waits for the refresh it started
    expect(refreshes).toBe(1)
    expect(lines().map((l) => l.msg)).toContain('routing table refreshed after bootstrap')
  })

  it('refreshes nothing after a failed attempt, and logs a failed refresh', async () => {
    let refreshes = 0
    const failing = new Bootstrapper(
      {
        bootstrap: async () => {
          throw new Error('nobody there')
        },
        routingTableSize: () => 0,
        refresh: async () => {
          refreshes++
          return REFRESHED
        },
      },
      { addrs: ['/ip4/127.0.0.1/tcp/1'], log: recordingLog().log, retryMin: 3_600_000 },
    )
    failing.start()
    expect(await failing.firstAttempt).toMatchObject({ status: 'failed' })
    await failing.stop()
    expect(refreshes).toBe(0)

    const { log, lines } = recordingLog()
    const bootstrapper = new Bootstrapper(
      {
        bootstrap: async () => BOOTSTRAPPED,
        routingTableSize: () => 1,
        refresh: async () => {
          throw new Error('refresh broke')
        },
      },
      { addrs: ['/ip4/127.0.0.1/tcp/1'], log },
    )
    bootstrapper.start()
    await bootstrapper.firstAttempt
    try {
      await vi.waitFor(() => {
        const warned = lines().find((l) => l.msg === 'routing table refresh after bootstrap failed')
        expect(warned?.level).toBe('warn')
      })
    } finally {
      await bootstrapper.stop()
    }
  })
})
