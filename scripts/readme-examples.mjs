// README examples as tests. A package's test reads the fenced code blocks of its README,
// adapts them by exact replacements (each must still match: a README that changes under a
// test fails it instead of drifting away from it), writes the result beside the package's
// tests and imports it, so the example runs as the module a user would paste.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

const FENCE = /^```(\w+)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm

/**
 * The runnable examples of a README: fenced `ts`/`js` blocks that import something
 * (listings of signatures and one-line snippets have no imports and are left out).
 */
export async function readmeExamples(readme, { langs = ['ts', 'js'] } = {}) {
  const text = await readFile(readme, 'utf8')
  const examples = []
  for (const match of text.matchAll(FENCE)) {
    const [, lang, code] = match
    if (!langs.includes(lang) || !/^import\s/m.test(code)) continue
    examples.push({ lang, code, line: text.slice(0, match.index).split('\n').length + 1 })
  }
  return examples
}

/** Applies `[from, to]` replacements in order; throws when a `from` no longer occurs. */
export function adapt(code, replacements) {
  let out = code
  for (const [from, to] of replacements) {
    const found =
      typeof from === 'string'
        ? out.includes(from)
        : new RegExp(from.source, from.flags.replace('g', '')).test(out)
    if (!found)
      throw new Error(`the README example no longer contains ${String(from)}: update the test's adaptations`)
    out = typeof from === 'string' ? out.split(from).join(to) : out.replace(from, to)
  }
  return out
}

/**
 * Writes `code` as a module in `dir` (a `.ts` or `.mjs` file, by `lang`), imports it, which
 * runs it, and removes the file. Resolves with the module's namespace.
 */
export async function runExample(code, { dir, name, lang = 'ts' }) {
  await mkdir(dir, { recursive: true })
  const file = join(dir, `${name}-${process.pid}-${Date.now()}.${lang === 'ts' ? 'ts' : 'mjs'}`)
  await writeFile(file, code)
  try {
    return await import(file)
  } finally {
    await rm(file, { force: true })
  }
}
