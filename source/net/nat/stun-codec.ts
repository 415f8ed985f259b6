import { createHmac, timingSafeEqual } from 'node:crypto';
import { type Addr, normalizeIp } from '../core/address.js';
import { BadPacket, UsageError } from '../core/errors.js';
import { IPV4_LENGTH, IPV6_LENGTH, ipFromBytes, ipToBytes } from '../wire/ip.js';

/**
 * The STUN codec (RFC 8489 §5, §14): messages, attributes, FINGERPRINT and
 * MESSAGE-INTEGRITY(-SHA256), with no state. `encode*` build datagrams; `decodeStunMessage` reads hostile
 * bytes and throws only `BadPacket`. The Binding client (stun.ts) is one user;
 * it is kept apart so that others (a TURN client, RFC 8656) can reuse it.
 *
 * Demultiplexing (RFC 8489 §5, RFC 7983 §7): a STUN message's first byte is
 * 0-3 and it carries the magic cookie at bytes 4..8, while every packet of
 * ours starts with WIRE_VERSION (0x51). `isStun` is that check, the one
 * sniffer: the caller runs it once per datagram and hands STUN to the client.
 */

export const STUN_MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_LENGTH = 20;
export const STUN_TRANSACTION_ID_LENGTH = 12;

export const StunMethod = { Binding: 0x001 } as const;

export const StunType = {
  BindingRequest: 0x0001,
  BindingIndication: 0x0011,
  BindingSuccess: 0x0101,
  BindingError: 0x0111,
} as const;

export const StunAttr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  Realm: 0x0014,
  Nonce: 0x0015,
  MessageIntegritySha256: 0x001c,
  XorMappedAddress: 0x0020,
  Software: 0x8022,
  AlternateServer: 0x8023,
  Fingerprint: 0x8028,
} as const;

/** The family byte of (XOR-)MAPPED-ADDRESS, RFC 8489 §14.1. */
const FAMILY_IPV4 = 0x01;
const FAMILY_IPV6 = 0x02;

/** FINGERPRINT is CRC-32 of the message XOR this constant ("STUN"), RFC 8489 §14.7. */
const FINGERPRINT_XOR = 0x5354554e;
const FINGERPRINT_LENGTH = 8; // attribute header + 4-byte value

export type StunClass = 'request' | 'indication' | 'success' | 'error';

export interface StunAttribute {
  type: number;
  /** The value without padding; a view into the decoded buffer. */
  value: Buffer;
}

/** A decoded attribute also says where it sits, for MESSAGE-INTEGRITY. */
export interface DecodedAttribute extends StunAttribute {
  /** Offset of the attribute's header in the message. */
  offset: number;
}

export interface StunMessage {
  /** The 14-bit message type (method and class interleaved). */
  type: number;
  method: number;
  class: StunClass;
  transactionId: Buffer;
  /** Every attribute in order, unknown ones included. */
  attributes: DecodedAttribute[];
  /** XOR-MAPPED-ADDRESS if present, else MAPPED-ADDRESS (RFC 3489 servers), else undefined. */
  mappedAddress: Addr | undefined;
  /** True when the mapped address came from XOR-MAPPED-ADDRESS. */
  xorMapped: boolean;
  /** True when a FINGERPRINT was present (it was verified: a bad one throws). */
  fingerprint: boolean;
  errorCode: { code: number; reason: string } | undefined;
  software: string | undefined;
}

// ---- CRC-32 (ISO-HDLC, as zlib) -------------------------------------------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) {
    crc = CRC_TABLE[(crc ^ data[i]!) & 0xff]! ^ (crc >>> 8);
  }
  return (crc ^ 0xffffffff) >>> 0;
}

// ---- type field -------------------------------------------------------------

function classOf(type: number): StunClass {
  const c = ((type >> 7) & 0b10) | ((type >> 4) & 0b01);
  return c === 0 ? 'request' : c === 1 ? 'indication' : c === 2 ? 'success' : 'error';
}

