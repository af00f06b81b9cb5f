#!/usr/bin/env node
// The packaging test (`pnpm test:pack`, run by .ci/run after `pnpm test`): packs every public
// package as it would be published, installs the tarballs into a fresh npm project outside
// the workspace (their dependencies, and what the READMEs tell a user to install, come from
// the npm registry), then runs the installed `nsn-node --help` on Node.js 24 (and on an older
// Node.js, which must stop with exit code 4) and every README example against the installed
// packages, each in its own Node.js 24 process. Needs a built workspace (`pnpm test:pack`
// builds first) and the npm registry. `--keep` leaves the temp project for inspection.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { adapt, readmeExamples } from './readme-examples.mjs'

const run = promisify(execFile)
const ROOT = new URL('..', import.meta.url).pathname
const PUBLIC = ['core', 'shard-registry', 'metrics', 'node']
/** Node.js 24, the workspace's (the root devDependency `node`), whatever runs this script. */
const NODE24 = join(ROOT, 'node_modules', 'node', 'bin', 'node')
const started = Date.now()

let work // the temp dir: tarballs/, app/ (the consumer project), data/
let app
const tarballs = new Map() // package dir name -> { file, manifest, entries }
const children = new Set()

/** The workspace's manifest of a package. */
async function manifest(pkg) {
  return JSON.parse(await readFile(join(ROOT, 'packages', pkg, 'package.json'), 'utf8'))
}

/** Every package a README tells a user to install: `npm install …` lines and `// npm install …` comments. */
async function readmeInstalls(pkg) {
  const text = await readFile(join(ROOT, 'packages', pkg, 'README.md'), 'utf8')
  const names = new Set()
  for (const [, args] of text.matchAll(/npm install ((?:[@\w./-]+ ?)+)/g)) {
    for (const name of args.trim().split(/\s+/)) if (!name.startsWith('-')) names.add(name)
  }
  return [...names]
}

/** The version range of `name` this workspace builds and tests with (any package's manifest). */
async function workspaceRange(name) {
  for (const pkg of [...PUBLIC, 'integration-tests']) {
    const m = await manifest(pkg)
    const range = m.dependencies?.[name] ?? m.devDependencies?.[name] ?? m.peerDependencies?.[name]
    if (range != null && !range.startsWith('workspace:')) return range
  }
  return undefined
}

/**
 * Starts a Node.js child (Node.js 24 unless `path` says otherwise) in the app dir. `done`
 * resolves with its exit and output; `waitForLine(re)` with the first line of its stdout or
 * stderr matching `re`.
 */
function spawnNode(args, { env = {}, timeoutMs = 60_000, path = NODE24 } = {}) {
  const child = spawn(path, args, {
    cwd: app,
    env: { ...cleanEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  const output = { stdout: '', stderr: '' }
  const lines = []
  const waiters = new Set()
  for (const stream of ['stdout', 'stderr']) {
    let buffer = ''
    child[stream].setEncoding('utf8').on('data', (chunk) => {
      output[stream] += chunk
      buffer += chunk
      const parts = buffer.split('\n')
      buffer = parts.pop()
      for (const line of parts) {
        lines.push(line)
        for (const waiter of waiters) waiter(line)
      }
    })
  }
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `node ${args.join(' ')} did not end within ${timeoutMs} ms\n${output.stdout}\n${output.stderr}`,
        ),
      )
    }, timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      resolve({ code, signal, ...output })
    })
  })
  function waitForLine(re) {
    const seen = lines.find((line) => re.test(line))
    if (seen != null) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const waiter = (line) => {
        if (!re.test(line)) return
        waiters.delete(waiter)
        resolve(line)
      }
      waiters.add(waiter)
      done.then(
        (r) => reject(new Error(`exited (${r.code}) before a line matching ${re}:\n${r.stderr}`)),
        reject,
      )
    })
  }
  return { child, done, waitForLine }
}

/** Runs a Node.js child to its end. */
function node(args, options) {
  return spawnNode(args, options).done
}

/** The environment without NSN_* and DEBUG, and without the workspace's node_modules/.bin. */
function cleanEnv() {
  const env = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('NSN_') && key !== 'DEBUG' && !key.startsWith('npm_')) env[key] = value
  }
  env.PATH = (env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => !dir.includes('node_modules'))
    .join(delimiter)
  return env
}

