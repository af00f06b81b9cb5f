// Child process of attacks.mjs: ONE victim node, NSN or plain kad-dht, built by the bench
// node builder (lib/nodes.mjs: the same host, only the DHT service swapped), alone in its
// process so that its heap and CPU are its own and a crash (OOM, an uncaught error) ends
// this process, not the bench. Nothing here catches uncaught errors: a crash is a figure.
//
//   node --expose-gc attack-victim.mjs <nsn|plain> <label>
//
// It sends { ready: { addr, peerId } } over IPC, then answers requests { id, cmd, args }
// with { id, result } or { id, error }:
//   cpu                      process CPU (user + system) in ms, now
//   stats                    heap/arrayBuffers/rss after two GCs, CPU, provider records stored for
//                            others (datastore), peer-store addresses, and for NSN the inbound
//                            guard's handled requests and rejections by reason (its observer)
//   bootstrap { addrs }      joins a network through these multiaddrs
//   table                    routing-table size
//   stop                     stops the node and exits

import { multiaddr } from '@multiformats/multiaddr'
import { NSN_DHT_PROTOCOL, parseProviderRecordKey } from '@nsn/core'
import { MemoryDatastore } from 'datastore-core'
import { benchKey, createBenchNode } from './lib/nodes.mjs'
import { gcMemory } from './lib/stats.mjs'

const [impl, label = 'attacks'] = process.argv.slice(2)
const PROVIDER_PREFIX = '/dht/provider' // kad-dht's default datastore prefix, both implementations

const handled = {}
const rejected = {}
const bump = (counts, key) => {
  counts[key] = (counts[key] ?? 0) + 1
}
const datastore = new MemoryDatastore()
const node = await createBenchNode(impl, {
  privateKey: await benchKey(label, 0),
  datastore,
  // plain kad-dht on the NSN protocol, so the same attacker bytes reach both
  dht: { protocol: NSN_DHT_PROTOCOL },
  routing: {
    observer: {
      inboundRequestHandled: (event) => bump(handled, event.type),
      inboundRejected: (event) => bump(rejected, event.reason),
    },
  },
})

const cpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}

async function storedRecords() {
  let records = 0
  const providers = new Set()
  for await (const key of datastore.queryKeys({ prefix: `${PROVIDER_PREFIX}/` })) {
    const record = parseProviderRecordKey(PROVIDER_PREFIX, key)
    if (record == null || record.provider === node.peerId.toString()) continue
    records++
    providers.add(record.provider)
  }
  return { records, providers: providers.size }
}

async function peerStoreAddresses() {
  let peers = 0
  let addresses = 0
  for (const peer of await node.libp2p.peerStore.all()) {
    peers++
    addresses += peer.addresses.length
  }
  return { peers, addresses }
}

const commands = {
  cpu: async () => cpuMs(),
  stats: async () => {
    const memory = gcMemory()
    return {
      ...memory,
      cpuMs: cpuMs(),
      ...(await storedRecords()),
      peerStore: await peerStoreAddresses(),
      handled: { ...handled },
      rejected: { ...rejected },
    }
  },
  bootstrap: async ({ addrs }) => {
    const result = await node.bootstrap(addrs.map((a) => multiaddr(a)))
    return { table: node.tableSize(), routingTableSize: result?.routingTableSize }
  },
  table: async () => node.tableSize(),
  stop: async () => {
    await node.stop()
    setImmediate(() => process.exit(0))
    return true
  },
}

process.on('message', async ({ id, cmd, args }) => {
  try {
    const result = await commands[cmd](args ?? {})
    process.send({ id, result })
  } catch (err) {
    process.send({ id, error: `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}` })
  }
})
process.on('disconnect', () => process.exit(0))
process.send({ ready: { addr: node.addr.toString(), peerId: node.peerId.toString(), pid: process.pid } })
