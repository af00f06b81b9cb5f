// The API's optional bearer token: where it comes from, how it is checked (first, in the
// envelope, with a challenge), when it is required, and that it never reaches a log line.
import { EventEmitter } from 'node:events'
import { chmod, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import {
  type ApiBackend,
  type ApiServer,
  ApiTokenError,
  ApiTokenRequiredError,
  bearerAuth,
  checkApiToken,
  createLogger,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  isLoopbackHost,
  isPublicRequest,
  loadConfig,
  NsnApiClient,
  readApiTokenFile,
  resolveApiToken,
  resolveConfig,
  runCli,
  startApiServer,
  UnauthorizedError,
} from '../src/index.js'
import { Daemon, LOOPBACK_FLAGS, runBin, stubBackend, TempDirs } from './helpers.js'

const TOKEN = 'a3f1c9e07b5d2468a3f1c9e07b5d2468'
const dirs = new TempDirs()
afterAll(() => dirs.cleanup())

function backend(): ApiBackend {
  return stubBackend({ id: () => ({ peerId: '12D3KooWstub', addrs: [] }), peers: async () => [] })
}

/** A log that keeps every line, at debug. */
function recordingLog(): { log: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    log: createLogger({ level: 'debug', json: true, stream: { write: (l: string) => lines.push(l) } }),
  }
}

async function call(
  server: ApiServer,
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const res = await fetch(`${server.url}${path}`, { method, headers })
  const text = await res.text()
  return { status: res.status, body: text === '' ? undefined : JSON.parse(text), headers: res.headers }
}

describe('API token: rules', () => {
  it('loopback hosts are 127.0.0.0/8, ::1 and localhost; 0.0.0.0, :: and names are not', () => {
    for (const host of ['127.0.0.1', '127.3.2.1', '::1', '[::1]', 'localhost', '::ffff:127.0.0.1'])
      expect(isLoopbackHost(host), host).toBe(true)
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '192.168.1.2',
      'example.org',
      '::ffff:10.0.0.1',
      '128.0.0.1',
    ])
      expect(isLoopbackHost(host), host).toBe(false)
  })

  it('a token is visible ASCII, at least 16 characters; errors never quote it', () => {
    expect(checkApiToken(TOKEN)).toBe(TOKEN)
    for (const bad of ['', 'short-secret', `${TOKEN} x`, `${TOKEN}\u00e9`]) {
      const err = (() => {
        try {
          checkApiToken(bad)
        } catch (e) {
          return e as ApiTokenError
        }
        throw new Error(`accepted ${JSON.stringify(bad)}`)
      })()
      expect(err).toBeInstanceOf(ApiTokenError)
      expect(err.code).toBe('ERR_API_TOKEN')
      if (bad !== '') expect(err.message).not.toContain(bad)
    }
  })

  it('the check: missing, malformed, wrong (any length) → UnauthorizedError; the right one passes', () => {
    const auth = bearerAuth(TOKEN)
    expect(() => auth.check(`Bearer ${TOKEN}`)).not.toThrow()
    expect(() => auth.check(`bearer  ${TOKEN}`)).not.toThrow()
    const reason = (header: string | undefined): string => {
      try {
        auth.check(header)
      } catch (err) {
        expect(err).toBeInstanceOf(UnauthorizedError)
        expect((err as Error).message).not.toContain(TOKEN)
        return (err as UnauthorizedError).reason
      }
      return 'passed'
    }
    expect(reason(undefined)).toBe('missing')
    expect(reason('')).toBe('missing')
    expect(reason(`Basic ${TOKEN}`)).toBe('malformed')
    expect(reason(TOKEN)).toBe('malformed')
    expect(reason(`Bearer ${TOKEN.slice(0, -1)}`)).toBe('wrong')
    expect(reason(`Bearer ${TOKEN}0`)).toBe('wrong')
    expect(reason(`Bearer ${TOKEN.toUpperCase()}`)).toBe('wrong')
    expect(isPublicRequest('GET', '/healthz')).toBe(true)
    expect(isPublicRequest('HEAD', '/healthz')).toBe(true)
    expect(isPublicRequest('POST', '/healthz')).toBe(false)
    expect(isPublicRequest('GET', '/v1/id')).toBe(false)
  })

  it('a token file: trimmed, its mode checked; unreadable or empty files are typed errors', async () => {
    const dir = await dirs.make()
    const file = join(dir, 'token')
    await writeFile(file, `${TOKEN}\n`, { mode: 0o600 })
    await chmod(file, 0o600)
    expect(readApiTokenFile(file)).toEqual({ token: TOKEN, exposed: false, mode: '0600' })
    await chmod(file, 0o644)
    expect(readApiTokenFile(file)).toEqual({ token: TOKEN, exposed: true, mode: '0644' })

    const { log, lines } = recordingLog()
    expect(resolveApiToken({ apiTokenFile: file, apiToken: 'x'.repeat(20) }, log)).toBe(TOKEN)
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({
        level: 'warn',
        file,
        mode: '0644',
        msg: expect.stringContaining('chmod 600'),
      }),
    ])
    expect(lines.join('')).not.toContain(TOKEN)
    expect(resolveApiToken({ apiToken: TOKEN })).toBe(TOKEN)
    expect(resolveApiToken({})).toBeUndefined()

    const empty = join(dir, 'empty')
    await writeFile(empty, '\n')
    expect(() => readApiTokenFile(empty)).toThrow(`API token file ${empty}: is empty`)
    expect(() => readApiTokenFile(join(dir, 'missing'))).toThrow(/unreadable \(ENOENT\)/)
  })
})