/** Writes an example into the app (so it resolves the installed packages) and runs it. */
async function runExample(example, name, replacements = [], whileRunning) {
  const file = join(app, `${name}.${example.lang === 'ts' ? 'ts' : 'mjs'}`)
  await writeFile(file, adapt(example.code, replacements))
  const handle = spawnNode([file])
  await whileRunning?.(handle)
  const result = await handle.done
  assert.equal(result.code, 0, `${name} exited ${result.code} ${result.signal ?? ''}\n${result.stderr}`)
  return result.stdout.trimEnd().split('\n')
}

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'nsn-pack-'))
  app = join(work, 'app')
  const packs = join(work, 'tarballs')
  await mkdir(app, { recursive: true })
  for (const pkg of PUBLIC) {
    const { name } = await manifest(pkg)
    await run('pnpm', ['--filter', name, 'pack', '--pack-destination', packs], { cwd: ROOT })
  }
  for (const file of await readdir(packs)) {
    const path = join(packs, file)
    const { stdout } = await run('tar', ['-tzf', path])
    const { stdout: json } = await run('tar', ['-xzOf', path, 'package/package.json'])
    const m = JSON.parse(json)
    const pkg = PUBLIC.find((p) => m.name === `@nsn/${p}`)
    assert.ok(pkg, `unexpected tarball ${file}`)
    tarballs.set(pkg, { file: path, manifest: m, entries: stdout.split('\n').filter(Boolean) })
  }
  assert.deepEqual([...tarballs.keys()].sort(), [...PUBLIC].sort())

  // a fresh project: first the tarballs alone, by the very command of the image's runtime
  // stage (deploy/Dockerfile), into an empty directory as there
  const files = PUBLIC.map((p) => tarballs.get(p).file)
  const t = Date.now()
  await run('npm', [...(await dockerfileNpmInstall()), ...files], {
    cwd: app,
    env: cleanEnv(),
    maxBuffer: 16 << 20,
  })
  const image = (Date.now() - t) / 1000
  // then what the READMEs tell a user to install, and the examples' own imports (the
  // metrics example's libp2p metrics and Registry, the persistent registry's LevelDB, the
  // node's own-key example's key generation), at the ranges the workspace tests with
  const extra = new Set(['@libp2p/prometheus-metrics', 'prom-client', 'datastore-level', '@libp2p/crypto'])
  for (const pkg of PUBLIC) {
    for (const name of await readmeInstalls(pkg)) if (!name.startsWith('@nsn/')) extra.add(name)
  }
  const specs = []
  for (const name of [...extra].sort()) {
    const range = await workspaceRange(name)
    specs.push(range == null ? name : `${name}@${range}`)
  }
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...specs], {
    cwd: app,
    env: cleanEnv(),
    maxBuffer: 16 << 20,
  })
  const consumer = JSON.parse(await readFile(join(app, 'package.json'), 'utf8'))
  await writeFile(join(app, 'package.json'), `${JSON.stringify({ ...consumer, type: 'module' }, null, 2)}\n`)
  console.log(
    `# npm install: the ${files.length} tarballs as the image does, ${image.toFixed(1)} s; then ${specs.length} packages, ${((Date.now() - t) / 1000 - image).toFixed(1)} s`,
  )
})

/** The image's `npm install … /tmp/packs/*.tgz` (deploy/Dockerfile), without the tarball glob. */
async function dockerfileNpmInstall() {
  const dockerfile = await readFile(join(ROOT, 'deploy', 'Dockerfile'), 'utf8')
  const command = /^RUN (npm install [^\n]*?) \/tmp\/packs\/\*\.tgz/m.exec(dockerfile)?.[1]
  assert.ok(command != null, "deploy/Dockerfile's runtime stage no longer runs npm install /tmp/packs/*.tgz")
  return command.split(/\s+/).slice(1)
}

after(async () => {
  for (const child of children) child.kill('SIGKILL')
  if (!process.argv.includes('--keep')) await rm(work, { recursive: true, force: true })
  else console.log(`# kept ${work}`)
  console.log(`# test:pack took ${((Date.now() - started) / 1000).toFixed(1)} s`)
})

