// createNsnNode as a library: it resolves once its first bootstrap attempt ended, and it
// runs on a caller's identity and datastore.
import { access, readdir } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isNsnError } from '@nsn/core'
import { kadKeyOf } from '@nsn/shard-registry'
import { MemoryDatastore } from 'datastore-core'
import { LevelDatastore } from 'datastore-level'
import { Key } from 'interface-datastore'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  createNsnNode,
  DATASTORE_DIR,
  IDENTITY_FILE,
  NsnNode as Node,
  type NsnNode,
  type NsnNodeInit,
  silentLogger,
} from '../src/index.js'
import { hash, TempDirs } from './helpers.js'

const dirs = new TempDirs()
const nodes: NsnNode[] = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop()))
})
afterAll(() => dirs.cleanup())

async function options(init: NsnNodeInit = {}): Promise<NsnNodeInit> {
  return {
    // a loopback network: the local profile (the default, public, announces no loopback address)
    profile: 'local',
    listen: ['/ip4/127.0.0.1/tcp/0'],
    api: '127.0.0.1:0',
    metrics: null,
    dataDir: await dirs.make(),
    inboundConnectionThreshold: 10_000,
    allow: ['/ip4/127.0.0.1/ipcidr/8'],
    connectionMonitorInterval: 0,
    refreshInterval: 0,
    processMetrics: false,
    logger: silentLogger(),
    ...init,
  }
}

async function node(init: NsnNodeInit = {}): Promise<NsnNode> {
  const n = await createNsnNode(await options(init))
  nodes.push(n)
  return n
}

/** A loopback TCP address nothing listens on (connections are refused at once). */
async function refusingAddr(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `/ip4/127.0.0.1/tcp/${port}`
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  )
}

describe('readiness: createNsnNode waits for the first bootstrap attempt', () => {
  it('resolves with peers in the routing table, so it can provide at once', async () => {
    const seed = await node()
    const joiner = await node({ bootstrap: seed.addresses().addrs })
    // no waiting here: the node createNsnNode resolved with knows its bootstrap peer
    expect(joiner.routing.routingTableSize()).toBeGreaterThan(0)
    expect(await joiner.bootstrapped()).toMatchObject({
      status: 'bootstrapped',
      result: { connected: 1, failed: 0 },
    })
    const { confirmed, sentTo } = await joiner.provide(hash('0b'))
    expect(confirmed).toBe(1)
    expect(sentTo).toBe(1)
    // the seed confirmed the store: it holds the record when provide resolves
    expect(await seed.routing.storedProviderRecord(hash('0b'), joiner.peerId)).toBeDefined()
    const { providers } = await seed.findProviders(hash('0b'))
    expect(providers.map((p) => p.peerId.toString())).toContain(joiner.peerId.toString())
  })

  it('resolves after a failed first attempt; the node runs and says why', async () => {
    const joiner = await node({ bootstrap: [await refusingAddr()] })
    expect(joiner.state).toBe('running') // a failed bootstrap does not fail the creation
    const outcome = await joiner.bootstrapped()
    expect(outcome.status).toBe('failed')
    if (outcome.status !== 'failed') return
    expect(isNsnError(outcome.error, 'ERR_NO_PEER_ANSWERED')).toBe(true)
    expect(outcome.routingTableSize).toBe(0)
    await expect(joiner.provide(hash('0c'))).rejects.toMatchObject({ code: 'ERR_NO_KNOWN_PEERS' })
  })

  it('without bootstrap peers there is nothing to wait for', async () => {
    const alone = await node()
    expect(await alone.bootstrapped()).toEqual({ status: 'none' })
  })

  it('start() does not wait for peers; bootstrapped() does, and rejects before start', async () => {
    const seed = await node()
    const joiner = new Node(await options({ bootstrap: seed.addresses().addrs }))
    await expect(joiner.bootstrapped()).rejects.toMatchObject({ code: 'ERR_NOT_STARTED' })
    nodes.push(joiner)
    const started = joiner.start()
    const outcome = joiner.bootstrapped() // while starting: waits for the start first
    await started
    expect(await outcome).toMatchObject({ status: 'bootstrapped' })
    expect(joiner.routing.routingTableSize()).toBeGreaterThan(0)
  })

  it('waitForBootstrap: false resolves before the first attempt ended', async () => {
    const seed = await node()
    const joiner = await node({ bootstrap: seed.addresses().addrs, waitForBootstrap: false })
    expect(joiner.state).toBe('running')
    expect(await joiner.bootstrapped()).toMatchObject({ status: 'bootstrapped' })
  })

  it('a stop during the first attempt ends it as failed', async () => {
    const joiner = new Node(await options({ bootstrap: [await refusingAddr()] }))
    await joiner.start()
    const outcome = joiner.bootstrapped()
    await joiner.stop()
    expect((await outcome).status).toBe('failed')
  })
})

describe("a caller's identity and datastore", () => {
  it('privateKey: the node takes that identity and writes no identity file', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const n = await node({ privateKey })
    expect(n.peerId.equals(peerIdFromPrivateKey(privateKey))).toBe(true)
    expect(await exists(join(n.config.dataDir, IDENTITY_FILE))).toBe(false)
    expect(await exists(join(n.config.dataDir, DATASTORE_DIR))).toBe(true) // the datastore still lives there
  })

  it('datastore: libp2p and the registry keep their data in it; the node leaves it open on stop', async () => {
    const dir = await dirs.make()
    const datastore = new LevelDatastore(join(dir, 'callers-store'))
    await datastore.open()
    try {
      const dataDir = await dirs.make()
      const first = await node({ datastore, dataDir })
      await first.provide(hash('0d')).catch(() => undefined) // no peers: registered, publication deferred
      expect(first.registry.size).toBe(1)
      const peerId = first.peerId.toString()
      await first.stop()
      expect(await readdir(dataDir)).toEqual([IDENTITY_FILE]) // no datastore in the data dir
      // still open: the caller's to close
      expect(
        await datastore.has(
          new Key(`/nsn/shards/k/${Buffer.from(kadKeyOf(Buffer.from(hash('0d'), 'hex'))).toString('hex')}`),
        ),
      ).toBe(true)

      // a restart on the same datastore and data dir: same identity, same shards
      const second = await node({ datastore, dataDir })
      expect(second.peerId.toString()).toBe(peerId)
      const listed: string[] = []
      for await (const entry of second.shards()) listed.push(entry.hex)
      expect(listed).toEqual([hash('0d')])
    } finally {
      await Promise.all(nodes.splice(0).map((n) => n.stop()))
      await datastore.close()
    }
  })

  it('with both, the data dir is not used at all', async () => {
    const privateKey = await generateKeyPair('Ed25519')
    const datastore = new MemoryDatastore()
    const dataDir = join(await dirs.make(), 'never-created')
    const n = await node({ privateKey, datastore, dataDir })
    expect(n.peerId.equals(peerIdFromPrivateKey(privateKey))).toBe(true)
    await n.provide(hash('0e')).catch(() => undefined)
    expect(await exists(dataDir)).toBe(false)
    let records = 0
    for await (const _ of datastore.queryKeys({ prefix: '/nsn/shards/k/' })) records++
    expect(records).toBe(1)
  })
})
