/**
 * Structured logging: levels `error` < `warn` < `info` < `debug`, human lines by
 * default and JSON lines (`--log-json`), written to stderr. Each subsystem gets
 * `logger.child({ module })`. libp2p's own debug logging goes through it too, as
 * `module: 'libp2p'` lines, for the namespaces `--debug` or `DEBUG` select (see
 * `libp2p-logger.ts`); {@link toLibp2pLogger} adapts a logger for the libp2p-style loggers
 * `@nsn/core` accepts.
 *
 * @packageDocumentation
 */

import type { Logger as Libp2pLogger } from '@libp2p/interface'
import { base32 } from 'multiformats/bases/base32'
import { base58btc } from 'multiformats/bases/base58'
import { base64 } from 'multiformats/bases/base64'

/** Log levels, most severe first. */
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const

/** A log level. */
export type LogLevel = (typeof LOG_LEVELS)[number]

/** Structured fields of a log line. An `err` field is serialised as name, code, message. */
export type LogFields = Record<string, unknown>

/** A structured logger. */
export interface Logger {
  readonly level: LogLevel
  error(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  debug(msg: string, fields?: LogFields): void
  /** True when lines of `level` are written. */
  isEnabled(level: LogLevel): boolean
  /**
   * A logger whose lines carry `bindings` too (by convention `{ module }`); with
   * `options.level`, at that level instead of this logger's (libp2p's debug lines, which
   * their own namespaces select, are written whatever `--log-level` says).
   */
  child(bindings: LogFields, options?: { level?: LogLevel }): Logger
}

/** Where lines go: anything with `write(string)`; default `process.stderr`. */
export interface LogStream {
  write(chunk: string): unknown
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Lines less severe than this are dropped. Default `info`. */
  level?: LogLevel
  /** JSON lines instead of human ones. Default false. */
  json?: boolean
  /** Default `process.stderr`. */
  stream?: LogStream
  /** Fields on every line. */
  bindings?: LogFields
  /** Clock for the timestamps (tests). */
  now?: () => Date
}

const SEVERITY: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 }

/** True when `value` names a log level. */
export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)
}

function serializeError(err: unknown, withStack: boolean): unknown {
  if (!(err instanceof Error)) return err
  const out: Record<string, unknown> = { name: err.name, message: err.message }
  const code = (err as { code?: unknown }).code
  if (code != null) out.code = code
  if (withStack && err.stack != null) out.stack = err.stack
  return out
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' ? `${code}: ${err.message}` : err.message
}

function humanValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message)
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value)
  if (value === undefined) return 'undefined'
  try {
    return (
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(value)
    )
  } catch {
    return String(value)
  }
}

class StructuredLogger implements Logger {
  readonly level: LogLevel
  private readonly json: boolean
  private readonly stream: LogStream
  private readonly bindings: LogFields
  private readonly now: () => Date

  constructor(options: LoggerOptions) {
    this.level = options.level ?? 'info'
    this.json = options.json ?? false
    this.stream = options.stream ?? process.stderr
    this.bindings = options.bindings ?? {}
    this.now = options.now ?? (() => new Date())
  }

  isEnabled(level: LogLevel): boolean {
    return SEVERITY[level] <= SEVERITY[this.level]
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields)
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields)
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields)
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields)
  }

  child(bindings: LogFields, options: { level?: LogLevel } = {}): Logger {
    return new StructuredLogger({
      level: options.level ?? this.level,
      json: this.json,
      stream: this.stream,
      bindings: { ...this.bindings, ...bindings },
      now: this.now,
    })
  }

  private write(level: LogLevel, msg: string, fields: LogFields = {}): void {
    if (!this.isEnabled(level)) return
    const all: LogFields = { ...this.bindings, ...fields }
    const time = this.now().toISOString()
    const debug = this.isEnabled('debug')
    let line: string
    if (this.json) {
      const record: LogFields = { time, level, ...all, msg }
      if ('err' in record) record.err = serializeError(record.err, true)
      line = JSON.stringify(record, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))
    } else {
      const { module, err, ...rest } = all
      const parts = [time, level.toUpperCase().padEnd(5)]
      if (module != null) parts.push(`[${String(module)}]`)
      parts.push(msg)
      for (const [key, value] of Object.entries(rest)) parts.push(`${key}=${humanValue(value)}`)
      if (err !== undefined) {
        parts.push(`err=${humanValue(describeError(err))}`)
        if (debug && err instanceof Error && err.stack != null) parts.push(`\n${err.stack}`)
      }
      line = parts.join(' ')
    }
    this.stream.write(`${line}\n`)
  }
}

