/**
 * An indexed binary min-heap: each item knows its position (through the accessors given
 * to the constructor), so removing or re-keying an arbitrary item is O(log n).
 *
 * @packageDocumentation
 */

/** Where an item stores its position in one heap; `-1` when it is not in it. */
export interface HeapPosition<T> {
  get(item: T): number
  set(item: T, index: number): void
}

/** A binary min-heap whose items remember their positions. */
export class IndexedMinHeap<T> {
  private readonly items: T[] = []
  private readonly less: (a: T, b: T) => boolean
  private readonly position: HeapPosition<T>

  /**
   * @param less - strict order: whether `a` comes before `b`
   * @param position - where each item stores its index in this heap
   */
  constructor(less: (a: T, b: T) => boolean, position: HeapPosition<T>) {
    this.less = less
    this.position = position
  }

  /** Number of items. O(1). */
  get size(): number {
    return this.items.length
  }

  /** The least item, or undefined when empty. O(1). */
  peek(): T | undefined {
    return this.items[0]
  }

  /** Whether `item` is in this heap. O(1). */
  contains(item: T): boolean {
    const i = this.position.get(item)
    return i >= 0 && this.items[i] === item
  }

  /** Inserts an item that is not in the heap. O(log n). */
  push(item: T): void {
    const i = this.items.length
    this.items.push(item)
    this.position.set(item, i)
    this.up(i)
  }

  /** Removes an item; false when it was not in the heap. O(log n). */
  remove(item: T): boolean {
    if (!this.contains(item)) return false
    const i = this.position.get(item)
    const last = this.items.pop() as T
    this.position.set(item, -1)
    if (i < this.items.length) {
      this.items[i] = last
      this.position.set(last, i)
      if (!this.up(i)) this.down(i)
    }
    return true
  }

  /** Restores order after the key of `item` (which must be in the heap) changed. O(log n). */
  update(item: T): void {
    const i = this.position.get(item)
    if (!this.up(i)) this.down(i)
  }

  /** Removes and returns the least item. O(log n). */
  pop(): T | undefined {
    const top = this.items[0]
    if (top !== undefined) this.remove(top)
    return top
  }

  /**
   * The items for which `accept` holds, in order, stopping at the first item that fails
   * it or after `limit` items. `accept` must be monotonic in the heap order (true for a
   * prefix of the sorted items, e.g. `key <= now`). Walks the heap best-first with a
   * small frontier, so it costs O(k log k) for k items returned plus their children,
   * never a scan of the heap. Leaves the heap unchanged.
   */
  takeWhile(accept: (item: T) => boolean, limit = Number.POSITIVE_INFINITY): T[] {
    const out: T[] = []
    const items = this.items
    if (items.length === 0 || limit <= 0) return out
    // frontier: a min-heap of indices into `items`, ordered by their items
    const frontier: number[] = [0]
    const before = (a: number, b: number): boolean => this.less(items[a] as T, items[b] as T)
    while (frontier.length > 0 && out.length < limit) {
      const i = popIndex(frontier, before)
      const item = items[i] as T
      if (!accept(item)) break
      out.push(item)
      const left = 2 * i + 1
      if (left < items.length) pushIndex(frontier, left, before)
      if (left + 1 < items.length) pushIndex(frontier, left + 1, before)
    }
    return out
  }

  private up(start: number): boolean {
    const items = this.items
    let i = start
    const item = items[i] as T
    while (i > 0) {
      const parent = (i - 1) >> 1
      const p = items[parent] as T
      if (!this.less(item, p)) break
      items[i] = p
      this.position.set(p, i)
      i = parent
    }
    if (i === start) return false
    items[i] = item
    this.position.set(item, i)
    return true
  }

  private down(start: number): void {
    const items = this.items
    const n = items.length
    let i = start
    const item = items[i] as T
    for (;;) {
      const left = 2 * i + 1
      if (left >= n) break
      const right = left + 1
      let child = left
      if (right < n && this.less(items[right] as T, items[left] as T)) child = right
      const c = items[child] as T
      if (!this.less(c, item)) break
      items[i] = c
      this.position.set(c, i)
      i = child
    }
    items[i] = item
    this.position.set(item, i)
  }
}

function pushIndex(heap: number[], value: number, before: (a: number, b: number) => boolean): void {
  let i = heap.length
  heap.push(value)
  while (i > 0) {
    const parent = (i - 1) >> 1
    const p = heap[parent] as number
    if (!before(value, p)) break
    heap[i] = p
    i = parent
  }
  heap[i] = value
}

function popIndex(heap: number[], before: (a: number, b: number) => boolean): number {
  const top = heap[0] as number
  const last = heap.pop() as number
  const n = heap.length
  if (n === 0) return top
  let i = 0
  for (;;) {
    const left = 2 * i + 1
    if (left >= n) break
    const right = left + 1
    let child = left
    if (right < n && before(heap[right] as number, heap[left] as number)) child = right
    const c = heap[child] as number
    if (!before(c, last)) break
    heap[i] = c
    i = child
  }
  heap[i] = last
  return top
}
