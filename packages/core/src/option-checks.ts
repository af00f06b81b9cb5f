/**
 * The checks every options object of core applies to its numbers: one place for the
 * rule and the message of each, so every option fails the same way.
 *
 * @packageDocumentation
 */

import { InvalidOptionError } from './errors.js'

/**
 * `value` when it is a positive finite number.
 *
 * @throws {InvalidOptionError} naming `option` otherwise
 */
export function positiveNumber(option: string, value: number, unit = ''): number {
  if (!Number.isFinite(value) || value <= 0) {
    throw new InvalidOptionError(option, `must be a positive finite number${unit}, got ${String(value)}`)
  }
  return value
}

/**
 * `value` when it is an integer of at least 1.
 *
 * @throws {InvalidOptionError} naming `option` otherwise
 */
export function positiveInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new InvalidOptionError(option, `must be an integer >= 1, got ${String(value)}`)
  }
  return value
}
