/**
 * The `nsn-node` CLI: a declarative command table (`cmds/<name>/`), parsed with
 * `node:util` `parseArgs` (strict: unknown flags are usage errors), with injectable I/O
 * so tests drive it in-process through {@link runCli}. The bin only calls {@link main}.
 *
 * @packageDocumentation
 */

import { parseArgs } from 'node:util'
import { ApiResponseError, UsageError } from '../errors.js'
import { VERSION } from '../version.js'
import { COMMANDS } from './cmds/index.js'
import { EXIT_OK, EXIT_USAGE, exitCodeOf } from './exit-codes.js'
import { BIN, commandHelp, globalHelp } from './help.js'
import { clientOptions } from './options.js'
import type { CliArgs, CliCommand, CliIo, CliOptions } from './types.js'

/** A CLI: its commands, and a runner that resolves with the exit code. */
export interface Cli {
  readonly commands: readonly CliCommand[]
  run(argv: readonly string[], io?: Partial<CliIo>): Promise<number>
}

function defaultIo(io: Partial<CliIo>): CliIo {
  return {
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    env: io.env ?? process.env,
    cwd: io.cwd ?? process.cwd(),
    signals: io.signals ?? process,
    exit: io.exit ?? ((code: number) => process.exit(code)),
    stdin: io.stdin ?? process.stdin,
  }
}

function parseError(err: unknown, command: string): UsageError {
  const { code, message } = err as { code?: string; message: string }
  const unknown = /^Unknown option '([^']+)'/.exec(message)
  const text =
    code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown != null
      ? `unknown option '${unknown[1]}'`
      : (message.split('. ')[0] ?? message).replace(/^./, (c) => c.toLowerCase())
  return new UsageError(`${text} (see: ${BIN} ${command} --help)`, command)
}

function parseCommandArgs(command: CliCommand, argv: readonly string[]): CliArgs & { help: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  }
  for (const [name, option] of Object.entries(command.options)) {
    options[name] = {
      type: option.type,
      ...(option.multiple === true ? { multiple: true } : {}),
      ...(option.short == null ? {} : { short: option.short }),
    }
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true })
  } catch (err) {
    throw parseError(err, command.name)
  }
  const { help, ...values } = parsed.values
  if (help === true) return { values, positionals: parsed.positionals, help: true }
  const declared = command.positionals ?? []
  const required = declared.filter((p) => p.required !== false)
  if (parsed.positionals.length < required.length) {
    const missing = required[parsed.positionals.length]
    throw new UsageError(
      `missing argument <${missing?.name}> (see: ${BIN} ${command.name} --help)`,
      command.name,
    )
  }
  if (parsed.positionals.length > declared.length) {
    throw new UsageError(
      `unexpected argument ${JSON.stringify(parsed.positionals[declared.length])} (see: ${BIN} ${command.name} --help)`,
      command.name,
    )
  }
  return { values, positionals: parsed.positionals, help: false }
}

/** Options that may come before the verb (`nsn-node --api X id` is `nsn-node id --api X`). */
export const GLOBAL_OPTIONS: CliOptions = clientOptions

const HELP_OR_VERSION = new Set(['--help', '-h', '--version', '-v'])

/**
 * Splits the global options before the verb from the rest: `['--api', 'X', 'id', '--json']`
 * gives `{ globals: ['--api', 'X'], rest: ['id', '--json'] }`; the verb then parses the
 * globals with its own options, so a verb that does not take one says so.
 */
function leadingGlobals(argv: readonly string[], options: CliOptions): { globals: string[]; rest: string[] } {
  const globals: string[] = []
  let i = 0
  for (; i < argv.length; i++) {
    const token = argv[i] as string
    if (!token.startsWith('-') || HELP_OR_VERSION.has(token)) break
    const eq = token.indexOf('=')
    const name = token.slice(2, eq < 0 ? undefined : eq)
    const option = token.startsWith('--') ? options[name] : undefined
    if (option == null) {
      const names = Object.keys(options).map((n) => `--${n}`)
      throw new UsageError(
        `unknown option '${token.split('=')[0]}' before the command (global options: ${names.join(', ')}; see: ${BIN} --help)`,
      )
    }
    globals.push(token)
    if (option.type === 'string' && eq < 0) {
      const value = argv[i + 1]
      if (value == null) {
        throw new UsageError(
          `option '--${name} ${option.arg ?? '<value>'}' argument missing (see: ${BIN} --help)`,
        )
      }
      globals.push(value)
      i++
    }
  }
  return { globals, rest: argv.slice(i) }
}

function errorLine(err: unknown): string {
  if (err instanceof ApiResponseError) return `error: ${err.message} (${err.remoteCode})`
  if (err instanceof Error) return `error: ${err.message}`
  return `error: ${String(err)}`
}

/** Builds a CLI over `commands` (default: every nsn-node command). */
export function getCli(commands: readonly CliCommand[] = COMMANDS): Cli {
  return {
    commands,
    async run(argv, partialIo = {}) {
      const io = defaultIo(partialIo)
      let split: { globals: string[]; rest: string[] }
      try {
        split = leadingGlobals(argv, GLOBAL_OPTIONS)
      } catch (err) {
        io.stderr.write(`${errorLine(err)}\n`)
        return exitCodeOf(err)
      }
      const [name, ...verbArgs] = split.rest
      const rest = [...split.globals, ...verbArgs]
      if (name == null) {
        io.stderr.write(globalHelp(commands, VERSION))
        return EXIT_USAGE
      }
      if (name === '--help' || name === '-h' || name === 'help') {
        io.stdout.write(globalHelp(commands, VERSION))
        return EXIT_OK
      }
      if (name === '--version' || name === '-v') {
        io.stdout.write(`${VERSION}\n`)
        return EXIT_OK
      }
      const command = commands.find((c) => c.name === name)
      try {
        if (command == null)
          throw new UsageError(`unknown command ${JSON.stringify(name)} (see: ${BIN} --help)`)
        const args = parseCommandArgs(command, rest)
        if (args.help) {
          io.stdout.write(commandHelp(command))
          return EXIT_OK
        }
        return await command.handler({ values: args.values, positionals: args.positionals }, io)
      } catch (err) {
        io.stderr.write(`${errorLine(err)}\n`)
        return exitCodeOf(err)
      }
    },
  }
}

/**
 * Runs the CLI on `argv` (without the node and script paths) and resolves with the exit
 * code; I/O defaults to the process's.
 */
export function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  return getCli().run(argv, io)
}

/** Resolves once everything written to `stream` so far is flushed. */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) resolve()
    else stream.write('', () => resolve())
  })
}

/**
 * The bin's entry: runs the CLI on `process.argv` and exits with its code once stdout
 * and stderr are flushed. Exiting explicitly matters after `start`: the daemon has
 * stopped and closed its datastore, but libp2p can leave a debounce timer behind that
 * would hold the process for another second.
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const code = await runCli(argv)
  process.exitCode = code
  await Promise.all([flushed(process.stdout), flushed(process.stderr)])
  process.exit(code)
}

export {
  EXIT_CODES,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_UNREACHABLE,
  EXIT_UNSUPPORTED_RUNTIME,
  EXIT_USAGE,
  exitCodeOf,
} from './exit-codes.js'
export { clientOptions } from './options.js'
export { REQUIRED_NODE_MAJOR, unsupportedNodeReason } from './runtime.js'
export type {
  CliArgs,
  CliCommand,
  CliIo,
  CliOption,
  CliOptions,
  CliPositional,
  CliSignals,
  CliWriter,
} from './types.js'
