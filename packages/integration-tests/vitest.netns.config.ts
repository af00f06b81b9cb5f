import { defineConfig } from 'vitest/config'

/**
 * The network-namespace NAT scenario (`pnpm test:netns`): separate daemons on separate
 * hosts, a masquerading router; needs root, iproute2 and nftables. Kept out of `pnpm test`
 * (it takes about a minute on a loaded machine).
 */
export default defineConfig({
  test: {
    include: ['netns-test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
  },
})
