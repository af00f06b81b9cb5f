#!/usr/bin/env node
// Runs every package's tests through turbo, two tasks at a time (2 cores: most network
// tests wait on a deadline or a TTL rather than compute, every deadline but one is shrunk
// through options, and each time bound is a deadline plus a margin), then prints one
// summary line over all packages from the vitest JSON reports.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const packages = readdirSync(join(root, 'packages'))
for (const pkg of packages)
  rmSync(join(root, 'packages', pkg, '.test-results'), { recursive: true, force: true })

const started = Date.now()
const turbo = spawnSync(
  'pnpm',
  ['exec', 'turbo', 'run', 'test', '--concurrency=2', ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
)

let passed = 0
let failed = 0
let skipped = 0
const rows = []
for (const pkg of packages) {
  const report = join(root, 'packages', pkg, '.test-results', 'vitest.json')
  if (!existsSync(report)) continue
  const json = JSON.parse(readFileSync(report, 'utf8'))
  passed += json.numPassedTests
  failed += json.numFailedTests
  skipped += json.numPendingTests + json.numTodoTests
  rows.push(`  ${pkg.padEnd(20)} ${json.numPassedTests} passed, ${json.numFailedTests} failed`)
}
console.log(`\nTest summary (${((Date.now() - started) / 1000).toFixed(1)} s):`)
for (const row of rows) console.log(row)
console.log(`Tests: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
if (turbo.status !== 0 || failed > 0 || passed === 0) process.exit(turbo.status || 1)
