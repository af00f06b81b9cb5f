import { readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  LOCAL_PROFILE,
  PROVIDER_RECORD_TTL,
  QUERY_TIMEOUT,
  REFRESH_INTERVAL,
  REGISTRY_CAPACITY,
} from '@nsn/core'
import { afterAll, describe, expect, it } from 'vitest'
import {
  API_LISTEN,
  CONFIG_FIELDS,
  ConfigError,
  DEFAULT_DATA_DIR,
  defaultConfig,
  type FieldSpec,
  loadConfig,
  METRICS_LISTEN,
  P2P_LISTEN,
  parseConfigFile,
  resolveConfig,
} from '../src/index.js'
import { PKG, TempDirs } from './helpers.js'

const dirs = new TempDirs()
afterAll(() => dirs.cleanup())

async function configFile(content: string): Promise<string> {
  const path = join(await dirs.make(), 'nsn.json')
  await writeFile(path, content)
  return path
}

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ConfigError)
  return err as ConfigError
}

describe('config', () => {
  it("defaults come from @nsn/core's DHT constants and the node's listen constants", async () => {
    const config = await loadConfig()
    expect(config).toEqual(defaultConfig())
    expect([P2P_LISTEN, API_LISTEN, METRICS_LISTEN]).toEqual([
      '/ip4/0.0.0.0/tcp/9000',
      '127.0.0.1:5080',
      '127.0.0.1:9100',
    ])
    expect(config.listen).toEqual([P2P_LISTEN])
    expect(config.bootstrap).toEqual([])
    expect(`${config.api.host}:${config.api.port}`).toBe(API_LISTEN)
    expect(`${config.metrics?.host}:${config.metrics?.port}`).toBe(METRICS_LISTEN)
    expect(config.dataDir).toBe(DEFAULT_DATA_DIR)
    expect(config.queryTimeout).toBe(QUERY_TIMEOUT)
    expect(config.maxShards).toBe(REGISTRY_CAPACITY)
    expect(config.refreshInterval).toBe(REFRESH_INTERVAL)
    expect(config.providerTtl).toBe(PROVIDER_RECORD_TTL)
    expect(config.logLevel).toBe('info')
    expect(config.logJson).toBe(false)
  })

  it('precedence: flags > env > file > defaults, field by field', async () => {
    const file = await configFile(
      JSON.stringify({
        api: '127.0.0.2:1001',
        metrics: '127.0.0.2:1002',
        queryTimeout: 3000,
        maxShards: 7,
        listen: ['/ip4/127.0.0.2/tcp/1'],
      }),
    )
    const config = await loadConfig({
      configFile: file,
      env: {
        NSN_API: '127.0.0.3:2001',
        NSN_QUERY_TIMEOUT: '4s',
        NSN_LISTEN: '/ip4/127.0.0.3/tcp/1, /ip4/127.0.0.3/tcp/2',
      },
      flags: { api: '127.0.0.4:3001' },
    })
    expect(config.api).toEqual({ host: '127.0.0.4', port: 3001 }) // flag
    expect(config.queryTimeout).toBe(4000) // env over file
    expect(config.listen).toEqual(['/ip4/127.0.0.3/tcp/1', '/ip4/127.0.0.3/tcp/2']) // env list replaces the file's
    expect(config.metrics).toEqual({ host: '127.0.0.2', port: 1002 }) // file
    expect(config.maxShards).toBe(7) // file
    expect(config.refreshInterval).toBe(REFRESH_INTERVAL) // default
  })

  it('NSN_CONFIG names the file; repeatable flags are lists; booleans and durations parse', async () => {
    const file = await configFile(JSON.stringify({ logLevel: 'debug', dataDir: 'data' }))
    const config = await loadConfig({
      env: { NSN_CONFIG: file, NSN_LOG_JSON: 'true', NSN_METRICS: 'off' },
      flags: {
        bootstrap: [
          '/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGRUVh7bQ4EAbc6kRCTyJrBWvTEd7VG9cSUn9zqKM9UtG',
          '/dnsaddr/bootstrap.example.org',
        ],
        refreshInterval: '0',
        providerTtl: '2m',
      },
    })
    expect(config.logLevel).toBe('debug')
    expect(config.logJson).toBe(true)
    expect(config.metrics).toBeNull()
    expect(config.bootstrap).toHaveLength(2)
    expect(config.refreshInterval).toBe(0)
    expect(config.providerTtl).toBe(120_000)
    // a relative data dir in a file is relative to the file
    expect(config.dataDir).toBe(join(file, '..', 'data'))
  })

  it('a relative data dir from a flag is relative to cwd; ~ is the home dir', async () => {
    expect((await loadConfig({ flags: { dataDir: 'x' }, cwd: '/srv' })).dataDir).toBe('/srv/x')
    expect((await loadConfig({ env: { NSN_DATA_DIR: '~/nsn' } })).dataDir).toBe(join(homedir(), 'nsn'))
  })

  it.each([
    [
      { flags: { listen: ['/ip4/nope'] } },
      /^invalid config: listen\[0\]: "\/ip4\/nope" is not a valid multiaddr .*\(from --listen\)$/,
    ],
    [
      { env: { NSN_BOOTSTRAP: '/ip4/127.0.0.1/tcp/1,garbage' } },
      /^invalid config: bootstrap\[1\]: "garbage" is not a valid multiaddr.*\(from NSN_BOOTSTRAP\)$/,
    ],
    [
      { flags: { api: '127.0.0.1:70000' } },
      /^invalid config: api: port must be 0-65535 \(0 picks a free port\), got "70000" \(from --api\)$/,
    ],
    [{ flags: { api: 'localhost' } }, /^invalid config: api: must be host:port/],
    [{ env: { NSN_METRICS: ':9100' } }, /^invalid config: metrics: must be host:port/],
    [{ flags: { queryTimeout: 'soon' } }, /^invalid config: queryTimeout: must be a duration in ms/],
    [{ flags: { queryTimeout: '0' } }, /^invalid config: queryTimeout: must be at least 1 ms, got 0/],
    [{ env: { NSN_REFRESH_INTERVAL: '30d' } }, /^invalid config: refreshInterval: must be a duration in ms/],
    [
      { env: { NSN_REFRESH_INTERVAL: '600h' } },
      /^invalid config: refreshInterval: must be at most 2147483647 ms/,
    ],
    [
      { env: { NSN_MAX_SHARDS: '-3' } },
      /^invalid config: maxShards: must be an integer, got "-3" \(from NSN_MAX_SHARDS\)$/,
    ],
    [{ flags: { maxShards: '0' } }, /^invalid config: maxShards: must be 1-100000000, got 0/],
    [
      { env: { NSN_LOG_LEVEL: 'loud' } },
      /^invalid config: logLevel: must be one of error, warn, info, debug, got "loud"/,
    ],
    [{ env: { NSN_LOG_JSON: 'maybe' } }, /^invalid config: logJson: must be true or false/],
    [{ flags: { providerTtl: '10' } }, /^invalid config: providerTtl: must be at least 1000 ms/],
    [{ flags: { listen: [] } }, /^invalid config: listen: must name at least one multiaddr/],
  ])('rejects %j naming the field', async (sources, message) => {
    const err = await rejection(loadConfig(sources))
    expect(err.message).toMatch(message)
    expect(err.code).toBe('ERR_INVALID_CONFIG')
    expect(err.field).toBeDefined()
  })

  it('an unreadable config file', async () => {
    const path = join(await dirs.make(), 'missing.json')
    const err = await rejection(loadConfig({ configFile: path }))
    expect(err.message).toBe(`config file ${path}: unreadable (ENOENT)`)
    expect(err.file).toBe(path)
  })

  it('a config file with invalid JSON names the line and column', async () => {
    const path = await configFile('{\n  "api": "127.0.0.1:5080",\n  oops\n}\n')
    const err = await rejection(loadConfig({ configFile: path }))
    expect(err.message).toMatch(new RegExp(`^config file ${path}: invalid JSON at line 3 column 3: `))
  })

  it('a config file that is not an object, has unknown keys, or a bad value', async () => {
    expect(() => parseConfigFile('/x.json', '[1]')).toThrow(
      'config file /x.json: must contain a JSON object of settings',
    )
    expect(() => parseConfigFile('/x.json', '{"listen": [], "port": 1}')).toThrow(
      /^config file \/x\.json: unknown key "port" \(known keys: listen, bootstrap, api,/,
    )
    const path = await configFile('{"listen": ["/ip4/127.0.0.1/tcp/1", 5]}')
    const err = await rejection(loadConfig({ configFile: path }))
    expect(err.message).toBe(
      `invalid config: listen[1]: must be a multiaddr string, got 5 (from config file ${path})`,
    )
    const path2 = await configFile('{"maxShards": "many"}')
    expect((await rejection(loadConfig({ configFile: path2 }))).message).toBe(
      `invalid config: maxShards: must be an integer, got "many" (from config file ${path2})`,
    )
  })

  it('programmatic options are validated the same way', () => {
    expect(resolveConfig({ api: { host: '127.0.0.1', port: 0 }, metrics: null }).metrics).toBeNull()
    expect(() => resolveConfig({ maxShards: 1.5 })).toThrow(
      'invalid config: maxShards: must be an integer, got 1.5',
    )
  })

  it("the local profile gives @nsn/core's LOCAL_PROFILE to fields no source sets", async () => {
    const local = await loadConfig({ flags: { profile: 'local', inboundConnectionThreshold: '7' } })
    expect(local).toMatchObject({
      profile: 'local',
      listen: [...LOCAL_PROFILE.listen],
      allow: [...LOCAL_PROFILE.allow],
      connectionMonitorInterval: LOCAL_PROFILE.connectionMonitorInterval,
      inboundConnectionThreshold: 7, // an explicit value wins
    })
    expect(resolveConfig({ profile: 'local' }).inboundConnectionThreshold).toBe(
      LOCAL_PROFILE.inboundConnectionThreshold,
    )
    const fromEnv = await loadConfig({ env: { NSN_PROFILE: 'local', NSN_LISTEN: '/ip4/127.0.0.1/tcp/4001' } })
    expect(fromEnv.listen).toEqual(['/ip4/127.0.0.1/tcp/4001'])
    expect(fromEnv.allow).toEqual([...LOCAL_PROFILE.allow])
    expect(defaultConfig().profile).toBe('public')
    await expect(loadConfig({ env: { NSN_PROFILE: 'lan' } })).rejects.toThrow(
      'invalid config: profile: must be one of public, private, local, got "lan" (from NSN_PROFILE)',
    )
  })

  it('announce, noAnnounce, upnp and relayServer from flags, env and file, validated', async () => {
    const config = await loadConfig({
      flags: { announce: ['/ip4/11.1.1.1/tcp/4001'], noAnnounce: ['/ip4/10.0.0.1/tcp/4001'], upnp: true },
      env: { NSN_RELAY_SERVER: 'true', NSN_ANNOUNCE: '/ip4/12.1.1.1/tcp/1' },
    })
    expect(config.announce).toEqual(['/ip4/11.1.1.1/tcp/4001'])
    expect(config.noAnnounce).toEqual(['/ip4/10.0.0.1/tcp/4001'])
    expect(config.upnp).toBe(true)
    expect(config.relayServer).toBe(true)
    const fromEnv = await loadConfig({ env: { NSN_ANNOUNCE: '/ip4/12.1.1.1/tcp/1,/ip4/13.1.1.1/tcp/1' } })
    expect(fromEnv.announce).toEqual(['/ip4/12.1.1.1/tcp/1', '/ip4/13.1.1.1/tcp/1'])
    await expect(loadConfig({ flags: { noAnnounce: ['nope'] } })).rejects.toThrow(/noAnnounce\[0\]/)
    expect(defaultConfig()).toMatchObject({ announce: [], noAnnounce: [], upnp: false, relayServer: false })
  })

  it("routingDiversity and requestTimeouts: on by default with core's defaults, false or an object in the file, off or key=value pairs from flags and env", async () => {
    const defaults = defaultConfig()
    expect(defaults.routingDiversity).toEqual({ perBucket: 2, perTable: 3 })
    expect(defaults.requestTimeouts).toEqual({
      min: 1_000,
      max: 5_000,
      unknownPeer: 2_000,
      evictAfter: 3,
      quarantine: 600_000,
    })
    expect(resolveConfig({ routingDiversity: false, requestTimeouts: false })).toMatchObject({
      routingDiversity: false,
      requestTimeouts: false,
    })
    expect(resolveConfig({ routingDiversity: { perTable: 5 } }).routingDiversity).toEqual({
      perBucket: 2,
      perTable: 5,
    })
    expect(resolveConfig({ requestTimeouts: { max: '8s', quarantine: '1m' } }).requestTimeouts).toMatchObject(
      {
        min: 1_000,
        max: 8_000,
        quarantine: 60_000,
      },
    )
    const flags = await loadConfig({
      flags: { routingDiversity: 'perBucket=1,perTable=4', requestTimeouts: 'off' },
    })
    expect(flags).toMatchObject({ routingDiversity: { perBucket: 1, perTable: 4 }, requestTimeouts: false })
    const env = await loadConfig({
      env: { NSN_ROUTING_DIVERSITY: 'off', NSN_REQUEST_TIMEOUTS: 'evictAfter=5' },
    })
    expect(env.routingDiversity).toBe(false)
    expect(env.requestTimeouts).toMatchObject({ evictAfter: 5, min: 1_000 })
    expect(() => resolveConfig({ routingDiversity: { perBucket: 4, perTable: 3 } })).toThrow(
      'invalid config: routingDiversity.perBucket: must be <= perTable (3), got 4',
    )
    expect(() => resolveConfig({ routingDiversity: { perIp: 1 } })).toThrow(
      'invalid config: routingDiversity.perIp: is not a key of routingDiversity (perBucket, perTable)',
    )
    expect(() => resolveConfig({ routingDiversity: 3 })).toThrow(
      'invalid config: routingDiversity: must be false or an object { perBucket, perTable }, got 3',
    )
    await expect(loadConfig({ flags: { routingDiversity: 'perBucket' } })).rejects.toThrow(
      /invalid config: routingDiversity: must be off, on, or perBucket=<value>,perTable=<value>.*\(from --routing-diversity\)/,
    )
    expect(() => resolveConfig({ requestTimeouts: { min: 3_000, max: 2_000 } })).toThrow(
      'invalid config: requestTimeouts.min: must be <= max (2000 ms), got 3000',
    )
    expect(() => resolveConfig({ requestTimeouts: { evictAfter: 0 } })).toThrow(
      'invalid config: requestTimeouts.evictAfter: must be 1-1000, got 0',
    )
  })

  it('the local profile turns routing-table diversity off unless a source sets it; the default profile keeps it on', async () => {
    expect(LOCAL_PROFILE.routingDiversity).toBe(false)
    expect((await loadConfig({ flags: { profile: 'local' } })).routingDiversity).toBe(false)
    expect(
      (await loadConfig({ flags: { profile: 'local', routingDiversity: 'perBucket=2,perTable=3' } }))
        .routingDiversity,
    ).toEqual({ perBucket: 2, perTable: 3 })
    expect((await loadConfig({})).routingDiversity).toEqual({ perBucket: 2, perTable: 3 })
  })

  it('the README documents every flag, environment variable and config key with its default', async () => {
    const readme = await readFile(join(PKG, 'README.md'), 'utf8')
    for (const spec of CONFIG_FIELDS as readonly FieldSpec[]) {
      // a field without a flag (a secret) has a row of its own, found by its variable
      const row = readme
        .split('\n')
        .map((line) => line.replace(/ +/g, ' '))
        .find((line) =>
          spec.flag == null
            ? line.startsWith('| (no flag)') && line.includes(`| \`${spec.env}\``)
            : line.startsWith(`| \`--${spec.flag}`),
        )
      expect(row, `README row of ${spec.flag == null ? spec.env : `--${spec.flag}`}`).toBeDefined()
      expect(row).toContain(`\`${spec.env}\``)
      expect(row).toContain(`\`${spec.key}\``)
      expect(row).toContain(spec.defaultText === 'none' ? '| none |' : `\`${spec.defaultText}\``)
    }
  })
})
