// A small SVG line-chart generator (no chart library): axes with ticks (linear or
// log10), several series (solid or dashed), optional legend. Enough for CDFs and time
// series in the bench report.

const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b']

function esc(text) {
  return String(text)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
}

function fmt(v) {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1000) return `${+(v / 1000).toPrecision(3)}k`
  if (a >= 1) return `${+v.toPrecision(3)}`
  return `${+v.toPrecision(2)}`
}

function niceStep(span, count) {
  const raw = span / Math.max(1, count)
  const mag = 10 ** Math.floor(Math.log10(raw))
  for (const m of [1, 2, 2.5, 5, 10]) if (raw <= m * mag) return m * mag
  return 10 * mag
}

function linearTicks(min, max, count = 6) {
  if (min === max) return [min]
  const step = niceStep(max - min, count)
  const out = []
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) out.push(+v.toPrecision(12))
  return out
}

function logTicks(min, max) {
  const out = []
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e
      if (v >= min * 0.999 && v <= max * 1.001) out.push(v)
    }
  }
  return out
}

/**
 * Renders a line chart.
 *
 * @param {object} chart
 * @param {string} chart.title
 * @param {string} chart.xLabel
 * @param {string} chart.yLabel
 * @param {'linear'|'log'} [chart.xScale]
 * @param {Array<{ name: string, points: Array<[number, number]>, dashed?: boolean, color?: string, step?: boolean, width?: number }>} chart.series
 * @param {[number, number]} [chart.yRange]
 * @param {Array<{ x: number, label: string }>} [chart.markers] vertical lines
 * @param {'top-left'|'top-right'|'bottom-right'} [chart.legend]
 * @returns {string} the SVG document
 */
export function lineChart({
  title,
  xLabel,
  yLabel,
  xScale = 'linear',
  series,
  yRange,
  markers = [],
  legend = 'top-left',
  width = 720,
  height = 420,
}) {
  const margin = { top: 40, right: 20, bottom: 50, left: 70 }
  const plotW = width - margin.left - margin.right
  const plotH = height - margin.top - margin.bottom
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  const xs = all.map(([x]) => x).filter((x) => xScale !== 'log' || x > 0)
  let xMin = xs.length > 0 ? Math.min(...xs) : 0
  let xMax = xs.length > 0 ? Math.max(...xs) : 1
  if (xScale === 'log') {
    xMin = 10 ** Math.floor(Math.log10(xMin))
    xMax = 10 ** Math.ceil(Math.log10(xMax))
  } else if (xMin === xMax) xMax = xMin + 1
  const ys = all.map(([, y]) => y)
  let [yMin, yMax] = yRange ?? [Math.min(...ys), Math.max(...ys)]
  if (yRange == null) {
    const pad = (yMax - yMin) * 0.08 || Math.abs(yMax) * 0.1 || 1
    yMin -= pad
    yMax += pad
  }
  const sx =
    xScale === 'log'
      ? (x) =>
          margin.left +
          ((Math.log10(Math.max(x, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin))) * plotW
      : (x) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW
  const sy = (y) => margin.top + plotH - ((y - yMin) / (yMax - yMin)) * plotH
  const parts = []
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
  )
  const xTicks = xScale === 'log' ? logTicks(xMin, xMax) : linearTicks(xMin, xMax)
  for (const t of xTicks) {
    const x = sx(t).toFixed(1)
    parts.push(
      `<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="#e5e5e5"/>`,
      `<text x="${x}" y="${margin.top + plotH + 16}" text-anchor="middle">${fmt(t)}</text>`,
    )
  }
  for (const t of linearTicks(yMin, yMax)) {
    const y = sy(t).toFixed(1)
    parts.push(
      `<line x1="${margin.left}" y1="${y}" x2="${margin.left + plotW}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${margin.left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`,
    )
  }
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
    `<text x="${margin.left + plotW / 2}" y="${height - 10}" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="16" y="${margin.top + plotH / 2}" text-anchor="middle" transform="rotate(-90 16 ${margin.top + plotH / 2})">${esc(yLabel)}</text>`,
  )
  for (const m of markers) {
    const x = sx(m.x).toFixed(1)
    parts.push(
      `<line x1="${x}" y1="${margin.top}" x2="${x}" y2="${margin.top + plotH}" stroke="#999" stroke-dasharray="2 3"/>`,
      `<text x="${x}" y="${margin.top + 12}" dx="4" fill="#666">${esc(m.label)}</text>`,
    )
  }
  parts.push(
    `<clipPath id="plot"><rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}"/></clipPath>`,
  )
  series.forEach((s, i) => {
    const color = s.color ?? COLORS[i % COLORS.length]
    const pts = s.points.filter(
      ([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (xScale !== 'log' || x > 0),
    )
    if (pts.length === 0) return
    let d = ''
    pts.forEach(([x, y], j) => {
      if (j === 0) d += `M${sx(x).toFixed(1)},${sy(y).toFixed(1)}`
      else if (s.step) d += `H${sx(x).toFixed(1)}V${sy(y).toFixed(1)}`
      else d += `L${sx(x).toFixed(1)},${sy(y).toFixed(1)}`
    })
    parts.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="${s.width ?? 2}"${s.dashed ? ' stroke-dasharray="6 4"' : ''} clip-path="url(#plot)"/>`,
    )
    const ly =
      legend === 'bottom-right'
        ? margin.top + plotH - 10 - (series.length - i) * 18
        : margin.top + 10 + i * 18
    const lx = legend === 'top-left' ? margin.left + 12 : margin.left + plotW - 270
    parts.push(
      `<line x1="${lx}" y1="${ly + 8}" x2="${lx + 28}" y2="${ly + 8}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`,
      `<text x="${lx + 34}" y="${ly + 12}">${esc(s.name)}</text>`,
    )
  })
  parts.push('</svg>')
  return `${parts.join('\n')}\n`
}

/** Empirical CDF points of `values` for a step line: [[x, fraction ≤ x], ...]. */
export function cdfPoints(values) {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  return sorted.map((v, i) => [v, (i + 1) / sorted.length])
}
