import { clientOptions } from '../../options.js'
import type { CliOptions } from '../../types.js'

export const options = {
  ...clientOptions,
  file: {
    type: 'string',
    arg: '<path>',
    description:
      'provide every shard listed in a file (`-`: standard input), one hash a line (or a {"hash":...} JSON line), in one batch',
  },
} as const satisfies CliOptions
