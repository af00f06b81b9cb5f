/**
 * The process tests run the built bin (dist/bin.js): build it first when it is missing
 * or older than a source file (turbo's `test` already depends on `build`; this keeps
 * `pnpm exec vitest run` right after an edit honest).
 */
import { execFileSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')

function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return latest
}

export default function setup(): void {
  let built = 0
  try {
    built = statSync(join(pkg, 'dist', 'bin.js')).mtimeMs
  } catch {
    built = 0
  }
  const sources = Math.max(newest(join(pkg, 'src')), statSync(join(pkg, 'tsup.config.ts')).mtimeMs)
  if (built >= sources) return
  const require = createRequire(join(pkg, 'package.json'))
  const tsupPkg = require.resolve('tsup/package.json')
  execFileSync(process.execPath, [join(dirname(tsupPkg), 'dist', 'cli-default.js')], {
    cwd: pkg,
    stdio: 'ignore',
  })
}
