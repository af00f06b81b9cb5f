import { parseGroupName } from '@nsn/core'
import type { ApiTopic } from '../../../api/types.js'
import { UsageError } from '../../../errors.js'
import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'

/** The actions of `topics`. */
export const TOPIC_ACTIONS = ['list', 'subscribe', 'unsubscribe'] as const

function describeTopic(topic: ApiTopic): string {
  const name = topic.group ?? '(network-wide)'
  return `  ${name}  ${topic.topic}  mesh ${topic.meshPeers}, subscribers ${topic.subscribers}\n`
}

/** `topics [list]`, `topics subscribe <name>`, `topics unsubscribe <name>`. */
export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const [action = 'list', name] = args.positionals
  if (!(TOPIC_ACTIONS as readonly string[]).includes(action)) {
    throw new UsageError(
      `unknown action ${JSON.stringify(action)}: must be one of ${TOPIC_ACTIONS.join(', ')}`,
      'topics',
    )
  }
  const client = clientFrom(args, io)
  if (action === 'list') {
    if (name != null) throw new UsageError('topics list takes no group name', 'topics')
    const { topics } = await client.topics()
    if (wantsJson(args)) printJson(io, { topics })
    else {
      io.stdout.write(`${topics.length} topic${topics.length === 1 ? '' : 's'}:\n`)
      for (const topic of topics) io.stdout.write(describeTopic(topic))
    }
    return EXIT_OK
  }
  if (name == null) throw new UsageError(`topics ${action} needs a group name`, 'topics')
  let group: string
  try {
    group = parseGroupName(name)
  } catch (err) {
    throw new UsageError((err as Error).message, 'topics')
  }
  if (action === 'subscribe') {
    const result = await client.subscribeTopic(group)
    if (wantsJson(args)) printJson(io, result)
    else io.stdout.write(`${result.subscribed ? 'subscribed to' : 'already subscribed to'} ${result.topic}\n`)
    return EXIT_OK
  }
  const result = await client.unsubscribeTopic(group)
  if (wantsJson(args)) printJson(io, result)
  else io.stdout.write(`unsubscribed from group ${result.group}\n`)
  return EXIT_OK
}
