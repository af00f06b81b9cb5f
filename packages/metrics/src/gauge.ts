/**
 * A prom-client gauge whose value can also be computed at scrape time (Lodestar's
 * `addCollect`), so a gauge that mirrors a size (connections, registry entries, routing
 * table) reads the source when Prometheus scrapes instead of drifting with missed events.
 *
 * @packageDocumentation
 */

import { Gauge, type GaugeConfiguration } from 'prom-client'

/**
 * Called at every scrape, before the gauge's value is read; it sets the value. It may be
 * async: the scrape waits for it.
 */
export type GaugeCollectFn<T extends string> = (gauge: Gauge<T>) => void | Promise<void>

/** A prom-client `Gauge` with scrape-time callbacks. */
export interface CollectableGauge<T extends string = string> extends Gauge<T> {
  /**
   * Registers `fn` to run at every scrape (every `get()`), before the value is read.
   * Returns a function that removes it. A callback that throws or rejects is skipped for
   * that scrape: the gauge keeps its last value and the scrape still succeeds.
   */
  addCollect(fn: GaugeCollectFn<T>): () => void
}

/** Creates a {@link CollectableGauge}; `config` is prom-client's, without `collect`. */
export function createCollectableGauge<T extends string>(
  config: Omit<GaugeConfiguration<T>, 'collect'>,
): CollectableGauge<T> {
  const collectors = new Set<GaugeCollectFn<T>>()
  const gauge = new Gauge<T>({
    ...config,
    collect(this: Gauge<T>): Promise<void> | undefined {
      // a failing source must not break the scrape of every other metric
      const pending: Array<Promise<unknown>> = []
      for (const fn of collectors) {
        try {
          const result = fn(this)
          if (result instanceof Promise) {
            pending.push(result.catch(() => undefined))
          }
        } catch {
          // keep the last value
        }
      }
      return pending.length > 0 ? Promise.all(pending).then(() => undefined) : undefined
    },
  }) as CollectableGauge<T>
  gauge.addCollect = (fn) => {
    collectors.add(fn)
    return () => {
      collectors.delete(fn)
    }
  }
  return gauge
}
