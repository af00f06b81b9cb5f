// The README's examples, extracted from README.md and run: a node with libp2p's metrics,
// NSN's metrics and the server (adapted only where it must be: port 0 for the libp2p host
// and the metrics server; its SIGINT shutdown handler is run by the test), and the
// dashboard resolved by its package path (in a Node.js process of its own: the package
// resolves itself by name there, as it resolves from node_modules once installed).
import { execFile } from 'node:child_process'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { afterEach, expect, it, vi } from 'vitest'
import { adapt, readmeExamples, runExample } from '../../../scripts/readme-examples.mjs'

const PKG = fileURLToPath(new URL('..', import.meta.url))

afterEach(() => {
  vi.restoreAllMocks()
})

it('the README example serves libp2p_, nsn_p2p_ and process metrics from one registry', async () => {
  const examples = await readmeExamples(join(PKG, 'README.md'))
  expect(examples).toHaveLength(2)
  const example = examples[0]!
  const code = adapt(example.code, [
    ["listen: ['/ip4/0.0.0.0/tcp/9000']", "listen: ['/ip4/127.0.0.1/tcp/0']"],
    ['startMetricsServer({ register })', 'startMetricsServer({ register, port: 0 })'],
  ])
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined)
  const before = new Set(process.listeners('SIGINT'))
  await runExample(code, { dir: join(PKG, '.test-results', 'readme'), name: 'metrics', lang: example.lang })
  const shutdown = process.listeners('SIGINT').filter((fn) => !before.has(fn))
  expect(shutdown).toHaveLength(1)
  const stop = shutdown[0] as (signal: NodeJS.Signals) => Promise<void>
  process.removeListener('SIGINT', stop)
  const url = String(log.mock.calls[0]?.[0]).replace(/^metrics on /, '')
  try {
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/)
    const res = await fetch(url)
    expect(res.status).toBe(200)
    const body = await res.text()
    expect(body).toContain('nsn_p2p_kademlia_routing_table_size 0')
    expect(body).toContain('nsn_p2p_shard_registry_capacity 10000')
    expect(body).toMatch(/^libp2p_kad_dht_routing_table_size /m)
    expect(body).toMatch(/^process_cpu_user_seconds_total /m)
  } finally {
    await stop('SIGINT') // the example's own shutdown: server, trackers, routing, libp2p
  }
  await expect(fetch(url)).rejects.toThrow() // the server is closed
})

it('the README dashboard example resolves the dashboard by @nsn/metrics/dashboards/*', async () => {
  const examples = await readmeExamples(join(PKG, 'README.md'))
  const example = examples[1]!
  expect(example.code).toContain("import.meta.resolve('@nsn/metrics/dashboards/nsn-dht.json')")
  const dir = join(PKG, '.test-results', 'readme')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `dashboard-${process.pid}.mjs`)
  await writeFile(file, example.code)
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [file])
    const dashboard = pathToFileURL(join(PKG, 'dashboards', 'nsn-dht.json')).href
    expect(stdout).toBe(`nsn-shard-dht ${dashboard}\n`)
  } finally {
    await rm(file, { force: true })
  }
})
