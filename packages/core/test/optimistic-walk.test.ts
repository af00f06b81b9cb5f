import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import type { QueryEvent } from '@libp2p/kad-dht'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { beforeAll, describe, expect, it } from 'vitest'
import { optimisticWalk } from '../src/index.js'

let peers: PeerId[] = []
beforeAll(async () => {
  peers = await Promise.all(
    Array.from({ length: 6 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))),
  )
})

describe('optimisticWalk seeds (the routing table before the lookup)', () => {
  it('sends the record to table peers below the send threshold before the lookup answers, and not to the others', async () => {
    const [self, near1, near2, far, answerer] = peers as [PeerId, PeerId, PeerId, PeerId, PeerId]
    // normalised distances: with N = 100 the send threshold is 14.5 / 100 = 0.145
    const distance = new Map([
      [near1.toString(), 0.01],
      [near2.toString(), 0.05],
      [far.toString(), 0.6],
      [answerer.toString(), 0.3],
    ])
    const order: string[] = []
    const result = await optimisticWalk(
      {
        self,
        seeds: [near1, far, near2, self],
        walk: async function* (): AsyncGenerator<QueryEvent> {
          order.push('walk answered')
          yield { name: 'PEER_RESPONSE', from: answerer, closer: [] } as unknown as QueryEvent
        },
        distanceTo: async (peer) => distance.get(peer.toString()) ?? 0.9,
        send: async (peer) => {
          order.push(
            `send ${peer === near1 ? 'near1' : peer === near2 ? 'near2' : peer === far ? 'far' : 'answerer'}`,
          )
          return { peer, sent: true, confirmed: true }
        },
      },
      { networkSize: 100, k: 4, returnConfirmations: 2 },
      new AbortController().signal,
    )
    expect(order.slice(0, 3)).toEqual(['send near1', 'send near2', 'walk answered'])
    expect(result.early).toBe(2)
    // the walk ran to its end without finals: the closest known get the record after it
    expect(result.sentTo).toBeGreaterThanOrEqual(2)
    expect(result.confirmed).toBeGreaterThanOrEqual(2)
  })

  it('ends the lookup once the early sends reach the return quorum, without waiting for its slow peers', async () => {
    const [self, near1, near2, near3, far] = peers as [PeerId, PeerId, PeerId, PeerId, PeerId]
    const distance = new Map([
      [near1.toString(), 0.01],
      [near2.toString(), 0.02],
      [near3.toString(), 0.03],
      [far.toString(), 0.6],
    ])
    let walkAborted = false
    const sent: PeerId[] = []
    const result = await optimisticWalk(
      {
        self,
        seeds: [near1, near2, near3, far],
        // a lookup whose slowest peers never answer: it would run to the query deadline
        walk: async function* (walkSignal): AsyncGenerator<QueryEvent> {
          if (!walkSignal.aborted)
            await new Promise<void>((resolve) => walkSignal.addEventListener('abort', () => resolve()))
          walkAborted = true
          throw walkSignal.reason
        },
        distanceTo: async (peer) => distance.get(peer.toString()) ?? 0.9,
        send: async (peer) => {
          sent.push(peer)
          return { peer, sent: true, confirmed: true }
        },
      },
      { networkSize: 100, k: 4, returnConfirmations: 3 },
      new AbortController().signal,
    )
    expect(walkAborted).toBe(true)
    expect(result.stoppedEarly).toBe(true)
    expect(result.early).toBe(3)
    expect(result.confirmed).toBeGreaterThanOrEqual(3)
    // the k closest known got the record after the stop, the far seed among them (k = 4)
    expect(sent.map(String).sort()).toEqual([near1, near2, near3, far].map(String).sort())
  })

  it('sends to every seed at once when the table holds nearly the whole network (seedsComplete)', async () => {
    const [self, a, b, c] = peers as [PeerId, PeerId, PeerId, PeerId]
    const order: string[] = []
    const result = await optimisticWalk(
      {
        self,
        seeds: [a, b, c],
        seedsComplete: true,
        walk: async function* (): AsyncGenerator<QueryEvent> {
          order.push('walk')
          yield* [] // a lookup that learnt nothing
        },
        // far above the send threshold (14.5 / 100): sent anyway, the table is the network
        distanceTo: async () => 0.6,
        send: async (peer) => {
          order.push(`send ${peer === a ? 'a' : peer === b ? 'b' : 'c'}`)
          return { peer, sent: true, confirmed: true }
        },
      },
      { networkSize: 100, k: 3, returnConfirmations: 3 },
      new AbortController().signal,
    )
    expect(order.slice(0, 3)).toEqual(['send a', 'send b', 'send c'])
    expect(result.early).toBe(3)
  })
})
