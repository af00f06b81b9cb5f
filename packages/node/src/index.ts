/**
 * @nsn/node: the assembled NSN shard DHT node.
 *
 * - {@link createNsnNode} / {@link NsnNode}: a libp2p host (TCP, Noise, Yamux, identify,
 *   ping, kad-dht in server mode) with a persistent identity and LevelDB datastore, the
 *   bounded shard registry, `ShardRouting` with its refresh and republish schedules, a
 *   Prometheus endpoint and the HTTP API;
 * - configuration from flags, `NSN_*` environment variables and a JSON file
 *   ({@link loadConfig}), validated with {@link ConfigError}s that name the field;
 * - the HTTP API server and its client ({@link NsnApiClient});
 * - the `nsn-node` CLI ({@link runCli}, {@link getCli}).
 *
 * @example
 * ```ts
 * import { createNsnNode } from '@nsn/node'
 *
 * const node = await createNsnNode({ dataDir: './nsn-data', listen: ['/ip4/0.0.0.0/tcp/9000'] })
 * console.log(node.addresses()) // { peerId, addrs, api, metrics }
 * await node.stop()
 * ```
 *
 * @packageDocumentation
 */

export * from './api/index.js'
export {
  type BootstrapOutcome,
  Bootstrapper,
  type BootstrapperOptions,
  type BootstrapTarget,
} from './bootstrapper.js'
export {
  type Cli,
  EXIT_CODES,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_UNREACHABLE,
  EXIT_UNSUPPORTED_RUNTIME,
  EXIT_USAGE,
  exitCodeOf,
  getCli,
  main,
  REQUIRED_NODE_MAJOR,
  runCli,
  unsupportedNodeReason,
} from './cli/index.js'
export type {
  CliArgs,
  CliCommand,
  CliIo,
  CliOption,
  CliOptions,
  CliPositional,
  CliSignals,
  CliWriter,
} from './cli/types.js'
export * from './config/index.js'
export * from './constants.js'
export * from './errors.js'
export { ensureDataDir, type Identity, loadOrCreateIdentity } from './identity.js'
export { type DebugNamespaces, debugNamespaces, libp2pComponentLogger } from './libp2p-logger.js'
export {
  createLogger,
  formatLibp2pMessage,
  isLogLevel,
  LOG_LEVELS,
  type LogFields,
  type Logger,
  type LoggerOptions,
  type LogLevel,
  type LogStream,
  silentLogger,
  toLibp2pLogger,
} from './logger.js'
export { NodeMetrics, type NodeMetricsOptions } from './metrics.js'
export { createNsnNode, NsnNode, type NsnNodeAddresses, type NsnNodeInit } from './node.js'
export { collectStats, type HistogramLike, type StatsComponents } from './stats.js'
export { VERSION } from './version.js'
