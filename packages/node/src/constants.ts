/**
 * Defaults of the assembled node that are not DHT defaults (those live in
 * `@nsn/core`'s constants): where the daemon listens, its data dir, its limits and
 * timeouts. Durations are milliseconds, with their unit in the expression.
 *
 * @packageDocumentation
 */

import { homedir } from 'node:os'
import { join } from 'node:path'
import { CONNECTION_MONITOR_INTERVAL as CORE_CONNECTION_MONITOR_INTERVAL, minute, second } from '@nsn/core'
import { DEFAULT_METRICS_HOST, DEFAULT_METRICS_PORT } from '@nsn/metrics'

/** Where the daemon's libp2p host listens (`--listen`). */
export const P2P_LISTEN = '/ip4/0.0.0.0/tcp/9000'

/** Where the daemon's HTTP API listens (`--api`): never a public interface by default. */
export const API_LISTEN = '127.0.0.1:5080'

/** Where the daemon's Prometheus endpoint listens (`--metrics`): `@nsn/metrics`' own default, `127.0.0.1:9100`. */
export const METRICS_LISTEN = `${DEFAULT_METRICS_HOST}:${DEFAULT_METRICS_PORT}`

/** Where the daemon keeps its identity and datastore unless told otherwise: `~/.nsn`. */
export const DEFAULT_DATA_DIR = join(homedir(), '.nsn')

/** File of the node's private key inside the data dir (protobuf-encoded Ed25519 key, mode 0600). */
export const IDENTITY_FILE = 'identity.key'

/** Directory of the LevelDB datastore inside the data dir. */
export const DATASTORE_DIR = 'datastore'

/**
 * libp2p's own default inbound connection threshold per remote address per second. Many
 * nodes on one host (loopback networks, tests) need more: see the DESIGN pitfalls.
 */
export const INBOUND_CONNECTION_THRESHOLD = 5

/**
 * How often the connection monitor pings each connection; 0 disables it. @nsn/core's
 * host default (2 min; libp2p's is 10 s): see its `CONNECTION_MONITOR_PING_TIMEOUT`.
 */
export const CONNECTION_MONITOR_INTERVAL = CORE_CONNECTION_MONITOR_INTERVAL

/**
 * At most this many DHT operations run at once through the API; more are answered 429
 * (`ERR_OVERLOADED`, `Retry-After: 1`). Within it, requests to one peer past the DHT
 * streams it accepts (`OUTBOUND_STREAMS_PER_CONNECTION` of `@nsn/core`, 32) wait for a
 * stream in the DHT's queue (`OUTBOUND_STREAM_QUEUE_PER_PEER`, 1,024), never fail: a
 * healthy network answers every admitted operation, never with a false 503.
 */
export const API_MAX_CONCURRENT_QUERIES = 64

/**
 * An API request whose headers have not all arrived after this long is cut (408): Node's
 * `headersTimeout` (its own default is 60 s).
 */
export const API_HEADERS_TIMEOUT = 5 * second

/**
 * An API request not received completely (headers and body) after this long is cut (408)
 * and not executed: Node's `requestTimeout` (its own default is 300 s). Answering takes as
 * long as the operation needs: only receiving the request is bounded.
 */
export const API_REQUEST_TIMEOUT = 8 * second

/**
 * How often the API server checks for requests past those timeouts (Node's
 * `connectionsCheckingInterval`, 30 s by default): an unfinished request is cut at most
 * `API_REQUEST_TIMEOUT + API_CONNECTIONS_CHECK_INTERVAL` = 9 s after it began.
 */
export const API_CONNECTIONS_CHECK_INTERVAL = 1 * second

/** First delay before a failed bootstrap is retried (while the routing table stays empty). */
export const BOOTSTRAP_RETRY_MIN = 1 * second

/** The retry delay doubles up to this. */
export const BOOTSTRAP_RETRY_MAX = 1 * minute

/** How long a graceful stop waits for in-flight API requests to answer before closing them. */
export const API_DRAIN_TIMEOUT = 2 * second

/** A graceful stop that takes longer than this is abandoned and the process exits non-zero. */
export const STOP_TIMEOUT = 10 * second

/** Content type of the API's streamed answers: JSON lines (one JSON value a line). */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson'

/** Shards one `GET /v1/shards` page lists when no `?limit=` is given. */
export const SHARDS_PAGE_SIZE = 1000

/** Largest `?limit=` of `GET /v1/shards`. */
export const MAX_SHARDS_PAGE_SIZE = 10_000

/** Largest `?limit=` the providers lookup accepts. */
export const MAX_FIND_PROVIDERS_LIMIT = 1000

/** Smallest provider-record TTL the config accepts. */
export const MIN_PROVIDER_TTL = 1 * second

/**
 * How long a client verb (`nsn-node id`, `provide`, `find`...) waits for the daemon's
 * answer before it gives up (`--timeout`): above the daemon's own 10 s query deadline, so
 * a slow DHT operation answers with its own error first.
 */
export const CLIENT_REQUEST_TIMEOUT = 1 * minute

/** Nodes of the local demo network (`nsn-node demo`, `pnpm start`), and the bounds `--nodes` accepts. */
export const DEMO_NODES = { default: 12, min: 4, max: 100 } as const

/** Shards the demo publishes and finds, and the bounds `--shards` accepts. */
export const DEMO_SHARDS = { default: 24, min: 1, max: 1000 } as const

/** How long the demo network may take to form before the demo gives up. */
export const DEMO_FORM_TIMEOUT = 30 * second

/**
 * Shortest API bearer token the daemon and the client verbs accept (`--api-token-file`,
 * `NSN_API_TOKEN`): 16 characters; `openssl rand -hex 32` makes a good one.
 */
export const API_TOKEN_MIN_LENGTH = 16

/** The realm of the API's `WWW-Authenticate: Bearer` challenge. */
export const API_AUTH_REALM = 'nsn-node'

/**
 * Largest body of a batch request (`POST /v1/shards`), in bytes: a line
 * `{"hash":"<64 hex>"}` is 76 bytes, so about 1.3 million shards; a larger body is
 * refused (413) before it is parsed.
 */
export const API_MAX_BATCH_BYTES = 96 * 1024 * 1024
