/**
 * Bounded maps shared by the defenses: {@link LruMap}, a map that keeps at most
 * `capacity` entries (the least recently used forgotten past it), and
 * {@link IntervalGate}, which lets one event per key through at most once per interval
 * (the warn logs of the inbound guard and of the routing-table admission), its memory
 * bounded by an `LruMap` whatever the number of keys an attacker makes up.
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

  /** The value of `key` (which becomes the most recently used), or undefined. */
  get(key: string): V | undefined {
    const value = this.map.get(key)
    if (value !== undefined) {
      this.map.delete(key)
      this.map.set(key, value)
    }
    return value
  }

  /** Sets `key` as the most recently used; the least recently used beyond `capacity` are forgotten. */
  set(key: string, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    while (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string
      this.map.delete(oldest)
    }
  }

  delete(key: string): boolean {
    return this.map.delete(key)
  }

  /** Forgets every entry. */
  clear(): void {
    this.map.clear()
  }
}

/**
 * Lets one event per key through at most once per `interval` ms (a rate-limited log:
 * "this peer's next rejections are not logged for a minute"). It remembers the last
 * pass of at most `capacity` keys; a key forgotten past it passes again at once.
 */
export class IntervalGate {
  private readonly passed: LruMap<number>

  constructor(
    readonly interval: number,
    capacity: number,
    private readonly now: () => number = Date.now,
  ) {
    this.passed = new LruMap(capacity)
  }

  /** True (and the key's interval starts again) when `key` last passed `interval` ms ago or never. */
  pass(key: string): boolean {
    const now = this.now()
    const last = this.passed.get(key)
    if (last != null && now - last < this.interval) return false
    this.passed.set(key, now)
    return true
  }
}
