/**
 * The deployment files of `deploy/`, checked as far as this machine can without a container
 * engine: the Dockerfile's and the compose file's invariants, the Prometheus config through
 * `promtool check config`, the systemd unit through `systemd-analyze verify`, and the command
 * lines of the image, the compose nodes and the unit started as the real daemon (the same
 * argv but for the node binary's path and the data dir, free loopback ports through the
 * environment) and stopped with SIGTERM.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { loadConfig } from '@nsn/node'
import { BIN, Daemon, type Exit, TempDirs } from '@nsn/node/testing'
import { afterAll, describe, expect, it } from 'vitest'
import {
  type ComposeFile,
  DEPLOY,
  type DockerInstruction,
  deployYaml,
  dockerInstructions,
  execForm,
  finalStage,
  ROOT,
  unitDirectives,
} from './deploy-files.js'

const run = promisify(execFile)
const PUBLIC_PACKAGES = ['core', 'shard-registry', 'metrics', 'node']
const IMAGE_BIN = '/opt/nsn-node/node_modules/@nsn/node/dist/bin.js'
const UNIT = join(DEPLOY, 'systemd', 'nsn-node.service')

const dirs = new TempDirs()
const daemons: Daemon[] = []
afterAll(async () => {
  await Promise.all(daemons.map((d) => d.kill()))
  await dirs.cleanup()
})

async function dockerfile(): Promise<DockerInstruction[]> {
  return dockerInstructions(await readFile(join(DEPLOY, 'Dockerfile'), 'utf8'))
}

function one(instructions: DockerInstruction[], name: string): string {
  const found = instructions.filter((i) => i.name === name)
  expect(found, name).toHaveLength(1)
  return found[0]!.args
}

/** The value after `flag` in an argv. */
function flagValue(argv: string[], flag: string): string | undefined {
  const at = argv.indexOf(flag)
  return at < 0 ? undefined : argv[at + 1]
}

/** `ENV A=1 B=2` lines of a stage. */
function dockerEnv(stage: DockerInstruction[]): Record<string, string> {
  const env: Record<string, string> = {}
  for (const { args } of stage.filter((i) => i.name === 'ENV')) {
    for (const [, key, value] of args.matchAll(/(\w+)=(\S+)/g)) env[key!] = value!
  }
  return env
}

const LOOPBACK_ENV = {
  NSN_LISTEN: '/ip4/127.0.0.1/tcp/0',
  NSN_API: '127.0.0.1:0',
  NSN_METRICS: '127.0.0.1:0',
}

/**
 * Starts `nsn-node <argv>` as the deployment would (argv[0] is the verb, `start`), waits
 * for its `ready` line, runs the image's health check against it, stops it with SIGTERM
 * and returns how it ended.
 */
async function startAndTerminate(
  argv: string[],
  env: Record<string, string>,
): Promise<{ exit: Exit & { ms: number }; healthyWhileUp: number | null; healthyAfter: number | null }> {
  expect(argv[0]).toBe('start')
  const daemon = new Daemon(argv.slice(1), { ...env, ...LOOPBACK_ENV })
  daemons.push(daemon)
  const ready = await daemon.ready(30_000) // a cold start on a loaded machine
  const healthyWhileUp = await healthCheck(ready.api)
  const exit = await daemon.stop('SIGTERM', 10_000)
  expect(daemon.logs.map((r) => r.msg)).toEqual(
    expect.arrayContaining(['signal received: stopping', 'stopped']),
  )
  expect(daemon.logs.filter((r) => r.level === 'error')).toEqual([])
  return { exit, healthyWhileUp, healthyAfter: await healthCheck(ready.api) }
}

/** Runs the Dockerfile's HEALTHCHECK command against `api` (its 5080 replaced by that port). */
async function healthCheck(api: string): Promise<number | null> {
  const stage = finalStage(await dockerfile())
  const check = execForm(one(stage, 'HEALTHCHECK').replace(/^.*?CMD\s+/, ''))
  expect(check[0]).toBe('/usr/local/bin/node')
  const args = check.slice(1).map((a) => a.replace('127.0.0.1:5080', api))
  try {
    await run(process.execPath, args, { timeout: 10_000 })
    return 0
  } catch (err) {
    return (err as { code?: number }).code ?? null
  }
}

