import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import { isStun } from '../../../source/net/nat/stun-codec.js';
import {
  allocPacket,
  decodePacket,
  encodeCookie,
  encodeInit,
  encodeProbe,
  encodeReset,
  INIT_HEADER_LENGTH,
  MIN_INIT_SIZE,
  PacketType,
  WIRE_VERSION,
} from '../../../source/net/wire/packet.js';

/**
 * What a malformed datagram is dropped for, and what the message says: every
 * truncation names the field it cut (the drop counters and logs depend on it).
 * Also STUN demultiplexing (RFC 7983 §7, RFC 8489 §5), the encoders' argument
 * checks and the packet slab's layout.
 */

function packet(type: number, bodyBytes: number): Buffer {
  return Buffer.concat([Buffer.from([WIRE_VERSION, type]), Buffer.alloc(bodyBytes)]);
}

function decodeError(buf: Uint8Array): BadPacket {
  try {
    decodePacket(buf);
  } catch (err) {
    if (err instanceof BadPacket) return err;
    throw err;
  }
  throw new Error('decoded without error');
}

describe('decodePacket: each truncation names its field', () => {
  const cases: [string, Buffer, BadPacket['reason'], string][] = [
    ['empty', Buffer.alloc(0), 'truncated', 'truncated version'],
    ['version only', Buffer.from([WIRE_VERSION]), 'truncated', 'truncated type'],
    [
      'INIT below its minimum',
      packet(PacketType.Init, MIN_INIT_SIZE - 3),
      'truncated',
      'INIT below minimum size',
    ],
    ['RESP', packet(PacketType.Resp, 0), 'truncated', 'truncated sender index'],
    ['RESP', packet(PacketType.Resp, 4), 'truncated', 'truncated receiver index'],
    ['FINISH', packet(PacketType.Finish, 3), 'truncated', 'truncated receiver index'],
    ['DATA', packet(PacketType.Data, 0), 'truncated', 'truncated receiver index'],
    ['DATA', packet(PacketType.Data, 4), 'truncated', 'truncated packet number'],
    ['DATA', packet(PacketType.Data, 12 + 15), 'truncated', 'DATA shorter than its tag'],
    ['REJECT', packet(PacketType.Reject, 0), 'truncated', 'truncated receiver index'],
    ['REJECT', packet(PacketType.Reject, 4), 'truncated', 'truncated reason'],
    ['REJECT', packet(PacketType.Reject, 5), 'truncated', 'truncated detail'],
    ['COOKIE', packet(PacketType.Cookie, 0), 'truncated', 'truncated cookie receiver'],
    ['COOKIE', packet(PacketType.Cookie, 4 + 15), 'truncated', 'truncated cookie'],
    ['RESET', packet(PacketType.Reset, 0), 'truncated', 'truncated reset index'],
    ['RESET', packet(PacketType.Reset, 4 + 15), 'truncated', 'truncated reset token'],
    ['PROBE', packet(PacketType.Probe, 0), 'truncated', 'truncated probe kind'],
    ['PROBE', packet(PacketType.Probe, 1 + 15), 'truncated', 'truncated probe token'],
    ['unknown version', Buffer.from([0x50, PacketType.Data]), 'version', 'unknown wire version 80'],
    ['unknown type', Buffer.from([WIRE_VERSION, 99]), 'unknown-type', 'unknown packet type 99'],
  ];
  for (const [what, buf, reason, message] of cases) {
    it(`${what} (${buf.length} bytes): ${reason}, "${message}"`, () => {
      const err = decodeError(buf);
      expect(err.reason).toBe(reason);
      expect(err.message.startsWith(message)).toBe(true);
    });
  }

  it('one byte more than each truncation decodes', () => {
    expect(decodePacket(packet(PacketType.Data, 12 + 16)).type).toBe(PacketType.Data);
    expect(decodePacket(packet(PacketType.Reset, 4 + 16)).type).toBe(PacketType.Reset);
    expect(decodePacket(packet(PacketType.Cookie, 4 + 16)).type).toBe(PacketType.Cookie);
    expect(decodePacket(packet(PacketType.Probe, 1 + 16)).type).toBe(PacketType.Probe);
    expect(decodePacket(packet(PacketType.Init, MIN_INIT_SIZE - 2)).type).toBe(PacketType.Init);
  });
});

describe('isStun (RFC 8489 §5: top two bits 0, magic cookie 0x2112A442)', () => {
  const stun = () => Buffer.from([0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, ...Array(12).fill(7)]);

  it('recognises a STUN header, first byte 0 to 3', () => {
    for (const first of [0, 1, 2, 3]) {
      const b = stun();
      b[0] = first;
      expect(isStun(b)).toBe(true);
    }
  });

  it('refuses first byte 4, any wrong magic byte, and fewer than 20 bytes', () => {
    const b = stun();
    b[0] = 4;
    expect(isStun(b)).toBe(false);
    for (const i of [4, 5, 6, 7]) {
      const c = stun();
      c[i]! ^= 0x01;
      expect(isStun(c), `magic byte ${i}`).toBe(false);
    }
    expect(isStun(stun().subarray(0, 19))).toBe(false);
  });

  it('never takes one of our packets for STUN', () => {
    expect(isStun(packet(PacketType.Data, 40))).toBe(false);
  });
});

describe('encoders refuse wrong-size arguments', () => {
  it('cookies, reset and probe tokens must be 16 bytes', () => {
    expect(() => encodeCookie(1, Buffer.alloc(15))).toThrow(
      new RangeError('cookie must be 16 bytes'),
    );
    expect(() => encodeReset(1, Buffer.alloc(17))).toThrow(
      new RangeError('reset token must be 16 bytes'),
    );
    expect(() => encodeProbe(1, Buffer.alloc(15))).toThrow(
      new RangeError('probe token must be 16 bytes'),
    );
    expect(encodeCookie(1, Buffer.alloc(16))).toHaveLength(22);
  });

  it('an INIT must already be padded to the minimum size', () => {
    const short = Buffer.alloc(MIN_INIT_SIZE - INIT_HEADER_LENGTH - 1);
    expect(() => encodeInit(1, 1, short)).toThrow(
      new RangeError('INIT noise message must be pre-padded'),
    );
    expect(encodeInit(1, 1, Buffer.alloc(short.length + 1))).toHaveLength(MIN_INIT_SIZE);
  });
});

describe('allocPacket: packets carved from 64 KiB slabs, 8-byte aligned', () => {
  const SLAB = 64 * 1024;

  it('consecutive packets share a slab at 8-byte-aligned offsets', () => {
    allocPacket(SLAB); // fills a slab: the next packet starts a fresh one
    const a = allocPacket(100);
    const b = allocPacket(100);
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset - a.byteOffset).toBe(104);
    expect(a.length).toBe(100);
  });

  it('a packet that exactly fills the rest of a slab stays in it; one byte more starts a new one', () => {
    allocPacket(SLAB);
    const first = allocPacket(8);
    const rest = allocPacket(SLAB - 8);
    expect(rest.buffer).toBe(first.buffer);
    allocPacket(SLAB);
    const again = allocPacket(8);
    const over = allocPacket(SLAB - 7);
    expect(over.buffer).not.toBe(again.buffer);
  });
});
