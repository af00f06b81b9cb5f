// The README's example, extracted from README.md and run as is: two nodes on loopback, a
// provide and a lookup.
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, expect, it, vi } from 'vitest'
import { readmeExamples, runExample } from '../../../scripts/readme-examples.mjs'

const PKG = fileURLToPath(new URL('..', import.meta.url))

afterEach(() => {
  vi.restoreAllMocks()
})

it('the README example runs: b bootstraps from a, a provides, b finds a', async () => {
  const examples = await readmeExamples(join(PKG, 'README.md'))
  expect(examples).toHaveLength(1)
  const [example] = examples
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
  // nothing to adapt: it listens on 127.0.0.1 port 0 and stops its nodes
  await runExample(example!.code, {
    dir: join(PKG, '.test-results', 'readme'),
    name: 'core',
    lang: example!.lang,
  })
  expect(log).toHaveBeenCalledTimes(1)
  const [confirmed, sentTo, belowQuorum, providers, partial] = log.mock.calls[0] as [
    number,
    number,
    boolean,
    string[],
    boolean,
  ]
  expect(confirmed).toBe(1) // b, the only other peer, confirmed the store
  expect(sentTo).toBe(1)
  expect(belowQuorum).toBe(false)
  expect(providers).toHaveLength(1)
  expect(partial).toBe(false)
})
