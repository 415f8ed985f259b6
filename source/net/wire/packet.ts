import { BadPacket } from '../core/errors.js';
import { Reader, view, writeU32, writeU64 } from './reader.js';

/**
 * Datagram layout. Byte 0 is the wire version on every packet we send, chosen
 * outside the ranges RFC 7983 §7 gives STUN (0-3), DTLS (20-63), TURN channels
 * (64-79) and RTP (128-191), so one socket can demultiplex STUN from ours.
 * Byte 1 is the packet type.
 *
 *   INIT    ver type sender:u32 cipher:u8 cookie:16 noise-msg1   (padded, see MIN_INIT_SIZE)
 *   RESP    ver type sender:u32 receiver:u32 noise-msg2
 *   FINISH  ver type receiver:u32 noise-msg3
 *   DATA    ver type receiver:u32 pn:u64 aead(frames)      header = associated data
 *   REJECT  ver type receiver:u32 reason:u8 detail:u8      cleartext, advisory only
 *   RESET   ver type index:u32 token:16                    stateless reset (RFC 9000 §10.3)
 *   COOKIE  ver type receiver:u32 cookie:16                under load: prove your address first
 *   PROBE   ver type kind:u8 token:16                      many-port NAT probing (birthday.ts)
 *
 * The INIT cookie is all zeros unless the responder asked for one: under a
 * handshake flood it answers INITs without a valid cookie with a tiny COOKIE
 * (a MAC of the source address) and keeps no state, as WireGuard's cookie
 * reply (§5.4.7) and QUIC's Retry (RFC 9000 §8.1.2) do.
 *
 * Session indices are chosen at random by their owner (as in WireGuard §5.4.2),
 * so a peer's packets find their session even when its address changes.
 */
export const WIRE_VERSION = 0x51;

export const PacketType = {
  Init: 1,
  Resp: 2,
  Finish: 3,
  Data: 4,
  Reject: 5,
  Reset: 6,
  Cookie: 7,
  Probe: 8,
} as const;

export const COOKIE_LENGTH = 16;
export const INIT_HEADER_LENGTH = 7 + COOKIE_LENGTH;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];

export const DATA_HEADER_LENGTH = 14;
/**
 * 1200 bytes of UDP payload: the datagram size every path carries, so the
 * size a session starts at and every packet but a path-MTU probe keeps to.
 * It is QUIC's minimum (RFC 9000 §14: a path that cannot carry 1200-byte
 * datagrams is not used; the 1280-byte IPv6 minimum MTU less 48 bytes of
 * IPv6 and UDP headers leaves 1232), and RFC 8899 §5.1.2's BASE_PLPMTU
 * (1200 is its recommended default). recovery/pmtu.ts searches upward from
 * it; congestion control counts its windows in it (RFC 9002 §7.2). This is
 * the one definition.
 */
export const BASE_PLPMTU = 1200;
/** @deprecated The old name of BASE_PLPMTU, still imported by core/peers/peer.ts and core/conn/session.ts. */
export const MAX_DATAGRAM = BASE_PLPMTU;
/**
 * Memory for outgoing DATA packets, carved from 64 KiB slabs. Node's own
 * pool (Buffer.allocUnsafe) is 8 KiB, so full packets exhausted it every six
 * and a bulk sender spent a few percent of its time making new pools. A
 * packet is never written again once handed to the socket, and nothing of
 * ours keeps it, so a slab is freed once the last of its packets is sent,
 * or reused once the socket says every one of them left (releasePacket).
 */
const SLAB_SIZE = 64 * 1024;
let slab: Buffer | undefined;
let slabUsed = 0;
/** Where the latest reservation began in the slab (what keepPacket and trimPacket may shorten). */
let lastStart = -1;
/**
 * Reservations of the current slab not yet given back: dropped whole
 * (dropPacket) or released once their datagram left (releasePacket). At
 * zero nothing holds the slab's bytes any more, and it is written again from
 * its start instead of a new one being made.
 */
let outstanding = 0;

