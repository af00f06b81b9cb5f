import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // two files at a time: most scenarios mostly wait (the real 10 s deadline, a shrunk
    // TTL) while another, the 30-node fault scenario, needs the CPU; their time bounds
    // are a deadline plus a margin, not a share of the machine
    maxWorkers: 2,
    // no isolation: a worker runs its files one after another in one module graph, so
    // libp2p is imported once, not once a file; no test relies on fresh module state
    // (each starts and stops its own nodes)
    isolate: false,
    reporters: ['default', 'json'],
    outputFile: { json: '.test-results/vitest.json' },
  },
})
