/**
 * The package's name and version, read from its package.json (one level above both
 * `src/` and `dist/`).
 *
 * @packageDocumentation
 */

import { readFileSync } from 'node:fs'

function readVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version?: string
    }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

/** Version of @nsn/node. */
export const VERSION: string = readVersion()
