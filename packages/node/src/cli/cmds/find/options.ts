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
} as const satisfies CliOptions
