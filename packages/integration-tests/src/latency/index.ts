/**
 * Wide-area latency on loopback: a libp2p transport wrapper that gives every connection
 * between two emulated nodes a seeded round-trip time of their pair, paid by every
 * write and by connection setup. The bench (`bench/lib/nodes.mjs`, option `latency`)
 * builds NSN and plain kad-dht nodes with it.
 *
 * @packageDocumentation
 */

export { type ChunkList, DelayLine, type LineSink } from './delay-line.js'
export {
  InvalidLatencyOptionError,
  LatencyError,
  type LatencyErrorCode,
  UnsupportedConnectionError,
} from './errors.js'
export {
  DEFAULT_DIALLER_WAIT_MS,
  DEFAULT_HIGH_WATER_MARK,
  type LatencyOptions,
  type LatencyTransportComponents,
  latencyTransport,
} from './latency-transport.js'
export { defaultPortRegistry, endpointKey, type LatencyCounts, PortRegistry } from './port-registry.js'
export {
  checkRttDistribution,
  DEFAULT_RTT_DISTRIBUTION,
  pairRtt,
  type RttDistribution,
  WAN_ACCESS_MS,
  WAN_JITTER_SIGMA,
  WAN_REGIONS,
  WAN_RTT_MS,
  WAN_SAME_REGION_MS,
  type WanRegion,
  wanRegionOf,
} from './rtt-model.js'
