import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createNsnMetrics } from '../src/index.js'
import { promtool } from './promtool.js'

const DASHBOARD = new URL('../dashboards/nsn-dht.json', import.meta.url)

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JS template
const DATASOURCE = { type: 'prometheus', uid: '${DS_PROMETHEUS}' }

interface Target {
  expr: string
  refId: string
  datasource?: { type?: string; uid?: string }
}

interface Panel {
  id: number
  type: string
  title: string
  gridPos: { h: number; w: number; x: number; y: number }
  datasource?: { type?: string; uid?: string }
  targets?: Target[]
  panels?: Panel[]
}

interface Dashboard {
  title: string
  uid: string
  schemaVersion: number
  panels: Panel[]
  templating: { list: Array<{ name: string; type: string; query?: unknown }> }
}

async function load(): Promise<{ text: string; dashboard: Dashboard }> {
  const text = await readFile(DASHBOARD, 'utf8')
  return { text, dashboard: JSON.parse(text) as Dashboard }
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])])
}

function allTargets(dashboard: Dashboard): Array<{ panel: Panel; target: Target }> {
  return allPanels(dashboard.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({ panel, target })),
  )
}

/** Declared metric names and their prom-client types. */
async function declared(): Promise<Map<string, string>> {
  const register = new Registry()
  createNsnMetrics(register)
  return new Map((await register.getMetricsAsJSON()).map((m) => [m.name, String(m.type)]))
}

/**
 * The declared metric each `nsn_` name of an expression refers to (histogram series map
 * to their histogram): `nsn_p2p_` ones and `nsn_routing_diversity_refusals_total`.
 */
function referenced(expr: string, metrics: Map<string, string>): string[] {
  return (expr.match(/\bnsn_[a-zA-Z0-9_]+/g) ?? []).map((name) => {
    const base = name.replace(/_(bucket|sum|count)$/, '')
    return base !== name && metrics.get(base) === 'histogram' ? base : name
  })
}

describe('Grafana dashboard dashboards/nsn-dht.json', () => {
  it('is importable: title, uid, schemaVersion, panels with targets, a DS_PROMETHEUS datasource variable', async () => {
    const { dashboard } = await load()
    expect(dashboard.title).toBe('NSN shard DHT')
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/)
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36)
    const ds = dashboard.templating.list.find((v) => v.name === 'DS_PROMETHEUS')
    expect(ds).toMatchObject({ type: 'datasource', query: 'prometheus' })
    for (const { panel, target } of allTargets(dashboard)) {
      expect(target.datasource, panel.title).toEqual(DATASOURCE)
      expect(target.expr.trim(), panel.title).not.toBe('')
    }
  })

  it('shows every declared metric on a panel, and names no metric that is not declared', async () => {
    const { dashboard } = await load()
    const metrics = await declared()
    const shown = new Set(allTargets(dashboard).flatMap(({ target }) => referenced(target.expr, metrics)))
    const missing = [...metrics.keys()].filter((name) => !shown.has(name))
    expect(missing, 'declared metrics that appear on no dashboard panel').toEqual([])
    const unknown = [...shown].filter((name) => !metrics.has(name))
    expect(unknown, 'dashboard metrics that createNsnMetrics does not declare').toEqual([])
  })

  it('has the panels the design asks for', async () => {
    const { dashboard } = await load()
    const exprs = allTargets(dashboard).map(({ target }) => target.expr)
    for (const quantile of ['0.5', '0.95', '0.99']) {
      expect(exprs).toContainEqual(
        expect.stringMatching(
          new RegExp(
            `^histogram_quantile\\(${quantile}, sum by \\(type, le\\) \\(rate\\(nsn_p2p_kademlia_query_duration_seconds_bucket`,
          ),
        ),
      )
    }
    expect(exprs).toContainEqual(
      expect.stringContaining('sum by (type) (rate(nsn_p2p_kademlia_query_timeouts_total'),
    )
    expect(exprs).toContainEqual(
      expect.stringContaining('sum by (reason) (rate(nsn_p2p_shard_registry_evictions_total'),
    )
  })

  it('is normalised: unique panel ids and refIds, no overlapping panels, 2-space JSON', async () => {
    const { text, dashboard } = await load()
    expect(text).toBe(`${JSON.stringify(dashboard, null, 2)}\n`)
    const panels = allPanels(dashboard.panels)
    const ids = panels.map((p) => p.id)
    expect(new Set(ids).size).toBe(ids.length)
    for (const panel of panels) {
      const refIds = (panel.targets ?? []).map((t) => t.refId)
      expect(new Set(refIds).size, panel.title).toBe(refIds.length)
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24)
    }
    for (const [i, p] of panels.entries()) {
      for (const q of panels.slice(i + 1)) {
        const overlap =
          p.gridPos.x < q.gridPos.x + q.gridPos.w &&
          q.gridPos.x < p.gridPos.x + p.gridPos.w &&
          p.gridPos.y < q.gridPos.y + q.gridPos.h &&
          q.gridPos.y < p.gridPos.y + p.gridPos.h
        expect(overlap, `${p.title} overlaps ${q.title}`).toBe(false)
      }
    }
  })

  it('every expression is valid PromQL (promtool check rules)', async () => {
    const { dashboard } = await load()
    const rules = allTargets(dashboard).map(({ panel, target }) => ({
      record: `nsn_dashboard:panel_${panel.id}_${target.refId}`,
      expr: target.expr.replaceAll('$__rate_interval', '5m').replaceAll('$instance', '.*'),
    }))
    const dir = await mkdtemp(join(tmpdir(), 'nsn-dashboard-'))
    try {
      const file = join(dir, 'rules.yml')
      // JSON is YAML
      await writeFile(file, JSON.stringify({ groups: [{ name: 'nsn-dashboard', rules }] }))
      const { code, stdout, stderr } = await promtool(['check', 'rules', file])
      expect(`${stdout}${stderr}`).toContain(`SUCCESS: ${rules.length} rules found`)
      expect(code).toBe(0)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
