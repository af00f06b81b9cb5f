import { MemoryDatastore } from 'datastore-core'
import { describe, expect, it } from 'vitest'
import {
  loadTopicSubscriptions,
  saveTopicSubscriptions,
  TOPIC_SUBSCRIPTIONS_KEY,
} from '../src/topic-subscriptions.js'

describe('topic subscriptions in the datastore', () => {
  it('none saved: none; saved: the set, sorted, without duplicates', async () => {
    const ds = new MemoryDatastore()
    expect(await loadTopicSubscriptions(ds)).toEqual([])
    await saveTopicSubscriptions(ds, ['b', 'a', 'b'])
    expect(await loadTopicSubscriptions(ds)).toEqual(['a', 'b'])
  })

  it('a damaged record or invalid names are skipped, not fatal', async () => {
    const ds = new MemoryDatastore()
    await ds.put(TOPIC_SUBSCRIPTIONS_KEY, new TextEncoder().encode('{not json'))
    expect(await loadTopicSubscriptions(ds)).toEqual([])
    await ds.put(TOPIC_SUBSCRIPTIONS_KEY, new TextEncoder().encode(JSON.stringify(['ok', 'a b', 42])))
    expect(await loadTopicSubscriptions(ds)).toEqual(['ok'])
  })
})
