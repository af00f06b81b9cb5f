/**
 * Separate hosts made of Linux network namespaces, for scenarios where the IP address of
 * a peer matters (an eclipse attack from one address against an IP-group defense):
 * {@link Topology} builds and removes them, {@link NetnsDaemon} runs an `nsn-node` daemon
 * in one, {@link SybilSwarm} runs the eclipse attacker in one. Needs root and iproute2.
 *
 * @packageDocumentation
 */

export { type ApiAnswer, type HostSpawner, NetnsDaemon, type NetnsDaemonInit } from './daemon.js'
export {
  ECLIPSE_DIAL_RATE,
  ECLIPSE_GROUND_BITS,
  ECLIPSE_HONEST,
  ECLIPSE_HONEST_BITS_MAX,
  ECLIPSE_SYBILS,
  shardAwayFrom,
} from './eclipse.js'
export {
  NetnsCommandError,
  NetnsError,
  type NetnsErrorCode,
  NetnsUnavailableError,
  NetnsUnreachableError,
} from './errors.js'
export type { ProberConfig, ProberResult } from './nat-prober.js'
export { NAT_PROBER_SCRIPT } from './nat-prober-path.js'
export { type NatHost, NatTopology, type NatTopologyOptions } from './nat-topology.js'
export { type SwarmConfig, type SwarmEvent, SYBIL_SWARM_SCRIPT, type SybilInfo, SybilSwarm } from './swarm.js'
export {
  assertNetnsAvailable,
  ip,
  MAX_HOSTS,
  type NetnsHost,
  sweepStaleTopologies,
  Topology,
  type TopologyOptions,
} from './topology.js'
