import { describe, expect, it } from 'vitest'
import { IndexedMinHeap } from '../src/heap.js'

interface Item {
  key: number
  index: number
}

function counted() {
  const stats = { comparisons: 0 }
  const heap = new IndexedMinHeap<Item>(
    (a, b) => {
      stats.comparisons++
      return a.key < b.key
    },
    {
      get: (item) => item.index,
      set: (item, index) => {
        item.index = index
      },
    },
  )
  return { heap, stats }
}

function item(key: number): Item {
  return { key, index: -1 }
}

/** A deterministic pseudo-random sequence (LCG), so failures reproduce. */
function lcg(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0
    return state / 2 ** 32
  }
}

describe('IndexedMinHeap', () => {
  it('pops in order after pushes, removals and updates', () => {
    const { heap } = counted()
    const random = lcg(42)
    const items = Array.from({ length: 2000 }, () => item(Math.floor(random() * 1000)))
    for (const it of items) heap.push(it)
    for (let i = 0; i < items.length; i += 3) expect(heap.remove(items[i] as Item)).toBe(true)
    for (let i = 1; i < items.length; i += 3) {
      const it = items[i] as Item
      it.key = Math.floor(random() * 1000)
      heap.update(it)
    }
    expect(heap.remove(items[0] as Item)).toBe(false)
    expect(heap.contains(items[0] as Item)).toBe(false)
    expect(heap.contains(items[1] as Item)).toBe(true)
    const kept = items.filter((_, i) => i % 3 !== 0)
    expect(heap.size).toBe(kept.length)
    const popped: number[] = []
    for (let next = heap.pop(); next !== undefined; next = heap.pop()) popped.push(next.key)
    expect(popped).toEqual(kept.map((it) => it.key).sort((a, b) => a - b))
    expect(heap.peek()).toBeUndefined()
  })

  it('takeWhile returns the accepted prefix in order and leaves the heap unchanged', () => {
    const { heap } = counted()
    const random = lcg(7)
    const keys = Array.from({ length: 500 }, () => Math.floor(random() * 10_000))
    for (const key of keys) heap.push(item(key))
    const sorted = [...keys].sort((a, b) => a - b)
    expect(heap.takeWhile((it) => it.key <= 5000).map((it) => it.key)).toEqual(
      sorted.filter((k) => k <= 5000),
    )
    expect(heap.takeWhile(() => true, 10).map((it) => it.key)).toEqual(sorted.slice(0, 10))
    expect(heap.takeWhile(() => true, 0)).toEqual([])
    expect(heap.takeWhile(() => false)).toEqual([])
    expect(heap.size).toBe(500)
    expect(heap.peek()?.key).toBe(sorted[0])
  })

  it('takeWhile does not scan: cost grows with the answer, not with the heap', () => {
    const { heap, stats } = counted()
    const n = 200_000
    const random = lcg(1)
    for (let i = 0; i < n; i++) heap.push(item(1000 + Math.floor(random() * 1_000_000)))
    for (let i = 0; i < 5; i++) heap.push(item(i))
    let accepted = 0
    stats.comparisons = 0
    const found = heap.takeWhile((it) => {
      accepted++
      return it.key < 1000
    })
    expect(found.map((it) => it.key)).toEqual([0, 1, 2, 3, 4])
    // 5 results: at most 6 items examined, and a frontier of at most 11 indices
    expect(accepted).toBeLessThanOrEqual(6)
    expect(stats.comparisons).toBeLessThan(60)

    stats.comparisons = 0
    accepted = 0
    const none = heap.takeWhile((it) => {
      accepted++
      return it.key < 0
    })
    expect(none).toEqual([])
    expect(accepted).toBe(1)
    expect(stats.comparisons).toBe(0)
  })
})
