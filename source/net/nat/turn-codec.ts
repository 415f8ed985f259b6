import { createHash } from 'node:crypto';
import type { Addr } from '../core/address.js';
import { BadPacket, UsageError } from '../core/errors.js';
import {
  decodeAddressValue,
  encodeAddressValue,
  StunAttr,
  type StunAttribute,
  type StunClass,
  type StunMessage,
} from './stun-codec.js';

/**
 * The TURN parts of the STUN codec (RFC 8656 §18 methods, §18 attributes,
 * §12.4 ChannelData) and the long-term credential key (RFC 8489 §9.2.2), on
 * stun-codec.ts. No state; decoders throw only `BadPacket`.
 */

/** RFC 8656 §17 (IANA): the TURN methods. */
export const TurnMethod = {
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;

/** RFC 8656 §18, and PASSWORD-ALGORITHM(S) of RFC 8489 §14.11-§14.12. */
export const TurnAttr = {
  ChannelNumber: 0x000c,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Data: 0x0013,
  XorRelayedAddress: 0x0016,
  RequestedTransport: 0x0019,
  PasswordAlgorithm: 0x001d,
  PasswordAlgorithms: 0x8002,
} as const;

/** RFC 8656 §12: the channel numbers a client may bind. */
export const CHANNEL_MIN = 0x4000;
export const CHANNEL_MAX = 0x4fff;
export const CHANNEL_DATA_HEADER = 4;

/** IANA protocol number of UDP, for REQUESTED-TRANSPORT (RFC 8656 §18.8). */
const PROTOCOL_UDP = 17;

/** RFC 8489 §18.5 password algorithm numbers. */
export const PasswordAlgorithm = { MD5: 0x0001, SHA256: 0x0002 } as const;

const CLASS_BITS: Record<StunClass, number> = {
  request: 0x0000,
  indication: 0x0010,
  success: 0x0100,
  error: 0x0110,
};

/** The 14-bit message type of RFC 8489 §5: method bits M0-M11 interleaved with C0, C1. */
export function stunType(method: number, cls: StunClass): number {
  return (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | CLASS_BITS[cls];
}

/**
 * The long-term credential key (RFC 8489 §9.2.2): MD5 or, with the
 * SHA-256 password algorithm (§18.5), SHA-256 of username ":" realm ":"
 * password. The caller passes strings already through OpaqueString (RFC 8265);
 * ours are used as given, as coturn does.
 */
export function longTermKey(
  username: string,
  realm: string,
  password: string,
  algorithm: number = PasswordAlgorithm.MD5,
): Buffer {
  const hash = algorithm === PasswordAlgorithm.SHA256 ? 'sha256' : 'md5';
  return createHash(hash).update(`${username}:${realm}:${password}`, 'utf8').digest();
}

// ---- attributes ---------------------------------------------------------------

export function textAttr(type: number, text: string): StunAttribute {
  return { type, value: Buffer.from(text, 'utf8') };
}

/** REQUESTED-TRANSPORT: UDP and three RFFU bytes (RFC 8656 §18.8). */
export function requestedTransportUdp(): StunAttribute {
  return { type: TurnAttr.RequestedTransport, value: Buffer.from([PROTOCOL_UDP, 0, 0, 0]) };
}

export function lifetimeAttr(seconds: number): StunAttribute {
  if (!Number.isInteger(seconds) || seconds < 0 || seconds > 0xffffffff) {
    throw new UsageError(`bad TURN lifetime ${seconds}`);
  }
  const value = Buffer.alloc(4);
  value.writeUInt32BE(seconds);
  return { type: TurnAttr.Lifetime, value };
}

/** CHANNEL-NUMBER: the number and two RFFU bytes (RFC 8656 §18.1). */
export function channelNumberAttr(channel: number): StunAttribute {
  checkChannel(channel);
  const value = Buffer.alloc(4);
  value.writeUInt16BE(channel);
  return { type: TurnAttr.ChannelNumber, value };
}

export function xorPeerAttr(peer: Addr, transactionId: Uint8Array): StunAttribute {
  return { type: TurnAttr.XorPeerAddress, value: encodeAddressValue(peer, transactionId, true) };
}

export function dataAttr(data: Uint8Array): StunAttribute {
  return { type: TurnAttr.Data, value: Buffer.from(data) };
}

function checkChannel(channel: number): void {
  if (!Number.isInteger(channel) || channel < CHANNEL_MIN || channel > CHANNEL_MAX) {
    throw new UsageError(`bad TURN channel number ${channel}`);
  }
}

// ---- reading a decoded message ------------------------------------------------------

export function firstAttr(msg: StunMessage, type: number): Buffer | undefined {
  // RFC 8489 §14: only the first of a repeated attribute counts.
  return msg.attributes.find((a) => a.type === type)?.value;
}

export function textOf(msg: StunMessage, type: number): string | undefined {
  return firstAttr(msg, type)?.toString('utf8');
}

/** LIFETIME in seconds, or undefined when absent. */
export function lifetimeOf(msg: StunMessage): number | undefined {
  const v = firstAttr(msg, TurnAttr.Lifetime);
  if (v === undefined) return undefined;
  if (v.length !== 4) throw new BadPacket('malformed', 'TURN: LIFETIME not 4 bytes');
  return v.readUInt32BE(0);
}

/** An XOR-encoded address attribute (XOR-RELAYED-ADDRESS, XOR-PEER-ADDRESS, RFC 8656 §18.3, §18.5). */
export function xorAddressOf(msg: StunMessage, type: number): Addr | undefined {
  const v = firstAttr(msg, type);
  return v === undefined ? undefined : decodeAddressValue(v, msg.transactionId, true);
}

/** The algorithms a PASSWORD-ALGORITHMS value lists (RFC 8489 §14.11), in order. */
export function passwordAlgorithmsOf(msg: StunMessage): number[] {
  const v = firstAttr(msg, TurnAttr.PasswordAlgorithms);
  if (v === undefined) return [];
  const out: number[] = [];
  let off = 0;
  while (off < v.length) {
    if (v.length - off < 4) throw new BadPacket('malformed', 'TURN: PASSWORD-ALGORITHMS cut short');
    const alg = v.readUInt16BE(off);
    const paramLength = v.readUInt16BE(off + 2);
    out.push(alg);
    off += 4 + ((paramLength + 3) & ~3);
  }
  if (off !== v.length) throw new BadPacket('malformed', 'TURN: PASSWORD-ALGORITHMS overrun');
  return out;
}

/** One PASSWORD-ALGORITHM value, parameters empty (RFC 8489 §14.12). */
export function passwordAlgorithmAttr(algorithm: number): StunAttribute {
  const value = Buffer.alloc(4);
  value.writeUInt16BE(algorithm);
  return { type: TurnAttr.PasswordAlgorithm, value };
}

// ---- ChannelData (RFC 8656 §12.4) ------------------------------------------------

/**
 * A ChannelData message: channel number, length, data. Over UDP no padding
 * (§12.5 leaves it optional); over a stream (`stream`), padded to 4 bytes so
 * the next message starts aligned.
 */
export function encodeChannelData(
  channel: number,
  data: Uint8Array,
  opts: { stream?: boolean } = {},
): Buffer {
  checkChannel(channel);
  if (data.length > 0xffff) throw new UsageError('ChannelData too long');
  const total = CHANNEL_DATA_HEADER + (opts.stream ? (data.length + 3) & ~3 : data.length);
  const buf = Buffer.alloc(total);
  buf.writeUInt16BE(channel, 0);
  buf.writeUInt16BE(data.length, 2);
  buf.set(data, CHANNEL_DATA_HEADER);
  return buf;
}

/**
 * Reads one ChannelData datagram. The length field must fit the datagram,
 * which may carry up to 3 bytes of padding after it (§12.5: a server MAY pad
 * over UDP); anything else is `BadPacket`. `data` is a view into `input`.
 */
export function decodeChannelData(input: Uint8Array): { channel: number; data: Buffer } {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < CHANNEL_DATA_HEADER) {
    throw new BadPacket('truncated', `ChannelData: ${buf.length} bytes is shorter than the header`);
  }
  const channel = buf.readUInt16BE(0);
  if (channel < CHANNEL_MIN || channel > CHANNEL_MAX) {
    throw new BadPacket('malformed', `ChannelData: channel 0x${channel.toString(16)} out of range`);
  }
  const length = buf.readUInt16BE(2);
  const end = CHANNEL_DATA_HEADER + length;
  if (end > buf.length) {
    throw new BadPacket('truncated', `ChannelData: says ${length} bytes, has ${buf.length - 4}`);
  }
  if (buf.length - end > 3) {
    throw new BadPacket('malformed', `ChannelData: ${buf.length - end} bytes after the data`);
  }
  return { channel, data: buf.subarray(CHANNEL_DATA_HEADER, end) };
}

/** The StunAttr constants the TURN client reads, re-exported for one import. */
export { StunAttr };
