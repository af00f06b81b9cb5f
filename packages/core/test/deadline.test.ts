import type { Stream } from '@libp2p/interface'
import { afterEach, describe, expect, it } from 'vitest'
import {
  NoKnownPeersError,
  NoPeerAnsweredError,
  NSN_DHT_PROTOCOL,
  parseShardKey,
  QUERY_TIMEOUT,
  QueryTimeoutError,
} from '../src/index.js'
import {
  createNodeWithOnlyPeer,
  createSilentPeer,
  createTestNode,
  expectNever,
  QUIET_SELF_QUERY,
  type SilentPeer,
  silentPeerEvents,
  type TestNode,
  waitFor,
} from '../src/testing.js'

const SHARD = parseShardKey('cd'.repeat(32))

/**
 * The deadline of these tests, shrunk through `nsnKadDHT({ queryTimeout })`; the real
 * 10 s default is waited out once, end to end, in integration-tests' deadline scenario.
 */
const DEADLINE = 2_000

function openDhtStreams(node: TestNode): Stream[] {
  return node.libp2p
    .getConnections()
    .flatMap((c) => c.streams)
    .filter((s) => s.protocol === NSN_DHT_PROTOCOL && s.direction === 'outbound' && s.status === 'open')
}

/**
 * A node whose only peer is `silent`, with kad-dht's own self-query kept out of the way so
 * that only the query under test talks to the peer. The peer's request timeout
 * (`requestTimeouts`, 2 s by default for an unknown peer) is set past the deadline: these
 * tests are about the deadline; a request timeout before it ends such a lookup sooner
 * with `NoPeerAnsweredError` (test/silent-peer.test.ts).
 */
function nodeWithOnlyPeer(silent: SilentPeer): Promise<TestNode> {
  return createNodeWithOnlyPeer(silent, {
    dht: { queryTimeout: DEADLINE, ...QUIET_SELF_QUERY, requestTimeouts: { unknownPeer: 2 * DEADLINE } },
  })
}

describe('the query deadline', () => {
  let node: TestNode | undefined
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await node?.stop()
    await silent?.stop()
    node = undefined
    silent = undefined
  })

  it('fails a lookup against a peer that never answers at its deadline with DHT query timeout, and stops sending', async () => {
    silent = await createSilentPeer()
    node = await nodeWithOnlyPeer(silent)
    const n = node
    expect(QUERY_TIMEOUT).toBe(10_000)
    expect(n.routing.queryTimeout).toBe(DEADLINE)

    const started = performance.now()
    const error = await n.routing.findProviders(SHARD).then(
      () => undefined,
      (err: unknown) => err,
    )
    const elapsed = performance.now() - started

    expect(error).toBeInstanceOf(QueryTimeoutError)
    expect((error as Error).message).toBe('DHT query timeout')
    expect((error as QueryTimeoutError).code).toBe('ERR_QUERY_TIMEOUT')
    expect(elapsed).toBeGreaterThanOrEqual(0.9 * DEADLINE)
    expect(elapsed).toBeLessThanOrEqual(1.1 * DEADLINE)

    // the query's requests were aborted on the wire: nothing of it is left open,
    // and the silent peer receives nothing more for it
    const streamsAtError = silent.streams.length
    await waitFor(() => openDhtStreams(n).length === 0, {
      on: openDhtStreams(n).map((stream) => ({ target: stream, events: ['close'] })),
      timeoutMs: 500,
      what: 'outbound DHT streams to close',
    })
    await expectNever(() => silent!.streams.length > streamsAtError, {
      forMs: 300,
      on: silentPeerEvents(silent),
      what: 'a new DHT stream at the silent peer',
    })
    expect(silent.streams.length).toBe(streamsAtError)
    expect(openDhtStreams(n)).toEqual([])
  })
})

describe('queries that cannot be answered', () => {
  let node: TestNode | undefined
  let silent: SilentPeer | undefined
  afterEach(async () => {
    await node?.stop()
    await silent?.stop()
    node = undefined
    silent = undefined
  })

  it('fail at once with NoKnownPeersError on an empty routing table', async () => {
    node = await createTestNode()
    const started = performance.now()
    await expect(node.routing.findProviders(SHARD)).rejects.toBeInstanceOf(NoKnownPeersError)
    await expect(node.routing.closestPeers(SHARD)).rejects.toMatchObject({ code: 'ERR_NO_KNOWN_PEERS' })
    // kad-dht's own API does not wait for a peer to appear either (allowQueryWithZeroPeers):
    // it ends at once, having asked nobody and found nothing
    const events = await collect(node.libp2p.services.dht.findProviders(SHARD.cid))
    expect(events.filter((e) => e.name === 'SEND_QUERY' || e.name === 'PROVIDER')).toEqual([])
    expect(performance.now() - started).toBeLessThan(1_000)
  })

  it('fail with NoPeerAnsweredError, not "not found", when every contacted peer fails sooner', async () => {
    silent = await createSilentPeer({ reset: true })
    node = await nodeWithOnlyPeer(silent)
    const n = node
    const error = await n.routing.findProviders(SHARD).catch((err: unknown) => err)
    expect(error).toBeInstanceOf(NoPeerAnsweredError)
    expect((error as NoPeerAnsweredError).code).toBe('ERR_NO_PEER_ANSWERED')
  })

  it('bounds kad-dht background work too: a raw lookup ends at the deadline, a refresh at one per bucket', async () => {
    silent = await createSilentPeer()
    node = await nodeWithOnlyPeer(silent)
    const n = node
    const started = performance.now()
    const rawEnded = drain(n.libp2p.services.dht.getClosestPeers(SHARD.multihash)).then(
      () => undefined,
      (err: unknown) => ({ err, elapsed: performance.now() - started }),
    )
    const refresh = await n.routing.refresh()
    const elapsed = performance.now() - started
    const raw = await rawEnded
    expect(raw?.err).toBeInstanceOf(QueryTimeoutError)
    expect(raw?.elapsed).toBeGreaterThanOrEqual(0.9 * DEADLINE)
    expect(raw?.elapsed).toBeLessThanOrEqual(1.1 * DEADLINE)
    // the refresh's bucket lookups run one after another, each under its own deadline,
    // and each failure is reported (the refresh as a whole has REFRESH_TIMEOUT)
    expect(refresh.lookups).toBeGreaterThan(0)
    expect(refresh.failedLookups).toBe(refresh.lookups)
    for (const err of refresh.errors) expect(err).toBeInstanceOf(QueryTimeoutError)
    expect(elapsed).toBeGreaterThanOrEqual(0.9 * DEADLINE * refresh.lookups)
    expect(elapsed).toBeLessThanOrEqual(1.1 * DEADLINE * refresh.lookups + 500)
  })
})

async function drain(source: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of source) {
    // consume
  }
}

async function collect<T>(source: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of source) out.push(item)
  return out
}