/**
 * Reserves `size` bytes of the current slab for a packet being assembled;
 * returns where they start in packetSlab(). The assembler writes its frames
 * there and seals in place, then keepPacket (or dropPacket) settles the
 * reservation: one Buffer per packet, made once its length is known
 * (allocPacket + trimPacket made two: ~0.1 KB per datagram, issue 16).
 */
export function reservePacket(size: number): number {
  if (slab === undefined || slabUsed + size > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
    outstanding = 0;
  }
  outstanding++;
  const start = slabUsed;
  lastStart = start;
  // 8-byte alignment for the next one, as Node's pool does.
  slabUsed = (start + size + 7) & ~7;
  return start;
}

/** The slab the latest reservePacket carved from. */
export function packetSlab(): Buffer {
  if (slab === undefined) throw new Error('packetSlab before reservePacket');
  return slab;
}

/** Gives back the end of the latest reservation past `start + used` (see trimPacket). */
function giveBack(from: Buffer, start: number, used: number): void {
  if (from === slab && start === lastStart) {
    slabUsed = (start + used + 7) & ~7;
    lastStart = -1;
  }
}

/**
 * The first `used` bytes of the reservation at `start` of `from` (the
 * packetSlab() it was made in), as the packet's Buffer; the rest goes back.
 */
export function keepPacket(from: Buffer, start: number, used: number): Buffer {
  giveBack(from, start, used);
  return from.subarray(start, start + used);
}

/** The reservation at `start` of `from` carried nothing: all of it goes back. */
export function dropPacket(from: Buffer, start: number): void {
  giveBack(from, start, 0);
  if (from === slab) outstanding--;
}

/**
 * The datagram `data` (a keepPacket Buffer) has left: the socket copied it
 * to the kernel or refused it, and keeps no reference to its bytes. Only
 * the shell knows that, and it says so once per packet. When every
 * reservation of the current slab is released (or dropped), the slab is
 * reused from its start: a slab per ~58 full packets was ~1.1 KB of
 * ArrayBuffer per datagram sent (issue 16). A packet that is never released
 * (queued by the OS, sent by a probing socket, relayed, kept by a test)
 * only keeps its slab from being reused, as before. Any other buffer is
 * ignored.
 */
export function releasePacket(data: Uint8Array): void {
  if (slab === undefined || data.buffer !== slab.buffer) return;
  if (--outstanding === 0) {
    slabUsed = 0;
    lastStart = -1;
  }
}

/** A Buffer of `size` bytes from the slab (tools and tests; the assembler uses reservePacket). */
export function allocPacket(size: number): Buffer {
  const start = reservePacket(size);
  return packetSlab().subarray(start, start + size);
}

/**
 * The first `used` bytes of `buf`, the latest allocPacket's; the rest goes
 * back to the slab. A packet is allocated at the path's full size before
 * its frames are known, so without this an ACK-only packet of ~40 bytes
 * (and an empty one, `used` 0) took 1200 bytes of slab: most of the
 * ArrayBuffer memory a 1 KiB ping-pong allocated per round trip was slab
 * (bench/workers/alloc.ts). Any other buffer is only cut to `used`.
 */
export function trimPacket(buf: Buffer, used: number): Buffer {
  if (slab !== undefined && buf.buffer === slab.buffer)
    giveBack(slab, buf.byteOffset - slab.byteOffset, used);
  return buf.subarray(0, used);
}

/**
 * An INIT is padded to this size so that our RESP (≈ 300 bytes) never exceeds
 * three times what an unverified address sent us (anti-amplification, as in
 * RFC 9000 §8.1).
 */
export const MIN_INIT_SIZE = 320;

/** Cipher ids as carried in INIT (and in the Noise prologue). */
export const CipherId = { 'chacha20-poly1305': 1, 'aes-256-gcm': 2 } as const;

export const RejectReason = { CipherMismatch: 1, Busy: 2 } as const;

