/**
 * `nsn-node start`: runs the daemon until SIGINT or SIGTERM, then stops it gracefully
 * (exit 0). A second signal exits at once; a stop that hangs past 10 s exits 1.
 *
 * @packageDocumentation
 */

import { constants } from 'node:os'
import { flagValues, loadConfig } from '../../../config/load.js'
import { STOP_TIMEOUT } from '../../../constants.js'
import { createLogger } from '../../../logger.js'
import { NsnNode } from '../../../node.js'
import { EXIT_FAILURE, EXIT_OK } from '../../exit-codes.js'
import type { CliArgs, CliIo } from '../../types.js'

const SIGNALS = ['SIGINT', 'SIGTERM'] as const

export async function handler(args: CliArgs, io: CliIo): Promise<number> {
  const configFile = typeof args.values.config === 'string' ? args.values.config : undefined
  const config = await loadConfig({ flags: flagValues(args.values), env: io.env, configFile, cwd: io.cwd })
  const logger = createLogger({ level: config.logLevel, json: config.logJson, stream: io.stderr })
  const log = logger.child({ module: 'cli' })
  const node = new NsnNode({ ...config, logger })

  let exitCode = EXIT_OK
  let signals = 0
  let resolveStopped: () => void = () => {}
  const stopped = new Promise<void>((resolve) => {
    resolveStopped = resolve
  })

  const onSignal = (signal: NodeJS.Signals): void => {
    signals++
    if (signals > 1) {
      log.warn('second signal: exiting now', { signal })
      io.exit(128 + (constants.signals[signal] ?? 0))
      return
    }
    log.info('signal received: stopping', { signal })
    const timer = setTimeout(() => {
      log.error('graceful stop timed out: exiting', { timeoutMs: STOP_TIMEOUT })
      io.exit(EXIT_FAILURE)
    }, STOP_TIMEOUT)
    timer.unref?.()
    node
      .stop()
      .catch((err: unknown) => {
        log.error('stop failed', { err })
        exitCode = EXIT_FAILURE
      })
      .finally(() => {
        clearTimeout(timer)
        resolveStopped()
      })
  }
  const onRejection = (reason: unknown): void => {
    log.error('unhandled rejection', { err: reason })
  }
  for (const signal of SIGNALS) io.signals.on(signal, onSignal)
  io.signals.on('unhandledRejection', onRejection)
  try {
    await node.start()
    await stopped
  } finally {
    for (const signal of SIGNALS) io.signals.off(signal, onSignal)
    io.signals.off('unhandledRejection', onRejection)
  }
  return exitCode
}
