#!/usr/bin/env node
// Checks the Node.js version before loading the CLI, which needs Node.js 22 APIs as soon
// as it is imported: on an older Node.js every verb stops here with one clear line.
import { EXIT_UNSUPPORTED_RUNTIME } from './cli/exit-code-values.js'
import { unsupportedNodeReason } from './cli/runtime.js'

const reason = unsupportedNodeReason(process.versions.node)
if (reason == null) {
  const { main } = await import('./cli/index.js')
  await main()
} else {
  process.stderr.write(`error: ${reason}\n`)
  process.exitCode = EXIT_UNSUPPORTED_RUNTIME
}