describe('API token: configuration', () => {
  it('NSN_API_TOKEN, apiToken and apiTokenFile; a bad token named without its value', async () => {
    expect((await loadConfig({ env: { NSN_API_TOKEN: TOKEN } })).apiToken).toBe(TOKEN)
    expect((await loadConfig({})).apiToken).toBeNull()
    const dir = await dirs.make()
    const file = join(dir, 'nsn.json')
    await writeFile(file, JSON.stringify({ apiTokenFile: 'secrets/token', apiToken: TOKEN }))
    const config = await loadConfig({ configFile: file })
    expect(config.apiTokenFile).toBe(join(dir, 'secrets', 'token'))
    expect(config.apiToken).toBe(TOKEN)
    const weak = 'weak-secret-1'
    const err = await loadConfig({ env: { NSN_API_TOKEN: weak } }).catch((e: Error) => e)
    expect((err as Error).message).toBe(
      'invalid config: apiToken: must be at least 16 characters, got 13 (make one with: openssl rand -hex 32) (from NSN_API_TOKEN)',
    )
    expect(() => resolveConfig({ apiToken: 42 })).toThrow(
      'apiToken: must be a string (the value is not shown)',
    )
  })

  it('start with an unreadable token file: one line, exit 2, before anything listens', async () => {
    const missing = join(await dirs.make(), 'missing-token')
    const err: string[] = []
    const code = await runCli(
      ['start', '--api', '127.0.0.1:0', '--metrics', 'off', '--api-token-file', missing],
      {
        stderr: { write: (s: string) => err.push(s) },
        stdout: { write: () => undefined },
        env: {},
        signals: new EventEmitter(),
      },
    )
    expect(code).toBe(EXIT_USAGE)
    expect(err.join('')).toBe(`error: API token file ${missing}: unreadable (ENOENT)\n`)
  })
})

