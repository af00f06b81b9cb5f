import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts', 'src/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // no isolation: a worker runs its files one after another in one module graph, so
    // libp2p is imported once, not once a file; no test relies on fresh module state
    // (each starts and stops its own nodes)
    isolate: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
  },
})
