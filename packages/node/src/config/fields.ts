/**
 * The declarative table of config fields: for each one its flag, its environment
 * variable, its default and the parser that validates it whatever its source (flag or
 * environment strings, JSON values of the config file, programmatic options). The CLI's
 * `start` options and the README table are derived from it.
 *
 * @packageDocumentation
 */

import { homedir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import {
  hour,
  InvalidOptionError,
  K_BUCKET_SIZE,
  LOCAL_PROFILE,
  MAX_GROUP_TOPICS,
  minute,
  PROVIDER_RECORD_TTL,
  parseGroupName,
  QUERY_TIMEOUT,
  REFRESH_INTERVAL,
  REGISTRY_CAPACITY,
  resolveRequestTimeoutsOptions,
  resolveRoutingDiversityOptions,
  second,
} from '@nsn/core'
import { checkApiToken } from '../api/auth.js'
import {
  API_LISTEN,
  CONNECTION_MONITOR_INTERVAL,
  DEFAULT_DATA_DIR,
  INBOUND_CONNECTION_THRESHOLD,
  METRICS_LISTEN,
  MIN_PROVIDER_TTL,
  P2P_LISTEN,
} from '../constants.js'
import { ApiTokenError, ConfigError } from '../errors.js'
import { isLogLevel, LOG_LEVELS } from '../logger.js'
import {
  type ConfigKey,
  type HostPort,
  type NsnNodeConfig,
  PROFILES,
  type Profile,
  type RequestTimeoutsConfig,
  type RoutingDiversityConfig,
} from './types.js'

/** Where a value being parsed came from, for messages and relative paths. */
export interface ParseContext {
  /** `--api`, `NSN_API`, `config file /x.json`... */
  from?: string
  /** Directory relative paths are resolved against. */
  baseDir: string
}

/** One config field. */
export interface FieldSpec<K extends ConfigKey = ConfigKey> {
  key: K
  /**
   * Long flag without dashes, e.g. `data-dir`; undefined for a field set only by its
   * environment variable or the config file (a secret: a command line is visible to every user).
   */
  flag?: string
  /** Placeholder in help, e.g. `<ms>`; undefined for a boolean flag. */
  arg?: string
  /** Repeatable flag (lists). */
  multiple?: boolean
  env: string
  description: string
  defaultValue: NsnNodeConfig[K]
  /** The default as shown in help and docs. */
  defaultText: string
  parse(value: unknown, ctx: ParseContext): NsnNodeConfig[K]
}

/** Longest duration a config field takes: Node's largest timer delay (2^31 - 1 ms). */
export const MAX_DURATION = 2 ** 31 - 1

const DURATION = /^(\d+)\s*(ms|s|m|h)?$/
const UNIT: Record<string, number> = { ms: 1, s: second, m: minute, h: hour }

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value)
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'object') return 'an object'
  return String(value)
}

/**
 * Parses a duration: an integer of ms, or a string `500ms`, `10s`, `5m`, `12h` (no unit:
 * ms), from `min` to {@link MAX_DURATION}.
 */
export function parseDuration(field: string, value: unknown, min: number, ctx: ParseContext): number {
  let ms: number | undefined
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const match = DURATION.exec(value.trim())
    if (match != null) ms = Number(match[1]) * (UNIT[match[2] ?? 'ms'] ?? 1)
  }
  if (ms == null || !Number.isSafeInteger(ms)) {
    throw ConfigError.invalid(
      field,
      `must be a duration in ms (an integer, or with a unit: 500ms, 10s, 5m, 12h), got ${describe(value)}`,
      ctx.from,
    )
  }
  if (ms < min) throw ConfigError.invalid(field, `must be at least ${min} ms, got ${ms}`, ctx.from)
  if (ms > MAX_DURATION) {
    throw ConfigError.invalid(
      field,
      `must be at most ${MAX_DURATION} ms (about 24.8 days), got ${ms}`,
      ctx.from,
    )
  }
  return ms
}

