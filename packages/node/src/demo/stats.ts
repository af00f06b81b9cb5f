/**
 * Small statistics for the demo's closing table.
 *
 * @packageDocumentation
 */

import { second } from '@nsn/core'

/** The `p`-th percentile (0-100) of `values` by nearest rank; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

/** Formats milliseconds for a table: `12 ms`, `1.4 s`, or `-` when NaN. */
export function formatMs(ms: number): string {
  if (Number.isNaN(ms)) return '-'
  return ms >= second ? `${(ms / second).toFixed(2)} s` : `${Math.round(ms)} ms`
}

/** Renders rows as an aligned text table, first row as the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ')
  const [header, ...body] = rows
  if (header == null) return ''
  const rule = widths.map((w) => '-'.repeat(w)).join('  ')
  return [line(header), rule, ...body.map(line)].join('\n')
}
