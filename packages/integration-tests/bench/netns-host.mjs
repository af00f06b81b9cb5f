// Child process of eclipse.mjs: ONE honest bench node, NSN or plain kad-dht 16.4.5, inside
// a network namespace (started with `ip netns exec`), built by the bench node builder
// (lib/nodes.mjs: the same host, only the DHT service swapped) WITHOUT the local profile:
// it listens on its namespace's address with createNsnHost's defaults, so NSN keeps its
// routing-table diversity filter and libp2p its 5 inbound connections per second per IP.
// Plain kad-dht speaks /nsn/kad/1.0.0, so the same Sybils reach both.
//
//   node netns-host.mjs <nsn|plain> <label> <index> <ip> [port]
//
// The identity is benchKey(label, index), so the bench knows every peer id in advance. It
// writes { ready: { peerId, addr } } as a JSON line on stdout, then reads requests
// { id, cmd, args } as JSON lines on stdin and answers { id, result } or { id, error } on
// stdout; diagnostics go to stderr. Commands:
//   bootstrap { addrs }             joins the network through these multiaddrs
//   table                           the peer ids in its routing table
//   provide { shard }               provides the shard (64 hex): NSN ShardRouting.provide
//                                   (its self-record, publish and confirmation), plain
//                                   kad-dht's provide drained to its end
//   find { shard, deadlineMs }      looks the shard's providers up, aborted at the deadline:
//                                   { providers: [peer ids], ms, error? }
//   refusals                        NSN: routing refusals by reason (diversity filter,
//                                   quarantine), from ShardRouting's observer; plain: {}
//   stop                            stops the node and exits (so do SIGTERM and stdin's end)
import { createInterface } from 'node:readline'
import { multiaddr } from '@multiformats/multiaddr'
import { NSN_DHT_PROTOCOL, parseShardKey, routingTableOf } from '@nsn/core'
import { benchKey, createBenchNode } from './lib/nodes.mjs'

const [impl, label, index, ip, port = '4001'] = process.argv.slice(2)
if (ip == null) {
  process.stderr.write('usage: node netns-host.mjs <nsn|plain> <label> <index> <ip> [port]\n')
  process.exit(64)
}

const refusals = {}
const node = await createBenchNode(impl, {
  privateKey: await benchKey(label, Number(index)),
  host: { listen: [`/ip4/${ip}/tcp/${port}`] },
  // plain kad-dht on the NSN protocol (nodes.mjs does not set it), so the Sybils speak to it
  dht: { protocol: NSN_DHT_PROTOCOL },
  routing: {
    observer: {
      routingRefused: (event) => {
        refusals[event.reason] = (refusals[event.reason] ?? 0) + 1
      },
    },
  },
})
const table = routingTableOf(node.dht)

let stopping
const stop = () => {
  stopping ??= node.stop().finally(() => setImmediate(() => process.exit(0)))
  return stopping
}
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())

const commands = {
  bootstrap: async ({ addrs }) => {
    await node.bootstrap(addrs.map((a) => multiaddr(a)))
    return { table: table.size }
  },
  table: async () => [...table.kb.toIterable()].map((c) => c.peerId.toString()),
  provide: async ({ shard }) => {
    const started = performance.now()
    const result = await node.provide(parseShardKey(shard))
    return { ms: performance.now() - started, ...result }
  },
  find: async ({ shard, deadlineMs }) => {
    const started = performance.now()
    try {
      const providers = await node.findProviders(parseShardKey(shard), {
        signal: AbortSignal.timeout(deadlineMs),
      })
      return { providers: providers.map((p) => p.toString()), ms: performance.now() - started }
    } catch (err) {
      return { providers: [], ms: performance.now() - started, error: err?.name ?? String(err) }
    }
  },
  refusals: async () => ({ ...refusals }),
  stop: async () => {
    void stop()
    return true
  },
}

const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`)
createInterface({ input: process.stdin }).on('line', async (line) => {
  let id
  try {
    const request = JSON.parse(line)
    id = request.id
    send({ id, result: await commands[request.cmd](request.args ?? {}) })
  } catch (err) {
    send({ id, error: `${err?.name ?? 'Error'}: ${err?.message ?? String(err)}` })
  }
})
process.stdin.once('end', () => void stop())
send({ ready: { peerId: node.peerId.toString(), addr: node.addr.toString() } })