/** Parses an integer within bounds, from a number or a decimal string. */
export function parseInteger(
  field: string,
  value: unknown,
  min: number,
  max: number,
  ctx: ParseContext,
): number {
  const n =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^\d+$/.test(value.trim())
        ? Number(value)
        : Number.NaN
  if (!Number.isSafeInteger(n))
    throw ConfigError.invalid(field, `must be an integer, got ${describe(value)}`, ctx.from)
  if (n < min || n > max) throw ConfigError.invalid(field, `must be ${min}-${max}, got ${n}`, ctx.from)
  return n
}

/**
 * Parses `host:port` (`[::1]:5080` for IPv6). With `allowZero`, port 0 (any free port)
 * is accepted.
 */
export function parseHostPort(
  field: string,
  value: unknown,
  ctx: { from?: string; allowZero?: boolean },
): HostPort {
  if (typeof value !== 'string') {
    throw ConfigError.invalid(field, `must be a string host:port, got ${describe(value)}`, ctx.from)
  }
  const match = /^\[([^\]]+)\]:([^:]*)$/.exec(value) ?? /^([^:[\]\s/]+):([^:]*)$/.exec(value)
  if (match == null) {
    throw ConfigError.invalid(
      field,
      `must be host:port (e.g. ${API_LISTEN}), got ${describe(value)}`,
      ctx.from,
    )
  }
  const host = match[1] as string
  const portText = match[2] as string
  const min = ctx.allowZero === true ? 0 : 1
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : Number.NaN
  if (!(port >= min && port <= 65_535)) {
    throw ConfigError.invalid(
      field,
      `port must be ${min}-65535${min === 0 ? ' (0 picks a free port)' : ''}, got ${describe(portText)}`,
      ctx.from,
    )
  }
  return { host, port }
}

/** Formats a {@link HostPort} back to `host:port`. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** A list of group names (`gossipGroups`), each checked by core's one parser, once each. */
function parseGroupList(value: unknown, ctx: ParseContext): string[] {
  const items =
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : value
  if (!Array.isArray(items)) {
    throw ConfigError.invalid(
      'gossipGroups',
      `must be a list of group names, got ${describe(value)}`,
      ctx.from,
    )
  }
  const groups = items.map((item, i) => {
    try {
      return parseGroupName(item)
    } catch (err) {
      throw ConfigError.invalid(`gossipGroups[${i}]`, (err as Error).message, ctx.from)
    }
  })
  if (new Set(groups).size > MAX_GROUP_TOPICS) {
    throw ConfigError.invalid('gossipGroups', `must name at most ${MAX_GROUP_TOPICS} groups`, ctx.from)
  }
  return [...new Set(groups)]
}

function parseList(field: string, value: unknown, ctx: ParseContext): string[] {
  const items =
    typeof value === 'string'
      ? value
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '')
      : value
  if (!Array.isArray(items)) {
    throw ConfigError.invalid(field, `must be a list of multiaddrs, got ${describe(value)}`, ctx.from)
  }
  return items.map((item, i) => {
    if (typeof item !== 'string') {
      throw ConfigError.invalid(
        `${field}[${i}]`,
        `must be a multiaddr string, got ${describe(item)}`,
        ctx.from,
      )
    }
    try {
      return multiaddr(item.trim()).toString()
    } catch (err) {
      throw ConfigError.invalid(
        `${field}[${i}]`,
        `${describe(item)} is not a valid multiaddr (${(err as Error).message})`,
        ctx.from,
      )
    }
  })
}

function parseBoolean(field: string, value: unknown, ctx: ParseContext): boolean {
  if (typeof value === 'boolean') return value
  if (typeof value === 'string') {
    const text = value.trim().toLowerCase()
    if (['1', 'true', 'yes', 'on'].includes(text)) return true
    if (['0', 'false', 'no', 'off', ''].includes(text)) return false
  }
  throw ConfigError.invalid(field, `must be true or false, got ${describe(value)}`, ctx.from)
}

