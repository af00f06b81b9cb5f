import { describe, expect, it } from 'vitest'
import { runDemo } from '../src/demo/index.js'
import { runCli } from '../src/index.js'

describe('the demo network', () => {
  it('forms, publishes and finds every shard, and reports what it measured', async () => {
    const lines: string[] = []
    const report = await runDemo({ nodes: 5, shards: 3 }, { write: (chunk: string) => lines.push(chunk) })
    expect(report.nodes).toBe(5)
    expect(report.routingTable.min).toBe(4)
    expect(report.provide.ok).toBe(3)
    expect(report.lookup.ok).toBe(3)
    expect(report.successRate).toBe(1)
    const text = lines.join('')
    expect(text).toContain('success rate')
    expect(text).toContain('100.0 %')
    expect(text).toMatch(/stopped 5 nodes and removed their data/)
  }, 60_000)

  it('rejects bad counts with a usage error (exit 2)', async () => {
    const err: string[] = []
    const code = await runCli(['demo', '--nodes', '2'], { stderr: { write: (c: string) => err.push(c) } })
    expect(code).toBe(2)
    expect(err.join('')).toContain('invalid --nodes "2": must be an integer from 4 to 100')
  })

  it('runDemo rejects bad counts with a typed InvalidOptionError before starting anything', async () => {
    const out = { write: () => true }
    await expect(runDemo({ nodes: 3 }, out)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      option: 'nodes',
    })
    await expect(runDemo({ shards: 0 }, out)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      option: 'shards',
    })
  })
})
