/**
 * Progress that redraws one line (`\r` frames) only on a terminal: in a pipe or a log
 * file the frames are dropped and only the lines that end a step are written.
 *
 * @packageDocumentation
 */

/** Where progress goes: a writer, a terminal when `isTTY` is true (as Node's streams say). */
export interface ProgressOutput {
  write(chunk: string): unknown
  readonly isTTY?: boolean
}

/** A progress line on `out`. */
export interface Progress {
  /** True when frames are drawn (`out` is a terminal). */
  readonly live: boolean
  /** Redraws the current line with `text`; nothing unless `out` is a terminal. */
  frame(text: string): void
  /** Writes `text` as a whole line, over the current frame if one was drawn. */
  line(text: string): void
}

/** Progress on `out`: frames only when `out.isTTY` is true. */
export function progressOn(out: ProgressOutput): Progress {
  const live = out.isTTY === true
  let drawn = 0
  return {
    live,
    frame(text) {
      if (!live) return
      out.write(`\r${text.padEnd(drawn)}`)
      drawn = text.length
    },
    line(text) {
      out.write(drawn > 0 ? `\r${text.padEnd(drawn)}\n` : `${text}\n`)
      drawn = 0
    },
  }
}
