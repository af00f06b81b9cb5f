// The README's usage examples, extracted from README.md and run: in memory as is, and
// persistent with its LevelDB directory moved to a temp dir.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { adapt, type ReadmeExample, readmeExamples, runExample } from '../../../scripts/readme-examples.mjs'

const PKG = fileURLToPath(new URL('..', import.meta.url))
const RUN_DIR = join(PKG, '.test-results', 'readme')

describe('README examples', () => {
  let examples: ReadmeExample[] = []
  const dirs: string[] = []
  beforeAll(async () => {
    examples = await readmeExamples(join(PKG, 'README.md'))
  })
  afterEach(async () => {
    vi.restoreAllMocks()
    await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
  })

  it('are the in-memory and the persistent usage', () => {
    expect(examples.map((e) => e.code.includes('LevelDatastore'))).toEqual([false, true])
  })

  it('in memory: add, republish due-list, expiry, delete, each removal logged with its reason', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const [example] = examples
    await runExample(example!.code, { dir: RUN_DIR, name: 'in-memory', lang: example!.lang })
    const lines = log.mock.calls
    expect(lines[0]).toEqual([true, true])
    expect(lines[1]?.[0]).toMatch(/^\d{4}-\d\d-\d\dT/) // the next deadline
    expect(lines[2]).toEqual(['removed', '02'.repeat(32), 'expired'])
    expect(lines[3]).toEqual([1])
    expect(lines[4]).toEqual(['removed', '01'.repeat(32), 'stopped'])
    expect(lines).toHaveLength(5)
  })

  it('persistent: opens a registry on LevelDB, adds many shards, reads a region', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nsn-registry-readme-'))
    dirs.push(dir)
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
    const example = examples[1]!
    const code = adapt(example.code, [["'./nsn-data/shards'", JSON.stringify(join(dir, 'shards'))]])
    await runExample(code, { dir: RUN_DIR, name: 'persistent', lang: example.lang })
    await runExample(code, { dir: RUN_DIR, name: 'persistent-again', lang: example.lang })
    // the second run restores the shard the first one added
    expect(log.mock.calls).toEqual([
      ['restored 0 shards'],
      ['true half of the keyspace'],
      ['restored 100 shards'],
      ['true half of the keyspace'],
    ])
  })
})
