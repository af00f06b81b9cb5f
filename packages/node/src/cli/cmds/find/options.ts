import { FIND_PROVIDERS_LIMIT } from '@nsn/core'
import { MAX_FIND_PROVIDERS_LIMIT } from '../../../constants.js'
import { clientOptions } from '../../options.js'
import type { CliOptions } from '../../types.js'

export const options = {
  ...clientOptions,
  limit: {
    type: 'string',
    arg: '<n>',
    description: `stop once this many providers are known (1-${MAX_FIND_PROVIDERS_LIMIT})`,
    defaultText: `${FIND_PROVIDERS_LIMIT}`,
  },
  stream: {
    type: 'boolean',
    description:
      "print each provider as soon as it is found, one line each (as Kubo's `routing findprovs`), then a summary; with --json, the JSON lines as they come",
  },
} as const satisfies CliOptions