describe('API token: the server', () => {
  let server: ApiServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('every call but GET /healthz needs the token: 401 in the envelope, with a Bearer challenge', async () => {
    const { log, lines } = recordingLog()
    server = await startApiServer({ backend: backend(), port: 0, token: TOKEN, log })
    for (const [method, path] of [
      ['GET', '/v1/id'],
      ['GET', '/v1/nope'], // not 404: without the token, nothing is told
      ['PUT', '/v1/shards/xyz'],
      ['POST', '/healthz'],
    ] as const) {
      const res = await call(server, method, path)
      expect(res.status, `${method} ${path}`).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="nsn-node"')
      expect(res.body).toEqual({
        error: { code: 'ERR_UNAUTHORIZED', message: expect.stringContaining('no API token was sent') },
      })
    }
    const wrong = await call(server, 'GET', '/v1/id', { authorization: `Bearer ${'f'.repeat(32)}` })
    expect(wrong.status).toBe(401)
    expect(wrong.body).toMatchObject({
      error: { message: expect.stringContaining('the API token is wrong') },
    })

    expect(await call(server, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } })
    expect((await call(server, 'HEAD', '/healthz')).status).toBe(200)
    const ok = await call(server, 'GET', '/v1/id', { authorization: `Bearer ${TOKEN}` })
    expect(ok).toMatchObject({ status: 200, body: { peerId: '12D3KooWstub' } })
    expect(await new NsnApiClient(`127.0.0.1:${server.port}`, { token: TOKEN }).id()).toMatchObject({
      peerId: '12D3KooWstub',
    })
    await expect(new NsnApiClient(`127.0.0.1:${server.port}`).id()).rejects.toMatchObject({
      status: 401,
      remoteCode: 'ERR_UNAUTHORIZED',
    })

    // refusals are logged at warn with method, path, status and code; the token never
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(records).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        method: 'GET',
        path: '/v1/id',
        status: 401,
        code: 'ERR_UNAUTHORIZED',
      }),
    )
    expect(lines.join('')).not.toContain(TOKEN)
  })

  it('refuses to listen off loopback without a token, and listens there with one', async () => {
    await expect(startApiServer({ backend: backend(), host: '0.0.0.0', port: 0 })).rejects.toBeInstanceOf(
      ApiTokenRequiredError,
    )
    await expect(
      startApiServer({ backend: backend(), host: '0.0.0.0', port: 0, token: 'short' }),
    ).rejects.toThrow(ApiTokenError)
    server = await startApiServer({ backend: backend(), host: '0.0.0.0', port: 0, token: TOKEN })
    expect((await call(server, 'GET', '/v1/id')).status).toBe(401)
  })
})

describe('API token: the daemon and the client verbs', () => {
  it('a daemon on a non-loopback --api without a token refuses to start: one line, exit 2', async () => {
    const run = await runBin([
      'start',
      ...LOOPBACK_FLAGS,
      '--api',
      '0.0.0.0:0',
      '--data-dir',
      await dirs.make(),
    ])
    expect(run.code).toBe(EXIT_USAGE)
    const lines = run.stderr.trim().split('\n')
    expect(lines.at(-1)).toBe(
      'error: the API would listen on 0.0.0.0, which is not a loopback address, without a token: set one with --api-token-file <path> (or NSN_API_TOKEN), or listen on 127.0.0.1',
    )
  })

  it('with --api-token-file: verbs without the token get 401, with it (file or NSN_API_TOKEN) they work; never logged', async () => {
    const dir = await dirs.make()
    const file = join(dir, 'api-token')
    await writeFile(file, `${TOKEN}\n`)
    await chmod(file, 0o644)
    const daemon = new Daemon([
      ...LOOPBACK_FLAGS,
      '--api',
      '0.0.0.0:0',
      '--api-token-file',
      file,
      '--data-dir',
      join(dir, 'data'),
      '--log-level',
      'debug',
    ])
    try {
      const ready = await daemon.ready()
      const api = `127.0.0.1:${ready.api.split(':').at(-1)}`
      expect(daemon.logs).toContainEqual(
        expect.objectContaining({ level: 'warn', module: 'node', file, mode: '0644' }),
      )

      let run = await runBin(['id', '--api', api])
      expect(run.code).toBe(EXIT_FAILURE)
      expect(run.stderr).toContain('no API token was sent')
      expect(run.stderr).toContain('(ERR_UNAUTHORIZED)')

      run = await runBin(['--api-token-file', file, 'id', '--api', api, '--json'])
      expect(run.code).toBe(EXIT_OK)
      expect(JSON.parse(run.stdout)).toMatchObject({ peerId: ready.peerId })
      expect(run.stderr).toBe(
        `warning: the API token file ${file} is readable by other users (mode 0644): chmod 600 it\n`,
      )

      run = await runBin(['stats', '--api', api], { env: { NSN_API_TOKEN: TOKEN } })
      expect(run.code).toBe(EXIT_OK)
      expect(run.stdout).toContain(`peer id               ${ready.peerId}`)

      run = await runBin(['health', '--api', api])
      expect(run).toMatchObject({ code: EXIT_OK, stdout: 'ok\n' })

      await daemon.waitForLog((r) => r.status === 401 && r.level === 'warn', { what: 'the 401 warn line' })
      expect(daemon.stderrText()).not.toContain(TOKEN)
    } finally {
      await daemon.stop().catch(() => daemon.kill())
    }
  }, 60_000)
})
