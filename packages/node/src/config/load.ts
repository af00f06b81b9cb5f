/**
 * Resolves the configuration from its sources, by precedence: flags > `NSN_*`
 * environment variables > config file > defaults. A list given by a source replaces
 * the lists of the sources below it (they are not merged).
 *
 * @packageDocumentation
 */

import { dirname, resolve } from 'node:path'
import { CONFIG_FIELDS, defaultConfig, type FieldSpec, type ParseContext, profileValues } from './fields.js'
import { readConfigFile } from './file.js'
import type { ConfigKey, NsnNodeConfig, Profile } from './types.js'

/** Values of one source, by config key (strings from flags and env, JSON from a file). */
export type ConfigValues = Partial<Record<ConfigKey, unknown>>

/** The sources of {@link loadConfig}. */
export interface ConfigSources {
  /** Parsed flag values by config key (see {@link flagValues}). */
  flags?: ConfigValues
  /** The environment; only `NSN_*` variables are read. Default: none. */
  env?: Record<string, string | undefined>
  /** The config file; default: `NSN_CONFIG` from `env`, else none. */
  configFile?: string
  /** Directory relative paths of flags and env are resolved against. Default `process.cwd()`. */
  cwd?: string
}

/** Environment variable naming the config file. */
export const CONFIG_ENV = 'NSN_CONFIG'

/** Picks the config keys out of `node:util` `parseArgs` values (flag names are kebab-case). */
export function flagValues(values: Record<string, unknown>): ConfigValues {
  const out: ConfigValues = {}
  for (const spec of CONFIG_FIELDS as readonly FieldSpec[]) {
    if (spec.flag == null) continue
    const value = values[spec.flag]
    if (value !== undefined) out[spec.key] = value
  }
  return out
}

function envValues(env: Record<string, string | undefined>): ConfigValues {
  const out: ConfigValues = {}
  for (const spec of CONFIG_FIELDS) {
    const value = env[spec.env]
    if (value !== undefined) out[spec.key] = value
  }
  return out
}

const profileField = CONFIG_FIELDS.find((spec) => spec.key === 'profile') as FieldSpec<'profile'>

/** The defaults, overlaid with the values of the profile `profile` names (validated). */
function baseConfig(profile: unknown, ctx: ParseContext): Record<ConfigKey, unknown> {
  const config = defaultConfig() as unknown as Record<ConfigKey, unknown>
  if (profile === undefined) return config
  const parsed = profileField.parse(profile, ctx) as Profile
  return { ...config, ...profileValues(parsed), profile: parsed }
}

/**
 * Validates values given as options (e.g. to `createNsnNode`) over the defaults.
 *
 * @throws {ConfigError} naming the bad field
 */
export function resolveConfig(values: ConfigValues = {}, cwd = process.cwd()): NsnNodeConfig {
  const config = baseConfig(values.profile, { baseDir: cwd })
  for (const spec of CONFIG_FIELDS as readonly FieldSpec[]) {
    const value = values[spec.key]
    if (value !== undefined) config[spec.key] = spec.parse(value, { baseDir: cwd })
  }
  return config as unknown as NsnNodeConfig
}

/**
 * Loads the configuration: flags > env > file > defaults, every value validated.
 *
 * @throws {ConfigError} naming the bad field, or the config file and what is wrong with it
 */
export async function loadConfig(sources: ConfigSources = {}): Promise<NsnNodeConfig> {
  const cwd = sources.cwd ?? process.cwd()
  const env = sources.env ?? {}
  const flags = sources.flags ?? {}
  const fromEnv = envValues(env)
  const filePath = sources.configFile ?? env[CONFIG_ENV]
  const file = filePath == null || filePath === '' ? undefined : resolve(cwd, filePath)
  const fromFile = file == null ? {} : await readConfigFile(file)

  const config =
    flags.profile !== undefined
      ? baseConfig(flags.profile, { from: '--profile', baseDir: cwd })
      : fromEnv.profile !== undefined
        ? baseConfig(fromEnv.profile, { from: 'NSN_PROFILE', baseDir: cwd })
        : baseConfig(fromFile.profile, { from: `config file ${file}`, baseDir: cwd })
  for (const spec of CONFIG_FIELDS as readonly FieldSpec[]) {
    if (flags[spec.key] !== undefined) {
      config[spec.key] = spec.parse(flags[spec.key], {
        from: spec.flag == null ? spec.key : `--${spec.flag}`,
        baseDir: cwd,
      })
    } else if (fromEnv[spec.key] !== undefined) {
      config[spec.key] = spec.parse(fromEnv[spec.key], { from: spec.env, baseDir: cwd })
    } else if (file != null && fromFile[spec.key] !== undefined) {
      config[spec.key] = spec.parse(fromFile[spec.key], {
        from: `config file ${file}`,
        baseDir: dirname(file),
      })
    }
  }
  return config as unknown as NsnNodeConfig
}
