/**
 * Progress of the batch verbs (`provide --file`, `republish`): a bar redrawn on a
 * terminal, one plain line per shard in a pipe, JSON lines with `--json`.
 *
 * @packageDocumentation
 */

import type { NsnApiClient } from '../../api/client.js'
import type { BatchShardLine } from '../../api/types.js'
import { progressOn } from '../../demo/progress.js'
import { clientFrom } from '../options.js'
import type { CliArgs, CliIo, CliWriter } from '../types.js'

/** Width of the progress bar, in characters. */
const BAR_WIDTH = 30

/** What a batch verb reports as shards complete. */
export interface BatchProgress {
  shard(line: BatchShardLine): void
  /** The closing line(s). */
  done(text: string): void
  /** Shards that failed so far. */
  readonly failed: number
}

/** The bar of `done` of `total` (total unknown: a count only). */
export function bar(done: number, total: number | undefined, failed: number): string {
  const tail = `${done}${total == null ? '' : `/${total}`} shards${failed > 0 ? `, ${failed} failed` : ''}`
  if (total == null || total === 0) return tail
  const filled = Math.min(BAR_WIDTH, Math.round((done / total) * BAR_WIDTH))
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${tail}`
}

/**
 * Progress on `out`: on a terminal a bar (redrawn at most every 100 ms); in a pipe a
 * line per shard (`<hash> confirmed by N` or `<hash> failed: ...`); with `json`, each
 * line as the daemon sent it.
 */
export function batchProgress(out: CliWriter, total: number | undefined, json: boolean): BatchProgress {
  const progress = progressOn(out)
  let done = 0
  let failed = 0
  let drawnAt = 0
  return {
    get failed() {
      return failed
    },
    shard(line) {
      done++
      if (line.error != null) failed++
      if (json) {
        out.write(`${JSON.stringify(line)}\n`)
        return
      }
      if (!progress.live) {
        out.write(
          line.error == null
            ? `${line.hash} confirmed by ${line.confirmed}\n`
            : `${line.hash} failed: ${line.error.message}\n`,
        )
        return
      }
      const now = Date.now()
      if (now - drawnAt >= 100 || done === total) {
        drawnAt = now
        progress.frame(bar(done, total, failed))
      }
    },
    done(text) {
      if (progress.live) progress.frame(bar(done, total, failed))
      progress.line(progress.live ? `\n${text}` : text)
    },
  }
}

/**
 * The API client of a batch verb: as `clientFrom`, but without `--timeout` (or
 * `NSN_TIMEOUT`) it waits as long as the batch takes (a cycle of 100,000 shards takes
 * minutes).
 */
export function batchClient(args: CliArgs, io: CliIo): NsnApiClient {
  const timed = typeof args.values.timeout === 'string' || io.env.NSN_TIMEOUT != null
  return clientFrom(
    timed ? args : { ...args, values: { ...args.values, timeout: String(BATCH_CLIENT_TIMEOUT) } },
    io,
  )
}

/** How long a batch verb waits without `--timeout`: a day. */
export const BATCH_CLIENT_TIMEOUT = 24 * 60 * 60 * 1000
