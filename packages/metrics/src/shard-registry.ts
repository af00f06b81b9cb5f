/**
 * Wires a shard registry (anything shaped like core's `ProvidedShards`, such as
 * `@nsn/shard-registry`'s `ShardRegistry`) to the registry metrics.
 *
 * @packageDocumentation
 */

import type { NsnMetrics } from './metrics.js'

/** What a `removed` event carries that the metrics use. */
export interface ShardRemovedEventLike {
  /** `capacity`, `expired` or `stopped`: the `reason` label of the eviction counter. */
  readonly reason: string
}

/**
 * The part of a shard registry the metrics need: its size and capacity, and Node
 * `EventEmitter`-style `on`/`off` for its `removed` events. Core's `ProvidedShards` and
 * `@nsn/shard-registry`'s `ShardRegistry` both fit it.
 */
export interface ShardRegistryLike {
  /** Number of shards in the registry. */
  readonly size: number
  /** Maximum number of shards before least recently used ones are evicted. */
  readonly capacity: number
  on(event: 'removed', listener: (event: ShardRemovedEventLike) => void): unknown
  off(event: 'removed', listener: (event: ShardRemovedEventLike) => void): unknown
}

/**
 * Feeds `registry` into `metrics.shardRegistry`:
 *
 * - `shard_registry_size` and `shard_registry_capacity` read `registry.size` and
 *   `registry.capacity` at every scrape, so they are exact whenever and however the
 *   registry changes (no event can be missed or seen before the change lands);
 * - every `removed` event increments `shard_registry_evictions_total{reason}`.
 *
 * Returns a function that undoes the wiring (removes the listener and the scrape-time
 * reads); calling it twice is harmless.
 */
export function trackShardRegistry(registry: ShardRegistryLike, metrics: NsnMetrics): () => void {
  const { size, capacity, evictions } = metrics.shardRegistry
  const onRemoved = (event: ShardRemovedEventLike): void => {
    evictions.inc({ reason: event.reason })
  }
  registry.on('removed', onRemoved)
  const removeSize = size.addCollect((gauge) => gauge.set(registry.size))
  const removeCapacity = capacity.addCollect((gauge) => gauge.set(registry.capacity))

  let tracking = true
  return () => {
    if (!tracking) {
      return
    }
    tracking = false
    registry.off('removed', onRemoved)
    removeSize()
    removeCapacity()
  }
}
