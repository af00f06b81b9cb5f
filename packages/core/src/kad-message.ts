/**
 * The Kademlia wire message (libp2p's `dht.proto`, as kad-dht 16 encodes it), and its
 * length-prefixed framing, for the inbound guard. kad-dht exports its `MessageType` but
 * not its `Message` codec (its package `exports` map has only `.`), so NSN carries its own
 * codec of the same wire format, on the same `protons-runtime`: a protocol, not an
 * internal. Unknown fields are skipped, as protobuf requires.
 *
 * @packageDocumentation
 */

import { MessageType } from '@libp2p/kad-dht'
import { decodeMessage, encodeMessage, type Reader, type Writer } from 'protons-runtime'

/** A peer in a message: its id (a multihash) and addresses (multiaddr bytes). */
export interface KadPeerInfo {
  id: Uint8Array
  multiaddrs: Uint8Array[]
  /** `ConnectionType` as its wire number; NSN neither reads nor checks it. */
  connection?: number
}

/** A Kademlia message, shaped as kad-dht's own `Message` (its handlers take this). */
export interface KadMessage {
  type: MessageType
  clusterLevel?: number
  key?: Uint8Array
  record?: Uint8Array
  closer: KadPeerInfo[]
  providers: KadPeerInfo[]
}

/** Wire numbers of {@link MessageType}. */
const TYPE_NUMBERS: Record<MessageType, number> = {
  [MessageType.PUT_VALUE]: 0,
  [MessageType.GET_VALUE]: 1,
  [MessageType.ADD_PROVIDER]: 2,
  [MessageType.GET_PROVIDERS]: 3,
  [MessageType.FIND_NODE]: 4,
  [MessageType.PING]: 5,
}
const TYPES_BY_NUMBER = new Map<number, MessageType>(
  Object.entries(TYPE_NUMBERS).map(([type, n]) => [n, type as MessageType]),
)

/** A message whose type number kad-dht does not know. */
export class UnknownMessageTypeError extends Error {
  override readonly name = 'UnknownMessageTypeError'
  constructor(readonly typeNumber: number) {
    super(`unknown Kademlia message type ${typeNumber}`)
  }
}

function encodePeer(peer: KadPeerInfo, w: Writer): void {
  w.fork()
  if (peer.id.byteLength > 0) {
    w.uint32(10)
    w.bytes(peer.id)
  }
  for (const addr of peer.multiaddrs) {
    w.uint32(18)
    w.bytes(addr)
  }
  if (peer.connection != null) {
    w.uint32(24)
    w.int32(peer.connection)
  }
  w.ldelim()
}

function decodePeer(reader: Reader, length: number): KadPeerInfo {
  const peer: KadPeerInfo = { id: new Uint8Array(0), multiaddrs: [] }
  const end = reader.pos + length
  while (reader.pos < end) {
    const tag = reader.uint32()
    switch (tag >>> 3) {
      case 1:
        peer.id = reader.bytes()
        break
      case 2:
        peer.multiaddrs.push(reader.bytes())
        break
      case 3:
        peer.connection = reader.int32()
        break
      default:
        reader.skipType(tag & 7)
    }
  }
  return peer
}

const codec = {
  encode(msg: Partial<KadMessage>, w: Writer): void {
    if (msg.type != null && TYPE_NUMBERS[msg.type] !== 0) {
      w.uint32(8)
      w.int32(TYPE_NUMBERS[msg.type])
    }
    if (msg.key != null) {
      w.uint32(18)
      w.bytes(msg.key)
    }
    if (msg.record != null) {
      w.uint32(26)
      w.bytes(msg.record)
    }
    for (const peer of msg.closer ?? []) {
      w.uint32(66)
      encodePeer(peer, w)
    }
    for (const peer of msg.providers ?? []) {
      w.uint32(74)
      encodePeer(peer, w)
    }
    if (msg.clusterLevel != null) {
      w.uint32(80)
      w.int32(msg.clusterLevel)
    }
  },
  decode(reader: Reader): KadMessage {
    let typeNumber = 0
    const msg: Omit<KadMessage, 'type'> = { closer: [], providers: [] }
    while (reader.pos < reader.len) {
      const tag = reader.uint32()
      switch (tag >>> 3) {
        case 1:
          typeNumber = reader.int32()
          break
        case 2:
          msg.key = reader.bytes()
          break
        case 3:
          msg.record = reader.bytes()
          break
        case 8:
          msg.closer.push(decodePeer(reader, reader.uint32()))
          break
        case 9:
          msg.providers.push(decodePeer(reader, reader.uint32()))
          break
        case 10:
          msg.clusterLevel = reader.int32()
          break
        default:
          reader.skipType(tag & 7)
      }
    }
    const type = TYPES_BY_NUMBER.get(typeNumber)
    if (type == null) throw new UnknownMessageTypeError(typeNumber)
    return { type, ...msg }
  },
}

/** Encodes a message (without its length prefix). */
export function encodeKadMessage(msg: Partial<KadMessage>): Uint8Array {
  return encodeMessage(msg, codec)
}

/**
 * Decodes a message (without its length prefix).
 *
 * @throws {UnknownMessageTypeError} for a type number kad-dht does not know
 * @throws {RangeError} (from protons-runtime) for bytes that are not a protobuf message
 */
export function decodeKadMessage(bytes: Uint8Array): KadMessage {
  return decodeMessage(bytes, codec)
}

/** How many bytes the unsigned varint of `n` takes. */
export function varintLength(n: number): number {
  let length = 1
  while (n >= 0x80) {
    n = Math.floor(n / 0x80)
    length++
  }
  return length
}

/** `payload` with its unsigned-varint length prefix, as kad-dht frames messages. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintLength(payload.byteLength) + payload.byteLength)
  let n = payload.byteLength
  let i = 0
  while (n >= 0x80) {
    out[i++] = (n & 0x7f) | 0x80
    n = Math.floor(n / 0x80)
  }
  out[i++] = n
  out.set(payload, i)
  return out
}
