import { MemoryDatastore } from 'datastore-core'
import { Key } from 'interface-datastore'
import { describe, expect, it } from 'vitest'
import { nsnHostOptions } from '../src/host.js'
import { OwnedMemoryDatastore, ownedBytes } from '../src/owned-memory-datastore.js'

/** A small Buffer: a view into Node's shared pool slab. */
const pooled = (): Uint8Array => {
  const value = Buffer.from('a small value')
  expect(value.buffer.byteLength).toBeGreaterThan(value.byteLength) // it is a pool slice
  return value
}

describe('OwnedMemoryDatastore', () => {
  it('keeps a copy of a pooled value, not a view that keeps the whole slab alive', async () => {
    const value = pooled()
    const plain = new MemoryDatastore()
    await plain.put(new Key('/a'), value)
    // the problem: datastore-core's MemoryDatastore holds the pool slab
    expect((await plain.get(new Key('/a'))).buffer.byteLength).toBe(value.buffer.byteLength)

    const owned = new OwnedMemoryDatastore()
    await owned.put(new Key('/a'), value)
    const batch = owned.batch()
    batch.put(new Key('/b'), pooled())
    await batch.commit()
    for (const key of ['/a', '/b']) {
      const stored = await owned.get(new Key(key))
      expect(stored.buffer.byteLength).toBe(stored.byteLength)
      expect(Buffer.from(stored).toString()).toBe('a small value')
    }
  })

  it('keeps a value that owns its buffer as is', () => {
    const value = new Uint8Array(8)
    expect(ownedBytes(value)).toBe(value)
    const view = new Uint8Array(16).subarray(4, 8)
    expect(ownedBytes(view)).not.toBe(view)
    expect(ownedBytes(view).buffer.byteLength).toBe(4)
  })

  it('is the host builder’s default datastore', () => {
    expect(nsnHostOptions({}).datastore).toBeInstanceOf(OwnedMemoryDatastore)
    const given = new MemoryDatastore()
    expect(nsnHostOptions({ datastore: given }).datastore).toBe(given)
  })
})
