import { clientOptions } from '../../options.js'
import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'

export const health: CliCommand = {
  name: 'health',
  summary: 'is the daemon up? prints ok (exit 0), or starting/stopping (exit 1)',
  description:
    'GET /healthz: ok once the API and libp2p are up (it does not wait for peers). It needs no API token: a container or service health check can run it as is.',
  options: clientOptions,
  examples: ['nsn-node health', 'nsn-node health --api 127.0.0.1:5081 --timeout 2s'],
  handler,
}