/** Creates a logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  return new StructuredLogger(options)
}

/** A logger that writes nothing. */
export function silentLogger(): Logger {
  const noop = (): void => {}
  const logger: Logger = {
    level: 'error',
    error: noop,
    warn: noop,
    info: noop,
    debug: noop,
    isEnabled: () => false,
    child: () => logger,
  }
  return logger
}

/** Bytes as libp2p's logger writes them for `%b` (base58btc), `%t` (base32) and `%m` (base64). */
function encodeBytes(spec: string, value: unknown): string {
  if (!(value instanceof Uint8Array)) return String(value)
  if (spec === 'b') return base58btc.baseEncode(value)
  if (spec === 't') return base32.baseEncode(value)
  return base64.baseEncode(value)
}

/**
 * Formats a printf-style libp2p log message with `debug`'s and libp2p's formatters
 * (`%s`, `%d`, `%i`, `%f`, `%j`, `%o`, `%O`; `%p` peer id, `%a` multiaddr, `%c` CID, `%k`
 * datastore key, `%b`/`%t`/`%m` bytes in base58btc/base32/base64, `%e` error). The first
 * error among the arguments is returned as `err`; arguments left over are appended.
 */
export function formatLibp2pMessage(formatter: unknown, args: unknown[]): { msg: string; err?: Error } {
  let err: Error | undefined
  let rest = [...args]
  if (formatter instanceof Error) {
    err = formatter
  }
  const text =
    typeof formatter === 'string'
      ? formatter
      : formatter instanceof Error
        ? formatter.message
        : humanValue(formatter)
  const msg = text.replace(/%([a-zA-Z%])/g, (match, spec: string) => {
    if (spec === '%') return '%'
    if (rest.length === 0) return match
    const [value, ...others] = rest
    rest = others
    if (value instanceof Error) {
      err ??= value
      return value.message
    }
    if (value == null) return String(value)
    switch (spec) {
      case 'b':
      case 't':
      case 'm':
        return encodeBytes(spec, value)
      case 'p':
      case 'a':
      case 'c':
      case 'k':
      case 's':
        return String(value)
      case 'd':
      case 'i':
      case 'f':
        return String(Number(value))
      default:
        // %o, %O, %j and anything unknown: a value in JSON, what has its own toString as that
        if (typeof value === 'object' && typeof (value as { toString?: unknown }).toString === 'function') {
          const own = String(value)
          if (own !== '[object Object]') return own
        }
        return humanValue(value)
    }
  })
  return { msg: rest.length > 0 ? `${msg} ${rest.map(humanValue).join(' ')}` : msg, err }
}

/**
 * A libp2p-style `Logger` (callable for debug lines, `.error`, `.trace`) that writes to
 * `logger`: what `@nsn/core`'s `ShardRouting` accepts as its `logger`.
 */
export function toLibp2pLogger(logger: Logger): Libp2pLogger {
  const debug = (formatter: unknown, ...args: unknown[]): void => {
    if (!logger.isEnabled('debug')) return
    const { msg, err } = formatLibp2pMessage(formatter, args)
    logger.debug(msg, err == null ? undefined : { err })
  }
  const log = debug as Libp2pLogger
  log.error = (formatter: unknown, ...args: unknown[]): void => {
    const { msg, err } = formatLibp2pMessage(formatter, args)
    logger.error(msg, err == null ? undefined : { err })
  }
  log.trace = (): void => {}
  log.enabled = logger.isEnabled('debug')
  log.newScope = (name: string) => toLibp2pLogger(logger.child({ scope: name }))
  return log
}
