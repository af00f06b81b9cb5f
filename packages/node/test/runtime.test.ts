// The Node.js version check of the bin: it runs before anything that needs Node.js 22 is
// loaded, so on an older Node.js every verb stops with one line and exit code 4.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  EXIT_OK,
  EXIT_UNSUPPORTED_RUNTIME,
  REQUIRED_NODE_MAJOR,
  unsupportedNodeReason,
} from '../src/index.js'
import { BIN, cleanEnv, PKG } from './helpers.js'

/** A Node.js older than the required one on this machine (`PATH` and the usual places), if any. */
function olderNode(): { path: string; version: string } | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/bin', '/usr/bin', '/bin']
  for (const path of new Set(dirs.filter((d) => d !== '').map((d) => join(d, 'node')))) {
    try {
      const version = execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()
      if (Number(version.split('.')[0]) < REQUIRED_NODE_MAJOR) return { path, version }
    } catch {
      // no node there
    }
  }
  return undefined
}

describe('Node.js version check', () => {
  it('is the package’s engines.node', () => {
    const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as { engines: { node: string } }
    expect(pkg.engines.node).toBe(`>=${REQUIRED_NODE_MAJOR}`)
  })

  it.each([
    ['20.20.2', false],
    ['18.0.0', false],
    ['v21.7.3', false],
    ['22.0.0', true],
    ['24.11.1', true],
  ])('Node.js %s runs the CLI: %s', (version, ok) => {
    const reason = unsupportedNodeReason(version)
    if (ok) expect(reason).toBeUndefined()
    else
      expect(reason).toBe(`nsn-node needs Node.js >= 22, found ${version}: run it with Node.js 22 or newer`)
  })

  // this project's machines, CI's too, have Node.js 20 on PATH (pnpm scripts get 24 from
  // the devDependency): the check is proven on a real old Node.js, never skipped
  const old = olderNode()
  it.each(['id', 'start', 'demo', 'find', '--help', '--version'])(
    `the built bin on an older Node.js (${old?.path} ${old?.version}): \`nsn-node %s\` stops at once with exit 4`,
    (verb) => {
      if (old == null)
        throw new Error(
          `no Node.js older than ${REQUIRED_NODE_MAJOR} found on PATH or in /usr/local/bin, /usr/bin, /bin`,
        )
      const run = spawnSync(old.path, [BIN, verb], {
        env: cleanEnv(),
        encoding: 'utf8',
        timeout: 10_000,
      })
      expect(run.stderr).toBe(
        `error: nsn-node needs Node.js >= 22, found ${old.version}: run it with Node.js 22 or newer\n`,
      )
      expect(run.stdout).toBe('')
      expect(run.status).toBe(EXIT_UNSUPPORTED_RUNTIME)
    },
  )

  it('the built bin on this Node.js runs the CLI', () => {
    const run = spawnSync(process.execPath, [BIN, '--version'], { env: cleanEnv(), encoding: 'utf8' })
    expect(run.status).toBe(EXIT_OK)
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+\n$/)
  })
})
