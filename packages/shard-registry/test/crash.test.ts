import { type ChildProcess, spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { LevelDatastore } from 'datastore-level'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ShardRegistry } from '../src/index.js'
import { hexes, recordCount, seedMessage, tempDir, testSeed } from './helpers.js'

const writer = fileURLToPath(new URL('./fixtures/crash-writer.mjs', import.meta.url))
/** Lines to wait for before the kill. */
const PRINTED = 200
/** Overall bound of one writer run; exceeding it fails the test. */
const RUN_TIMEOUT = 20_000
/** The writers' shards come from this seed (printed when a test fails). */
const SEED = testSeed()

/**
 * Starts the writer on `dir`, waits until it printed `count` shard lines, kills it with
 * SIGKILL and resolves with the printed shards once it exited. Rejects if the writer
 * exits on its own or the count is not reached within {@link RUN_TIMEOUT}. Each `run`
 * of a test writes other shards.
 */
function writeThenKill(
  dir: string,
  capacity: number,
  count: number,
  children: ChildProcess[],
  run = 0,
  batch = 1,
): Promise<string[]> {
  const child = spawn(process.execPath, [writer, dir, String(capacity), `${SEED}:${run}`, String(batch)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  const printed: string[] = []
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  return new Promise<string[]>((resolve, reject) => {
    let killed = false
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(
        new Error(
          `writer printed ${printed.length} of ${count} shards in ${RUN_TIMEOUT} ms; stderr: ${stderr}`,
        ),
      )
    }, RUN_TIMEOUT)
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
    lines.on('line', (line) => {
      if (line.startsWith('ready')) return
      printed.push(line)
      if (printed.length >= count && !killed) {
        killed = child.kill('SIGKILL')
        if (!killed) reject(new Error('could not send SIGKILL to the writer'))
      }
    })
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    // 'close' comes after the exit and after stdout was drained: every line printed is read
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      if (!killed || signal !== 'SIGKILL') {
        reject(new Error(`writer ended on its own (code ${code}, signal ${signal}); stderr: ${stderr}`))
        return
      }
      resolve([...printed])
    })
  })
}

describe('crash safety (kill -9 mid-stream, real LevelDB)', () => {
  let dir: string
  let remove: () => Promise<void>
  let children: ChildProcess[]
  let datastores: LevelDatastore[]

  beforeEach(async ({ onTestFailed }) => {
    onTestFailed(() => {
      console.error(seedMessage(SEED))
    })
    ;({ dir, remove } = await tempDir('crash'))
    children = []
    datastores = []
  })

  afterEach(async () => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGKILL')
        await exited
      }
    }
    for (const datastore of datastores) await datastore.close()
    await remove()
  })

  async function reopen(capacity: number): Promise<{ registry: ShardRegistry; datastore: LevelDatastore }> {
    const datastore = new LevelDatastore(dir)
    await datastore.open()
    datastores.push(datastore)
    return { registry: await ShardRegistry.open({ datastore, capacity }), datastore }
  }

  it('keeps every acknowledged shard', async () => {
    const printed = await writeThenKill(dir, 10_000, PRINTED, children)
    expect(printed.length).toBeGreaterThanOrEqual(PRINTED)
    const { registry, datastore } = await reopen(10_000)
    const missing = []
    for (const hex of printed) if (!(await registry.has(Buffer.from(hex, 'hex')))) missing.push(hex)
    expect(missing).toEqual([])
    // at most the one add in flight at the kill may have committed without being printed
    expect(registry.size - printed.length).toBeGreaterThanOrEqual(0)
    expect(registry.size - printed.length).toBeLessThanOrEqual(1)
    // recency order survives too
    const order = await hexes(registry)
    expect(order.slice(0, printed.length)).toEqual(printed)
    // the journaled count agrees with the records
    expect(await recordCount(datastore)).toBe(registry.size)
  })

  it('keeps every shard of each acknowledged addMany, and the count exact', async () => {
    const batch = 25
    const printed = await writeThenKill(dir, 10_000, PRINTED, children, 0, batch)
    expect(printed.length % batch).toBe(0)
    const { registry, datastore } = await reopen(10_000)
    const order = await hexes(registry)
    expect(order.slice(0, printed.length)).toEqual(printed)
    // a batch in flight at the kill is all there or not there at all (one batch write)
    expect(registry.size - printed.length).toBeGreaterThanOrEqual(0)
    expect(registry.size - printed.length).toBeLessThanOrEqual(batch)
    expect((registry.size - printed.length) % batch).toBe(0)
    expect(await recordCount(datastore)).toBe(registry.size)
  })

  it('keeps evictions atomic with the adds that caused them', async () => {
    const capacity = 50
    const first = await writeThenKill(dir, capacity, PRINTED, children)
    // a second run on the same directory: it loads, then carries on evicting
    const second = await writeThenKill(dir, capacity, PRINTED, children, 1)
    const { registry, datastore } = await reopen(capacity)
    expect(registry.size).toBe(capacity)
    expect(await recordCount(datastore)).toBe(capacity)
    // the newest capacity - 1 acknowledged shards are there, in order (one more may have
    // committed unprinted and evicted the oldest of the last `capacity`)
    const order = await hexes(registry)
    const expected = second.slice(-(capacity - 1))
    expect(
      order.slice(
        order.indexOf(expected[0] as string),
        order.indexOf(expected[0] as string) + expected.length,
      ),
    ).toEqual(expected)
    for (const hex of expected) expect(await registry.has(Buffer.from(hex, 'hex'))).toBe(true)
    for (const hex of first) expect(await registry.has(Buffer.from(hex, 'hex'))).toBe(false)
  })
})
