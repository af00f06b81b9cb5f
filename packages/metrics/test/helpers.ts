import type { Registry } from 'prom-client'

type Labels = Record<string, string | number>

interface Sample {
  value: number
  labels: Record<string, string | number | undefined>
  metricName?: string
}

function matches(sample: Sample, labels: Labels): boolean {
  return Object.entries(labels).every(([name, value]) => String(sample.labels[name]) === String(value))
}

/** Every sample of one metric (histograms: buckets, sum and count), after its collect callbacks ran. */
export async function samples(register: Registry, name: string): Promise<Sample[]> {
  const metric = register.getSingleMetric(name)
  if (metric == null) throw new Error(`no metric ${name} in the registry`)
  const data = (await metric.get()) as unknown as { values: Sample[] }
  return data.values
}

/** The value of a counter or gauge sample with exactly these labels (0 when absent). */
export async function value(register: Registry, name: string, labels: Labels = {}): Promise<number> {
  const found = (await samples(register, name)).filter(
    (s) =>
      (s.metricName ?? name) === name &&
      matches(s, labels) &&
      Object.keys(s.labels).length === Object.keys(labels).length,
  )
  if (found.length > 1) throw new Error(`ambiguous labels for ${name}`)
  return found[0]?.value ?? 0
}

/** The sum of a counter over every label combination matching `labels`. */
export async function total(register: Registry, name: string, labels: Labels = {}): Promise<number> {
  return (await samples(register, name))
    .filter((s) => (s.metricName ?? name) === name && matches(s, labels))
    .reduce((sum, s) => sum + s.value, 0)
}

/** `_count`, `_sum` and buckets (by `le`) of a histogram series with these labels. */
export async function histogram(
  register: Registry,
  name: string,
  labels: Labels = {},
): Promise<{ count: number; sum: number; buckets: Map<string, number> }> {
  const series = (await samples(register, name)).filter((s) => matches(s, labels))
  const buckets = new Map<string, number>()
  let count = 0
  let sum = 0
  for (const s of series) {
    if (s.metricName === `${name}_bucket`) buckets.set(String(s.labels.le), s.value)
    else if (s.metricName === `${name}_count`) count += s.value
    else if (s.metricName === `${name}_sum`) sum += s.value
  }
  return { count, sum, buckets }
}
