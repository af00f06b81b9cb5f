/**
 * Wires the set of provided shards (the registry, the single source of truth) to the
 * DHT: a shard that leaves the registry (evicted, expired, stopped) has its in-flight
 * republish cancelled and its self-record withdrawn; at start, self-records the registry
 * does not hold are dropped; shards a `provide` call is publishing right now are known,
 * so the republisher leaves them alone.
 *
 * @packageDocumentation
 */

import type { Logger } from '@libp2p/interface'
import type { ProvidedShardEntry, ProvidedShards, ShardRemovedEvent } from './provided-shards.js'

/** What the wiring needs. */
export interface RegistryWiringComponents {
  registry: ProvidedShards
  /** Withdraws this node's own provider record of a shard from the DHT store. */
  withdraw(entry: ProvidedShardEntry): Promise<void>
  /** Aborts a running republish of the shard. */
  cancelRepublish(hex: string): void
  /** Drops self-records of shards for which `keep` resolves false. */
  dropSelfRecords(keep: (hash: Uint8Array) => boolean | Promise<boolean>): Promise<unknown>
  log?: Logger
}

/** The registry's wiring to the DHT. */
export class RegistryWiring {
  private readonly components: RegistryWiringComponents
  private readonly withdrawals = new Map<string, Promise<void>>()
  /** Shards a provide call is publishing now, with how many calls. */
  private readonly providing = new Map<string, number>()
  private readonly onRemoved = (event: ShardRemovedEvent): void => {
    this.components.cancelRepublish(event.entry.hex)
    this.trackWithdrawal(event.entry)
  }

  constructor(components: RegistryWiringComponents) {
    this.components = components
  }

  /** Listens to removals and drops self-records the registry does not hold. */
  async start(): Promise<void> {
    const { registry } = this.components
    registry.on('removed', this.onRemoved)
    await this.components.dropSelfRecords((hash) => registry.has(hash))
  }

  /** Stops listening and waits for running withdrawals. */
  async stop(): Promise<void> {
    this.components.registry.off('removed', this.onRemoved)
    await Promise.allSettled(this.withdrawals.values())
  }

  /** The running withdrawal of a shard, if any. */
  withdrawal(hex: string): Promise<void> | undefined {
    return this.withdrawals.get(hex)
  }

  /** Marks the start of a provide call's publication of `hex`; call {@link providingEnded} after. */
  providingStarted(hex: string): void {
    this.providing.set(hex, (this.providing.get(hex) ?? 0) + 1)
  }

  providingEnded(hex: string): void {
    const left = (this.providing.get(hex) ?? 1) - 1
    if (left === 0) this.providing.delete(hex)
    else this.providing.set(hex, left)
  }

  /** True while a provide call publishes the shard. */
  isProviding(hex: string): boolean {
    return this.providing.has(hex)
  }

  private trackWithdrawal(entry: ProvidedShardEntry): void {
    const withdrawal = this.components
      .withdraw(entry)
      .catch((err: unknown) => this.components.log?.error('could not withdraw %s - %e', entry.hex, err))
      .finally(() => {
        if (this.withdrawals.get(entry.hex) === withdrawal) this.withdrawals.delete(entry.hex)
      })
    this.withdrawals.set(entry.hex, withdrawal)
  }
}
