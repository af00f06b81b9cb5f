/**
 * Every scenario's random choices (the bootstrap peers of each harness node, shards, the
 * nodes a test picks) come from `testSeed()`: a failed test prints the seed that replays
 * them (`NSN_TEST_SEED=<seed> pnpm test`).
 */
import { seedMessage } from '@nsn/core/testing'
import { beforeEach } from 'vitest'

beforeEach(({ onTestFailed }) => {
  onTestFailed(() => {
    console.error(seedMessage())
  })
})