describe('Dockerfile', () => {
  it('runs Node.js 24 as PID 1 (exec form) on the real bin, as a non-root user, with the data dir as a volume', async () => {
    const all = await dockerfile()
    const defaultImage = /^NODE_IMAGE=(\S+)$/.exec(one(all, 'ARG'))?.[1]
    expect(defaultImage).toMatch(/^node:24[.-]/)
    const stage = finalStage(all)
    expect(stage[0]!.args).toBe('$' + '{NODE_IMAGE}') // the ARG above, a Docker placeholder

    const user = one(stage, 'USER')
    expect(user).not.toMatch(/^(root|0)(:|$)/)
    expect(stage.findIndex((i) => i.name === 'USER')).toBeGreaterThan(
      stage.findLastIndex((i) => i.name === 'RUN'),
    )

    const entrypoint = execForm(one(stage, 'ENTRYPOINT'))
    expect(entrypoint).toEqual(['/usr/local/bin/node', IMAGE_BIN])
    // the bin lies where the runtime stage's npm install puts it
    expect(one(stage, 'WORKDIR')).toBe('/opt/nsn-node')
    expect(stage.find((i) => i.name === 'RUN')?.args).toMatch(
      /^npm install --omit=dev .*\/tmp\/packs\/\*\.tgz/,
    )

    const cmd = execForm(one(stage, 'CMD'))
    expect(cmd[0]).toBe('start')
    const dataDir = flagValue(cmd, '--data-dir')
    expect(execForm(one(stage, 'VOLUME'))).toEqual([dataDir])
    expect(one(stage, 'STOPSIGNAL')).toBe('SIGTERM')
    expect(one(stage, 'EXPOSE').split(/\s+/)).toEqual(['9000/tcp', '9100/tcp'])
    expect(one(stage, 'HEALTHCHECK')).toContain('/healthz')
  })

  it('builds with the pnpm of packageManager and packs every public package', async () => {
    const all = await dockerfile()
    const root = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string }
    const runs = all.filter((i) => i.name === 'RUN').map((i) => i.args)
    expect(runs).toContain(`npm install -g ${root.packageManager} --no-audit --no-fund`)
    const packed = /for pkg in ([\w -]+); do/.exec(runs.join('\n'))?.[1]?.split(' ')
    expect(packed).toEqual(PUBLIC_PACKAGES)
    for (const pkg of PUBLIC_PACKAGES) {
      const json = JSON.parse(await readFile(join(ROOT, 'packages', pkg, 'package.json'), 'utf8')) as {
        private?: boolean
      }
      expect(json.private, pkg).toBeUndefined()
    }
  })

  it('.dockerignore keeps local installs, builds, git history and keys out of the context', async () => {
    const ignored = (await readFile(join(ROOT, '.dockerignore'), 'utf8'))
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
    expect(ignored).toEqual(expect.arrayContaining(['.git', '**/node_modules', '**/dist', '**/*.key']))
  })
})

