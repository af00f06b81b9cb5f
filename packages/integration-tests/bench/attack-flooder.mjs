// Child process of attacks.mjs: the query-flood attacker, in its own process so that its
// CPU is not the honest nodes' (on a real network it sits on another machine). A host
// without a DHT (@nsn/core/testing) writes FIND_NODE and GET_PROVIDERS requests for random
// keys to the victim, pipelined on a few streams, at `rate` requests per second (0: as fast
// as the streams take them), and opens a new stream whenever the victim resets one.
//
// IPC: { cmd: 'start', addr, rate, streams } then { cmd: 'stop' }, answered with
// { sent, answers, streamsOpened, resets, seconds, cpuMs } (cpuMs: its own CPU meanwhile).
import { randomBytes } from 'node:crypto'
import { MessageType } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { NSN_DHT_PROTOCOL, parseShardKey } from '@nsn/core'
import { createHostWithoutDht } from '@nsn/core/testing'
import { concat, framed, readFrames } from './lib/attack-kit.mjs'
import { settle } from './lib/stats.mjs'

const host = await createHostWithoutDht()
let running = false
const stats = { sent: 0, answers: 0, streamsOpened: 0, resets: 0, seconds: 0 }

function requestBytes(count) {
  const parts = []
  for (let i = 0; i < count; i++) {
    const key = parseShardKey(randomBytes(32)).cid.multihash.bytes
    parts.push(
      framed({ type: (stats.sent + i) % 2 === 0 ? MessageType.FIND_NODE : MessageType.GET_PROVIDERS, key }),
    )
  }
  return concat(parts)
}

/** One stream after another: writes its share of requests (per second) until stopped. */
async function streamLoop(addr, share, started) {
  let mine = 0
  while (running) {
    let stream
    try {
      stream = await host.dialProtocol(addr, NSN_DHT_PROTOCOL)
    } catch {
      await settle(10)
      continue
    }
    stats.streamsOpened++
    const reading = readFrames(stream, () => stats.answers++).then((outcome) => {
      if (outcome.end === 'reset') stats.resets++
    })
    while (running && stream.writeStatus === 'writable') {
      // paced: what is due by now (a stream reset does not turn into a burst: at most 64 at once)
      const due =
        share > 0 ? Math.min(64, Math.floor((share * (performance.now() - started)) / 1000) - mine) : 16
      if (due <= 0) {
        await settle(5)
        continue
      }
      try {
        if (!stream.send(requestBytes(due))) await stream.onDrain()
      } catch {
        break
      }
      stats.sent += due
      mine += due
      if (share === 0) await settle(0)
    }
    stream.abort(new Error('flooder: next stream'))
    await reading
  }
}

let loops = []
let started = 0
let cpuAtStart
process.on('message', async ({ cmd, addr, rate = 300, streams = 4 }) => {
  if (cmd === 'start') {
    running = true
    started = performance.now()
    cpuAtStart = process.cpuUsage()
    const share = rate > 0 ? rate / streams : 0
    loops = Array.from({ length: streams }, () => streamLoop(multiaddr(addr), share, started))
    process.send({ started: true })
  } else if (cmd === 'stop') {
    running = false
    await Promise.allSettled(loops)
    stats.seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuAtStart)
    process.send({ ...stats, cpuMs: (cpu.user + cpu.system) / 1000 })
  }
})
process.on('disconnect', async () => {
  running = false
  await host.stop()
  process.exit(0)
})
process.send({ ready: true })
