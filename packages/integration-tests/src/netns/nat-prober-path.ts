/**
 * Where the NAT prober script is (see `nat-prober.ts`; importing that file would run it).
 *
 * @packageDocumentation
 */

import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The prober script, run with Node 24 inside a namespace: `node <it> '<json of ProberConfig>'`. */
export const NAT_PROBER_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'nat-prober.ts')
