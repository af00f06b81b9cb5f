/**
 * OpenMetrics 1.0.0 text exposition of a prom-client registry.
 *
 * prom-client 15 writes OpenMetrics only from a registry whose content type is OpenMetrics,
 * and doing so renames every counter object in place (`foo_total` becomes `foo`, for good):
 * exposing a Prometheus-format registry's metrics through a second OpenMetrics registry
 * (`Registry.merge` or re-registering them) would strip `_total` from the text exposition
 * afterwards. So the OpenMetrics answer is written here, from `getMetricsAsJSON()`, which
 * runs the same collect callbacks and applies the registry's default labels, and touches no
 * metric.
 *
 * @packageDocumentation
 */

import type { Registry } from 'prom-client'

interface SampleJSON {
  value: number
  labels: Record<string, string | number | undefined>
  metricName?: string
}

interface MetricJSON {
  name: string
  help: string
  type: unknown
  values: SampleJSON[]
}

/** OpenMetrics families prom-client can produce; anything else is exposed as `unknown`. */
const KNOWN_TYPES = new Set(['counter', 'gauge', 'histogram', 'summary'])

/** Labels whose values are numbers, written in canonical form (`1.0`, `+Inf`). */
const NUMERIC_LABELS = new Set(['le', 'quantile'])

function escapeText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

/** A number as OpenMetrics writes it: `NaN`, `+Inf`, `-Inf`, or the decimal form. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) {
    return 'NaN'
  }
  if (value === Number.POSITIVE_INFINITY) {
    return '+Inf'
  }
  if (value === Number.NEGATIVE_INFINITY) {
    return '-Inf'
  }
  return String(value)
}

/** A `le` or `quantile` value in canonical form: integers get a `.0`, as Go's clients write them. */
function formatNumericLabel(value: string | number): string {
  const number = typeof value === 'number' ? value : Number(value)
  if (typeof value === 'string' && (value.trim() === '' || Number.isNaN(number))) {
    return value
  }
  const text = formatNumber(number)
  return Number.isInteger(number) && !text.includes('e') ? `${text}.0` : text
}

function formatLabels(labels: SampleJSON['labels']): string {
  const parts: string[] = []
  for (const [name, raw] of Object.entries(labels)) {
    if (raw === undefined) {
      continue
    }
    const value = NUMERIC_LABELS.has(name) ? formatNumericLabel(raw) : String(raw)
    parts.push(`${name}="${escapeText(value)}"`)
  }
  return parts.length > 0 ? `{${parts.join(',')}}` : ''
}

function formatFamily(metric: MetricJSON): string {
  const type = typeof metric.type === 'string' && KNOWN_TYPES.has(metric.type) ? metric.type : 'unknown'
  // a counter family is named without `_total`; its samples carry it
  const family = type === 'counter' ? metric.name.replace(/_total$/, '') : metric.name
  const lines = [`# TYPE ${family} ${type}`, `# HELP ${family} ${escapeText(metric.help)}`]
  for (const sample of metric.values) {
    const sampleName = type === 'counter' ? `${family}_total` : (sample.metricName ?? family)
    lines.push(`${sampleName}${formatLabels(sample.labels)} ${formatNumber(sample.value)}`)
  }
  return lines.join('\n')
}

/**
 * The registry's metrics in the OpenMetrics 1.0.0 text format, ending with `# EOF`. The
 * registry itself can have either content type; nothing in it is changed.
 */
export async function openMetricsExposition(register: Pick<Registry, 'getMetricsAsJSON'>): Promise<string> {
  const metrics = (await register.getMetricsAsJSON()) as unknown as MetricJSON[]
  const families = metrics.map(formatFamily)
  return `${families.length > 0 ? `${families.join('\n')}\n` : ''}# EOF\n`
}