describe('tarballs', () => {
  for (const pkg of PUBLIC) {
    it(`@nsn/${pkg}: LICENSE, README, dist, metadata, publishable dependency ranges`, async () => {
      const { manifest: m, entries } = tarballs.get(pkg)
      for (const file of [
        'package/LICENSE',
        'package/README.md',
        'package/package.json',
        'package/dist/index.js',
        'package/dist/index.d.ts',
      ]) {
        assert.ok(entries.includes(file), `${file} missing from the tarball`)
      }
      assert.ok(!entries.some((e) => /\/(test|src)\//.test(e)), 'tests or sources in the tarball')
      assert.equal(m.license, 'MIT')
      assert.match(await readFile(join(ROOT, 'packages', pkg, 'LICENSE'), 'utf8'), /^MIT License\n/)
      const root = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'))
      assert.deepEqual(m.repository, { ...root.repository, directory: `packages/${pkg}` })
      assert.match(m.homepage, /^https:\/\//)
      assert.match(m.bugs.url, /^https:\/\//)
      assert.equal(m.type, 'module')
      for (const section of ['dependencies', 'peerDependencies']) {
        for (const [name, range] of Object.entries(m[section] ?? {})) {
          assert.ok(!range.startsWith('workspace:'), `${name}: ${range}`)
          // an internal dependency takes any newer compatible release of the other package
          if (name.startsWith('@nsn/')) assert.match(range, /^\^\d+\.\d+\.\d+$/, `${name}: ${range}`)
        }
      }
      assert.match(await readFile(join(ROOT, 'packages', pkg, 'README.md'), 'utf8'), /\*\*ESM only\*\*/)
    })
  }

  it('@nsn/metrics ships its dashboard', () => {
    assert.ok(tarballs.get('metrics').entries.includes('package/dashboards/nsn-dht.json'))
  })
})

describe('installed packages', () => {
  it('one copy of each @nsn package, the tarballs', async () => {
    for (const pkg of PUBLIC) {
      const installed = JSON.parse(
        await readFile(join(app, 'node_modules', '@nsn', pkg, 'package.json'), 'utf8'),
      )
      assert.equal(installed.version, tarballs.get(pkg).manifest.version)
      // no nested copy from the registry under another package
      for (const other of PUBLIC)
        assert.ok(!existsSync(join(app, 'node_modules', '@nsn', other, 'node_modules', '@nsn', pkg)))
    }
  })

  it("the image's layout: its ENTRYPOINT's bin and the nsn-node link exist where the install put them", async () => {
    const dockerfile = await readFile(join(ROOT, 'deploy', 'Dockerfile'), 'utf8')
    const workdir = /^WORKDIR (\/opt\/\S+)$/m.exec(dockerfile)?.[1]
    const entrypoint = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)?.[1] ?? 'null')
    const link = /ln -s (\S+) \/usr\/local\/bin\/nsn-node/.exec(dockerfile)?.[1]
    assert.ok(workdir != null && entrypoint != null && link != null)
    for (const path of [entrypoint[1], link]) {
      assert.ok(path.startsWith(`${workdir}/`), path)
      assert.ok(
        existsSync(join(app, path.slice(workdir.length + 1))),
        `${path} is not where npm installed it`,
      )
    }
    const help = await node([join(app, entrypoint[1].slice(workdir.length + 1)), 'start', '--help'])
    assert.equal(help.code, 0, help.stderr)
  })

  it('nsn-node --help on Node.js 24: the installed bin, through its shebang', async () => {
    const bin = join(app, 'node_modules', '.bin', 'nsn-node')
    const { code, stdout, stderr } = await node(['--help'], {
      path: bin,
      env: { PATH: `${dirname(NODE24)}${delimiter}${cleanEnv().PATH}` },
    })
    assert.equal(code, 0, stderr)
    assert.match(stdout, /^nsn-node \d+\.\d+\.\d+: /)
    const start = await node([bin, 'start', '--help'])
    assert.equal(start.code, 0, start.stderr)
    assert.match(start.stdout, /^Usage: nsn-node start \[options\]/)
  })

  it('nsn-node on a Node.js older than 22 stops at once with exit code 4', async () => {
    // CI (.ci/run) and this project's machine have Node.js 20 on the PATH
    const old = await olderNode()
    assert.ok(
      old != null,
      'no Node.js older than 22 on the PATH (outside node_modules) to run the installed bin with',
    )
    const result = await node([join(app, 'node_modules', '@nsn', 'node', 'dist', 'bin.js'), '--help'], {
      path: old.path,
    })
    assert.equal(result.code, 4)
    assert.match(
      result.stderr,
      new RegExp(`^error: nsn-node needs Node\\.js >= 22, found ${old.version.replace(/\./g, '\\.')}`),
    )
  })

  it('ESM only: require() of a package is refused by its exports map', async () => {
    const result = await node(['-e', "require('@nsn/core')"])
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /ERR_PACKAGE_PATH_NOT_EXPORTED|No "exports" main defined/)
  })
})

describe('README examples, against the installed packages', () => {
  it('@nsn/core: two nodes, a provide and a lookup', async () => {
    const examples = await readmeExamples(join(ROOT, 'packages', 'core', 'README.md'))
    assert.equal(examples.length, 1)
    const lines = await runExample(examples[0], 'core-example')
    assert.match(lines.at(-1), /^1 1 false \[ '12D3KooW\w+' \] false$/)
  })

  it('@nsn/shard-registry: in memory, then persistent twice (the second restores the 100 shards)', async () => {
    const [memory, persistent, ...rest] = await readmeExamples(
      join(ROOT, 'packages', 'shard-registry', 'README.md'),
    )
    assert.equal(rest.length, 0)
    const lines = await runExample(memory, 'registry-memory')
    assert.equal(lines[0], 'true true')
    assert.equal(lines.at(-1), `removed ${'01'.repeat(32)} stopped`)
    const dir = join(work, 'data', 'shards')
    const to = [["'./nsn-data/shards'", JSON.stringify(dir)]]
    assert.deepEqual(await runExample(persistent, 'registry-persistent', to), [
      'restored 0 shards',
      'true half of the keyspace',
    ])
    assert.deepEqual(await runExample(persistent, 'registry-persistent', to), [
      'restored 100 shards',
      'true half of the keyspace',
    ])
  })

  it('@nsn/metrics: the metrics server with every metric, stopped by its SIGINT handler; the dashboard by package path', async () => {
    const [server, dashboard, ...rest] = await readmeExamples(join(ROOT, 'packages', 'metrics', 'README.md'))
    assert.equal(rest.length, 0)
    let body
    const lines = await runExample(
      server,
      'metrics-server',
      [
        ["listen: ['/ip4/0.0.0.0/tcp/9000']", "listen: ['/ip4/127.0.0.1/tcp/0']"],
        ['startMetricsServer({ register })', 'startMetricsServer({ register, port: 0 })'],
      ],
      async ({ child, waitForLine }) => {
        const url = (await waitForLine(/^metrics on /)).replace('metrics on ', '')
        body = await (await fetch(url)).text()
        child.kill('SIGINT') // the example's shutdown handler stops everything; the process ends
      },
    )
    assert.match(lines[0], /^metrics on http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    assert.match(body, /^nsn_p2p_shard_registry_capacity 10000$/m)
    assert.match(body, /^libp2p_kad_dht_routing_table_size /m)
    assert.match(body, /^process_cpu_user_seconds_total /m)

    const [uid, path] = (await runExample(dashboard, 'metrics-dashboard'))[0].split(' ')
    assert.equal(uid, 'nsn-shard-dht')
    assert.equal(path, `file://${join(app, 'node_modules', '@nsn', 'metrics', 'dashboards', 'nsn-dht.json')}`)
  })

  it('@nsn/node: createNsnNode against a seed daemon (the installed nsn-node), and with a key and datastore of ones own', async () => {
    const [library, ownStorage, ...rest] = await readmeExamples(join(ROOT, 'packages', 'node', 'README.md'))
    assert.equal(rest.length, 0)
    const loopback = [
      ["listen: ['/ip4/0.0.0.0/tcp/9000']", "listen: ['/ip4/127.0.0.1/tcp/0']"],
      // a loopback network: the local profile (loopback addresses kept, as the seed's)
      ["api: '127.0.0.1:0',", "api: '127.0.0.1:0', metrics: '127.0.0.1:0', profile: 'local',"],
    ]
    const seed = spawnNode(
      [
        join(app, 'node_modules', '@nsn', 'node', 'dist', 'bin.js'),
        'start',
        '--profile',
        'local',
        '--listen',
        '/ip4/127.0.0.1/tcp/0',
        '--api',
        '127.0.0.1:0',
        '--metrics',
        'off',
        '--data-dir',
        join(work, 'data', 'seed'),
        '--log-json',
      ],
      { timeoutMs: 120_000 },
    )
    try {
      const ready = JSON.parse(await seed.waitForLine(/"msg":"ready"/))
      const lines = await runExample(library, 'node-library', [
        ["dataDir: './nsn-data'", `dataDir: ${JSON.stringify(join(work, 'data', 'library'))}`],
        ["'/dnsaddr/bootstrap.example.org'", JSON.stringify(ready.addrs[0])],
        ...loopback,
      ])
      assert.match(lines.join('\n'), /peerId: '12D3KooW\w+'/) // addresses(), printed over several lines
      assert.match(lines.at(-1), /^1 1 \d+ false$/)
      const own = await runExample(ownStorage, 'node-own-storage', loopback)
      assert.match(own.at(-1), /^12D3KooW\w+$/)
    } finally {
      seed.child.kill('SIGTERM')
    }
    const exit = await seed.done
    assert.equal(exit.code, 0, `the seed daemon exited ${exit.code} on SIGTERM: ${exit.stderr}`)
  })
})

/** A Node.js older than 22 on the PATH (not the workspace's), if any. */
async function olderNode() {
  for (const dir of cleanEnv().PATH.split(delimiter)) {
    const path = join(dir, 'node')
    if (!existsSync(path)) continue
    try {
      const { stdout } = await run(path, ['-p', 'process.versions.node'])
      const version = stdout.trim()
      if (Number(version.split('.')[0]) < 22) return { path, version }
    } catch {
      // not a runnable node: try the next
    }
  }
  return undefined
}
