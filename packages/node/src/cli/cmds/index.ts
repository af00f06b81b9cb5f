/**
 * The command table, in help order. Add a command by adding its folder
 * (`cmds/<name>/{index,options,handler}.ts`) and listing it here.
 *
 * @packageDocumentation
 */

import type { CliCommand } from '../types.js'
import { bootstrap } from './bootstrap/index.js'
import { closest } from './closest/index.js'
import { demo } from './demo/index.js'
import { find } from './find/index.js'
import { health } from './health/index.js'
import { id } from './id/index.js'
import { peers } from './peers/index.js'
import { provide } from './provide/index.js'
import { refresh } from './refresh/index.js'
import { republish } from './republish/index.js'
import { shards } from './shards/index.js'
import { start } from './start/index.js'
import { stats } from './stats/index.js'
import { stopProviding } from './stop-providing/index.js'
import { topics } from './topics/index.js'

export const COMMANDS: readonly CliCommand[] = [
  start,
  id,
  health,
  stats,
  peers,
  shards,
  provide,
  republish,
  find,
  stopProviding,
  closest,
  bootstrap,
  refresh,
  topics,
  demo,
]
