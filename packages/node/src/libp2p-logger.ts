/**
 * libp2p's own debug output through the node's logger. libp2p's components log through
 * the `logger` component (`createLibp2p({ logger })`, a `ComponentLogger`); by default
 * that is `@libp2p/logger`, which writes `debug`-style text lines to stderr. The daemon
 * gives libp2p {@link libp2pComponentLogger} instead: the same namespaces select what is
 * written (`--debug <namespaces>`, else the `DEBUG` environment variable, with `debug`'s
 * syntax: `libp2p:*,-libp2p:connection-manager*`), and each line goes through the node's
 * logger, a JSON line under `--log-json`: `{ "level": "debug", "module": "libp2p",
 * "component": "libp2p:kad-dht", "msg": … }`.
 *
 * As with `@libp2p/logger`, `<name>:error` lines are written when `<name>:error` matches
 * (so `libp2p:*` includes them) and `<name>:trace` lines only when a namespace that
 * names `:trace` matches them.
 *
 * @packageDocumentation
 */

import type { ComponentLogger, Logger as Libp2pLogger } from '@libp2p/interface'
import { formatLibp2pMessage, type Logger } from './logger.js'

/** A compiled namespace list: which names it enables. */
export interface DebugNamespaces {
  /** The list as given (trimmed). */
  readonly source: string
  /** True when `name` is enabled. */
  enabled(name: string): boolean
  /** True when the list names a `:trace` namespace (trace lines are written only then). */
  readonly trace: boolean
}

const escapeRegExp = (text: string): string => text.replace(/[.+?^${}()|[\]\\]/g, '\\$&')

/**
 * Compiles a `debug`-style namespace list: names separated by commas or spaces, `*` a
 * wildcard, a leading `-` excludes (exclusions win).
 */
export function debugNamespaces(list: string | undefined): DebugNamespaces {
  const source = (list ?? '').trim()
  const names: RegExp[] = []
  const skips: RegExp[] = []
  for (const part of source.split(/[\s,]+/)) {
    if (part === '' || part === '-') continue
    const skip = part.startsWith('-')
    const pattern = new RegExp(`^${escapeRegExp(skip ? part.slice(1) : part).replace(/\*/g, '.*?')}$`)
    ;(skip ? skips : names).push(pattern)
  }
  return {
    source,
    trace: names.some((re) => re.source.includes(':trace')),
    enabled: (name) => !skips.some((re) => re.test(name)) && names.some((re) => re.test(name)),
  }
}

/** One line writer of a component: a no-op when its namespace is not enabled. */
function lineWriter(
  log: Logger,
  component: string,
  enabled: boolean,
): ((formatter: unknown, ...args: unknown[]) => void) & { enabled: boolean } {
  const write = enabled
    ? (formatter: unknown, ...args: unknown[]): void => {
        const { msg, err } = formatLibp2pMessage(formatter, args)
        log.debug(msg, err == null ? { component } : { component, err })
      }
    : (): void => {}
  return Object.assign(write, { enabled })
}

function componentLogger(log: Logger, namespaces: DebugNamespaces, name: string): Libp2pLogger {
  const main = lineWriter(log, name, namespaces.enabled(name))
  const error = lineWriter(log, `${name}:error`, namespaces.enabled(`${name}:error`))
  const trace = lineWriter(log, `${name}:trace`, namespaces.trace && namespaces.enabled(`${name}:trace`))
  return Object.assign(main, {
    error,
    trace,
    newScope: (scope: string) => componentLogger(log, namespaces, `${name}:${scope}`),
  }) as Libp2pLogger
}

/**
 * A libp2p `ComponentLogger` that writes the lines of the enabled namespaces to `log` at
 * `debug` (whatever `log`'s own level: the namespaces are the filter), each with its
 * `component` (the namespace). With no namespace enabled every line is a no-op.
 *
 * @example
 * ```ts
 * const logger = libp2pComponentLogger(createLogger({ json: true }).child({ module: 'libp2p' }), 'libp2p:kad-dht*')
 * const libp2p = await createLibp2p({ logger, ... })
 * ```
 */
export function libp2pComponentLogger(
  log: Logger,
  namespaces: string | DebugNamespaces | undefined,
): ComponentLogger {
  const compiled = typeof namespaces === 'object' ? namespaces : debugNamespaces(namespaces)
  const out = log.child({}, { level: 'debug' })
  return { forComponent: (name) => componentLogger(out, compiled, name) }
}
