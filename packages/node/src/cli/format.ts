/**
 * Text output of the client verbs: aligned columns, durations and times an operator
 * reads at a glance (`--json` prints the API's answer instead).
 *
 * @packageDocumentation
 */

/** Rows as aligned columns (two spaces apart), each line indented by `indent`; the last column is not padded. */
export function table(rows: ReadonlyArray<readonly string[]>, indent = '  '): string {
  const widths: number[] = []
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length)
    })
  }
  const line = (row: readonly string[]): string =>
    `${indent}${row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ')}`.trimEnd()
  return rows.map((row) => `${line(row)}\n`).join('')
}

/** A duration: `850 ms`, `12.4 s`, `3 min 20 s`, `5 h 02 min`, `2 d 03 h`. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)} s`
  const total = Math.floor(s)
  const d = Math.floor(total / 86_400)
  const h = Math.floor((total % 86_400) / 3600)
  const m = Math.floor((total % 3600) / 60)
  const sec = total % 60
  if (d > 0) return `${d} d ${String(h).padStart(2, '0')} h`
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`
  return `${m} min ${String(sec).padStart(2, '0')} s`
}

/** An epoch-ms time in UTC, to the second: `2026-12-02 12:00:00Z`. */
export function time(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, 'Z')
}

/** `1 peer`, `3 peers`. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`
}