/**
 * The keys and values of an options object: a JSON object (config file, programmatic
 * options) or `key=value,key=value` (flags, env). `off`/`false` is `false`, `on`/`true`
 * (or an empty object) the defaults.
 */
function parseOptionsObject(
  field: string,
  value: unknown,
  keys: readonly string[],
  ctx: ParseContext,
): Record<string, unknown> | false {
  if (value === false) return false
  if (value === true) return {}
  if (typeof value === 'string') {
    const text = value.trim()
    if (['off', 'false', 'no', '0'].includes(text.toLowerCase())) return false
    if (['on', 'true', 'yes', '1', ''].includes(text.toLowerCase())) return {}
    const out: Record<string, unknown> = {}
    for (const pair of text.split(',')) {
      const [key, val, ...rest] = pair.split('=').map((s) => s.trim())
      if (key == null || key === '' || val == null || rest.length > 0) {
        throw ConfigError.invalid(
          field,
          `must be off, on, or ${keys.map((k) => `${k}=<value>`).join(',')}, got ${describe(value)}`,
          ctx.from,
        )
      }
      out[key] = val
    }
    value = out
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw ConfigError.invalid(
      field,
      `must be false or an object { ${keys.join(', ')} }, got ${describe(value)}`,
      ctx.from,
    )
  }
  const object = value as Record<string, unknown>
  for (const key of Object.keys(object)) {
    if (!keys.includes(key)) {
      throw ConfigError.invalid(`${field}.${key}`, `is not a key of ${field} (${keys.join(', ')})`, ctx.from)
    }
  }
  return object
}

const DIVERSITY_KEYS = ['perBucket', 'perTable'] as const
const TIMEOUT_KEYS = ['min', 'max', 'unknownPeer', 'evictAfter', 'quarantine'] as const

/** The diversity bounds of `routingDiversity`, checked by @nsn/core's own rules. */
export function parseRoutingDiversity(value: unknown, ctx: ParseContext): RoutingDiversityConfig | false {
  const object = parseOptionsObject('routingDiversity', value, DIVERSITY_KEYS, ctx)
  if (object === false) return false
  const init: Record<string, number> = {}
  for (const key of DIVERSITY_KEYS) {
    if (object[key] !== undefined)
      init[key] = parseInteger(`routingDiversity.${key}`, object[key], 1, 1_000, ctx)
  }
  return fromCore(() => resolveRoutingDiversityOptions(init), ctx)
}

/** The request timeouts of `requestTimeouts`, checked by @nsn/core's own rules. */
export function parseRequestTimeouts(value: unknown, ctx: ParseContext): RequestTimeoutsConfig | false {
  const object = parseOptionsObject('requestTimeouts', value, TIMEOUT_KEYS, ctx)
  if (object === false) return false
  const init: Record<string, number> = {}
  for (const key of TIMEOUT_KEYS) {
    if (object[key] === undefined) continue
    init[key] =
      key === 'evictAfter'
        ? parseInteger('requestTimeouts.evictAfter', object[key], 1, 1_000, ctx)
        : parseDuration(`requestTimeouts.${key}`, object[key], 1, ctx)
  }
  const { min, max, unknownPeer, evictAfter, quarantine } = fromCore(
    () => resolveRequestTimeoutsOptions(init),
    ctx,
  )
  return { min, max, unknownPeer, evictAfter, quarantine }
}

/** Runs one of core's option resolvers, its `InvalidOptionError` turned into a `ConfigError`. */
function fromCore<T>(resolve: () => T, ctx: ParseContext): T {
  try {
    return resolve()
  } catch (err) {
    if (err instanceof InvalidOptionError) {
      throw ConfigError.invalid(err.option, err.message.replace(/^invalid option [^:]+: /, ''), ctx.from)
    }
    throw err
  }
}

function formatOptions(value: object): string {
  return Object.entries(value)
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(',')
}

