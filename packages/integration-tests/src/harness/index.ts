/**
 * The NSN network harness: in-process networks of assembled nodes ({@link Network}),
 * daemons as child processes (re-exported from `@nsn/node/testing`), bounded waits.
 *
 * @packageDocumentation
 */

export { api, Daemon, LOOPBACK_FLAGS, type Ready, runBin, TempDirs, waitFor } from '@nsn/node/testing'
export {
  type AddNodeOptions,
  HarnessNode,
  type HarnessNodeOptions,
  LOOPBACK_NODE_OPTIONS,
  Network,
  type NetworkOptions,
} from './network.js'
export { timed } from './wait.js'
