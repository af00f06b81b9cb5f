/**
 * The Node.js version check the bin runs first. It imports nothing but plain values, so
 * it runs on any Node.js that can parse it; only then does the bin load the CLI (libp2p
 * needs Node.js 22 APIs such as `Promise.withResolvers` as soon as it is imported).
 *
 * @packageDocumentation
 */

/** The oldest Node.js major version the CLI runs on (`engines.node` of the package). */
export const REQUIRED_NODE_MAJOR = 22

/**
 * Why the CLI cannot run on Node.js `version` (`process.versions.node`, e.g. `20.20.2`),
 * or undefined when it can.
 */
export function unsupportedNodeReason(version: string, required = REQUIRED_NODE_MAJOR): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1])
  if (Number.isInteger(major) && major >= required) return undefined
  return `nsn-node needs Node.js >= ${required}, found ${version}: run it with Node.js ${required} or newer`
}
