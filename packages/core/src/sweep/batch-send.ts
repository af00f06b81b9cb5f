/**
 * Batched provider records: one peer's ADD_PROVIDER messages written back to back on one
 * stream, then a GET_PROVIDERS for the last key on the same stream. The receiver handles
 * a stream's messages in order (NSN's inbound guard awaits kad-dht's handler for each
 * before it reads the next, as kad-dht's own `onIncomingStream` does), so an answer
 * listing this node confirms that every ADD_PROVIDER before it was handled.
 *
 * A peer's inbound guard rate-limits its requests (100 a second, bursts of 512 by
 * default), so a long batch is cut into chunks of at most `maxMessagesPerStream`
 * messages, one stream each, paced at `messagesPerSecond` to that peer.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import type { AnswerGuard } from '../answer-guard.js'
import { listsProvider } from '../confirmed-provide.js'
import { encodeKadMessage, frame, type KadMessage } from '../kad-message.js'

/** What {@link sendRecordBatch} uses. */
export interface BatchSendComponents {
  /** Opens a stream to `peer` on the DHT protocol, in the DHT's stream slots. */
  openDhtStream(peer: PeerId, options: AbortOptions): Promise<Stream>
  answerGuard: Pick<AnswerGuard, 'writeRead'>
  /** Waits `ms` (or rejects when `signal` aborts); injectable for tests. */
  sleep?(ms: number, signal: AbortSignal): Promise<void>
}

export interface BatchSendOptions {
  /** ADD_PROVIDER messages on one stream at most. */
  maxMessagesPerStream: number
  /** Messages a second sent to one peer at most (after the first chunk). */
  messagesPerSecond: number
  /** Attempts of one chunk before the peer is given up for this batch. */
  attempts: number
}

/** The outcome of one peer's batch. */
export interface BatchSend {
  peer: PeerId
  /** ADD_PROVIDER messages written. */
  sent: number
  /** Keys whose chunk the peer confirmed. */
  confirmed: number
  /** Streams opened. */
  streams: number
  /** Chunk attempts that failed. */
  failures: number
  /** True when a chunk failed `attempts` times: the rest was not sent. */
  dropped: boolean
  /** The last error, when there was one. */
  error?: Error
  /** Per key (in input order): whether its chunk was confirmed. */
  confirmedKeys: boolean[]
}

/** The ADD_PROVIDER messages of `keys`, framed: encoded once per batch, shared by every peer. */
export function addProviderFrames(
  keys: readonly Uint8Array[],
  self: PeerId,
  addrs: readonly Uint8Array[],
): Uint8Array[] {
  const provider = { id: self.toMultihash().bytes, multiaddrs: [...addrs] }
  return keys.map((key) =>
    frame(
      encodeKadMessage({ type: MessageType.ADD_PROVIDER, key, providers: [provider] } as Partial<KadMessage>),
    ),
  )
}

const defaultSleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason)
      return
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal.reason)
    }
    signal.addEventListener('abort', onAbort, { once: true })
  })

async function sendChunk(
  components: BatchSendComponents,
  peer: PeerId,
  self: PeerId,
  keys: readonly Uint8Array[],
  frames: readonly Uint8Array[],
  signal: AbortSignal,
): Promise<{ sent: number; confirmed: boolean }> {
  let stream: Stream | undefined
  let sent = 0
  try {
    stream = await components.openDhtStream(peer, { signal })
    for (const bytes of frames) {
      if (!stream.send(bytes)) await stream.onDrain({ signal })
      sent++
    }
    const answer = await components.answerGuard.writeRead(
      stream,
      { type: MessageType.GET_PROVIDERS, key: keys[keys.length - 1] },
      { signal },
    )
    await stream.close({ signal }).catch((err: Error) => stream?.abort(err))
    return { sent, confirmed: listsProvider(answer, self) }
  } catch (err) {
    stream?.abort(err as Error)
    throw Object.assign(err as Error, { sentBeforeFailure: sent })
  }
}

/**
 * Sends `peer` the ADD_PROVIDER messages of `keys` (`frames[i]` is the framed message of
 * `keys[i]`) in chunks, each on one stream and confirmed by a GET_PROVIDERS for its last
 * key. A failed chunk is retried; after `attempts` failures in all the peer is dropped
 * (the rest is not sent). Never throws but for the signal's abort.
 */
export async function sendRecordBatch(
  components: BatchSendComponents,
  peer: PeerId,
  self: PeerId,
  keys: readonly Uint8Array[],
  frames: readonly Uint8Array[],
  options: BatchSendOptions,
  signal: AbortSignal,
): Promise<BatchSend> {
  const sleep = components.sleep ?? defaultSleep
  const result: BatchSend = {
    peer,
    sent: 0,
    confirmed: 0,
    streams: 0,
    failures: 0,
    dropped: false,
    confirmedKeys: new Array<boolean>(keys.length).fill(false),
  }
  const size = Math.max(1, options.maxMessagesPerStream)
  for (let start = 0; start < keys.length; ) {
    const end = Math.min(keys.length, start + size)
    if (start > 0 && Number.isFinite(options.messagesPerSecond)) {
      await sleep(((end - start + 1) / options.messagesPerSecond) * 1000, signal)
    }
    signal.throwIfAborted()
    result.streams++
    try {
      const chunk = await sendChunk(
        components,
        peer,
        self,
        keys.slice(start, end),
        frames.slice(start, end),
        signal,
      )
      result.sent += chunk.sent
      if (chunk.confirmed) {
        result.confirmed += end - start
        for (let i = start; i < end; i++) result.confirmedKeys[i] = true
      }
      start = end
    } catch (err) {
      signal.throwIfAborted()
      result.sent += (err as { sentBeforeFailure?: number }).sentBeforeFailure ?? 0
      result.failures++
      result.error = err as Error
      if (result.failures >= options.attempts) {
        result.dropped = true
        return result
      }
    }
  }
  return result
}
