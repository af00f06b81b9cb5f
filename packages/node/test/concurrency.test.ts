import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, createNsnNode, type NsnNode, type NsnNodeInit } from '../src/index.js'
import { api, apiAddr, apiTestNode, TempDirs, threeNodes } from './helpers.js'

const dirs = new TempDirs()
const CONCURRENT = 64

const node = (init: NsnNodeInit = {}): Promise<NsnNode> => apiTestNode(dirs, init)

const addr = apiAddr
const hex = (i: number): string => i.toString(16).padStart(64, '0')

/** Status counts of `answers`, and every answer that is neither 200 nor 429. */
function tally(answers: Array<{ status: number; body: unknown }>): {
  statuses: Record<number, number>
  others: unknown[]
} {
  const statuses: Record<number, number> = {}
  for (const { status } of answers) statuses[status] = (statuses[status] ?? 0) + 1
  return { statuses, others: answers.filter((a) => a.status !== 200 && a.status !== 429) }
}

describe(`HTTP API: ${CONCURRENT} concurrent operations on a healthy three-node network`, () => {
  const nodes: NsnNode[] = []
  let a: NsnNode

  beforeAll(async () => {
    const three = await threeNodes(node)
    a = three[0]
    nodes.push(...three)
  })

  afterAll(async () => {
    await Promise.all(nodes.map((n) => n.stop()))
    await dirs.cleanup()
  })

  it('every lookup and every provide answers 200 (before: 32 of each answered 503 "no peer answered")', async () => {
    const lookups = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => api(addr(a), 'GET', `/v1/shards/${hex(i)}/providers`)),
    )
    const provides = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => api(addr(a), 'PUT', `/v1/shards/${hex(1_000 + i)}`)),
    )
    expect(tally(lookups).others).toEqual([])
    expect(tally(provides).others).toEqual([])
    // all 64 fit the API's bound: none is even answered 429
    expect(tally(lookups).statuses).toEqual({ 200: CONCURRENT })
    expect(tally(provides).statuses).toEqual({ 200: CONCURRENT })
    for (const { body } of provides) expect(body).toMatchObject({ confirmed: 2 })
    expect(nodes.map((n) => n.routing.routingTableSize())).toEqual([2, 2, 2])
  })

  it('past the bound, the rest are answered 429 ERR_OVERLOADED in the error envelope, never 503', async () => {
    const answers = await Promise.all(
      Array.from({ length: 2 * CONCURRENT }, (_, i) =>
        api(addr(a), 'GET', `/v1/shards/${hex(5_000 + i)}/providers`),
      ),
    )
    const { statuses, others } = tally(answers)
    expect(others).toEqual([])
    expect(statuses[200]).toBeGreaterThanOrEqual(CONCURRENT)
    for (const answer of answers.filter((x) => x.status === 429)) {
      expect(answer.body).toEqual({ error: { code: 'ERR_OVERLOADED', message: expect.any(String) } })
    }
  })
})

describe('maxConcurrentQueries', () => {
  it('is at most what the DHT stream slots hold for one peer', async () => {
    const slots = { perPeer: 2, queuePerPeer: 8 }
    await expect(
      createNsnNode({ start: false, maxConcurrentQueries: 11, dht: { streamSlots: slots } }),
    ).rejects.toMatchObject({ name: 'ConfigError', field: 'maxConcurrentQueries' })
    await expect(createNsnNode({ start: false, maxConcurrentQueries: 0 })).rejects.toBeInstanceOf(ConfigError)
  })
})
