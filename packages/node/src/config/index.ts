/**
 * Configuration of the node: the resolved {@link NsnNodeConfig}, its field table, and
 * its loading from flags, `NSN_*` environment variables and an optional JSON file.
 *
 * @packageDocumentation
 */

export {
  CONFIG_FIELDS,
  defaultConfig,
  type FieldSpec,
  formatHostPort,
  MAX_DURATION,
  type ParseContext,
  parseDuration,
  parseHostPort,
  parseInteger,
} from './fields.js'
export { parseConfigFile, readConfigFile } from './file.js'
export {
  CONFIG_ENV,
  type ConfigSources,
  type ConfigValues,
  flagValues,
  loadConfig,
  resolveConfig,
} from './load.js'
export type { ConfigKey, HostPort, NsnNodeConfig } from './types.js'
