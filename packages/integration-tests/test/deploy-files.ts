/**
 * Readers of the deployment files in `deploy/` for `deploy.test.ts`: the Dockerfile's
 * instructions, a systemd unit's directives, YAML (compose, Prometheus, Grafana).
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { load } from 'js-yaml'

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../../..', import.meta.url))
/** `deploy/` of the repository. */
export const DEPLOY = join(ROOT, 'deploy')

/** One Dockerfile instruction: `ENTRYPOINT ["a"]` is `{ name: 'ENTRYPOINT', args: '["a"]' }`. */
export interface DockerInstruction {
  name: string
  args: string
}

/** The instructions of a Dockerfile, continuation lines joined, comments left out. */
export function dockerInstructions(text: string): DockerInstruction[] {
  const out: DockerInstruction[] = []
  let pending = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('#') || (line === '' && pending === '')) continue
    pending += pending === '' ? line : ` ${line}`
    if (pending.endsWith('\\')) {
      pending = pending.slice(0, -1).trimEnd()
      continue
    }
    const match = /^([A-Za-z]+)\s+(.*)$/.exec(pending)
    if (match == null) throw new Error(`not a Dockerfile instruction: ${pending}`)
    out.push({ name: match[1]!.toUpperCase(), args: match[2]! })
    pending = ''
  }
  return out
}

/** The instructions of the last stage (after the last `FROM`), with the `FROM` itself. */
export function finalStage(instructions: DockerInstruction[]): DockerInstruction[] {
  const from = instructions.map((i) => i.name).lastIndexOf('FROM')
  return instructions.slice(from)
}

/** An exec-form argument list (`["a", "b"]`); throws on the shell form. */
export function execForm(args: string): string[] {
  if (!args.trimStart().startsWith('[')) throw new Error(`shell form, not exec form: ${args}`)
  const list = JSON.parse(args) as unknown
  if (!Array.isArray(list) || !list.every((a) => typeof a === 'string')) {
    throw new Error(`not a JSON list of strings: ${args}`)
  }
  return list
}

/** The directives of a systemd unit: `section.key` to every value in order. */
export function unitDirectives(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>()
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(.+)\]$/.exec(line)
    if (header != null) {
      section = header[1]!
      continue
    }
    const eq = line.indexOf('=')
    if (eq < 0) throw new Error(`not a directive: ${line}`)
    const key = `${section}.${line.slice(0, eq).trim()}`
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return out
}

/** A YAML file of `deploy/`, parsed. */
export async function deployYaml<T>(relative: string): Promise<T> {
  return load(await readFile(join(DEPLOY, relative), 'utf8')) as T
}

/** The parts of a compose service the test looks at. */
export interface ComposeService {
  image?: string
  build?: { context: string; dockerfile: string }
  entrypoint?: string[]
  command?: string[]
  environment?: Record<string, string>
  volumes?: string[]
  ports?: string[]
  depends_on?: string[] | Record<string, { condition: string }>
  network_mode?: string
}

/** The parts of a compose file the test looks at. */
export interface ComposeFile {
  services: Record<string, ComposeService>
  volumes?: Record<string, unknown>
}
