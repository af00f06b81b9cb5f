// GET /v1/shards pages through a shard store of any size: Kademlia key order, `limit`,
// `next` as the following page's `after`, and 400 for a bad limit or cursor. The backend
// is a stub over a real in-memory ShardRegistry; the server and the client are real.
import { kadKeyOf, ShardRegistry } from '@nsn/shard-registry'
import { afterEach, describe, expect, it } from 'vitest'
import { type ApiBackend, type ApiServer, NsnApiClient, startApiServer } from '../src/index.js'
import { stubBackend } from './helpers.js'

function backend(registry: ShardRegistry): ApiBackend {
  return stubBackend({
    id: () => ({ peerId: '12D3KooWstub', addrs: [] }),
    shards: (options) => registry.shardsInRegion(new Uint8Array(0), 0, options),
  })
}

const hashOf = (i: number): Uint8Array => {
  const hash = new Uint8Array(32)
  new DataView(hash.buffer).setUint32(28, i)
  return hash
}
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex')

describe('GET /v1/shards pages', () => {
  let server: ApiServer | undefined
  afterEach(async () => {
    await server?.close()
    server = undefined
  })

  it('lists every shard once, in key order, page after page', async () => {
    const registry = new ShardRegistry()
    const hashes = Array.from({ length: 25 }, (_, i) => hashOf(i))
    await registry.addMany(hashes)
    server = await startApiServer({ backend: backend(registry), port: 0 })
    const client = new NsnApiClient(`127.0.0.1:${server.port}`)

    const first = await client.shards({ limit: 10 })
    expect(first.shards).toHaveLength(10)
    expect(first.next).toMatch(/^[0-9a-f]{64}$/)
    const byKey = [...hashes].sort((a, b) => hex(kadKeyOf(a)).localeCompare(hex(kadKeyOf(b))))
    expect(first.shards.map((shard) => shard.hash)).toEqual(byKey.slice(0, 10).map(hex))
    expect(first.next).toBe(hex(kadKeyOf(byKey[9] as Uint8Array)))

    const listed: string[] = []
    for await (const shard of client.allShards({ limit: 7 })) listed.push(shard.hash)
    expect(listed).toEqual(byKey.map(hex))

    const last = await client.shards({ limit: 5, after: hex(kadKeyOf(byKey[19] as Uint8Array)) })
    expect(last.shards.map((shard) => shard.hash)).toEqual(byKey.slice(20).map(hex))
    expect(last.next).toBeUndefined()
    // the default page holds them all
    expect((await client.shards()).shards).toHaveLength(25)
  })

  it.each([
    ['limit=0', /invalid limit "0"/],
    ['limit=10001', /invalid limit "10001"/],
    ['limit=abc', /invalid limit "abc"/],
    ['after=zz', /invalid after "zz"/],
    [`after=${'AB'.repeat(32)}`, /must be 64 lower-case hex/],
  ])('?%s is 400 ERR_BAD_REQUEST', async (query, message) => {
    server = await startApiServer({ backend: backend(new ShardRegistry()), port: 0 })
    const res = await fetch(`http://127.0.0.1:${server.port}/v1/shards?${query}`)
    expect(res.status).toBe(400)
    const body = (await res.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('ERR_BAD_REQUEST')
    expect(body.error.message).toMatch(message)
  })
})
