// The README's harness example, extracted from README.md and run: ten assembled nodes,
// a provide and a lookup, a stop, a metric, and the network closed.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it, vi } from 'vitest'
import { adapt, readmeExamples, runExample } from '../../../scripts/readme-examples.mjs'

const PKG = fileURLToPath(new URL('..', import.meta.url))

afterEach(() => {
  vi.restoreAllMocks()
})

it('the README example runs: a provides, b finds a, a counts one published record', async () => {
  const examples = await readmeExamples(join(PKG, 'README.md'))
  expect(examples).toHaveLength(1)
  const [example] = examples
  // the example imports the harness relative to the package; the test runs it from elsewhere
  const code = adapt(example!.code, [
    ["from '../src/harness/index.js'", `from '${join(PKG, 'src', 'harness', 'index.js')}'`],
    [
      'const { providers } = await b.node.findProviders(shard)',
      'const { providers } = await b.node.findProviders(shard)\nconsole.log(providers.map((p) => p.peerId.toString()), a.peerId.toString())',
    ],
  ])
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
  await runExample(code, { dir: join(PKG, '.test-results', 'readme'), name: 'harness', lang: example!.lang })
  const [confirmed, sentTo, holders] = log.mock.calls[0] as [number, number, number]
  expect(confirmed).toBeGreaterThan(0)
  expect(confirmed).toBe(sentTo) // every honest peer confirmed
  expect(holders).toBeGreaterThan(sentTo) // stored on every peer it was sent to, and a
  const [found, provider] = log.mock.calls[1] as [string[], string]
  expect(found).toContain(provider)
  expect(log.mock.calls[2]).toEqual([1])
}, 60_000)
