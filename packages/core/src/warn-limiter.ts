/**
 * Bounded per-key memory for the defenses: {@link LruMap} (at most `capacity` entries,
 * least recently used forgotten first) and {@link WarnLimiter} (one warn line per
 * offending peer per interval, so a hostile peer cannot flood the log).
 *
 * @packageDocumentation
 */

/** A map that keeps at most `capacity` entries, forgetting the least recently used. */
export class LruMap<V> {
  private readonly map = new Map<string, V>()
  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.map.size
  }

  get(key: string): V | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      this.map.delete(key)
      this.map.set(key, value)
    }
    return value
  }

  set(key: string, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string
      this.map.delete(oldest)
    }
  }
}

/**
 * Says whether a warn line about `key` (a peer) is due: the first time, then at most once
 * per `interval` ms. Remembers at most `capacity` keys (a forgotten key warns again).
 */
export class WarnLimiter {
  private readonly warned: LruMap<number>

  constructor(
    private readonly interval: number,
    capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.warned = new LruMap(capacity)
  }

  /** The interval in ms, for the log line ("not logged again for ... ms"). */
  get intervalMs(): number {
    return this.interval
  }

  /** True when a line about `key` is due now (and records it). */
  due(key: string): boolean {
    const now = this.now()
    const last = this.warned.get(key)
    if (last != null && now - last < this.interval) return false
    this.warned.set(key, now)
    return true
  }
}
