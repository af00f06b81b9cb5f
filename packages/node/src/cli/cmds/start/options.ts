/**
 * Options of `nsn-node start`: one flag per config field (derived from the config's
 * field table, so flags, env variables and defaults cannot drift), plus `--config`.
 *
 * @packageDocumentation
 */

import { CONFIG_FIELDS, type FieldSpec } from '../../../config/fields.js'
import { CONFIG_ENV } from '../../../config/load.js'
import type { CliOption } from '../../types.js'

function startOptions(): Record<string, CliOption> {
  const options: Record<string, CliOption> = {}
  for (const spec of CONFIG_FIELDS as readonly FieldSpec[]) {
    // a field without a flag (a secret) is set by its environment variable or the file only
    if (spec.flag == null) continue
    options[spec.flag] = {
      type: spec.arg == null ? 'boolean' : 'string',
      ...(spec.multiple === true ? { multiple: true } : {}),
      ...(spec.arg == null ? {} : { arg: spec.arg }),
      description: spec.description,
      defaultText: spec.defaultText,
      env: spec.env,
    }
  }
  options.config = {
    type: 'string',
    arg: '<file>',
    description: 'JSON config file (keys: the camelCase names of these options)',
    env: CONFIG_ENV,
  }
  return options
}

export const options = startOptions()
