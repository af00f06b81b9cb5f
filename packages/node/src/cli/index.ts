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
import type { CliArgs, CliCommand, CliIo } from './types.js'

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
      const [name, ...rest] = argv
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
