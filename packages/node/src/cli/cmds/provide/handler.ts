import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseShardKey } from '@nsn/core'
import { UsageError } from '../../../errors.js'
import { EXIT_OK } from '../../exit-codes.js'
import { clientFrom, printJson, wantsJson } from '../../options.js'
import type { CliArgs, CliIo } from '../../types.js'
import { batchClient, batchProgress } from '../batch-progress.js'

/** Shards a batch request carries at most; a longer list goes in several requests. */
export const PROVIDE_BATCH_REQUEST = 100_000

async function readAll(
  source: AsyncIterable<string | Uint8Array> | Iterable<string | Uint8Array>,
): Promise<string> {
  let text = ''
  const decoder = new TextDecoder()
  for await (const chunk of source)
    text += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true })
  return text + decoder.decode()
}

/**
 * The hashes of a list: one a line, as 64 hex (`0x` accepted) or a `{"hash":...}` JSON
 * line; blank lines and `#` comments skipped.
 *
 * @throws {UsageError} naming the line that holds no shard hash
 */
export function parseHashList(text: string, source: string): string[] {
  const hashes: string[] = []
  let n = 0
  for (const raw of text.split('\n')) {
    n++
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    let hash: unknown = line
    if (line.startsWith('{')) {
      try {
        hash = (JSON.parse(line) as { hash?: unknown }).hash
      } catch {
        throw new UsageError(`${source}:${n}: not JSON`)
      }
    }
    try {
      hashes.push(parseShardKey(String(hash)).hex)
    } catch (err) {
      throw new UsageError(`${source}:${n}: ${(err as Error).message}`)
    }
  }
  return hashes
}

async function provideList(args: CliArgs, io: CliIo, file: string): Promise<number> {
  const text =
    file === '-' ? await readAll(io.stdin ?? process.stdin) : await readFile(resolve(io.cwd, file), 'utf8')
  const hashes = parseHashList(text, file === '-' ? 'stdin' : file)
  if (hashes.length === 0) throw new UsageError(`no shard hash in ${file === '-' ? 'stdin' : file}`)
  const client = batchClient(args, io)
  const json = wantsJson(args)
  const progress = batchProgress(
    json ? io.stdout : io.stderr.isTTY === true ? io.stderr : io.stdout,
    hashes.length,
    json,
  )
  let provided = 0
  let lookups = 0
  let durationMs = 0
  for (let at = 0; at < hashes.length; at += PROVIDE_BATCH_REQUEST) {
    const summary = await client.provideMany(hashes.slice(at, at + PROVIDE_BATCH_REQUEST), (line) =>
      progress.shard(line),
    )
    provided += summary.provided
    lookups += summary.lookups
    durationMs += summary.durationMs
  }
  const failed = hashes.length - provided
  if (json) io.stdout.write(`${JSON.stringify({ summary: { provided, failed, lookups, durationMs } })}\n`)
  else
    progress.done(
      `provided ${provided} of ${hashes.length} shards (${failed} failed) with ${lookups} lookups in ${Math.round(durationMs)} ms`,
    )
  return EXIT_OK
}

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const file =
    typeof args.values.file === 'string' ? args.values.file : args.positionals[0] === '-' ? '-' : undefined
  if (file != null) {
    if (args.positionals.length > 0 && args.positionals[0] !== '-') {
      throw new UsageError('give a shard hash or --file, not both')
    }
    return provideList(args, io, file)
  }
  if (args.positionals[0] == null)
    throw new UsageError('missing argument <hash> (see: nsn-node provide --help)')
  const key = parseShardKey(args.positionals[0])
  const result = await clientFrom(args, io).provide(key.hex)
  if (wantsJson(args)) printJson(io, result)
  else {
    const quorum = result.belowQuorum ? `  below the quorum: ${result.quorum} confirmations needed\n` : ''
    io.stdout.write(
      `provided ${result.hash}\n  cid: ${result.cid}\n  record confirmed by ${result.confirmed} of ${result.sentTo} peer${result.sentTo === 1 ? '' : 's'} in ${result.durationMs} ms\n${quorum}`,
    )
  }
  return EXIT_OK
}
