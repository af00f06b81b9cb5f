import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type CliIo,
  ConfigError,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_USAGE,
  loadConfig,
  type NsnNode,
  runCli,
} from '../src/index.js'
import { api, apiAddr, apiTestNode, TempDirs } from './helpers.js'

const dirs = new TempDirs()

function io(): CliIo & { out: () => string } {
  let stdout = ''
  return {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: () => true },
    env: {},
    cwd: process.cwd(),
    signals: { on: () => undefined, off: () => undefined },
    exit: () => undefined,
    out: () => stdout,
  }
}

describe('announcement topics through the API and the CLI', () => {
  let gossip: NsnNode
  let plain: NsnNode
  beforeAll(async () => {
    gossip = await apiTestNode(dirs, { gossip: true, gossipGroups: ['boot-group'] })
    plain = await apiTestNode(dirs)
  })
  afterAll(async () => {
    await gossip?.stop()
    await plain?.stop()
    await dirs.cleanup()
  })

  it('without --gossip, topics calls answer 409 ERR_GOSSIP_OFF', async () => {
    const res = await api(apiAddr(plain), 'GET', '/v1/topics')
    expect(res.status).toBe(409)
    expect((res.body as { error: { code: string } }).error.code).toBe('ERR_GOSSIP_OFF')
    expect((await api(apiAddr(plain), 'PUT', '/v1/topics/a')).status).toBe(409)
  })

  it('lists the network-wide topic and the configured groups; subscribes and leaves groups; refuses bad names', async () => {
    const addr = apiAddr(gossip)
    let cli = io()
    expect(await runCli(['topics', '--api', addr, '--json'], cli)).toBe(EXIT_OK)
    const listed = JSON.parse(cli.out()) as { topics: Array<{ group: string | null; topic: string }> }
    expect(listed.topics.map((t) => t.topic)).toEqual(['/nsn/shards/1', '/nsn/shards/1/group/boot-group'])

    cli = io()
    expect(await runCli(['topics', 'subscribe', 'video-1', '--api', addr], cli)).toBe(EXIT_OK)
    expect(cli.out()).toBe('subscribed to /nsn/shards/1/group/video-1\n')
    cli = io()
    expect(await runCli(['topics', 'list', '--api', addr], cli)).toBe(EXIT_OK)
    expect(cli.out()).toContain('video-1  /nsn/shards/1/group/video-1  mesh 0, subscribers 0')
    cli = io()
    expect(await runCli(['topics', 'unsubscribe', 'video-1', '--api', addr], cli)).toBe(EXIT_OK)
    expect(cli.out()).toBe('unsubscribed from group video-1\n')
    expect(await runCli(['topics', 'unsubscribe', 'video-1', '--api', addr], io())).toBe(EXIT_FAILURE)
    expect(await runCli(['topics', 'subscribe', 'no/slash', '--api', addr], io())).toBe(EXIT_USAGE)
    expect(await runCli(['topics', 'join', 'x', '--api', addr], io())).toBe(EXIT_USAGE)
    expect(await runCli(['topics', 'subscribe', '--api', addr], io())).toBe(EXIT_USAGE)

    const bad = await api(addr, 'PUT', `/v1/shards/${'ab'.repeat(32)}?group=no%20space`)
    expect(bad.status).toBe(400)
    expect((bad.body as { error: { code: string } }).error.code).toBe('ERR_INVALID_GROUP')
  })

  it('config: --gossip-group names are checked', async () => {
    await expect(loadConfig({ flags: { gossipGroups: ['ok', 'not ok'] } })).rejects.toThrow(ConfigError)
    expect((await loadConfig({ flags: { gossip: true, gossipGroups: ['a', 'a'] } })).gossipGroups).toEqual([
      'a',
    ])
  })
})

describe('announcement topics across a restart', () => {
  const restartDirs = new TempDirs()
  afterAll(() => restartDirs.cleanup())

  it('a group subscribed through the API is subscribed again after a restart; one left is not', async () => {
    const dataDir = await restartDirs.make()
    const start = () => apiTestNode(restartDirs, { gossip: true, dataDir })
    const groupsOf = async (node: NsnNode) =>
      (
        (await api(apiAddr(node), 'GET', '/v1/topics')).body as { topics: Array<{ group: string | null }> }
      ).topics
        .map((t) => t.group)
        .filter((g) => g != null)
        .sort()

    let node = await start()
    try {
      expect((await api(apiAddr(node), 'PUT', '/v1/topics/video-7')).status).toBe(201)
      expect((await api(apiAddr(node), 'PUT', '/v1/topics/video-8')).status).toBe(201)
    } finally {
      await node.stop()
    }
    node = await start()
    try {
      expect(await groupsOf(node)).toEqual(['video-7', 'video-8'])
      expect((await api(apiAddr(node), 'DELETE', '/v1/topics/video-7')).status).toBe(200)
    } finally {
      await node.stop()
    }
    node = await start()
    try {
      expect(await groupsOf(node)).toEqual(['video-8'])
    } finally {
      await node.stop()
    }
  })
})
