// libp2p's own debug output through the node's logger: the namespaces (--debug, else
// DEBUG) select the lines, each a JSON line under --log-json, whatever --log-level says.
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { afterAll, describe, expect, it } from 'vitest'
import { createLogger, debugNamespaces, formatLibp2pMessage, libp2pComponentLogger } from '../src/index.js'
import { Daemon, LOOPBACK_FLAGS, TempDirs } from './helpers.js'

const dirs = new TempDirs()
afterAll(() => dirs.cleanup())

const PEER = '12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA'

function sink(level: 'info' | 'debug' = 'info'): {
  log: ReturnType<typeof createLogger>
  records: () => Array<Record<string, unknown>>
} {
  const lines: string[] = []
  return {
    log: createLogger({ level, json: true, stream: { write: (l: string) => lines.push(l) } }).child({
      module: 'libp2p',
    }),
    records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

describe('debug namespaces', () => {
  it('debug syntax: commas or spaces, * wildcards, -exclusions win', () => {
    const ns = debugNamespaces('libp2p:kad-dht*, libp2p:dialer -libp2p:kad-dht:network*')
    expect(ns.enabled('libp2p:kad-dht')).toBe(true)
    expect(ns.enabled('libp2p:kad-dht:query')).toBe(true)
    expect(ns.enabled('libp2p:kad-dht:network')).toBe(false)
    expect(ns.enabled('libp2p:dialer')).toBe(true)
    expect(ns.enabled('libp2p:dialer:x')).toBe(false)
    expect(ns.enabled('libp2p:tcp')).toBe(false)
    expect(ns.trace).toBe(false)
    expect(debugNamespaces('').enabled('libp2p')).toBe(false)
    expect(debugNamespaces(undefined).enabled('libp2p')).toBe(false)
    expect(debugNamespaces('libp2p:*').enabled('libp2p:tcp:error')).toBe(true)
    expect(debugNamespaces('a.b').enabled('aXb')).toBe(false) // a dot is a dot
    expect(debugNamespaces('libp2p:*:trace').trace).toBe(true)
  })

  it("formats libp2p's format specifiers", () => {
    const bytes = Uint8Array.from([0, 1, 2, 3])
    const err = Object.assign(new Error('dial failed'), { code: 'ERR_X' })
    const { msg, err: found } = formatLibp2pMessage('peer %p at %a: %b %t %m %s %d %e %j %%', [
      peerIdFromString(PEER),
      multiaddr('/ip4/10.0.0.1/tcp/9000'),
      bytes,
      bytes,
      bytes,
      'text',
      '42',
      err,
      { a: 1 },
    ])
    expect(msg).toBe(
      `peer ${PEER} at /ip4/10.0.0.1/tcp/9000: 1Ldp aaaqeay AAECAw text 42 dial failed {"a":1} %`,
    )
    expect(found).toBe(err)
    expect(formatLibp2pMessage('left %s', ['a', 'b', 3]).msg).toBe('left a b 3')
  })
})

describe('libp2pComponentLogger', () => {
  it('writes the enabled namespaces as JSON lines at debug, whatever the logger’s level', () => {
    const { log, records } = sink('info')
    const logger = libp2pComponentLogger(log, 'libp2p:kad-dht*')
    const kad = logger.forComponent('libp2p:kad-dht')
    const tcp = logger.forComponent('libp2p:tcp')
    expect(kad.enabled).toBe(true)
    expect(tcp.enabled).toBe(false)
    kad('query %s for %p', 'q1', peerIdFromString(PEER))
    kad.newScope('network')('sent %d messages', 3)
    kad.error('stream reset %e', new Error('reset'))
    kad.trace('not without a :trace namespace')
    tcp('not enabled')
    tcp.error('not enabled either')
    expect(records()).toEqual([
      expect.objectContaining({
        level: 'debug',
        module: 'libp2p',
        component: 'libp2p:kad-dht',
        msg: `query q1 for ${PEER}`,
      }),
      expect.objectContaining({
        level: 'debug',
        component: 'libp2p:kad-dht:network',
        msg: 'sent 3 messages',
      }),
      expect.objectContaining({
        level: 'debug',
        component: 'libp2p:kad-dht:error',
        msg: 'stream reset reset',
        err: expect.objectContaining({ name: 'Error', message: 'reset' }),
      }),
    ])
  })

  it('traces only with a :trace namespace; nothing at all without namespaces', () => {
    const traced = sink()
    libp2pComponentLogger(traced.log, 'libp2p:tcp,libp2p:tcp:trace')
      .forComponent('libp2p:tcp')
      .trace('t %s', 1)
    expect(traced.records()).toEqual([expect.objectContaining({ component: 'libp2p:tcp:trace', msg: 't 1' })])
    const none = sink('debug')
    const log = libp2pComponentLogger(none.log, undefined).forComponent('libp2p')
    log('x')
    log.error('y')
    expect(none.records()).toEqual([])
  })
})

describe("libp2p's debug output of a daemon", () => {
  it.each([
    ['--debug', (ns: string) => ({ args: ['--debug', ns], env: {} })],
    ['DEBUG', (ns: string) => ({ args: [], env: { DEBUG: ns } })],
  ] as const)(
    'under --log-json with %s: JSON lines of the libp2p components asked, nothing else on stderr',
    async (_name, how) => {
      const { args, env } = how('libp2p:kad-dht*,libp2p:connection-manager*')
      const daemon = new Daemon([...LOOPBACK_FLAGS, '--data-dir', await dirs.make(), ...args], env)
      try {
        await daemon.ready()
        const record = await daemon.waitForLog((r) => r.module === 'libp2p', { what: 'a libp2p line' })
        expect(record).toMatchObject({
          level: 'debug',
          component: expect.stringMatching(/^libp2p:(kad-dht|connection-manager)/),
        })
        expect(typeof record.time).toBe('string')
        const components = new Set(
          daemon.logs.filter((r) => r.module === 'libp2p').map((r) => String(r.component)),
        )
        for (const c of components) expect(c).toMatch(/^libp2p:(kad-dht|connection-manager)/)
        // the log level stayed info: no debug line of the node's own modules
        expect(daemon.logs.filter((r) => r.level === 'debug' && r.module !== 'libp2p')).toEqual([])
        await daemon.stop()
        expect(daemon.otherLines.filter((l) => l.trim() !== '')).toEqual([])
      } finally {
        await daemon.kill()
      }
    },
  )
})