export type Packet =
  | {
      type: typeof PacketType.Init;
      sender: number;
      cipher: number;
      cookie: Uint8Array;
      noise: Uint8Array;
    }
  | { type: typeof PacketType.Resp; sender: number; receiver: number; noise: Uint8Array }
  | { type: typeof PacketType.Finish; receiver: number; noise: Uint8Array }
  | {
      type: typeof PacketType.Data;
      receiver: number;
      pn: number;
      header: Uint8Array;
      sealed: Uint8Array;
    }
  | { type: typeof PacketType.Reject; receiver: number; reason: number; detail: number }
  | { type: typeof PacketType.Reset; index: number; token: Uint8Array }
  | { type: typeof PacketType.Cookie; receiver: number; cookie: Uint8Array }
  | { type: typeof PacketType.Probe; kind: number; token: Uint8Array };

export const PROBE_TOKEN_LENGTH = 16;
export const PROBE_PACKET_SIZE = 3 + PROBE_TOKEN_LENGTH;

export const RESET_PACKET_SIZE = 22;

type DataPacket = Extract<Packet, { type: typeof PacketType.Data }>;

/** A DATA packet's cleartext header fields (see readDataHeader). */
export interface DataHeader {
  receiver: number;
  pn: number;
}

/** readDataHeader's answer, one for every call (read before the next). */
const DATA_HEADER: DataHeader = { receiver: 0, pn: 0 };

/**
 * The receiver index and packet number of a DATA datagram (`buf[1]` is
 * known to be DATA), checked as decodePacket checks them, into an object
 * shared by every call: the endpoint reads it at once and opens the
 * datagram in place (Session.openPacket), so nearly every datagram is
 * parsed with no object and no view of its own (issue 16).
 */
export function readDataHeader(buf: Uint8Array): DataHeader {
  if (buf.length < DATA_HEADER_LENGTH) {
    // Name the field the datagram ends in, as the general path (Reader) does.
    const field = buf.length < 6 ? 'receiver index' : 'packet number';
    throw new BadPacket('truncated', `truncated ${field}: ${buf.length} bytes`);
  }
  const receiver = ((buf[2]! << 24) | (buf[3]! << 16) | (buf[4]! << 8) | buf[5]!) >>> 0;
  const hi = ((buf[6]! << 24) | (buf[7]! << 16) | (buf[8]! << 8) | buf[9]!) >>> 0;
  const lo = ((buf[10]! << 24) | (buf[11]! << 16) | (buf[12]! << 8) | buf[13]!) >>> 0;
  if (hi > 0x1fffff) throw new BadPacket('malformed', 'packet number exceeds 2^53');
  if (buf.length - DATA_HEADER_LENGTH < 16) {
    throw new BadPacket('truncated', 'DATA shorter than its tag');
  }
  DATA_HEADER.receiver = receiver;
  DATA_HEADER.pn = hi * 0x1_0000_0000 + lo;
  return DATA_HEADER;
}

/** True when `buf` is one of our DATA datagrams by its first two bytes (nearly every datagram). */
export function isData(buf: Uint8Array): boolean {
  return buf[0] === WIRE_VERSION && buf[1] === PacketType.Data;
}

/**
 * DATA as a packet of its own: the header fields and two typed-array views
 * (header = associated data, sealed = ciphertext and tag). The endpoint
 * does not use this form (readDataHeader); tests and tools do.
 */
function decodeData(buf: Uint8Array): DataPacket {
  const h = readDataHeader(buf);
  return {
    type: PacketType.Data,
    receiver: h.receiver,
    pn: h.pn,
    header: view(buf, 0, DATA_HEADER_LENGTH),
    sealed: view(buf, DATA_HEADER_LENGTH, buf.length),
  };
}

