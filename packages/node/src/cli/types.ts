/**
 * Types of the declarative CLI: a command is a name, its options and positionals, and a
 * handler; the I/O is injected so tests drive the CLI in-process.
 *
 * @packageDocumentation
 */

/** Anything with `write(string)`. */
export interface CliWriter {
  write(chunk: string): unknown
  /** True on a terminal (Node's streams say so): progress frames are drawn only there. */
  readonly isTTY?: boolean
}

/** Where `start` listens for SIGINT/SIGTERM (and unhandled rejections); `process` by default. */
export interface CliSignals {
  // biome-ignore lint/suspicious/noExplicitAny: Node's EventEmitter listener signature
  on(event: string, listener: (...args: any[]) => void): unknown
  // biome-ignore lint/suspicious/noExplicitAny: Node's EventEmitter listener signature
  off(event: string, listener: (...args: any[]) => void): unknown
}

/** The CLI's I/O; every field defaults to the process's. */
export interface CliIo {
  stdout: CliWriter
  stderr: CliWriter
  /** Environment (`NSN_*` variables are read). */
  env: Record<string, string | undefined>
  /** Directory relative paths are resolved against. */
  cwd: string
  signals: CliSignals
  /** Immediate exit: a second signal, or a graceful stop that hangs. */
  exit(code: number): void
  /** Standard input (`nsn-node provide -` reads hashes from it); `process.stdin` by default. */
  stdin?: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>
}

/** One option of a command, as `node:util` `parseArgs` takes it, with its help. */
export interface CliOption {
  type: 'string' | 'boolean'
  multiple?: boolean
  short?: string
  /** Placeholder in help, e.g. `<host:port>`. */
  arg?: string
  description: string
  /** The default as help shows it. */
  defaultText?: string
  /** Environment variable that also sets it. */
  env?: string
}

export type CliOptions = Readonly<Record<string, CliOption>>

/** Parsed arguments of a command. */
export interface CliArgs {
  values: Record<string, string | boolean | Array<string | boolean> | undefined>
  positionals: string[]
}

/** A positional argument. */
export interface CliPositional {
  name: string
  description: string
  required?: boolean
}

/** A command (`start`, `id`, `provide`...). */
export interface CliCommand {
  name: string
  /** One line for the command list. */
  summary: string
  /** More lines for the command's help. */
  description?: string
  positionals?: readonly CliPositional[]
  options: CliOptions
  examples?: readonly string[]
  /** Resolves with the exit code; throws typed errors that the CLI maps to exit codes. */
  handler(args: CliArgs, io: CliIo): Promise<number>
}