describe('compose', () => {
  it('three nodes: one bootstrap node with a fixed identity whose peer id the other two dial', async () => {
    const compose = await deployYaml<ComposeFile>('compose.yaml')
    const nodes = Object.entries(compose.services).filter(
      ([, s]) => s.image === 'nsn-node:local' && s.command?.[0] === 'start',
    )
    expect(nodes.map(([name]) => name)).toEqual(['bootstrap', 'node-a', 'node-b'])
    for (const [name, service] of nodes) {
      expect(service.build, name).toEqual({ context: '..', dockerfile: 'deploy/Dockerfile' })
      expect(service.entrypoint, name).toBeUndefined() // the image's: node as PID 1
      // the data dir is the service's own named volume
      const dataDir = flagValue(service.command!, '--data-dir')
      expect(service.volumes, name).toEqual([`${name}-data:${dataDir}`])
      expect(compose.volumes).toHaveProperty(`${name}-data`)
    }

    // the nodes talk over the compose network's private addresses: where the node has the
    // LAN profile (`private`, issue 14), they must run it, else the public profile would
    // drop those addresses; where it has none, the default keeps every address
    const hasPrivateProfile = await loadConfig({ flags: { profile: 'private' }, env: {} }).then(
      () => true,
      () => false,
    )
    for (const [name, service] of nodes) {
      expect(flagValue(service.command!, '--profile'), name).toBe(hasPrivateProfile ? 'private' : undefined)
    }

    const key = privateKeyFromProtobuf(await readFile(join(DEPLOY, 'compose', 'bootstrap.identity.key')))
    const peerId = key.publicKey.toString()
    expect(peerId).toMatch(/^12D3KooW/)
    const bootstrap = compose.services.bootstrap!
    expect(bootstrap.command).not.toContain('--bootstrap')
    for (const name of ['node-a', 'node-b']) {
      expect(flagValue(compose.services[name]!.command!, '--bootstrap')).toBe(
        `/dns4/bootstrap/tcp/9000/p2p/${peerId}`,
      )
    }
    expect(await readFile(join(DEPLOY, 'compose.yaml'), 'utf8')).toContain(`peer id is\n# ${peerId}`)

    // the key lands in the bootstrap node's data dir, mode 0600, before the node starts
    const init = compose.services['bootstrap-identity']!
    const dataDir = flagValue(bootstrap.command!, '--data-dir')
    expect(init.entrypoint).toEqual([
      'install',
      '-m',
      '0600',
      '/run/nsn/identity.key',
      `${dataDir}/identity.key`,
    ])
    expect(init.volumes).toEqual([
      `bootstrap-data:${dataDir}`,
      './compose/bootstrap.identity.key:/run/nsn/identity.key:ro',
    ])
    expect(init.network_mode).toBe('none')
    expect(bootstrap.depends_on).toEqual({
      'bootstrap-identity': { condition: 'service_completed_successfully' },
    })
  })

  it('Prometheus scrapes the three nodes on the image metrics port; promtool check config passes', async () => {
    const prometheus = await deployYaml<{
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[]
    }>('prometheus/prometheus.yml')
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets))
    const metricsPort = dockerEnv(finalStage(await dockerfile())).NSN_METRICS?.split(':')[1]
    expect(metricsPort).toBe('9100')
    expect(targets).toEqual(['bootstrap', 'node-a', 'node-b'].map((n) => `${n}:${metricsPort}`))
    const compose = await deployYaml<ComposeFile>('compose.yaml')
    expect(compose.services.prometheus!.volumes).toContain(
      './prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
    )

    const { stdout } = await run('promtool', [
      'check',
      'config',
      join(DEPLOY, 'prometheus', 'prometheus.yml'),
    ])
    expect(stdout).toContain('SUCCESS')
  })

  it("Grafana is provisioned with Prometheus and @nsn/metrics' dashboard", async () => {
    const compose = await deployYaml<ComposeFile>('compose.yaml')
    const grafana = compose.services.grafana!
    expect(grafana.volumes).toEqual(
      expect.arrayContaining([
        './grafana/provisioning:/etc/grafana/provisioning:ro',
        '../packages/metrics/dashboards:/var/lib/grafana/dashboards/nsn:ro',
      ]),
    )
    const provider = await deployYaml<{ providers: { type: string; options: { path: string } }[] }>(
      'grafana/provisioning/dashboards/nsn.yaml',
    )
    expect(provider.providers).toEqual([
      expect.objectContaining({ type: 'file', options: { path: '/var/lib/grafana/dashboards/nsn' } }),
    ])
    const home = grafana.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!
    const file = join(
      ROOT,
      'packages',
      'metrics',
      'dashboards',
      home.replace('/var/lib/grafana/dashboards/nsn/', ''),
    )
    const dashboard = JSON.parse(await readFile(file, 'utf8')) as {
      uid: string
      templating: { list: { name: string; type: string }[] }
    }
    expect(dashboard.uid).toBe('nsn-shard-dht')
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource' }),
    )

    const datasources = await deployYaml<{
      datasources: { type: string; url: string; isDefault: boolean }[]
    }>('grafana/provisioning/datasources/prometheus.yaml')
    // the default data source is what the dashboard's DS_PROMETHEUS variable starts on
    expect(datasources.datasources).toEqual([
      expect.objectContaining({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true }),
    ])
  })
})