/** Parses the cleartext framing of one of our datagrams. Throws BadPacket. */
export function decodePacket(buf: Uint8Array): Packet {
  if (isData(buf)) return decodeData(buf);
  const r = new Reader(buf);
  const version = r.u8('version');
  if (version !== WIRE_VERSION) throw new BadPacket('version', `unknown wire version ${version}`);
  const type = r.u8('type');
  switch (type) {
    case PacketType.Init: {
      if (buf.length < MIN_INIT_SIZE) throw new BadPacket('truncated', 'INIT below minimum size');
      const sender = r.u32('sender index');
      const cipher = r.u8('cipher');
      const cookie = r.bytes(COOKIE_LENGTH, 'cookie');
      return { type, sender, cipher, cookie, noise: r.rest() };
    }
    case PacketType.Resp: {
      const sender = r.u32('sender index');
      const receiver = r.u32('receiver index');
      return { type, sender, receiver, noise: r.rest() };
    }
    case PacketType.Finish: {
      const receiver = r.u32('receiver index');
      return { type, receiver, noise: r.rest() };
    }
    case PacketType.Reject: {
      const receiver = r.u32('receiver index');
      const reason = r.u8('reason');
      const detail = r.u8('detail');
      return { type, receiver, reason, detail };
    }
    case PacketType.Cookie: {
      const receiver = r.u32('cookie receiver');
      const cookie = r.bytes(COOKIE_LENGTH, 'cookie');
      return { type, receiver, cookie };
    }
    case PacketType.Reset: {
      const index = r.u32('reset index');
      const token = r.bytes(16, 'reset token');
      return { type, index, token };
    }
    case PacketType.Probe: {
      const kind = r.u8('probe kind');
      const token = r.bytes(PROBE_TOKEN_LENGTH, 'probe token');
      return { type, kind, token };
    }
    default:
      throw new BadPacket('unknown-type', `unknown packet type ${type}`);
  }
}

export function encodeInit(
  sender: number,
  cipher: number,
  noise: Uint8Array,
  cookie?: Uint8Array,
): Buffer {
  // Padding goes inside the Noise payload (see handshake.ts), where it is
  // authenticated, so the packet itself is exactly header + message.
  if (INIT_HEADER_LENGTH + noise.length < MIN_INIT_SIZE)
    throw new RangeError('INIT noise message must be pre-padded');
  const out = Buffer.alloc(INIT_HEADER_LENGTH + noise.length);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Init;
  writeU32(out, 2, sender);
  out[6] = cipher;
  if (cookie) out.set(cookie.subarray(0, COOKIE_LENGTH), 7);
  out.set(noise, INIT_HEADER_LENGTH);
  return out;
}

export function encodeCookie(receiver: number, cookie: Uint8Array): Buffer {
  if (cookie.length !== COOKIE_LENGTH) throw new RangeError('cookie must be 16 bytes');
  const out = Buffer.allocUnsafe(6 + COOKIE_LENGTH);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Cookie;
  writeU32(out, 2, receiver);
  out.set(cookie, 6);
  return out;
}

export function encodeResp(sender: number, receiver: number, noise: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(10 + noise.length);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Resp;
  writeU32(out, 2, sender);
  writeU32(out, 6, receiver);
  out.set(noise, 10);
  return out;
}

export function encodeFinish(receiver: number, noise: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(6 + noise.length);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Finish;
  writeU32(out, 2, receiver);
  out.set(noise, 6);
  return out;
}

export function encodeReject(receiver: number, reason: number, detail: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Reject;
  writeU32(out, 2, receiver);
  out[6] = reason;
  out[7] = detail;
  return out;
}

/** Writes a DATA header into `buf[0..14)`; the caller seals the rest in place. */
export function writeDataHeader(buf: Uint8Array, receiver: number, pn: number): void {
  buf[0] = WIRE_VERSION;
  buf[1] = PacketType.Data;
  writeU32(buf, 2, receiver);
  writeU64(buf, 6, pn);
}

export function encodeReset(index: number, token: Uint8Array): Buffer {
  if (token.length !== 16) throw new RangeError('reset token must be 16 bytes');
  const out = Buffer.allocUnsafe(RESET_PACKET_SIZE);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Reset;
  writeU32(out, 2, index);
  out.set(token.subarray(0, 16), 6);
  return out;
}

/** A NAT probe (birthday.ts): 19 bytes, cleartext; the token says which dial it belongs to. */
export function encodeProbe(kind: number, token: Uint8Array): Buffer {
  if (token.length !== PROBE_TOKEN_LENGTH) throw new RangeError('probe token must be 16 bytes');
  const out = Buffer.allocUnsafe(PROBE_PACKET_SIZE);
  out[0] = WIRE_VERSION;
  out[1] = PacketType.Probe;
  out[2] = kind;
  out.set(token, 3);
  return out;
}
