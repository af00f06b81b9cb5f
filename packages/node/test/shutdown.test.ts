/**
 * SIGTERM while a lookup hangs on a peer that never answers: the daemon exits 0 within
 * 5 s, the client gets a clear answer, and the data dir is usable afterwards.
 */
import { createSilentPeer, type SilentPeer, silentPeerEvents } from '@nsn/core/testing'
import { afterAll, describe, expect, it } from 'vitest'
import { api, Daemon, hash, LOOPBACK_FLAGS, runBin, TempDirs, waitFor } from './helpers.js'

const dirs = new TempDirs()
const daemons: Daemon[] = []
let silent: SilentPeer | undefined
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()))
  await silent?.stop()
  await dirs.cleanup()
})

describe('graceful stop', () => {
  it('SIGTERM during a running lookup exits 0 within 5 s and leaves the data dir usable', async () => {
    silent = await createSilentPeer()
    const dataDir = await dirs.make()
    const args = [
      ...LOOPBACK_FLAGS,
      '--data-dir',
      dataDir,
      '--query-timeout',
      '60000',
      '--log-level',
      'debug',
    ]
    const d = new Daemon([...args, '--bootstrap', silent.addr.toString()])
    daemons.push(d)
    const ready = await d.ready()
    await waitFor(
      async () =>
        ((await api(ready.api, 'GET', '/v1/peers')).body as { peers: unknown[] }).peers.length === 1,
      {
        what: 'the silent peer in the routing table',
      },
    )

    // a CLI lookup that can only hang: its one peer never answers, and the deadline is 60 s
    const streamsBefore = silent.streams.length
    const find = runBin(['find', hash('9f'), '--api', ready.api])
    await d.waitForLog((r) => r.msg === 'request received' && String(r.path).endsWith('/providers'), {
      what: 'the daemon to receive the lookup',
    })
    await waitFor(() => silent!.streams.length > streamsBefore, {
      on: silentPeerEvents(silent),
      what: 'the lookup to reach the silent peer',
    })
    expect(await Promise.race([find.then(() => 'ended'), Promise.resolve('running')])).toBe('running')

    const exit = await d.stop('SIGTERM', 5_000)
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.ms).toBeLessThan(5_000)
    const client = await find
    expect(client.code).toBe(1)
    expect(client.stderr).toBe('error: node is stopping (ERR_STOPPING)\n')
    expect(d.logs.map((r) => r.msg)).toEqual(expect.arrayContaining(['signal received: stopping', 'stopped']))
    expect(d.logs.filter((r) => r.level === 'error')).toEqual([])

    // the data dir is usable: a restart on it has the same peer id and stops cleanly again
    const again = new Daemon(args)
    daemons.push(again)
    expect((await again.ready()).peerId).toBe(ready.peerId)
    expect(await again.stop('SIGTERM', 5_000)).toMatchObject({ code: 0, signal: null })
  })
})
