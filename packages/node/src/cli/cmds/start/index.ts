import type { CliCommand } from '../../types.js'
import { handler } from './handler.js'
import { options } from './options.js'

export const start: CliCommand = {
  name: 'start',
  summary: 'run the daemon: libp2p host, DHT in server mode, HTTP API, metrics',
  description: [
    'Configuration: flags > NSN_* environment variables > the --config JSON file > defaults.',
    'Logs go to stderr; the `ready` line carries the peer id, the p2p addresses and the API and metrics addresses.',
    'SIGINT/SIGTERM stop the daemon gracefully (exit 0); a second signal exits at once.',
    'The API token may also be given as NSN_API_TOKEN (no flag: a command line is visible to every user); an --api other than loopback needs one.',
  ].join('\n'),
  options,
  examples: [
    'nsn-node start',
    'nsn-node start --listen /ip4/0.0.0.0/tcp/9000 --bootstrap /dnsaddr/bootstrap.example.org --data-dir /var/lib/nsn',
    'nsn-node start --config nsn.json --log-json',
  ],
  handler,
}
