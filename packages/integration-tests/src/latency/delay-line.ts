/**
 * One direction of an emulated wide-area link: the chunks a connection writes are held
 * in a FIFO and handed to the real socket at `sent + oneWay`, in the order written (the
 * delay is the same for every chunk of a connection, so release times never decrease and
 * nothing is reordered). A graceful close (FIN) and a reset (RST) travel the same line,
 * behind the data written before them.
 *
 * @packageDocumentation
 */

/** What a libp2p `AbstractMultiaddrConnection` writes: a list of buffers. */
export interface ChunkList extends Iterable<Uint8Array> {
  readonly byteLength: number
}

/** The transport-facing writes of a connection that a delay line sits in front of. */
export interface LineSink {
  /** Writes the chunks to the socket (`sendData` of the connection). */
  write(chunks: ChunkList): void
  /** Closes the socket gracefully (`sendClose`). */
  close(options?: { signal?: AbortSignal }): Promise<void>
  /** Resets the socket (`sendReset`). */
  reset(err: Error): void
  /** Tells the writer it may write again after the line asked it to wait (`drain`). */
  drain(): void
}

type Entry =
  | { kind: 'data'; sentAt: number; chunks: Uint8Array[]; bytes: number }
  | { kind: 'close'; sentAt: number; done: () => void }
  | { kind: 'reset'; sentAt: number; err: Error }

/** Tolerance of the release timer, ms: a timer may fire this much before its due time. */
const EARLY_MS = 0.5

/** A FIFO that delays one direction of a connection by `oneWay` ms (see the module docs). */
export class DelayLine {
  readonly #sink: LineSink
  readonly #highWaterMark: number
  readonly #queue: Entry[] = []
  #oneWay: number | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #queuedBytes = 0
  #needsDrain = false
  #ended = false
  /** Chunks and bytes released to the socket so far. */
  released = { chunks: 0, bytes: 0 }

  /**
   * @param sink - the connection's own writes
   * @param oneWay - the one-way delay in ms, or undefined until {@link setOneWay} (writes wait)
   * @param highWaterMark - queued bytes above which `send` asks the writer to wait for `drain`
   */
  constructor(sink: LineSink, oneWay: number | undefined, highWaterMark: number) {
    this.#sink = sink
    this.#oneWay = oneWay
    this.#highWaterMark = highWaterMark
  }

  /** The one-way delay in ms, once known. */
  get oneWay(): number | undefined {
    return this.#oneWay
  }

  /** Bytes written and not yet released. */
  get queuedBytes(): number {
    return this.#queuedBytes
  }

  /** Sets the delay of a line created without one; chunks already queued are released at `sent + oneWay`. */
  setOneWay(oneWay: number): void {
    if (this.#oneWay != null) return
    this.#oneWay = oneWay
    this.#schedule()
  }

  /** Queues chunks (copied: the writer may reuse its buffers); the `sendData` contract's answer. */
  send(chunks: ChunkList): { sentBytes: number; canSendMore: boolean } {
    const copies: Uint8Array[] = []
    for (const chunk of chunks) copies.push(Uint8Array.prototype.slice.call(chunk))
    const bytes = chunks.byteLength
    if (!this.#ended) {
      this.#queue.push({ kind: 'data', sentAt: performance.now(), chunks: copies, bytes })
      this.#queuedBytes += bytes
      this.#schedule()
    }
    const canSendMore = this.#queuedBytes < this.#highWaterMark
    if (!canSendMore) this.#needsDrain = true
    return { sentBytes: bytes, canSendMore }
  }

  /** A graceful close behind the queued data: resolves once the FIN has been handed to the socket. */
  async close(options?: { signal?: AbortSignal }): Promise<void> {
    if (!this.#ended) {
      await new Promise<void>((done) => {
        this.#queue.push({ kind: 'close', sentAt: performance.now(), done })
        this.#schedule()
      })
    }
    await this.#sink.close(options)
  }

  /** A reset behind the queued data. */
  reset(err: Error): void {
    if (this.#ended) {
      this.#sink.reset(err)
      return
    }
    this.#queue.push({ kind: 'reset', sentAt: performance.now(), err })
    // a line still waiting for its delay has nobody to wait for: reset now
    if (this.#oneWay == null) this.setOneWay(0)
    this.#schedule()
  }

  /** The connection is gone (closed or aborted by either end): drops what is queued, settles pending closes. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    if (this.#timer != null) clearTimeout(this.#timer)
    this.#timer = undefined
    for (const entry of this.#queue.splice(0)) if (entry.kind === 'close') entry.done()
    this.#queuedBytes = 0
  }

  #schedule(): void {
    if (this.#timer != null || this.#oneWay == null || this.#ended) return
    const head = this.#queue[0]
    if (head == null) return
    const wait = head.sentAt + this.#oneWay - performance.now()
    this.#timer = setTimeout(() => this.#release(), Math.max(0, wait))
  }

  #release(): void {
    this.#timer = undefined
    const oneWay = this.#oneWay ?? 0
    const now = performance.now()
    while (!this.#ended) {
      const head = this.#queue[0]
      if (head == null || head.sentAt + oneWay > now + EARLY_MS) break
      this.#queue.shift()
      if (head.kind === 'data') {
        this.#queuedBytes -= head.bytes
        this.released.chunks += head.chunks.length
        this.released.bytes += head.bytes
        this.#sink.write(listOf(head.chunks, head.bytes))
      } else if (head.kind === 'close') {
        head.done()
      } else {
        this.#sink.reset(head.err)
        this.end()
      }
    }
    if (this.#needsDrain && this.#queuedBytes < this.#highWaterMark) {
      this.#needsDrain = false
      this.#sink.drain()
    }
    this.#schedule()
  }
}

function listOf(chunks: Uint8Array[], byteLength: number): ChunkList {
  return {
    byteLength,
    [Symbol.iterator]: () => chunks[Symbol.iterator](),
  }
}