function methodOf(type: number): number {
  return (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
}

/** The method of a datagram `isStun` accepted, without decoding it (Binding vs TURN's methods). */
export function stunMethod(buf: Uint8Array): number {
  return methodOf(((buf[0]! << 8) | buf[1]!) & 0x3fff);
}

// ---- encoding ---------------------------------------------------------------

/**
 * A MESSAGE-INTEGRITY key (RFC 8489 §14.5, HMAC-SHA1; with `sha256`, §14.6
 * MESSAGE-INTEGRITY-SHA256): the password for short-term credentials
 * (§9.1.2), MD5(username ":" realm ":" password) for long-term ones
 * (§9.2.2), each after the caller's OpaqueString preparation (RFC 8265).
 */
export interface IntegrityKey {
  key: Uint8Array;
  sha256?: boolean;
}

export interface EncodeOptions {
  /** Append a FINGERPRINT attribute (default false for requests: RFC 8489 makes it optional). */
  fingerprint?: boolean;
  /** Append MESSAGE-INTEGRITY(-SHA256) with this key, after the attributes and before FINGERPRINT. */
  integrity?: IntegrityKey;
}

function checkTransactionId(id: Uint8Array): void {
  if (id.length !== STUN_TRANSACTION_ID_LENGTH) {
    throw new UsageError(
      `STUN transaction id must be ${STUN_TRANSACTION_ID_LENGTH} bytes, got ${id.length}`,
    );
  }
}

/** Any STUN message: attributes are padded to 4 bytes; FINGERPRINT (if asked) goes last. */
export function encodeStunMessage(
  type: number,
  transactionId: Uint8Array,
  attributes: readonly StunAttribute[] = [],
  opts: EncodeOptions = {},
): Buffer {
  checkTransactionId(transactionId);
  if (!Number.isInteger(type) || type < 0 || type > 0x3fff) {
    throw new UsageError(`bad STUN message type ${type}`);
  }
  let bodyLength = 0;
  for (const a of attributes) {
    if (a.value.length > 0xffff) throw new UsageError('STUN attribute too long');
    bodyLength += 4 + ((a.value.length + 3) & ~3);
  }
  const macLength = opts.integrity ? integrityLength(opts.integrity) : 0;
  if (opts.integrity) bodyLength += 4 + macLength;
  if (opts.fingerprint) bodyLength += FINGERPRINT_LENGTH;
  if (bodyLength > 0xffff - 3) throw new UsageError('STUN message too long');
  const buf = Buffer.alloc(STUN_HEADER_LENGTH + bodyLength);
  buf.writeUInt16BE(type, 0);
  buf.writeUInt16BE(bodyLength, 2);
  buf.writeUInt32BE(STUN_MAGIC_COOKIE, 4);
  buf.set(transactionId, 8);
  let off = STUN_HEADER_LENGTH;
  for (const a of attributes) off = writeAttribute(buf, off, a.type, a.value);
  if (opts.integrity) {
    const mac = integrityMac(buf, off, macLength, opts.integrity);
    const type = opts.integrity.sha256
      ? StunAttr.MessageIntegritySha256
      : StunAttr.MessageIntegrity;
    off = writeAttribute(buf, off, type, mac);
  }
  if (opts.fingerprint) {
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE((crc32(buf.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0);
    writeAttribute(buf, off, StunAttr.Fingerprint, crc);
  }
  return buf;
}

/** Type, length, value and zero padding to 4 bytes (RFC 8489 §14); returns the next offset. */
function writeAttribute(buf: Buffer, off: number, type: number, value: Uint8Array): number {
  buf.writeUInt16BE(type, off);
  buf.writeUInt16BE(value.length, off + 2);
  buf.set(value, off + 4);
  return off + 4 + ((value.length + 3) & ~3);
}

/** A Binding request: the 20-byte header and, if asked, a FINGERPRINT. */
export function encodeBindingRequest(transactionId: Uint8Array, opts: EncodeOptions = {}): Buffer {
  return encodeStunMessage(StunType.BindingRequest, transactionId, [], opts);
}

/** A Binding success response carrying XOR-MAPPED-ADDRESS (what a server sends; for tests and tools). */
export function encodeBindingResponse(
  transactionId: Uint8Array,
  mapped: Addr,
  opts: EncodeOptions & { software?: string } = {},
): Buffer {
  checkTransactionId(transactionId);
  const attrs: StunAttribute[] = [];
  if (opts.software !== undefined) {
    attrs.push({ type: StunAttr.Software, value: Buffer.from(opts.software, 'utf8') });
  }
  attrs.push({
    type: StunAttr.XorMappedAddress,
    value: encodeAddressValue(mapped, transactionId, true),
  });
  return encodeStunMessage(StunType.BindingSuccess, transactionId, attrs, opts);
}

/** A Binding error response with ERROR-CODE (RFC 8489 §14.8). */
export function encodeBindingError(
  transactionId: Uint8Array,
  code: number,
  reason: string,
  opts: EncodeOptions = {},
): Buffer {
  if (!Number.isInteger(code) || code < 300 || code > 699) {
    throw new UsageError(`bad STUN error code ${code}`);
  }
  const text = Buffer.from(reason, 'utf8');
  const value = Buffer.alloc(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return encodeStunMessage(
    StunType.BindingError,
    transactionId,
    [{ type: StunAttr.ErrorCode, value }],
    opts,
  );
}

/** The value of (XOR-)MAPPED-ADDRESS for `addr`. */
export function encodeAddressValue(addr: Addr, transactionId: Uint8Array, xor: boolean): Buffer {
  const ip = ipToBytes(addr.address);
  if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 0xffff) {
    throw new UsageError(`bad port ${addr.port}`);
  }
  const value = Buffer.alloc(4 + ip.length);
  value[1] = ip.length === IPV4_LENGTH ? FAMILY_IPV4 : FAMILY_IPV6;
  value.writeUInt16BE(xor ? addr.port ^ (STUN_MAGIC_COOKIE >>> 16) : addr.port, 2);
  if (xor) xorAddress(ip, transactionId);
  value.set(ip, 4);
  return value;
}

// ---- decoding ---------------------------------------------------------------

/**
 * True when `buf` may be STUN: at least a header, a first byte in STUN's
 * RFC 7983 §7 range (0-3: the two zero bits of RFC 8489 §5 and the methods in
 * use) and the magic cookie. Cheap enough for every datagram, and it proves
 * nothing: `decodeStunMessage` checks the rest (length, attributes, FINGERPRINT).
 */
export function isStun(buf: Uint8Array): boolean {
  return (
    buf.length >= STUN_HEADER_LENGTH &&
    buf[0]! < 4 &&
    buf[4] === 0x21 &&
    buf[5] === 0x12 &&
    buf[6] === 0xa4 &&
    buf[7] === 0x42
  );
}

/**
 * True when `buf` may be a TURN ChannelData message (RFC 8656 §12.4): a
 * first byte of 0x40-0x4F (channel numbers 0x4000-0x4FFF; RFC 7983 §7 gives
 * 64-79 to TURN channels) and room for the 4-byte header. It cannot be
 * confused with STUN (0-3) or our wire byte (0x51); `decodeChannelData`
 * (turn-codec.ts) checks the length.
 */
export function isChannelData(buf: Uint8Array): boolean {
  return buf.length >= 4 && buf[0]! >= 0x40 && buf[0]! <= 0x4f;
}

/**
 * Decodes one STUN message (RFC 8489 §5, §14). Throws `BadPacket`
 * ('truncated' when bytes are missing, 'malformed' otherwise) and nothing
 * else, whatever the input. MESSAGE-INTEGRITY is kept but not verified (a
 * Binding client has no credentials); a FINGERPRINT, when present, must be the
 * last attribute and must match.
 */
export function decodeStunMessage(input: Uint8Array): StunMessage {
  const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (buf.length < STUN_HEADER_LENGTH) {
    throw new BadPacket('truncated', `STUN: ${buf.length} bytes is shorter than the header`);
  }
  const type = buf.readUInt16BE(0);
  if ((type & 0xc000) !== 0) throw new BadPacket('malformed', 'STUN: first two bits not zero');
  const length = buf.readUInt16BE(2);
  if (buf.readUInt32BE(4) !== STUN_MAGIC_COOKIE) {
    throw new BadPacket('malformed', 'STUN: no magic cookie');
  }
  if ((length & 3) !== 0) {
    throw new BadPacket('malformed', `STUN: length ${length} not a multiple of 4`);
  }
  const end = STUN_HEADER_LENGTH + length;
  if (end > buf.length) {
    throw new BadPacket('truncated', `STUN: header says ${end} bytes, datagram has ${buf.length}`);
  }
  if (end < buf.length) {
    throw new BadPacket('malformed', `STUN: ${buf.length - end} bytes after the message`);
  }
  const transactionId = buf.subarray(8, STUN_HEADER_LENGTH);

  const attributes: DecodedAttribute[] = [];
  let fingerprint = false;
  let off = STUN_HEADER_LENGTH;
  while (off < end) {
    if (fingerprint) throw new BadPacket('malformed', 'STUN: attribute after FINGERPRINT');
    if (end - off < 4) throw new BadPacket('truncated', 'STUN: attribute header cut short');
    const attrType = buf.readUInt16BE(off);
    const attrLength = buf.readUInt16BE(off + 2);
    const valueStart = off + 4;
    const padded = (attrLength + 3) & ~3;
    if (valueStart + padded > end) {
      throw new BadPacket(
        'truncated',
        `STUN: attribute 0x${attrType.toString(16)} of ${attrLength} bytes overruns the message`,
      );
    }
    const value = buf.subarray(valueStart, valueStart + attrLength);
    if (attrType === StunAttr.Fingerprint) {
      if (attrLength !== 4) throw new BadPacket('malformed', 'STUN: FINGERPRINT not 4 bytes');
      const expected = (crc32(buf.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0;
      if (value.readUInt32BE(0) !== expected) {
        throw new BadPacket('malformed', 'STUN: FINGERPRINT does not match');
      }
      fingerprint = true;
    }
    attributes.push({ type: attrType, value, offset: off });
    off = valueStart + padded;
  }

  // RFC 8489 §14: only the first of a repeated attribute counts.
  const first = (t: number) => attributes.find((a) => a.type === t);
  const xorAttr = first(StunAttr.XorMappedAddress);
  const plainAttr = first(StunAttr.MappedAddress);
  let mappedAddress: Addr | undefined;
  if (xorAttr) mappedAddress = decodeAddressValue(xorAttr.value, transactionId, true);
  else if (plainAttr) mappedAddress = decodeAddressValue(plainAttr.value, transactionId, false);
  const errAttr = first(StunAttr.ErrorCode);
  const softAttr = first(StunAttr.Software);
  return {
    type,
    method: methodOf(type),
    class: classOf(type),
    transactionId,
    attributes,
    mappedAddress,
    xorMapped: xorAttr !== undefined,
    fingerprint,
    errorCode: errAttr ? decodeErrorCode(errAttr.value) : undefined,
    software: softAttr ? softAttr.value.toString('utf8') : undefined,
  };
}

/** (XOR-)MAPPED-ADDRESS value (RFC 8489 §14.1, §14.2) to a normalised address. */
export function decodeAddressValue(value: Buffer, transactionId: Uint8Array, xor: boolean): Addr {
  if (value.length < 4) throw new BadPacket('malformed', 'STUN: address attribute too short');
  const family = value[1];
  const ipLength = family === FAMILY_IPV4 ? IPV4_LENGTH : family === FAMILY_IPV6 ? IPV6_LENGTH : 0;
  if (ipLength === 0) throw new BadPacket('malformed', `STUN: unknown address family ${family}`);
  if (value.length !== 4 + ipLength) {
    throw new BadPacket('malformed', `STUN: address attribute of ${value.length} bytes`);
  }
  let port = value.readUInt16BE(2);
  const ip = Buffer.from(value.subarray(4));
  if (xor) {
    port ^= STUN_MAGIC_COOKIE >>> 16;
    xorAddress(ip, transactionId);
  }
  return { address: normalizeIp(ipFromBytes(ip)), port };
}

function decodeErrorCode(value: Buffer): { code: number; reason: string } {
  if (value.length < 4) throw new BadPacket('malformed', 'STUN: ERROR-CODE too short');
  const cls = value[2]! & 0x07;
  const number = value[3]!;
  if (cls < 3 || cls > 6 || number > 99) {
    throw new BadPacket('malformed', `STUN: bad error code ${cls}${number}`);
  }
  return { code: cls * 100 + number, reason: value.subarray(4).toString('utf8') };
}

// ---- address bytes ----------------------------------------------------------

/** XORs an address in place with the cookie (IPv4) or cookie + transaction id (IPv6). */
function xorAddress(ip: Uint8Array, transactionId: Uint8Array): void {
  const mask = Buffer.alloc(16);
  mask.writeUInt32BE(STUN_MAGIC_COOKIE, 0);
  mask.set(transactionId, 4);
  for (let i = 0; i < ip.length; i++) ip[i] = ip[i]! ^ mask[i]!;
}

// ---- MESSAGE-INTEGRITY ------------------------------------------------------------

function integrityLength(integrity: IntegrityKey): number {
  return integrity.sha256 ? 32 : 20;
}

/**
 * The HMAC of RFC 8489 §14.5/§14.6: over the message up to the attribute at
 * `offset`, with the header's length counting to that attribute's end (so a
 * FINGERPRINT after it is left out), whatever the real length says.
 */
function integrityMac(
  message: Uint8Array,
  offset: number,
  valueLength: number,
  integrity: IntegrityKey,
): Buffer {
  const covered = Buffer.from(message.subarray(0, offset)); // a copy: its length is rewritten
  covered.writeUInt16BE(offset + 4 + valueLength - STUN_HEADER_LENGTH, 2);
  return createHmac(integrity.sha256 ? 'sha256' : 'sha1', integrity.key)
    .update(covered)
    .digest();
}

/**
 * True when `msg`, decoded from `raw`, carries a MESSAGE-INTEGRITY (or, with
 * `sha256`, a MESSAGE-INTEGRITY-SHA256, which §14.6 lets a sender truncate
 * to 16-32 bytes in steps of 4) made with `key`. False when it has none.
 */
export function verifyMessageIntegrity(
  raw: Uint8Array,
  msg: StunMessage,
  integrity: IntegrityKey,
): boolean {
  const type = integrity.sha256 ? StunAttr.MessageIntegritySha256 : StunAttr.MessageIntegrity;
  const attr = msg.attributes.find((a) => a.type === type);
  if (!attr) return false;
  const n = attr.value.length;
  const full = integrityLength(integrity);
  if (integrity.sha256 ? n < 16 || n > full || n % 4 !== 0 : n !== full) return false;
  const mac = integrityMac(raw, attr.offset, n, integrity).subarray(0, n);
  return timingSafeEqual(mac, attr.value);
}
