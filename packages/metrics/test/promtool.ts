import { spawn } from 'node:child_process'

export interface PromtoolResult {
  code: number | null
  stdout: string
  stderr: string
}

const MISSING =
  'promtool not found on PATH: it comes from the Prometheus distribution (Debian/Ubuntu: `apt-get install -y prometheus`); the exposition must pass `promtool check metrics`'

/** Runs promtool with `args`, writing `stdin` to it. Rejects with a clear message when promtool is not installed. */
export function promtool(args: string[], stdin = ''): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(err.code === 'ENOENT' ? new Error(MISSING) : err)
    })
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.on('error', () => {
      // promtool missing or exited early: reported through 'error' / 'close'
    })
    child.stdin.end(stdin)
  })
}

/** `promtool check metrics` on an exposition: resolves with its output, which is empty when clean. */
export async function checkMetrics(exposition: string): Promise<PromtoolResult> {
  return promtool(['check', 'metrics'], exposition)
}
