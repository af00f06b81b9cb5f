/**
 * The command table, in help order. Add a command by adding its folder
 * (`cmds/<name>/{index,options,handler}.ts`) and listing it here.
 *
 * @packageDocumentation
 */

import type { CliCommand } from '../types.js'
import { demo } from './demo/index.js'
import { find } from './find/index.js'
import { id } from './id/index.js'
import { peers } from './peers/index.js'
import { provide } from './provide/index.js'
import { republish } from './republish/index.js'
import { start } from './start/index.js'
import { stopProviding } from './stop-providing/index.js'

export const COMMANDS: readonly CliCommand[] = [
  start,
  id,
  peers,
  provide,
  republish,
  find,
  stopProviding,
  demo,
]
