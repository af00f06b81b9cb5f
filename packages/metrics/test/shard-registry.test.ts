import { EventEmitter } from 'node:events'
import type { ProvidedShards, ShardRemovalReason, ShardRemovedEvent } from '@nsn/core'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNsnMetrics, type ShardRegistryLike, trackShardRegistry } from '../src/index.js'
import { value } from './helpers.js'

/** A registry double: a Node EventEmitter with size and capacity, emitting as ShardRegistry does. */
class FakeRegistry extends EventEmitter {
  size = 0
  capacity = 3

  add(): void {
    this.size++
    this.emit('added', {})
    if (this.size > this.capacity) this.remove('capacity')
  }

  remove(reason: ShardRemovalReason): void {
    this.emit('removed', { entry: {}, reason } as ShardRemovedEvent)
    this.size--
  }
}

describe('trackShardRegistry', () => {
  it('core’s ProvidedShards fits the structural shape', () => {
    const fits = (registry: ProvidedShards): ShardRegistryLike => registry
    expect(typeof fits).toBe('function')
  })

  it('counts evictions by reason and reads size and capacity at scrape time', async () => {
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    const registry = new FakeRegistry()
    const untrack = trackShardRegistry(registry, metrics)
    expect(await value(register, 'nsn_p2p_shard_registry_capacity')).toBe(3)
    for (let i = 0; i < 5; i++) registry.add()
    registry.remove('expired')
    registry.remove('stopped')
    registry.remove('stopped')
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'capacity' })).toBe(2)
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'expired' })).toBe(1)
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'stopped' })).toBe(2)
    // the gauge reads the size after the removal landed, whatever the event order
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(0)
    registry.add()
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(1)
    registry.capacity = 10
    expect(await value(register, 'nsn_p2p_shard_registry_capacity')).toBe(10)

    untrack()
    untrack()
    expect(registry.listenerCount('removed')).toBe(0)
    registry.remove('stopped')
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'stopped' })).toBe(2)
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(1)
  })
})

describe('trackShardRegistry with @nsn/shard-registry', () => {
  it('counts capacity evictions, stops and expiries of a real ShardRegistry', async () => {
    const { ShardRegistry } = await import('@nsn/shard-registry')
    const register = new Registry()
    const metrics = createNsnMetrics(register)
    let now = 1_000_000
    const registry = new ShardRegistry({ capacity: 2, clock: () => now })
    const untrack = trackShardRegistry(registry, metrics)
    const hash = (byte: number): Uint8Array => new Uint8Array(32).fill(byte)
    await registry.add(hash(1))
    await registry.add(hash(2))
    await registry.add(hash(3))
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'capacity' })).toBe(1)
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(2)
    expect(await value(register, 'nsn_p2p_shard_registry_capacity')).toBe(2)
    await registry.delete(hash(3))
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'stopped' })).toBe(1)
    await registry.add(hash(4), { expiresAt: now + 10 })
    now += 11
    await registry.expire()
    expect(await value(register, 'nsn_p2p_shard_registry_evictions_total', { reason: 'expired' })).toBe(1)
    expect(await value(register, 'nsn_p2p_shard_registry_size')).toBe(1)
    untrack()
    expect(registry.listenerCount('removed')).toBe(0)
  })
})
