/**
 * Help texts, generated from the command table.
 *
 * @packageDocumentation
 */

import { API_LISTEN } from '../constants.js'
import { EXIT_CODES } from './exit-codes.js'
import type { CliCommand, CliOption } from './types.js'

/** The CLI's name. */
export const BIN = 'nsn-node'

const exitCodes = (): string =>
  `Exit codes:\n${EXIT_CODES.map(([code, text]) => `  ${code}  ${text}`).join('\n')}\n`

function usageLine(command: CliCommand): string {
  const positionals = (command.positionals ?? []).map((p) =>
    p.required === false ? `[${p.name}]` : `<${p.name}>`,
  )
  return [BIN, command.name, ...positionals, '[options]'].join(' ')
}

/** Help of one command. */
export function commandHelp(command: CliCommand): string {
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary]
  if (command.description != null) lines.push('', command.description)
  if (command.positionals != null && command.positionals.length > 0) {
    lines.push('', 'Arguments:')
    for (const p of command.positionals) lines.push(`  ${p.name.padEnd(30)} ${p.description}`)
  }
  lines.push('', 'Options:')
  const help: CliOption = { type: 'boolean', short: 'h', description: 'show this help' }
  const entries: Array<[string, CliOption]> = [...Object.entries(command.options), ['help', help]]
  for (const [name, option] of entries) {
    const flag = `${option.short == null ? '    ' : `-${option.short}, `}--${name}${option.arg == null ? '' : ` ${option.arg}`}`
    const extras: string[] = []
    if (option.defaultText != null) extras.push(`default: ${option.defaultText}`)
    if (option.env != null) extras.push(`env: ${option.env}`)
    lines.push(
      `  ${flag.padEnd(44)} ${option.description}${extras.length > 0 ? ` [${extras.join('; ')}]` : ''}`,
    )
  }
  if (command.examples != null && command.examples.length > 0) {
    lines.push('', 'Examples:', ...command.examples.map((e) => `  ${e}`))
  }
  lines.push('', exitCodes())
  return lines.join('\n')
}

/** Help of the whole CLI. */
export function globalHelp(commands: readonly CliCommand[], version: string): string {
  const lines = [
    `${BIN} ${version}: the NSN shard DHT node (a Kademlia DHT on libp2p for video shards)`,
    '',
    `Usage: ${BIN} [global options] <command> [options]`,
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(16)} ${c.summary}`),
    '',
    `Run \`${BIN} <command> --help\` for a command's options.`,
    `The client commands reach a running daemon through its HTTP API (--api, default ${API_LISTEN}).`,
    `Their options --api, --api-token-file, --timeout and --json may also come before the command: ${BIN} --api ${API_LISTEN} id`,
    '',
    exitCodes(),
  ]
  return lines.join('\n')
}
