// Helpers of the attack benchmark (attacks.mjs): victims in child processes, and the
// attacker's side of the wire (raw DHT streams from hosts without a DHT, @nsn/core/testing).
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { multiaddr } from '@multiformats/multiaddr'
import { decodeKadMessage, encodeKadMessage, frame, NSN_DHT_PROTOCOL } from '@nsn/core'
import { settle } from './stats.mjs'

const VICTIM_SCRIPT = fileURLToPath(new URL('../attack-victim.mjs', import.meta.url))

/**
 * Starts a victim (attack-victim.mjs) in a child process of this Node binary. `call(cmd,
 * args, timeoutMs)` asks it something; `exited` is set when it ends (code, signal, and
 * the last lines of its stderr: an OOM or uncaught error shows there).
 */
export async function startVictim(impl, label, { maxOldSpaceMiB = 4096 } = {}) {
  const child = fork(VICTIM_SCRIPT, [impl, label], {
    execArgv: ['--expose-gc', `--max-old-space-size=${maxOldSpaceMiB}`],
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  })
  let stderr = ''
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk.toString()).slice(-4000)
  })
  const pending = new Map()
  let nextId = 0
  const victim = {
    impl,
    child,
    exited: undefined,
    addr: undefined,
    peerId: undefined,
    alive: () => victim.exited == null,
    call(cmd, args = {}, timeoutMs = 60_000) {
      if (victim.exited != null)
        return Promise.reject(new Error(`victim exited (${describeExit(victim.exited)})`))
      const id = nextId++
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new VictimTimeoutError(`victim did not answer "${cmd}" within ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, { resolve, reject, timer })
        child.send({ id, cmd, args })
      })
    },
    async stop() {
      if (victim.exited != null) return
      await victim.call('stop', {}, 10_000).catch(() => undefined)
      await Promise.race([exited, settle(5_000)])
      if (victim.exited == null) child.kill('SIGKILL')
    },
  }
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      victim.exited = { code, signal, stderr: stderr.trim().split('\n').slice(-6).join('\n') }
      for (const { reject, timer } of pending.values()) {
        clearTimeout(timer)
        reject(new Error(`victim exited (${describeExit(victim.exited)})`))
      }
      pending.clear()
      resolve()
    })
  })
  const ready = new Promise((resolve, reject) => {
    child.on('message', (message) => {
      if (message.ready != null) return resolve(message.ready)
      const waiter = pending.get(message.id)
      if (waiter == null) return
      pending.delete(message.id)
      clearTimeout(waiter.timer)
      if (message.error != null) waiter.reject(new Error(message.error))
      else waiter.resolve(message.result)
    })
    exited.then(() => reject(new Error(`victim exited before it was ready (${describeExit(victim.exited)})`)))
  })
  const info = await ready
  victim.addr = multiaddr(info.addr)
  victim.peerId = info.peerId
  return victim
}

export class VictimTimeoutError extends Error {
  name = 'VictimTimeoutError'
}

export function describeExit(exit) {
  if (exit == null) return 'alive'
  const last = exit.stderr?.split('\n').find((line) => /Error|heap|FATAL|Abort/i.test(line))
  return `${exit.signal ?? `code ${exit.code}`}${last == null ? '' : `: ${last.trim().slice(0, 160)}`}`
}

/**
 * Victim CPU once it is idle again: polls its CPU every `stepMs` until one step adds less
 * than `idleMs` (its own polling costs ~0.1 ms), or `timeoutMs` passes (then `busy: true`).
 */
export async function victimCpuWhenIdle(victim, { stepMs = 100, idleMs = 1, timeoutMs = 30_000 } = {}) {
  const start = performance.now()
  let last = await victim.call('cpu', {}, timeoutMs)
  for (;;) {
    await settle(stepMs)
    const left = timeoutMs - (performance.now() - start)
    if (left <= 0) return { cpuMs: last, busy: true }
    const now = await victim.call('cpu', {}, Math.max(1, left))
    if (now - last < idleMs) return { cpuMs: now, busy: false }
    last = now
  }
}

// ---- the wire

/** Concatenates byte arrays. */
export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

/** One framed Kademlia message (kad-message codec of @nsn/core). */
export function framed(message) {
  return frame(encodeKadMessage({ closer: [], providers: [], ...message }))
}

/**
 * Splits length-prefixed frames out of a stream's chunks as they arrive; `onFrame(body)`
 * per complete frame. Returns the reader's end: `closed` or `reset` (with the error).
 */
export async function readFrames(stream, onFrame = () => undefined) {
  let buffer = new Uint8Array(0)
  try {
    for await (const chunk of stream) {
      const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
      buffer = buffer.byteLength === 0 ? bytes : concat([buffer, bytes])
      for (;;) {
        let length = 0
        let i = 0
        while (i < buffer.byteLength && i < 8 && (buffer[i] & 0x80) !== 0) {
          length += (buffer[i] & 0x7f) * 2 ** (7 * i)
          i++
        }
        if (i >= buffer.byteLength) break
        length += buffer[i] * 2 ** (7 * i)
        if (buffer.byteLength < i + 1 + length) break
        onFrame(buffer.subarray(i + 1, i + 1 + length))
        buffer = buffer.subarray(i + 1 + length)
      }
    }
    return { end: 'closed' }
  } catch (err) {
    return { end: 'reset', error: err }
  }
}

/** Writes `bytes` respecting backpressure; false when the stream stopped being writable. */
export async function write(stream, bytes, { chunk = 64 * 1024 } = {}) {
  for (let at = 0; at < bytes.byteLength; at += chunk) {
    if (stream.writeStatus !== 'writable') return false
    try {
      if (!stream.send(bytes.subarray(at, at + chunk))) await stream.onDrain()
    } catch {
      return false
    }
  }
  return true
}

/**
 * Opens a DHT stream from `host` to `addr`, writes `bytes`, ends the writing side and
 * reads until the victim closes or resets the stream (or `timeoutMs`, then it is aborted).
 */
export async function sendOnStream(host, addr, bytes, { timeoutMs = 30_000 } = {}) {
  const started = performance.now()
  const stream = await host.dialProtocol(addr, NSN_DHT_PROTOCOL)
  let answers = 0
  const reading = readFrames(stream, () => answers++)
  const written = await write(stream, bytes)
  if (written) await stream.close().catch(() => undefined)
  let timer
  const timedOut = new Promise((resolve) => {
    timer = setTimeout(() => resolve({ end: 'timeout' }), timeoutMs)
  })
  const outcome = await Promise.race([reading, timedOut])
  clearTimeout(timer)
  if (outcome.end === 'timeout') stream.abort(new Error('attack bench: stream timeout'))
  return { end: outcome.end, written, answers, ms: performance.now() - started }
}

/** One request on a new stream; its decoded answer, or throws (reset, timeout, no answer). */
export async function request(host, addr, message, { timeoutMs = 5_000 } = {}) {
  const signal = AbortSignal.timeout(timeoutMs)
  const stream = await host.dialProtocol(addr, NSN_DHT_PROTOCOL, { signal })
  let answer
  const reading = readFrames(stream, (body) => {
    answer ??= decodeKadMessage(body)
    stream.close().catch(() => undefined)
  })
  await write(stream, framed(message))
  const onAbort = () => stream.abort(new Error(`no answer within ${timeoutMs} ms`))
  signal.addEventListener('abort', onAbort)
  const outcome = await reading
  signal.removeEventListener('abort', onAbort)
  if (answer == null) throw outcome.error ?? new Error('stream ended without an answer')
  return answer
}
