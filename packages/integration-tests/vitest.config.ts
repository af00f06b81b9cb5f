import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // the scenarios measure deadlines and latency bounds: one file at a time on 2 cores
    fileParallelism: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
  },
})
