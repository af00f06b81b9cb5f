/** Test helpers: the shared daemon harness of `src/testing.ts`, for this package's tests. */
import { routingTableEvents } from '@nsn/core/testing'
import { type ApiBackend, createNsnNode, type NsnNode, type NsnNodeInit, silentLogger } from '../src/index.js'
import { type TempDirs, waitFor } from '../src/testing.js'

export * from '../src/testing.js'

/**
 * A local-profile node for API tests: its API on a free 127.0.0.1 port, no metrics
 * server, no scheduled refresh, no process metrics, silent; `init` overrides.
 */
export async function apiTestNode(dirs: TempDirs, init: NsnNodeInit = {}): Promise<NsnNode> {
  return createNsnNode({
    profile: 'local',
    api: '127.0.0.1:0',
    metrics: null,
    dataDir: await dirs.make(),
    refreshInterval: 0,
    processMetrics: false,
    logger: silentLogger(),
    ...init,
  })
}

/** `host:port` of a node's API. */
export const apiAddr = (n: NsnNode): string => `${n.apiAddress.host}:${n.apiAddress.port}`

/**
 * Three nodes made by `make`, the second and third bootstrapped through the first,
 * once each routing table holds the other two.
 */
export async function threeNodes(
  make: (init?: NsnNodeInit) => Promise<NsnNode>,
): Promise<[NsnNode, NsnNode, NsnNode]> {
  const a = await make()
  const seed = a.id().addrs[0] as string
  const nodes: [NsnNode, NsnNode, NsnNode] = [
    a,
    await make({ bootstrap: [seed] }),
    await make({ bootstrap: [seed] }),
  ]
  await waitFor(() => nodes.every((n) => n.routing.routingTableSize() === 2), {
    on: nodes.map((n) => routingTableEvents(n.libp2p)),
    what: 'full routing tables',
  })
  return nodes
}

/**
 * An API backend for tests of the HTTP layer alone: running, and every call throws
 * (`error`, default "not in this test") but those given in `calls`.
 */
export function stubBackend(calls: Partial<ApiBackend> = {}, error = 'not in this test'): ApiBackend {
  const fail = (): never => {
    throw new Error(error)
  }
  return {
    state: 'running',
    id: fail,
    peers: fail,
    shards: fail,
    provide: fail,
    stopProviding: fail,
    findProviders: fail,
    closestPeers: fail,
    bootstrap: fail,
    refresh: fail,
    stats: fail,
    ...calls,
  }
}
