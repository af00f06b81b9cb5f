// The README's library examples, extracted from README.md and run: adapted only where they
// must be (a temp data dir, loopback port 0 for every listener, a local bootstrap peer
// instead of the placeholder seed).
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { adapt, type ReadmeExample, readmeExamples, runExample } from '../../../scripts/readme-examples.mjs'
import { createNsnNode, type NsnNode, silentLogger } from '../src/index.js'
import { PKG, TempDirs } from './helpers.js'

const RUN_DIR = join(PKG, '.test-results', 'readme')
const LOOPBACK: ReadonlyArray<readonly [string, string]> = [
  ["listen: ['/ip4/0.0.0.0/tcp/9000']", "listen: ['/ip4/127.0.0.1/tcp/0']"],
  // a loopback network: the local profile (loopback addresses kept, as the seed's)
  ["api: '127.0.0.1:0',", "api: '127.0.0.1:0', metrics: '127.0.0.1:0', profile: 'local',"],
]

describe('README library examples', () => {
  const dirs = new TempDirs()
  let examples: ReadmeExample[] = []
  let seed: NsnNode
  beforeAll(async () => {
    examples = await readmeExamples(join(PKG, 'README.md'))
    seed = await createNsnNode({
      profile: 'local',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      api: '127.0.0.1:0',
      metrics: null,
      dataDir: await dirs.make(),
      refreshInterval: 0,
      connectionMonitorInterval: 0,
      processMetrics: false,
      logger: silentLogger(),
    })
  })
  afterAll(async () => {
    vi.restoreAllMocks()
    await seed?.stop()
    await dirs.cleanup()
  })

  it('are the createNsnNode example and the one with a key and datastore of ones own', () => {
    expect(examples.map((e) => e.code.includes('MemoryDatastore'))).toEqual([false, true])
  })

  it('createNsnNode: resolves bootstrapped, provides and looks up at once, stops', async () => {
    const example = examples[0]!
    const code = adapt(example.code, [
      ["dataDir: './nsn-data'", `dataDir: ${JSON.stringify(await dirs.make())}`],
      ["'/dnsaddr/bootstrap.example.org'", JSON.stringify(seed.addresses().addrs[0])],
      ...LOOPBACK,
    ])
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    await runExample(code, { dir: RUN_DIR, name: 'library', lang: example.lang })
    const [[addresses], [confirmed, sentTo, providers, partial]] = log.mock.calls as [
      [{ peerId: string }],
      [number, number, number, boolean],
    ]
    expect(addresses.peerId).toMatch(/^12D3KooW/)
    // it knew its bootstrap peer when createNsnNode resolved, which confirmed the store
    expect(confirmed).toBe(1)
    expect(sentTo).toBe(1)
    expect(providers).toBeGreaterThanOrEqual(0)
    expect(partial).toBe(false)
  })

  it('a private key and a datastore of ones own: that peer id, no data dir', async () => {
    const example = examples[1]!
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    await runExample(adapt(example.code, LOOPBACK), { dir: RUN_DIR, name: 'own-storage', lang: example.lang })
    expect(log.mock.calls).toEqual([[expect.stringMatching(/^12D3KooW/)]])
  })
})
