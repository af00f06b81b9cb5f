/**
 * The optional JSON config file (`--config <file>`): an object whose keys are those of
 * {@link NsnNodeConfig}; unknown keys are rejected, values are validated like flags.
 *
 * @packageDocumentation
 */

import { readFile } from 'node:fs/promises'
import { ConfigError } from '../errors.js'
import { CONFIG_FIELDS } from './fields.js'
import type { ConfigKey } from './types.js'

const KNOWN_KEYS = new Set<string>(CONFIG_FIELDS.map((f) => f.key))

/** Line and column (1-based) of a character offset. */
function lineColumn(text: string, offset: number): { line: number; column: number } {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - before.lastIndexOf('\n')
  return { line, column }
}

/** Parses the text of a config file; `path` names it in errors. */
export function parseConfigFile(path: string, text: string): Partial<Record<ConfigKey, unknown>> {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch (err) {
    const message = (err as Error).message
    const position = /at position (\d+)/.exec(message)
    const where =
      position != null
        ? (() => {
            const { line, column } = lineColumn(text, Number(position[1]))
            return `line ${line} column ${column}`
          })()
        : 'end of input'
    const reason = message
      .replace(/\s*(in JSON )?at position \d+.*$/s, '')
      .replace(/\s*\(line \d+ column \d+\)$/, '')
    throw ConfigError.file(path, `invalid JSON at ${where}: ${reason}`, { cause: err })
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw ConfigError.file(path, 'must contain a JSON object of settings')
  }
  for (const key of Object.keys(data)) {
    if (!KNOWN_KEYS.has(key)) {
      throw ConfigError.file(
        path,
        `unknown key ${JSON.stringify(key)} (known keys: ${[...KNOWN_KEYS].join(', ')})`,
      )
    }
  }
  return data as Partial<Record<ConfigKey, unknown>>
}

/** Reads and parses a config file. */
export async function readConfigFile(path: string): Promise<Partial<Record<ConfigKey, unknown>>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message
    throw ConfigError.file(path, `unreadable (${code})`, { cause: err })
  }
  return parseConfigFile(path, text)
}
