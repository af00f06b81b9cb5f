/**
 * kad-dht's `network.sendRequest` over warm streams (`stream-pool.ts`): the same events
 * (`DIAL_PEER`, `SEND_QUERY`, then `PEER_RESPONSE` or `QUERY_ERROR`), the request
 * written and its answer read by the answer guard (`answer-guard.ts`: its caps, and the
 * peers it kept announced as kad-dht announces them), on a stream taken from the pool
 * and given back after the answer. A reused stream that turns out closed by the remote
 * (its idle timeout) before any answer is replaced by a new one, once.
 *
 * Only the requests NSN sends on its lookups and refreshes (FIND_NODE, GET_PROVIDERS,
 * PING) go through the pool; any other type goes to kad-dht's own `sendRequest`.
 *
 * @packageDocumentation
 */

import type { AbortOptions, PeerId, PeerInfo } from '@libp2p/interface'
import { MessageType, type QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromMultihash } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import * as Digest from 'multiformats/hashes/digest'
import type { AnswerGuard } from './answer-guard.js'
import { AnswerRejectedError } from './errors.js'
import type { KadMessage } from './kad-message.js'
import type { SendRequest } from './request-timeouts.js'
import type { DhtStreamPool, StreamLease } from './stream-pool.js'

const POOLED = new Set<MessageType>([MessageType.FIND_NODE, MessageType.GET_PROVIDERS, MessageType.PING])

type KadPeer = KadMessage['closer'][number]

function toPeerInfo(peer: KadPeer): PeerInfo {
  return {
    id: peerIdFromMultihash(Digest.decode(peer.id)),
    multiaddrs: (peer.multiaddrs ?? []).map((bytes) => multiaddr(bytes)),
  }
}

/** What the pooled requests use. */
export interface PooledRequestsComponents {
  pool: DhtStreamPool
  answerGuard: AnswerGuard
  /** kad-dht's own `sendRequest` (types the pool does not carry). */
  fallback: SendRequest
  /** False once kad-dht's network stopped: requests end at once, as kad-dht's do. */
  running(): boolean
}

/** Writes `msg` on a leased stream and reads its answer (the guard's caps apply). */
export function exchange(
  guard: AnswerGuard,
  lease: StreamLease,
  msg: Partial<KadMessage>,
  options: AbortOptions,
): Promise<KadMessage> {
  return guard.writeRead(lease.stream, msg, options, lease.reader)
}

/** kad-dht's `sendRequest` over the pool: see the module docs. */
export function pooledSendRequest(components: PooledRequestsComponents): SendRequest {
  const { pool, answerGuard, fallback } = components
  return async function* pooled(
    to: PeerId,
    msg: unknown,
    options: AbortOptions = {},
  ): AsyncGenerator<QueryEvent> {
    const request = msg as Partial<KadMessage>
    const type = request.type as MessageType
    if (!POOLED.has(type)) {
      yield* fallback(to, msg, options)
      return
    }
    if (!components.running()) return
    const path = (options as { path?: unknown }).path
    yield { name: 'DIAL_PEER', type: 7, peer: to, path } as unknown as QueryEvent
    yield {
      name: 'SEND_QUERY',
      type: 0,
      to,
      messageName: type,
      messageType: type,
      path,
    } as unknown as QueryEvent
    let answer: KadMessage
    try {
      // a rejected answer is the peer's fault, not the stream's: no second try
      answer = await pool.run(
        to,
        options,
        (lease) => exchange(answerGuard, lease, request, options),
        (err) => !(err instanceof AnswerRejectedError),
      )
    } catch (err) {
      yield { name: 'QUERY_ERROR', type: 3, from: to, error: err, path } as unknown as QueryEvent
      return
    }
    yield {
      name: 'PEER_RESPONSE',
      type: 1,
      from: to,
      messageType: answer.type,
      messageName: answer.type,
      closer: answer.closer.map(toPeerInfo),
      providers: answer.providers.map(toPeerInfo),
      record: undefined,
      path,
    } as unknown as QueryEvent
  }
}
