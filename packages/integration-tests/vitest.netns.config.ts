import { defineConfig } from 'vitest/config'

/**
 * The network-namespace NAT scenarios (`pnpm test:netns`): separate daemons on separate
 * hosts, a masquerading router, a UPnP gateway; needs root, iproute2, nftables and
 * miniupnpd. Kept out of `pnpm test` (about a minute on the loaded 2-core machine);
 * `.ci/run` runs it after `pnpm test`. One file at a time: each starts several daemons.
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
