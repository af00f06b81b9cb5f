import { describe, expect, it } from 'vitest'
import { progressOn, runDemo } from '../src/demo/index.js'
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
    // not a terminal: no progress frames, only the lines that end each step
    expect(text).not.toContain('\r')
    expect(text).toMatch(/^ {2}started 5\/5 nodes \(.+\)\n {2}formed in .+: routing tables 4 4 4 4 4\n/m)
  }, 60_000)

  it('progress draws \\r frames on a terminal only, and ends a step over its frame', () => {
    const written: string[] = []
    const tty = progressOn({ write: (c: string) => written.push(c), isTTY: true })
    tty.frame('  started 1/2 nodes')
    tty.frame('  started 2/2')
    tty.line('  done')
    tty.line('next')
    expect(written).toEqual(['\r  started 1/2 nodes', '\r  started 2/2      ', '\r  done       \n', 'next\n'])
    const piped: string[] = []
    const pipe = progressOn({ write: (c: string) => piped.push(c) })
    pipe.frame('  started 1/2 nodes')
    pipe.line('  done')
    expect(pipe.live).toBe(false)
    expect(piped).toEqual(['  done\n'])
  })

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