const DEFAULT_DIVERSITY = resolveRoutingDiversityOptions()
const DEFAULT_TIMEOUTS = (() => {
  const { min, max, unknownPeer, evictAfter, quarantine } = resolveRequestTimeoutsOptions()
  return { min, max, unknownPeer, evictAfter, quarantine }
})()

function field<K extends ConfigKey>(spec: FieldSpec<K>): FieldSpec<K> {
  return spec
}

/** Every config field, in help order. */
export const CONFIG_FIELDS = [
  field({
    key: 'listen',
    flag: 'listen',
    arg: '<multiaddr>',
    multiple: true,
    env: 'NSN_LISTEN',
    description: 'libp2p listen address (repeatable; env: comma-separated)',
    defaultValue: [P2P_LISTEN],
    defaultText: P2P_LISTEN,
    parse(value, ctx) {
      const list = parseList('listen', value, ctx)
      if (list.length === 0) throw ConfigError.invalid('listen', 'must name at least one multiaddr', ctx.from)
      return list
    },
  }),
  field({
    key: 'bootstrap',
    flag: 'bootstrap',
    arg: '<multiaddr>',
    multiple: true,
    env: 'NSN_BOOTSTRAP',
    description: 'bootstrap peer, /dnsaddr/... included (repeatable; env: comma-separated)',
    defaultValue: [],
    defaultText: 'none',
    parse: (value, ctx) => parseList('bootstrap', value, ctx),
  }),
  field({
    key: 'api',
    flag: 'api',
    arg: '<host:port>',
    env: 'NSN_API',
    description: 'HTTP API address (port 0: any free port)',
    defaultValue: parseHostPort('api', API_LISTEN, {}),
    defaultText: API_LISTEN,
    parse: (value, ctx) =>
      typeof value === 'object' && value != null && !Array.isArray(value)
        ? parseHostPort('api', formatHostPort(value as HostPort), { ...ctx, allowZero: true })
        : parseHostPort('api', value, { ...ctx, allowZero: true }),
  }),
  field({
    key: 'metrics',
    flag: 'metrics',
    arg: '<host:port|off>',
    env: 'NSN_METRICS',
    description: 'Prometheus /metrics address (port 0: any free port; off: no metrics server)',
    defaultValue: parseHostPort('metrics', METRICS_LISTEN, {}),
    defaultText: METRICS_LISTEN,
    parse(value, ctx) {
      if (value === null || value === false || value === 'off') return null
      if (typeof value === 'object' && !Array.isArray(value)) {
        return parseHostPort('metrics', formatHostPort(value as HostPort), { ...ctx, allowZero: true })
      }
      return parseHostPort('metrics', value, { ...ctx, allowZero: true })
    },
  }),
  field({
    key: 'dataDir',
    flag: 'data-dir',
    arg: '<path>',
    env: 'NSN_DATA_DIR',
    description: 'directory of the identity key and the datastore',
    defaultValue: DEFAULT_DATA_DIR,
    defaultText: '~/.nsn',
    parse(value, ctx) {
      if (typeof value !== 'string' || value.trim() === '') {
        throw ConfigError.invalid('dataDir', `must be a non-empty path, got ${describe(value)}`, ctx.from)
      }
      const path =
        value === '~' ? homedir() : value.startsWith('~/') ? join(homedir(), value.slice(2)) : value
      return isAbsolute(path) ? path : resolve(ctx.baseDir, path)
    },
  }),
  field({
    key: 'queryTimeout',
    flag: 'query-timeout',
    arg: '<ms>',
    env: 'NSN_QUERY_TIMEOUT',
    description: 'deadline of every DHT query (ms, or 10s, 1m...)',
    defaultValue: QUERY_TIMEOUT,
    defaultText: `${QUERY_TIMEOUT}`,
    parse: (value, ctx) => parseDuration('queryTimeout', value, 1, ctx),
  }),
  field({
    key: 'kBucketSize',
    flag: 'k-bucket-size',
    arg: '<k>',
    env: 'NSN_K_BUCKET_SIZE',
    description: 'k: Kademlia bucket size and replication factor (every node of a network must agree)',
    defaultValue: K_BUCKET_SIZE,
    defaultText: `${K_BUCKET_SIZE}`,
    parse: (value, ctx) => parseInteger('kBucketSize', value, 1, 1_000, ctx),
  }),
  field({
    key: 'maxShards',
    flag: 'max-shards',
    arg: '<n>',
    env: 'NSN_MAX_SHARDS',
    description: 'shards provided at most; least recently provided are evicted past it',
    defaultValue: REGISTRY_CAPACITY,
    defaultText: `${REGISTRY_CAPACITY}`,
    parse: (value, ctx) => parseInteger('maxShards', value, 1, 100_000_000, ctx),
  }),
  field({
    key: 'refreshInterval',
    flag: 'refresh-interval',
    arg: '<ms>',
    env: 'NSN_REFRESH_INTERVAL',
    description: 'routing-table refresh interval (ms; 0: never)',
    defaultValue: REFRESH_INTERVAL,
    defaultText: `${REFRESH_INTERVAL}`,
    parse: (value, ctx) => parseDuration('refreshInterval', value, 0, ctx),
  }),
  field({
    key: 'providerTtl',
    flag: 'provider-ttl',
    arg: '<ms>',
    env: 'NSN_PROVIDER_TTL',
    description: 'provider-record TTL; republish runs before it lapses (ms)',
    defaultValue: PROVIDER_RECORD_TTL,
    defaultText: `${PROVIDER_RECORD_TTL}`,
    parse: (value, ctx) => parseDuration('providerTtl', value, MIN_PROVIDER_TTL, ctx),
  }),
  field({
    key: 'inboundConnectionThreshold',
    flag: 'inbound-connection-threshold',
    arg: '<n>',
    env: 'NSN_INBOUND_CONNECTION_THRESHOLD',
    description: 'inbound connections accepted per remote address per second (raise it on loopback networks)',
    defaultValue: INBOUND_CONNECTION_THRESHOLD,
    defaultText: `${INBOUND_CONNECTION_THRESHOLD}`,
    parse: (value, ctx) => parseInteger('inboundConnectionThreshold', value, 1, 1_000_000, ctx),
  }),
  field({
    key: 'allow',
    flag: 'allow',
    arg: '<multiaddr>',
    multiple: true,
    env: 'NSN_ALLOW',
    description: 'address exempt from connection limits, e.g. /ip4/127.0.0.1/ipcidr/8 (repeatable)',
    defaultValue: [],
    defaultText: 'none',
    parse: (value, ctx) => parseList('allow', value, ctx),
  }),
  field({
    key: 'connectionMonitorInterval',
    flag: 'connection-monitor-interval',
    arg: '<ms>',
    env: 'NSN_CONNECTION_MONITOR_INTERVAL',
    description: 'ping interval of the connection monitor (ms; 0: monitor off)',
    defaultValue: CONNECTION_MONITOR_INTERVAL,
    defaultText: `${CONNECTION_MONITOR_INTERVAL}`,
    parse: (value, ctx) => parseDuration('connectionMonitorInterval', value, 0, ctx),
  }),
  field({
    key: 'routingDiversity',
    flag: 'routing-diversity',
    arg: '<off|perBucket=n,perTable=n>',
    env: 'NSN_ROUTING_DIVERSITY',
    description:
      'routing-table diversity: at most perBucket peers of one IP group (IPv4 /16, IPv6 /32) per k-bucket and perTable in the table and per lookup; off turns it off (the local profile does)',
    defaultValue: DEFAULT_DIVERSITY,
    defaultText: formatOptions(DEFAULT_DIVERSITY),
    parse: (value, ctx) => parseRoutingDiversity(value, ctx),
  }),
  field({
    key: 'requestTimeouts',
    flag: 'request-timeouts',
    arg: '<off|min=ms,max=ms,unknownPeer=ms,evictAfter=n,quarantine=ms>',
    env: 'NSN_REQUEST_TIMEOUTS',
    description:
      'per-peer DHT request timeouts (ms, or 1s, 10m...): clamped to [min, max], unknownPeer before a first answer; evictAfter timeouts in a row evict a peer, kept out for quarantine; off: the query deadline only',
    defaultValue: DEFAULT_TIMEOUTS,
    defaultText: formatOptions(DEFAULT_TIMEOUTS),
    parse: (value, ctx) => parseRequestTimeouts(value, ctx),
  }),
  field({
    key: 'announce',
    flag: 'announce',
    arg: '<multiaddr>',
    multiple: true,
    env: 'NSN_ANNOUNCE',
    description:
      'address announced to peers instead of the listen addresses, e.g. a public address with a forwarded port (repeatable; env: comma-separated; the public profile still announces public ones only)',
    defaultValue: [],
    defaultText: 'the listen addresses',
    parse: (value, ctx) => parseList('announce', value, ctx),
  }),
  field({
    key: 'noAnnounce',
    flag: 'no-announce',
    arg: '<multiaddr>',
    multiple: true,
    env: 'NSN_NO_ANNOUNCE',
    description: 'address never announced to peers (repeatable; env: comma-separated)',
    defaultValue: [],
    defaultText: 'none',
    parse: (value, ctx) => parseList('noAnnounce', value, ctx),
  }),
  field({
    key: 'upnp',
    flag: 'upnp',
    env: 'NSN_UPNP',
    description: "ask the LAN's gateway for a port mapping over UPnP (public profile)",
    defaultValue: false,
    defaultText: 'false',
    parse: (value, ctx) => parseBoolean('upnp', value, ctx),
  }),
  field({
    key: 'relayServer',
    flag: 'relay-server',
    env: 'NSN_RELAY_SERVER',
    description: 'serve as a circuit relay for peers behind NAT (circuit relay v2, with its default limits)',
    defaultValue: false,
    defaultText: 'false',
    parse: (value, ctx) => parseBoolean('relayServer', value, ctx),
  }),
  field({
    key: 'profile',
    flag: 'profile',
    arg: '<name>',
    env: 'NSN_PROFILE',
    description: `host profile: ${PROFILES.join(', ')} (public: the internet, public addresses only, DHT server once AutoNAT confirms reachability, NAT traversal; private: a LAN; local: loopback networks; see @nsn/core's PUBLIC_PROFILE, PRIVATE_PROFILE, LOCAL_PROFILE; explicit fields override it)`,
    defaultValue: 'public',
    defaultText: 'public',
    parse(value, ctx) {
      if (typeof value !== 'string' || !(PROFILES as readonly string[]).includes(value)) {
        throw ConfigError.invalid(
          'profile',
          `must be one of ${PROFILES.join(', ')}, got ${describe(value)}`,
          ctx.from,
        )
      }
      return value as Profile
    },
  }),
  field({
    key: 'logLevel',
    flag: 'log-level',
    arg: '<level>',
    env: 'NSN_LOG_LEVEL',
    description: `log level: ${LOG_LEVELS.join(', ')}`,
    defaultValue: 'info',
    defaultText: 'info',
    parse(value, ctx) {
      if (!isLogLevel(value)) {
        throw ConfigError.invalid(
          'logLevel',
          `must be one of ${LOG_LEVELS.join(', ')}, got ${describe(value)}`,
          ctx.from,
        )
      }
      return value
    },
  }),
  field({
    key: 'logJson',
    flag: 'log-json',
    env: 'NSN_LOG_JSON',
    description: 'log JSON lines instead of human ones',
    defaultValue: false,
    defaultText: 'false',
    parse: (value, ctx) => parseBoolean('logJson', value, ctx),
  }),
  field({
    key: 'apiTokenFile',
    flag: 'api-token-file',
    arg: '<path>',
    env: 'NSN_API_TOKEN_FILE',
    description:
      'file holding the API bearer token: every API call but GET /healthz then needs "Authorization: Bearer <token>" (required for an --api other than loopback)',
    defaultValue: null,
    defaultText: 'none',
    parse(value, ctx) {
      if (value === null) return null
      if (typeof value !== 'string' || value.trim() === '') {
        throw ConfigError.invalid(
          'apiTokenFile',
          `must be a non-empty path, got ${describe(value)}`,
          ctx.from,
        )
      }
      return isAbsolute(value) ? value : resolve(ctx.baseDir, value)
    },
  }),
  field({
    key: 'apiToken',
    env: 'NSN_API_TOKEN',
    description: 'the API bearer token itself (no flag: a command line is visible to every user)',
    defaultValue: null,
    defaultText: 'none',
    parse(value, ctx) {
      if (value === null) return null
      // the token is never quoted back, not even in an error
      if (typeof value !== 'string') {
        throw ConfigError.invalid('apiToken', 'must be a string (the value is not shown)', ctx.from)
      }
      try {
        return checkApiToken(value.trim())
      } catch (err) {
        if (err instanceof ApiTokenError) {
          throw ConfigError.invalid('apiToken', err.message.replace(/^API token: /, ''), ctx.from)
        }
        throw err
      }
    },
  }),
  field({
    key: 'debug',
    flag: 'debug',
    arg: '<namespaces>',
    env: 'NSN_DEBUG',
    description:
      "libp2p's debug output through the node's logger (JSON lines with --log-json), e.g. 'libp2p:kad-dht*,libp2p:dialer' (debug syntax: * wildcard, -name excludes); default: the DEBUG variable's",
    defaultValue: null,
    defaultText: 'none',
    parse(value, ctx) {
      if (value === null) return null
      if (typeof value !== 'string' || !/^[\w:*.,\s/-]*$/.test(value)) {
        throw ConfigError.invalid(
          'debug',
          `must be a list of debug namespaces (letters, digits, : * . - _ separated by commas), got ${describe(value)}`,
          ctx.from,
        )
      }
      return value.trim()
    },
  }),
  field({
    key: 'gossip',
    flag: 'gossip',
    env: 'NSN_GOSSIP',
    description:
      'shard announcements over gossipsub: announce provided shards on /nsn/shards/1, cache the providers others announce',
    defaultValue: false,
    defaultText: 'false',
    parse: (value, ctx) => parseBoolean('gossip', value, ctx),
  }),
  field({
    key: 'gossipGroups',
    flag: 'gossip-group',
    arg: '<name>',
    multiple: true,
    env: 'NSN_GOSSIP_GROUPS',
    description: 'group topic to subscribe to at start, with --gossip (repeatable; env: comma-separated)',
    defaultValue: [],
    defaultText: 'none',
    parse: (value, ctx) => parseGroupList(value, ctx),
  }),
] as const satisfies readonly FieldSpec[]

/**
 * The values a profile gives to fields that no source sets: `public` and `private` none, `local`
 * @nsn/core's `LOCAL_PROFILE` (listen on a free 127.0.0.1 port, inbound connection limit
 * raised, loopback allow-listed, connection monitor off, routing-table diversity off:
 * every loopback peer is one IP group).
 */
export function profileValues(profile: Profile): Partial<NsnNodeConfig> {
  if (profile !== 'local') return {}
  return {
    listen: [...LOCAL_PROFILE.listen],
    inboundConnectionThreshold: LOCAL_PROFILE.inboundConnectionThreshold,
    allow: [...LOCAL_PROFILE.allow],
    connectionMonitorInterval: LOCAL_PROFILE.connectionMonitorInterval,
    routingDiversity: LOCAL_PROFILE.routingDiversity,
  }
}

/** The default configuration. */
export function defaultConfig(): NsnNodeConfig {
  const config: Partial<Record<ConfigKey, unknown>> = {}
  for (const spec of CONFIG_FIELDS) {
    const value = spec.defaultValue
    config[spec.key] = Array.isArray(value)
      ? [...value]
      : typeof value === 'object' && value != null
        ? { ...value }
        : value
  }
  return config as NsnNodeConfig
}
