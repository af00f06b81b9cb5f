// libp2p's connection monitor and a busy peer: libp2p aborts a connection, with every DHT
// request on it, at the first ping answered later than its timeout, whose floor is 5 s,
// and pings waiting longer than the interval pile up in the ping protocol's few streams,
// where kad-dht's own pings of routing-table contacts then fail (the peer is refused or
// evicted). Measured with 100 idle nodes in one process (bench/idle-probe.mjs): with the
// monitor at libp2p's 10 s and 5 s, median 4 connections and 4 routing-table peers and
// 1210 connections closed; at 1 min and 30 s 23 and 18, none closed; off, 24 and 20. NSN's
// host pings every 2 min and waits up to 30 s, never more than half the interval
// (CONNECTION_MONITOR_PING_TIMEOUT).
import type { Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { CONNECTION_MONITOR_INTERVAL, CONNECTION_MONITOR_PING_TIMEOUT } from '../src/constants.js'
import { createNsnHost, nsnHostOptions } from '../src/host.js'
import { routingTableOf } from '../src/kad-internals.js'
import { routingTableEvents, waitFor } from '../src/testing.js'

const PING = '/ipfs/ping/1.0.0'
/** Longer than libp2p's own floor of the ping timeout (5 s), far below NSN's. */
const BUSY_MS = 6_000

describe('the connection monitor', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('pings every 2 min by default and waits at most half the interval for an answer', () => {
    const floor = { minTimeout: CONNECTION_MONITOR_PING_TIMEOUT, maxTimeout: CONNECTION_MONITOR_INTERVAL / 2 }
    expect(nsnHostOptions().connectionMonitor).toEqual({
      enabled: true,
      pingInterval: CONNECTION_MONITOR_INTERVAL,
      pingTimeout: floor,
    })
    // one monitor ping per connection at a time: the wait never reaches the next ping
    expect(nsnHostOptions({ connectionMonitorInterval: 1_000 }).connectionMonitor).toEqual({
      enabled: true,
      pingInterval: 1_000,
      pingTimeout: { minTimeout: 500, maxTimeout: 500 },
    })
    expect(
      nsnHostOptions({ connectionMonitorInterval: 300_000, connectionMonitorTimeout: 90_000 })
        .connectionMonitor,
    ).toEqual({
      enabled: true,
      pingInterval: 300_000,
      pingTimeout: { minTimeout: 90_000, maxTimeout: 150_000 },
    })
    expect(nsnHostOptions({ connectionMonitorInterval: 0 }).connectionMonitor).toEqual({ enabled: false })
    expect(nsnHostOptions({ profile: 'local' }).connectionMonitor).toEqual({ enabled: false })
  })

  it(
    'keeps the connection and the routing-table entry of a peer that answers a ping late',
    async () => {
      // the monitor's schedule on a fake clock (its ping timeouts and the peer's delay are real)
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
      const watcher = await createNsnHost({
        profile: 'local',
        connectionMonitorInterval: CONNECTION_MONITOR_INTERVAL,
      })
      const busy = await createNsnHost({ profile: 'local' })
      try {
        // once busy, the peer answers pings BUSY_MS late (its own monitor stays off)
        let busyNow = false
        let lateAnswers = 0
        const answers = new EventTarget()
        await busy.unhandle(PING)
        await busy.handle(
          PING,
          async (stream: Stream) => {
            for await (const chunk of stream) {
              const late = busyNow
              if (late) await new Promise((resolve) => setTimeout(resolve, BUSY_MS))
              stream.send(chunk)
              if (late) {
                lateAnswers++
                answers.dispatchEvent(new Event('late'))
              }
            }
            await stream.close()
          },
          { maxInboundStreams: 64, runOnLimitedConnection: true },
        )
        const closed: string[] = []
        watcher.addEventListener('connection:close', (evt) => closed.push(evt.detail.remotePeer.toString()))
        await watcher.dial(busy.getMultiaddrs())
        const table = routingTableOf(watcher.services.dht)
        await waitFor(async () => (await table.find(busy.peerId)) != null, {
          on: routingTableEvents(watcher),
          what: 'the busy peer in the routing table',
        })
        busyNow = true
        vi.advanceTimersByTime(CONNECTION_MONITOR_INTERVAL) // the monitor pings now
        // libp2p's floor (5 s) would have aborted the connection before this answer
        // (no polling wait: setInterval is fake here)
        await waitFor(() => lateAnswers > 0, {
          on: { target: answers, events: ['late'] },
          what: 'a late ping answer',
          timeoutMs: BUSY_MS * 2,
        })
        expect(closed).toEqual([])
        expect(watcher.getConnections(busy.peerId)).toHaveLength(1)
        expect(await table.find(busy.peerId)).toBeDefined()
      } finally {
        await Promise.all([watcher.stop(), busy.stop()])
      }
    },
    BUSY_MS * 4,
  )
})