describe('systemd unit', () => {
  it('is hardened, restarts on failure, stops with SIGTERM, and runs Node.js on the real bin', async () => {
    const unit = unitDirectives(await readFile(UNIT, 'utf8'))
    const get = (key: string): string[] | undefined => unit.get(`Service.${key}`)
    const argv = get('ExecStart')![0]!.split(/\s+/)
    expect(argv.slice(0, 2)).toEqual(['/usr/bin/node', IMAGE_BIN])
    expect(flagValue(argv, '--data-dir')).toBe(`/var/lib/${get('StateDirectory')![0]}`)
    expect(
      Object.fromEntries(
        [...unit].filter(([k]) => k.startsWith('Service.')).map(([k, v]) => [k.slice(8), v.join(' ')]),
      ),
    ).toMatchObject({
      DynamicUser: 'yes',
      StateDirectoryMode: '0700',
      Restart: 'on-failure',
      RestartPreventExitStatus: '2 4',
      KillSignal: 'SIGTERM',
      TimeoutStopSec: '30s',
      NoNewPrivileges: 'yes',
      ProtectSystem: 'strict',
      ProtectHome: 'yes',
      PrivateTmp: 'yes',
      CapabilityBoundingSet: '',
    })
    // V8's JIT writes executable memory
    expect(get('MemoryDenyWriteExecute')).toBeUndefined()
  })

  it('passes systemd-analyze verify, and its security exposure is low', async () => {
    // verify checks that ExecStart's binary exists: the copy points at this test's Node.js
    const dir = await dirs.make('nsn-unit-')
    const copy = join(dir, 'nsn-node.service')
    await writeFile(copy, (await readFile(UNIT, 'utf8')).replace('/usr/bin/node ', `${process.execPath} `))
    const verify = await run('systemd-analyze', ['verify', copy])
    expect(verify.stderr).toBe('')
    const security = await run('systemd-analyze', ['security', '--offline=yes', copy])
    const exposure = Number(
      /Overall exposure level for nsn-node\.service: ([\d.]+)/.exec(security.stdout)?.[1],
    )
    expect(exposure).toBeLessThan(2.5)
  })
})

