/**
 * Real daemons as child processes (the built bin) over real TCP on 127.0.0.1, driven
 * through the CLI and the HTTP API.
 */
import { once } from 'node:events'
import { createServer } from 'node:net'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { peerIdFromString } from '@libp2p/peer-id'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterAll, describe, expect, it } from 'vitest'
import {
  api,
  closedPort,
  Daemon,
  hash,
  LOOPBACK_FLAGS,
  type Ready,
  runBin,
  TempDirs,
  waitFor,
} from './helpers.js'

const dirs = new TempDirs()
const daemons: Daemon[] = []
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()))
  await dirs.cleanup()
})

function daemon(args: string[]): Daemon {
  const d = new Daemon([...LOOPBACK_FLAGS, ...args])
  daemons.push(d)
  return d
}

async function peerCount(address: string): Promise<number> {
  const { body } = await api(address, 'GET', '/v1/peers')
  return (body as { peers: unknown[] }).peers.length
}

describe('the built bin', () => {
  it('--help works', async () => {
    const { code, stdout, stderr } = await runBin(['--help'])
    expect(code).toBe(0)
    expect(stdout).toContain('Usage: nsn-node [global options] <command> [options]')
    expect(stderr).toBe('')
  })

  it('a client verb with the daemon down exits 3 with one clear line', async () => {
    const port = await closedPort()
    const { code, stdout, stderr } = await runBin(['find', hash('ab'), '--api', `127.0.0.1:${port}`])
    expect(code).toBe(3)
    expect(stdout).toBe('')
    expect(stderr).toBe(
      `error: cannot reach the nsn-node daemon at 127.0.0.1:${port} (connection refused): is it running? (start it with: nsn-node start)\n`,
    )
  })

  it('start with the API port in use exits 1 with a clear error', async () => {
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const { port } = blocker.address() as { port: number }
    try {
      const dataDir = await dirs.make()
      const { code, stderr } = await runBin([
        'start',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--metrics',
        'off',
        '--api',
        `127.0.0.1:${port}`,
        '--data-dir',
        dataDir,
      ])
      expect(code).toBe(1)
      expect(stderr).toContain(
        `error: API cannot listen on 127.0.0.1:${port}: the address is already in use (is another nsn-node running? choose another address with --api)\n`,
      )
      expect(stderr).not.toMatch(/\n\s+at /) // no stack trace
    } finally {
      blocker.close()
    }
  })

  it('start with a malformed multiaddr flag exits 2', async () => {
    const { code, stderr } = await runBin(['start', '--bootstrap', '/tcp/notaport'])
    expect(code).toBe(2)
    expect(stderr).toMatch(
      /^error: invalid config: bootstrap\[0\]: "\/tcp\/notaport" is not a valid multiaddr .*\(from --bootstrap\)\n$/,
    )
  })
})

describe('three daemons', () => {
  it('provide via the CLI on one, find via the CLI on another, dial the provider; a restart keeps id and shards', async () => {
    const shard = hash('5a')
    const dataA = await dirs.make()
    let a = daemon(['--data-dir', dataA])
    const readyA = await a.ready()
    const seed = readyA.addrs[0] as string
    const b = daemon(['--data-dir', await dirs.make(), '--bootstrap', seed])
    const c = daemon(['--data-dir', await dirs.make(), '--bootstrap', seed])
    const [readyB, readyC] = (await Promise.all([b.ready(), c.ready()])) as [Ready, Ready]
    await waitFor(
      async () =>
        (await Promise.all([readyA, readyB, readyC].map((r) => peerCount(r.api)))).every((n) => n === 2),
      { what: 'every routing table to hold the two others', timeoutMs: 15_000 },
    )

    // bad input: the CLI exits 2 before calling; the API answers 400
    const bad = await runBin(['provide', 'not-a-hash', '--api', readyA.api])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toBe(
      'error: invalid shard key "not-a-hash": must contain only hex characters 0-9 a-f\n',
    )
    expect((await api(readyA.api, 'PUT', '/v1/shards/not-a-hash')).status).toBe(400)

    const provided = await runBin(['provide', shard, '--api', readyA.api, '--json'])
    expect(provided.code, provided.stderr).toBe(0)
    expect(JSON.parse(provided.stdout)).toMatchObject({
      hash: shard,
      confirmed: 2,
      sentTo: 2,
      quorum: 2,
      belowQuorum: false,
    })

    const found = await runBin(['find', shard, '--api', readyC.api, '--json'])
    expect(found.code, found.stderr).toBe(0)
    const result = JSON.parse(found.stdout) as {
      providers: Array<{ peerId: string; addrs: string[] }>
      partial: boolean
    }
    expect(result.partial).toBe(false)
    const provider = result.providers.find((p) => p.peerId === readyA.peerId)
    expect(provider?.addrs.length).toBeGreaterThan(0)

    const human = await runBin(['find', shard, '--api', readyB.api])
    expect(human.code).toBe(0)
    expect(human.stdout).toMatch(
      new RegExp(`^found 1 provider for ${shard} in [\\d.]+ ms\\n {2}${readyA.peerId} {2}/ip4/`),
    )

    // the returned addresses are dialable: a fresh node dials them and meets the provider's peer id
    const dialer = await createLibp2p({
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionMonitor: { enabled: false },
    })
    try {
      const connection = await dialer.dial(
        (provider?.addrs ?? []).map((addr) => multiaddr(addr).encapsulate(`/p2p/${readyA.peerId}`)),
      )
      expect(connection.remotePeer.equals(peerIdFromString(readyA.peerId))).toBe(true)
    } finally {
      await dialer.stop()
    }

    // restart A on the same data dir and port: same peer id, its shard restored and republished
    const exit = await a.stop('SIGTERM')
    expect(exit).toMatchObject({ code: 0, signal: null })
    const port = multiaddr(seed)
      .getComponents()
      .find((c) => c.name === 'tcp')?.value
    a = daemon([
      '--data-dir',
      dataA,
      '--listen',
      `/ip4/127.0.0.1/tcp/${port}`,
      '--bootstrap',
      readyB.addrs[0] as string,
    ])
    const again = await a.ready()
    expect(again.peerId).toBe(readyA.peerId)
    expect(again).toMatchObject({ shards: 1 })
    const shards = (await api(again.api, 'GET', '/v1/shards')).body as { shards: Array<{ hash: string }> }
    expect(shards.shards.map((s) => s.hash)).toEqual([shard])
    const republished = await a.waitForLog((r) => r.msg === 'republished restored shards', {
      what: 'the republish of restored shards',
    })
    // the sweep resumes its cycle: only the regions whose turn passed while it was down are
    // republished (none, a moment after the first start), not every restored shard at once
    expect(republished).toMatchObject({ restored: 1, republished: 0, failed: 0 })
    const refound = await runBin(['find', shard, '--api', readyB.api, '--json'])
    expect(refound.code, refound.stderr).toBe(0)
    expect((JSON.parse(refound.stdout) as typeof result).providers.map((p) => p.peerId)).toContain(
      readyA.peerId,
    )

    const exits = await Promise.all([a, b, c].map((d) => d.stop('SIGINT')))
    for (const e of exits) expect(e).toMatchObject({ code: 0, signal: null })
  })
})
