/**
 * The sweep's schedule (pure): region `p` of `n` bits takes its turn at
 * `cycleStart + (c + int(p XOR self[:n]) / 2^n) x interval` in cycle `c`, so the regions'
 * turns spread evenly over the interval, starting with this node's own region. A region
 * is due when its latest turn passed after its last pass (its history, or that of the
 * region that held it before the regions changed; a region never done counts as done at
 * the cycle start).
 *
 * @packageDocumentation
 */

import { type Region, regionPhase } from './keyspace.js'
import type { RegionHistory } from './state-store.js'

export interface ScheduleParams {
  cycleStart: number
  interval: number
  self: Uint8Array
}

/** The latest turn of `region` at or before `now`; undefined before its first. */
export function lastTurn(region: Region, params: ScheduleParams, now: number): number | undefined {
  const phase = regionPhase(region.bits, params.self)
  const cycles = Math.floor((now - params.cycleStart) / params.interval - phase)
  if (cycles < 0) return undefined
  return params.cycleStart + (cycles + phase) * params.interval
}

/** The first turn of `region` after `now`. */
export function nextTurn(region: Region, params: ScheduleParams, now: number): number {
  const last = lastTurn(region, params, now)
  return last == null
    ? params.cycleStart + regionPhase(region.bits, params.self) * params.interval
    : last + params.interval
}

/**
 * When `region` was last done: its own history or its ancestors' (the latest), else the
 * earliest of its descendants' (a region merged from smaller ones), else undefined.
 */
export function lastDone(region: Region, history: ReadonlyMap<string, RegionHistory>): number | undefined {
  let best: number | undefined
  for (let n = 0; n <= region.bits.length; n++) {
    const entry = history.get(region.bits.slice(0, n))
    if (entry != null && (best == null || entry.at > best)) best = entry.at
  }
  if (best != null) return best
  let earliest: number | undefined
  for (const [bits, entry] of history) {
    if (bits.length > region.bits.length && bits.startsWith(region.bits)) {
      if (earliest == null || entry.at < earliest) earliest = entry.at
    }
  }
  return earliest
}

/** The regions due at `now`, in the order of their turns (the most overdue first). */
export function dueRegions(
  regions: readonly Region[],
  history: ReadonlyMap<string, RegionHistory>,
  params: ScheduleParams,
  now: number,
): Region[] {
  const due: Array<{ region: Region; turn: number }> = []
  for (const region of regions) {
    const turn = lastTurn(region, params, now)
    if (turn == null) continue
    const done = lastDone(region, history) ?? params.cycleStart
    if (done < turn) due.push({ region, turn })
  }
  return due.sort((a, b) => a.turn - b.turn).map((d) => d.region)
}

/** The earliest turn after `now` over `regions`; undefined without regions. */
export function nextEvent(
  regions: readonly Region[],
  params: ScheduleParams,
  now: number,
): number | undefined {
  let next: number | undefined
  for (const region of regions) {
    const at = nextTurn(region, params, now)
    if (next == null || at < next) next = at
  }
  return next
}