describe('the deployment command lines start the real daemon and SIGTERM stops it (exit 0)', () => {
  it('the image: ENTRYPOINT + CMD with its environment; the health check follows the daemon', async () => {
    const stage = finalStage(await dockerfile())
    const [node, bin, ...argv] = [...execForm(one(stage, 'ENTRYPOINT')), ...execForm(one(stage, 'CMD'))]
    expect([node, bin]).toEqual(['/usr/local/bin/node', IMAGE_BIN])
    const dataDir = await dirs.make('nsn-image-data-')
    expect(flagValue(argv, '--data-dir')).toBe('/data')
    const { exit, healthyWhileUp, healthyAfter } = await startAndTerminate(
      argv.map((a) => (a === '/data' ? dataDir : a)),
      dockerEnv(stage),
    )
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(healthyWhileUp).toBe(0)
    expect(healthyAfter).toBe(1)
    expect(existsSync(join(dataDir, 'identity.key'))).toBe(true)
  })

  it('the compose nodes: their commands (a bootstrap address included) on the image', async () => {
    const compose = await deployYaml<ComposeFile>('compose.yaml')
    const env = dockerEnv(finalStage(await dockerfile()))
    const results = await Promise.all(
      ['bootstrap', 'node-a'].map(async (name) => {
        const dataDir = await dirs.make(`nsn-${name}-`)
        const argv = compose.services[name]!.command!.map((a) => (a === '/data' ? dataDir : a))
        return (await startAndTerminate(argv, env)).exit
      }),
    )
    expect(results).toEqual([
      expect.objectContaining({ code: 0, signal: null }),
      expect.objectContaining({ code: 0, signal: null }),
    ])
    expect(compose.services['node-b']!.command).toEqual(compose.services['node-a']!.command)
  })

  it('the systemd unit: ExecStart with its Environment, stopped within TimeoutStopSec', async () => {
    const unit = unitDirectives(await readFile(UNIT, 'utf8'))
    const [node, bin, ...argv] = unit.get('Service.ExecStart')![0]!.split(/\s+/)
    expect([node, bin]).toEqual(['/usr/bin/node', IMAGE_BIN])
    expect(BIN.endsWith(join('node', 'dist', 'bin.js'))).toBe(true)
    const env = Object.fromEntries(
      unit.get('Service.Environment')!.map((e) => e.split('=', 2) as [string, string]),
    )
    const dataDir = await dirs.make('nsn-unit-data-')
    const { exit } = await startAndTerminate(
      argv.map((a) => (a === '/var/lib/nsn-node' ? dataDir : a)),
      env,
    )
    expect(exit).toMatchObject({ code: 0, signal: null })
    expect(exit.ms).toBeLessThan(Number.parseInt(unit.get('Service.TimeoutStopSec')![0]!, 10) * 1000)
  })
})

describe("the root README's operator path", () => {
  it('starts the real Node.js 24 binary on the built bin (no shim), which SIGTERM stops', async () => {
    const readme = await readFile(join(ROOT, 'README.md'), 'utf8')
    const line = readme
      .split('\n')
      .find((l) => l.startsWith('node_modules/node/bin/node packages/node/dist/bin.js start'))
    expect(line).toBeDefined()
    const [node, bin, ...argv] = line!.replace(/\s*\\$/, '').split(/\s+/)
    // an executable, not a shell script in front of one
    const head = await readFile(join(ROOT, node!)).then((b) => b.subarray(0, 4))
    expect(head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))).toBe(true) // ELF
    expect(join(ROOT, bin!)).toBe(BIN)
    const dataDir = await dirs.make('nsn-readme-data-')
    expect(flagValue(argv, '--data-dir')).toBe('~/.nsn')
    const { exit } = await startAndTerminate(
      argv.map((a) => (a === '~/.nsn' ? dataDir : a)),
      { NSN_LOG_JSON: 'true' }, // the test reads JSON log lines
    )
    expect(exit).toMatchObject({ code: 0, signal: null })
  })
})

describe('docs/operations.md', () => {
  it("its environment file and config file examples pass the CLI's own config resolver", async () => {
    const guide = await readFile(join(ROOT, 'docs', 'operations.md'), 'utf8')
    const blocks = [...guide.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map(([, lang, code]) => ({
      lang,
      code: code!,
    }))
    const envFile = blocks.find((b) => b.lang === 'sh' && /^NSN_BOOTSTRAP=/m.test(b.code))
    const configFile = blocks.find((b) => b.lang === 'json')
    expect(envFile).toBeDefined()
    expect(configFile).toBeDefined()

    const env = Object.fromEntries(
      envFile!.code
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s, 2) as [string, string]),
    )
    const fromEnv = await loadConfig({ env })
    expect(fromEnv.maxShards).toBe(50_000)
    expect(fromEnv.bootstrap.map(String)).toEqual([env.NSN_BOOTSTRAP])

    const file = join(await dirs.make('nsn-guide-'), 'nsn-node.json')
    await writeFile(file, configFile!.code)
    const fromFile = await loadConfig({ configFile: file, env: {} })
    expect(fromFile).toMatchObject({ maxShards: 50_000, queryTimeout: 10_000, logJson: true })
  })
})
