/**
 * Announcement topic names: the network-wide topic and the per-group topics
 * (`/nsn/shards/1/group/<name>`), and the one parser of group names.
 *
 * @packageDocumentation
 */

import { GROUP_TOPIC_PREFIX, MAX_GROUP_NAME_LENGTH, SHARD_ANNOUNCEMENTS_TOPIC } from '../constants.js'
import { NsnError } from '../errors.js'

const GROUP_NAME = new RegExp(`^[A-Za-z0-9._-]{1,${MAX_GROUP_NAME_LENGTH}}$`)

/** A group name that is not 1 to {@link MAX_GROUP_NAME_LENGTH} characters of `[A-Za-z0-9._-]`. */
export class InvalidGroupNameError extends NsnError<'ERR_INVALID_GROUP'> {
  static readonly code = 'ERR_INVALID_GROUP'
  override readonly name = 'InvalidGroupNameError'
  readonly code = InvalidGroupNameError.code

  constructor(readonly input: string) {
    super(
      `invalid group name ${JSON.stringify(input.length > 100 ? `${input.slice(0, 100)}…` : input)}: must be 1 to ${MAX_GROUP_NAME_LENGTH} characters of A-Z a-z 0-9 . _ -`,
    )
  }
}

/**
 * `name` when it is a valid group name.
 *
 * @throws {InvalidGroupNameError} otherwise
 */
export function parseGroupName(name: unknown): string {
  if (typeof name !== 'string' || !GROUP_NAME.test(name)) throw new InvalidGroupNameError(String(name))
  return name
}

/** The gossipsub topic of a group. */
export function groupTopic(group: string): string {
  return `${GROUP_TOPIC_PREFIX}${parseGroupName(group)}`
}

/** The group of a group topic, or undefined for the network-wide topic or a foreign one. */
export function groupOfTopic(topic: string): string | undefined {
  if (!topic.startsWith(GROUP_TOPIC_PREFIX)) return undefined
  const group = topic.slice(GROUP_TOPIC_PREFIX.length)
  return GROUP_NAME.test(group) ? group : undefined
}

/** True for the network-wide topic and every well-formed group topic. */
export function isAnnouncementTopic(topic: string): boolean {
  return topic === SHARD_ANNOUNCEMENTS_TOPIC || groupOfTopic(topic) != null
}
