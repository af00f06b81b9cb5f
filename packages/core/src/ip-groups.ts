/**
 * IP groups of multiaddrs, as go-libp2p-kad-dht's routing-table diversity filter forms
 * them: an IPv4 address belongs to its /16 (`ip4/203.0.0.0/16`), an IPv6 address to its
 * /32 (`ip6/2001:db8::/32`), an IPv4-mapped IPv6 address (`::ffff:203.0.113.7`) to the
 * /16 of its IPv4 address. An address that names no IP of the peer has no group: `dns*`
 * names (not resolved here), circuit-relay addresses (their IP is the relay's), unix
 * sockets, and anything unparseable. Pure functions, no I/O.
 *
 * @packageDocumentation
 */

import type { Multiaddr } from '@multiformats/multiaddr'

/** The bytes of an IPv4 address in dotted-quad form, or undefined. */
function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const bytes: number[] = []
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    bytes.push(n)
  }
  return bytes
}

/** The 16 bytes of an IPv6 address in text form (`::` and a dotted-quad tail allowed), or undefined. */
export function parseIPv6(text: string): number[] | undefined {
  const address = text.split('%')[0] ?? '' // a zone (`fe80::1%eth0`) names no bytes
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const words = (half: string | undefined): number[] | undefined => {
    if (half == null || half === '') return []
    const out: number[] = []
    const groups = half.split(':')
    for (const [i, group] of groups.entries()) {
      if (i === groups.length - 1 && group.includes('.')) {
        const v4 = parseIPv4(group)
        if (v4 == null) return undefined
        out.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0))
        continue
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined
      out.push(Number.parseInt(group, 16))
    }
    return out
  }
  const head = words(halves[0])
  const tail = words(halves[1])
  if (head == null || tail == null) return undefined
  let all: number[]
  if (halves.length === 2) {
    const missing = 8 - head.length - tail.length
    if (missing < 1) return undefined
    all = [...head, ...new Array<number>(missing).fill(0), ...tail]
  } else {
    all = head
  }
  if (all.length !== 8) return undefined
  return all.flatMap((word) => [word >> 8, word & 0xff])
}

function ipv4Group(bytes: number[]): string {
  return `ip4/${bytes[0]}.${bytes[1]}.0.0/16`
}

/** The IP group of an IPv4 address in dotted-quad form, or undefined when it is not one. */
export function ipv4GroupOf(text: string): string | undefined {
  const bytes = parseIPv4(text)
  return bytes == null ? undefined : ipv4Group(bytes)
}

/** The IP group of an IPv6 address in text form (IPv4-mapped: its IPv4 /16), or undefined. */
export function ipv6GroupOf(text: string): string | undefined {
  const bytes = parseIPv6(text)
  if (bytes == null) return undefined
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  if (mapped) return ipv4Group(bytes.slice(12))
  const hex = (i: number): string => (((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16)
  return `ip6/${hex(0)}:${hex(2)}::/32`
}

/**
 * The IP group of `addr`: `ip4/a.b.0.0/16` or `ip6/x:y::/32` (see the module docs), or
 * undefined for an address that names no IP of the peer (dns, circuit relay, unix...).
 */
export function ipGroupOf(addr: Multiaddr): string | undefined {
  let components: ReturnType<Multiaddr['getComponents']>
  try {
    components = addr.getComponents()
  } catch {
    return undefined
  }
  // the IP of a circuit address is the relay's, not the peer's
  if (components.some((c) => c.name === 'p2p-circuit')) return undefined
  const first = components[0]?.name === 'ip6zone' ? components[1] : components[0]
  if (first?.value == null) return undefined
  if (first.name === 'ip4') return ipv4GroupOf(first.value)
  if (first.name === 'ip6') return ipv6GroupOf(first.value)
  return undefined
}

/** The distinct IP groups of `addrs`, in order of first appearance (none for a peer without an IP address). */
export function ipGroupsOf(addrs: Iterable<Multiaddr>): string[] {
  const groups = new Set<string>()
  for (const addr of addrs) {
    const group = ipGroupOf(addr)
    if (group != null) groups.add(group)
  }
  return [...groups]
}
