import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { type DNSResponse, dns, RecordType } from '@multiformats/dns'
import { hooksOf } from '@nsn/core'
import { routingTableEvents } from '@nsn/core/testing'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  createLogger,
  createNsnNode,
  IDENTITY_FILE,
  type LogStream,
  type NsnNode,
  type NsnNodeInit,
  resolveConfig,
  silentLogger,
} from '../src/index.js'
import { TempDirs, type WaitEvents, waitFor } from './helpers.js'

const dirs = new TempDirs()
const nodes: NsnNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})
afterAll(() => dirs.cleanup())

async function node(init: NsnNodeInit = {}): Promise<NsnNode> {
  const n = await createNsnNode({
    profile: 'local',
    api: '127.0.0.1:0',
    metrics: '127.0.0.1:0',
    dataDir: await dirs.make(),
    processMetrics: false,
    logger: silentLogger(),
    ...init,
  })
  nodes.push(n)
  return n
}

/** Collects JSON log lines. */
function jsonLog(): {
  logger: ReturnType<typeof createLogger>
  lines: Array<Record<string, unknown>>
  logged: WaitEvents
} {
  const lines: Array<Record<string, unknown>> = []
  const logged = new EventTarget()
  const stream: LogStream = {
    write: (chunk: string) => {
      lines.push(JSON.parse(chunk) as Record<string, unknown>)
      logged.dispatchEvent(new Event('line'))
    },
  }
  return {
    logger: createLogger({ level: 'info', json: true, stream }),
    lines,
    logged: { target: logged, events: ['line'] },
  }
}

describe('NsnNode: routing-table diversity', () => {
  it('is on in the default (public) profile, and the local profile turns it off and logs it', async () => {
    const plain = await node({ profile: 'public', listen: ['/ip4/127.0.0.1/tcp/0'] })
    expect(hooksOf(plain.libp2p.services.dht).routingAdmission?.diversity?.options).toEqual({
      perBucket: 2,
      perTable: 3,
    })
    const { logger, lines } = jsonLog()
    const local = await node({ logger })
    expect(hooksOf(local.libp2p.services.dht).routingAdmission?.diversity).toBeUndefined()
    // the eviction quarantine stays on
    expect(hooksOf(local.libp2p.services.dht).routingAdmission?.quarantine).toBeDefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        msg: 'host profile local',
        routingDiversity: false,
        maxProvidersPerKeyPerGroup: false,
      }),
    )
  })

  it("the provider store's per-IP-group cap is on in the public profile and off in the local one", async () => {
    const plain = await node({ profile: 'public', listen: ['/ip4/127.0.0.1/tcp/0'] })
    expect(hooksOf(plain.libp2p.services.dht).providerLimits?.options.maxProvidersPerKeyPerGroup).toBe(2)
    const local = await node()
    // every loopback provider is one IP group: a local network would keep 2 providers a key
    expect(hooksOf(local.libp2p.services.dht).providerLimits?.options.maxProvidersPerKeyPerGroup).toBe(false)
  })

  it('turned off under the private profile, it is said in a warning', async () => {
    const { logger, lines } = jsonLog()
    const n = await node({
      profile: 'private',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      routingDiversity: false,
      logger,
    })
    expect(hooksOf(n.libp2p.services.dht).routingAdmission?.diversity).toBeUndefined()
    expect(lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringContaining('routing-table diversity is off'),
      }),
    )
  })
})

describe('NsnNode: network profiles', () => {
  it('public (the default): announces no loopback address, stays a DHT client without a confirmed public address, and says so', async () => {
    const { logger, lines } = jsonLog()
    const n = await node({ profile: 'public', listen: ['/ip4/127.0.0.1/tcp/0'], logger })
    expect(resolveConfig({}).profile).toBe('public')
    expect(n.addresses().addrs).toEqual([])
    expect(n.libp2p.services.dht.getMode()).toBe('client')
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: 'host profile public', announces: 'public addresses only' }),
    )
    const text = await (await fetch(`http://${n.addresses().metrics}/metrics`)).text()
    expect(text).toMatch(/^nsn_p2p_nat_reachability 0$/m)
    expect(text).toMatch(/^nsn_p2p_announced_public_addresses 0$/m)
  })

  it('public: --announce of a public address makes it the announced one and the DHT a server; --no-announce removes one', async () => {
    const n = await node({
      profile: 'public',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      announce: ['/ip4/11.9.8.7/tcp/4001', '/ip4/12.9.8.7/tcp/4001'],
      noAnnounce: ['/ip4/12.9.8.7/tcp/4001'],
    })
    expect(n.addresses().addrs.map((a) => a.replace(/\/p2p\/.*$/, ''))).toEqual(['/ip4/11.9.8.7/tcp/4001'])
    await expect.poll(() => n.libp2p.services.dht.getMode(), { timeout: 5_000 }).toBe('server')
    const text = await (await fetch(`http://${n.addresses().metrics}/metrics`)).text()
    expect(text).toMatch(/^nsn_p2p_nat_reachability 1$/m)
  })
})

describe('NsnNode', () => {
  it('keeps its identity in <dataDir>/identity.key with mode 0600 and serves /metrics', async () => {
    const n = await node()
    const path = join(n.config.dataDir, IDENTITY_FILE)
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const metrics = n.metricsAddress
    expect(metrics).not.toBeNull()
    const text = await (await fetch(`http://${metrics?.host}:${metrics?.port}/metrics`)).text()
    expect(text).toContain('nsn_p2p_kademlia_routing_table_size')
    expect(text).toContain('nsn_p2p_shard_registry_capacity 1000000')
    // the integration tests' eclipse test reads this name from daemons
    expect(text).toContain('nsn_p2p_routing_diversity_refusals_total{reason="table"} 0')
  })

  it('bootstraps from a /dnsaddr seed, retrying with backoff while the routing table is empty', async () => {
    const seed = await node()
    let answer = false
    let queries = 0
    const resolver = dns({
      resolvers: {
        '.': async (fqdn: string): Promise<DNSResponse> => {
          queries++
          if (!answer) throw new Error('SERVFAIL (test resolver)')
          return {
            Status: 0,
            TC: false,
            RD: true,
            RA: true,
            AD: false,
            CD: false,
            Question: [{ name: fqdn, type: RecordType.TXT }],
            Answer: [{ name: fqdn, type: RecordType.TXT, TTL: 60, data: `dnsaddr=${seed.id().addrs[0]}` }],
          }
        },
      },
    })
    const { logger, lines, logged } = jsonLog()
    const joiner = await node({ bootstrap: ['/dnsaddr/seed.nsn.test'], dns: resolver, logger })
    await waitFor(
      () => lines.some((l) => l.msg === 'bootstrap failed; retrying while the routing table is empty'),
      { on: logged, what: 'a failed first bootstrap' },
    )
    expect(joiner.state).toBe('running') // a failed bootstrap does not fail the start
    expect(queries).toBeGreaterThan(0)
    answer = true
    await waitFor(() => joiner.routing.routingTableSize() === 1, {
      on: routingTableEvents(joiner.libp2p),
      what: 'the seed in the routing table',
    })
    await waitFor(() => lines.some((l) => l.msg === 'bootstrapped'), {
      on: logged,
      what: 'the bootstrapped line',
    })
    expect(lines.find((l) => l.msg === 'bootstrapped')).toMatchObject({ module: 'bootstrap', connected: 1 })
  })
})
