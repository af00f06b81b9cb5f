// Small statistics helpers shared by the benches: percentiles, summaries, a linear
// regression and a seeded PRNG (so both implementations see the same choices).

/** Nearest-rank percentile of an ascending array; undefined when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return undefined
  const rank = Math.ceil((p / 100) * sorted.length)
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]
}

/** { n, min, p50, p95, p99, max, mean } of the finite numbers in `values`. */
export function summarize(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return { n: 0 }
  const sum = sorted.reduce((a, v) => a + v, 0)
  return {
    n: sorted.length,
    min: sorted[0],
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1],
    mean: sum / sorted.length,
  }
}

/** Least-squares fit of y = slope * x + intercept, with r². */
export function linearFit(points) {
  const n = points.length
  if (n < 2) return { slope: 0, intercept: points[0]?.y ?? 0, r2: 0, n }
  const mx = points.reduce((a, p) => a + p.x, 0) / n
  const my = points.reduce((a, p) => a + p.y, 0) / n
  let sxy = 0
  let sxx = 0
  let syy = 0
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my)
    sxx += (p.x - mx) ** 2
    syy += (p.y - my) ** 2
  }
  const slope = sxx === 0 ? 0 : sxy / sxx
  const r2 = sxx === 0 || syy === 0 ? 0 : (sxy * sxy) / (sxx * syy)
  return { slope, intercept: my - slope * mx, r2, n }
}

/** mulberry32: a tiny seeded PRNG returning floats in [0, 1). */
export function seededRandom(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** An integer in [0, n). */
export function randomInt(random, n) {
  return Math.floor(random() * n)
}

/** `count` distinct integers from [0, n), in random order. */
export function sample(random, n, count) {
  const pool = Array.from({ length: n }, (_, i) => i)
  const out = []
  for (let i = 0; i < Math.min(count, n); i++) {
    const j = i + randomInt(random, n - i)
    ;[pool[i], pool[j]] = [pool[j], pool[i]]
    out.push(pool[i])
  }
  return out
}

/** A / B, or null when either is missing or B is 0. */
export function ratio(a, b) {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null
  return a / b
}

/** Forces two full GCs (the second collects what the first's finalizers freed) and returns memory use. */
export function gcMemory() {
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc')
  globalThis.gc()
  globalThis.gc()
  const { heapUsed, rss, external, arrayBuffers } = process.memoryUsage()
  return { heapUsed, rss, external, arrayBuffers }
}

/** Lets pending I/O and timers run. */
export function settle(ms = 0) {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/**
 * Theil–Sen fit: the median of the slopes between every pair of points, and the median
 * intercept. Robust to outliers and spikes (up to ~29 % of the points), unlike least squares.
 */
export function theilSen(points) {
  const slopes = []
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const dx = points[j].x - points[i].x
      if (dx !== 0) slopes.push((points[j].y - points[i].y) / dx)
    }
  }
  if (slopes.length === 0) return { slope: 0, intercept: points[0]?.y ?? 0 }
  slopes.sort((a, b) => a - b)
  const slope = median(slopes)
  const intercept = median(points.map((p) => p.y - slope * p.x).sort((a, b) => a - b))
  return { slope, intercept }
}

function median(sorted) {
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}
