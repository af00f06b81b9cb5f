/**
 * Confirmed stores of a provider record. ADD_PROVIDER has no reply in the Kademlia
 * protocol, so a record sent is not a record stored. But the receiver handles a stream's
 * messages in order (NSN's inbound guard awaits kad-dht's ADD_PROVIDER handler, which
 * writes the record, before it reads the next message): a GET_PROVIDERS for the same
 * key written after the ADD_PROVIDER on the same stream is answered after the store, and
 * an answer that lists this node confirms it. The answer is read by the answer guard
 * (its bounded frame reader, codec and caps), as every answer to this node's requests.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId, Stream } from '@libp2p/interface'
import { MessageType } from '@libp2p/kad-dht'
import type { Multiaddr } from '@multiformats/multiaddr'
import { equals as uint8ArrayEquals } from 'uint8arrays/equals'
import type { AnswerGuard } from './answer-guard.js'
import { AnswerRejectedError } from './errors.js'
import { encodeKadMessage, frame, type KadMessage } from './kad-message.js'
import type { DhtStreamPool } from './stream-pool.js'

/** What {@link sendConfirmedRecord} uses. */
export interface ConfirmedRecordComponents {
  /** Opens a stream to `peer` on the DHT protocol. */
  openDhtStream(peer: PeerId, options: AbortOptions): Promise<Stream>
  /** Reads answers to this node's requests: the bounded reader with the answer caps. */
  answerGuard: Pick<AnswerGuard, 'writeRead'>
  /**
   * The warm DHT streams (`stream-pool.ts`): when given, the record and its
   * confirmation go on a pooled stream (one round trip on an idle one) instead of a new
   * stream of `openDhtStream`.
   */
  pool?: Pick<DhtStreamPool, 'run'>
}

/** The outcome of one peer: the record was sent, and the peer confirmed it or not. */
export interface RecordSend {
  peer: PeerId
  /** True when the ADD_PROVIDER was written to the peer's stream. */
  sent: boolean
  /** True when the GET_PROVIDERS answer that followed it listed this node. */
  confirmed: boolean
  /** Why the send or the confirmation failed, when it did. */
  error?: Error
}

/**
 * The ADD_PROVIDER kad-dht's provide sends: this node as the provider of `key` (a
 * multihash), with its addresses.
 */
export function addProviderMessage(key: Uint8Array, self: PeerId, addrs: Multiaddr[]): Partial<KadMessage> {
  return {
    type: MessageType.ADD_PROVIDER,
    key,
    providers: [{ id: self.toMultihash().bytes, multiaddrs: addrs.map((addr) => addr.bytes) }],
  }
}

/** True when a GET_PROVIDERS answer lists `self` among the providers. */
export function listsProvider(answer: KadMessage, self: PeerId): boolean {
  const id = self.toMultihash().bytes
  return answer.providers.some((provider) => uint8ArrayEquals(provider.id, id))
}

/**
 * Sends `addProvider` to `peer` on one stream, then a GET_PROVIDERS for the same key,
 * and reads its answer. Never throws: a failure is in the result (`sent` false when the
 * ADD_PROVIDER could not be written, `confirmed` false when no answer listing this node
 * came back), so one peer cannot fail the others' publication.
 */
export async function sendConfirmedRecord(
  components: ConfirmedRecordComponents,
  peer: PeerId,
  self: PeerId,
  addProvider: Partial<KadMessage>,
  options: AbortOptions,
): Promise<RecordSend> {
  let sent = false
  if (components.pool != null) {
    try {
      const confirmed = await components.pool.run(
        peer,
        options,
        async (lease) => {
          sent = false
          if (!lease.stream.send(frame(encodeKadMessage(addProvider)))) await lease.stream.onDrain(options)
          sent = true
          const answer = await components.answerGuard.writeRead(
            lease.stream,
            { type: MessageType.GET_PROVIDERS, key: addProvider.key },
            options,
            lease.reader,
          )
          return listsProvider(answer, self)
        },
        (err) => !(err instanceof AnswerRejectedError),
      )
      return { peer, sent, confirmed }
    } catch (err) {
      return { peer, sent, confirmed: false, error: err as Error }
    }
  }
  let stream: Stream | undefined
  try {
    stream = await components.openDhtStream(peer, options)
    if (!stream.send(frame(encodeKadMessage(addProvider)))) await stream.onDrain(options)
    sent = true
    const answer = await components.answerGuard.writeRead(
      stream,
      { type: MessageType.GET_PROVIDERS, key: addProvider.key },
      options,
    )
    await stream.close(options).catch((err: Error) => stream?.abort(err))
    return { peer, sent, confirmed: listsProvider(answer, self) }
  } catch (err) {
    stream?.abort(err as Error)
    return { peer, sent, confirmed: false, error: err as Error }
  }
}

/** Runs `fn` over `items`, at most `concurrency` at once; resolves with the results in order. */
export async function mapBounded<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i] as T)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return results
}
