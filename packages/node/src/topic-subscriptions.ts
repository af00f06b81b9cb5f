/**
 * The group topics a node subscribed to through the API, kept in its datastore so that a
 * restart (or a crash) resubscribes them, as `--gossip-group` does for configured ones.
 *
 * @packageDocumentation
 */
import { parseGroupName } from '@nsn/core'
import { type Datastore, Key } from 'interface-datastore'

/** Where the subscribed groups live: one record, a JSON array of group names. */
export const TOPIC_SUBSCRIPTIONS_KEY = new Key('/nsn/gossip/groups')

/**
 * The groups saved by {@link saveTopicSubscriptions}; none when nothing was saved. A
 * record that does not parse, or names that are no longer valid group names, are
 * skipped rather than stopping the node.
 */
export async function loadTopicSubscriptions(datastore: Datastore): Promise<string[]> {
  if (!(await datastore.has(TOPIC_SUBSCRIPTIONS_KEY))) return []
  const bytes = await datastore.get(TOPIC_SUBSCRIPTIONS_KEY)
  let names: unknown
  try {
    names = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return []
  }
  if (!Array.isArray(names)) return []
  const groups: string[] = []
  for (const name of names) {
    try {
      groups.push(parseGroupName(name))
    } catch {
      // an invalid name is dropped: the next save rewrites the record without it
    }
  }
  return groups
}

/** Saves the subscribed groups (the whole set, replacing the previous record); resolves once durable. */
export async function saveTopicSubscriptions(datastore: Datastore, groups: readonly string[]): Promise<void> {
  await datastore.put(
    TOPIC_SUBSCRIPTIONS_KEY,
    new TextEncoder().encode(JSON.stringify([...new Set(groups)].sort())),
  )
}
