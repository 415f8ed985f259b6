import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import { isStun } from '../../../source/net/nat/stun-codec.js';
import {
  CipherId,
  COOKIE_LENGTH,
  DATA_HEADER_LENGTH,
  decodePacket,
  encodeCookie,
  encodeFinish,
  encodeInit,
  encodeProbe,
  encodeReject,
  encodeReset,
  encodeResp,
  INIT_HEADER_LENGTH,
  MIN_INIT_SIZE,
  type Packet,
  PacketType,
  PROBE_PACKET_SIZE,
  RESET_PACKET_SIZE,
  RejectReason,
  WIRE_VERSION,
  writeDataHeader,
} from '../../../source/net/wire/packet.js';
import { expectBadPacket, outcome } from '../../support/badpacket.js';

const TAG = 16;

function encodeData(receiver: number, pn: number, sealed: Uint8Array): Buffer {
  const out = Buffer.alloc(DATA_HEADER_LENGTH + sealed.length);
  writeDataHeader(out, receiver, pn);
  out.set(sealed, DATA_HEADER_LENGTH);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}

/** Field-by-field equality of two packets, comparing byte fields by content. */
function samePacket(a: Packet, b: Packet): boolean {
  const ea = Object.entries(a);
  if (ea.length !== Object.keys(b).length) return false;
  const rb = b as Record<string, unknown>;
  return ea.every(([k, v]) => {
    const w = rb[k];
    if (v instanceof Uint8Array) return w instanceof Uint8Array && sameBytes(v, w);
    return v === w;
  });
}

/** Plain-object form of a decoded packet (Uint8Array views turned into byte arrays). */
function plain(p: Packet): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p)) out[k] = v instanceof Uint8Array ? Array.from(v) : v;
  return out;
}

const index = fc.integer({ min: 0, max: 0xffff_ffff });
const pn = fc.oneof(
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
  fc.integer({ min: 0, max: 1000 }),
  fc.constantFrom(0, 0xffff_ffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER),
);
const byte = fc.integer({ min: 0, max: 255 });
const noise = fc.uint8Array({ maxLength: 200, size: 'max' });
const initNoise = fc.uint8Array({
  minLength: MIN_INIT_SIZE - INIT_HEADER_LENGTH,
  maxLength: MIN_INIT_SIZE + 100,
  size: 'max',
});

type Case = { bytes: Buffer; expected: Packet; fixedHeader: number };

/** Every packet type with its encoding, expected decode and the length of its fixed part. */
const packetCase: fc.Arbitrary<Case> = fc.oneof(
  fc
    .tuple(index, byte, initNoise, fc.uint8Array({ minLength: 16, maxLength: 16 }))
    .map(([sender, cipher, n, cookie]) => ({
      bytes: encodeInit(sender, cipher, n, cookie),
      expected: { type: PacketType.Init, sender, cipher, cookie, noise: n } as Packet,
      fixedHeader: MIN_INIT_SIZE,
    })),
  fc.tuple(index, fc.uint8Array({ minLength: 16, maxLength: 16 })).map(([receiver, cookie]) => ({
    bytes: encodeCookie(receiver, cookie),
    expected: { type: PacketType.Cookie, receiver, cookie } as Packet,
    fixedHeader: 6 + COOKIE_LENGTH,
  })),
  fc.tuple(index, index, noise).map(([sender, receiver, n]) => ({
    bytes: encodeResp(sender, receiver, n),
    expected: { type: PacketType.Resp, sender, receiver, noise: n } as Packet,
    fixedHeader: 10,
  })),
  fc.tuple(index, noise).map(([receiver, n]) => ({
    bytes: encodeFinish(receiver, n),
    expected: { type: PacketType.Finish, receiver, noise: n } as Packet,
    fixedHeader: 6,
  })),
  fc
    .tuple(index, pn, fc.uint8Array({ minLength: TAG, maxLength: 200, size: 'max' }))
    .map(([receiver, p, sealed]) => {
      const bytes = encodeData(receiver, p, sealed);
      return {
        bytes,
        expected: {
          type: PacketType.Data,
          receiver,
          pn: p,
          header: bytes.subarray(0, DATA_HEADER_LENGTH),
          sealed,
        } as Packet,
        fixedHeader: DATA_HEADER_LENGTH + TAG,
      };
    }),
  fc.tuple(index, byte, byte).map(([receiver, reason, detail]) => ({
    bytes: encodeReject(receiver, reason, detail),
    expected: { type: PacketType.Reject, receiver, reason, detail } as Packet,
    fixedHeader: 8,
  })),
  fc.tuple(index, fc.uint8Array({ minLength: 16, maxLength: 16 })).map(([i, token]) => ({
    bytes: encodeReset(i, token),
    expected: { type: PacketType.Reset, index: i, token } as Packet,
    fixedHeader: RESET_PACKET_SIZE,
  })),
  fc.tuple(byte, fc.uint8Array({ minLength: 16, maxLength: 16 })).map(([kind, token]) => ({
    bytes: encodeProbe(kind, token),
    expected: { type: PacketType.Probe, kind, token } as Packet,
    fixedHeader: PROBE_PACKET_SIZE,
  })),
);

/** What decoding a truncation of `c` to `cut` bytes must yield, if it may succeed. */
function expectedTruncation(c: Case, cut: number): Packet | undefined {
  if (cut < c.fixedHeader) return undefined;
  const p = c.expected;
  const headerLen = c.bytes.length - tailOf(p).length;
  const tail = c.bytes.subarray(headerLen, cut);
  switch (p.type) {
    case PacketType.Init:
    case PacketType.Resp:
    case PacketType.Finish:
      return { ...p, noise: tail };
    case PacketType.Data:
      return { ...p, sealed: tail };
    case PacketType.Reject:
    case PacketType.Reset:
    case PacketType.Cookie:
    case PacketType.Probe:
      // Fixed size: only the whole packet decodes.
      return cut === c.bytes.length ? p : undefined;
  }
}

function tailOf(p: Packet): Uint8Array {
  switch (p.type) {
    case PacketType.Init:
    case PacketType.Resp:
    case PacketType.Finish:
      return p.noise;
    case PacketType.Data:
      return p.sealed;
    case PacketType.Reject:
    case PacketType.Reset:
    case PacketType.Cookie:
    case PacketType.Probe:
      return new Uint8Array(0);
  }
}

describe('packet round trip', () => {
  it('decodes what every encoder produces', () => {
    fc.assert(
      fc.property(packetCase, (c) => {
        expect(c.bytes[0]).toBe(WIRE_VERSION);
        expect(c.bytes[1]).toBe(c.expected.type);
        const decoded = decodePacket(c.bytes);
        expect(plain(decoded)).toEqual(plain(c.expected));
        expect(isStun(c.bytes)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('DATA exposes the 14-byte header as associated data', () => {
    const sealed = Uint8Array.from({ length: 20 }, (_, i) => i);
    const bytes = encodeData(0xdeadbeef, 2 ** 40 + 7, sealed);
    const p = decodePacket(bytes);
    expect(p.type).toBe(PacketType.Data);
    if (p.type !== PacketType.Data) return;
    expect(p.header.length).toBe(DATA_HEADER_LENGTH);
    expect(Buffer.from(p.header).toString('hex')).toBe('5104deadbeef0000010000000007');
    expect(p.receiver).toBe(0xdeadbeef);
    expect(p.pn).toBe(2 ** 40 + 7);
    expect(Array.from(p.sealed)).toEqual(Array.from(sealed));
  });

  it('INIT carries a cipher id, a zero cookie by default, and keeps the exact noise bytes', () => {
    const n = new Uint8Array(MIN_INIT_SIZE - INIT_HEADER_LENGTH).fill(7);
    const bytes = encodeInit(42, CipherId['aes-256-gcm'], n);
    expect(bytes.length).toBe(MIN_INIT_SIZE);
    const p = decodePacket(bytes);
    expect(plain(p)).toEqual({
      type: PacketType.Init,
      sender: 42,
      cipher: 2,
      cookie: Array.from(new Uint8Array(16)),
      noise: Array.from(n),
    });
  });

  it('encodeInit refuses a noise message that is not pre-padded', () => {
    expect(() => encodeInit(1, 1, new Uint8Array(MIN_INIT_SIZE - INIT_HEADER_LENGTH - 1))).toThrow(
      RangeError,
    );
  });

  it('RESET is exactly RESET_PACKET_SIZE bytes and round-trips index and token', () => {
    const token = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 + i);
    const bytes = encodeReset(0x01020304, token);
    expect(bytes.length).toBe(RESET_PACKET_SIZE);
    expect(Buffer.from(bytes).toString('hex')).toBe(
      `5106${'01020304'}${Buffer.from(token).toString('hex')}`,
    );
    const p = decodePacket(bytes);
    expect(plain(p)).toEqual({
      type: PacketType.Reset,
      index: 0x01020304,
      token: Array.from(token),
    });
    expectBadPacket(() => decodePacket(bytes.subarray(0, RESET_PACKET_SIZE - 1)), 'truncated');
  });

  it('REJECT round-trips its advisory reason', () => {
    const p = decodePacket(encodeReject(9, RejectReason.Busy, 3));
    expect(plain(p)).toEqual({ type: PacketType.Reject, receiver: 9, reason: 2, detail: 3 });
  });
});

describe('packet truncation', () => {
  it('every truncation throws BadPacket or decodes consistently with the kept bytes', () => {
    fc.assert(
      fc.property(packetCase, (c) => {
        for (let cut = 0; cut < c.bytes.length; cut++) {
          const truncated = c.bytes.subarray(0, cut);
          const expected = expectedTruncation(c, cut);
          if (expected === undefined) {
            const got = outcome(() => decodePacket(truncated));
            if (got === 'none' || got === 'other') expectBadPacket(() => decodePacket(truncated));
          } else {
            const p = decodePacket(truncated);
            if (!samePacket(p, expected)) expect(plain(p)).toEqual(plain(expected));
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('names truncation as the reason for short headers', () => {
    expectBadPacket(() => decodePacket(new Uint8Array(0)), 'truncated');
    expectBadPacket(() => decodePacket(Uint8Array.of(WIRE_VERSION)), 'truncated');
    expectBadPacket(
      () => decodePacket(encodeResp(1, 2, new Uint8Array(0)).subarray(0, 9)),
      'truncated',
    );
    expectBadPacket(() => decodePacket(encodeReject(1, 1, 1).subarray(0, 7)), 'truncated');
  });

  it('INIT below MIN_INIT_SIZE is BadPacket even with a complete header', () => {
    const full = encodeInit(1, 1, new Uint8Array(MIN_INIT_SIZE - INIT_HEADER_LENGTH));
    expectBadPacket(() => decodePacket(full.subarray(0, MIN_INIT_SIZE - 1)), 'truncated');
    expectBadPacket(() => decodePacket(full.subarray(0, 7)), 'truncated');
    expect(decodePacket(full).type).toBe(PacketType.Init);
  });

  it('DATA shorter than its tag is BadPacket', () => {
    const full = encodeData(1, 1, new Uint8Array(TAG));
    expect(decodePacket(full).type).toBe(PacketType.Data);
    expectBadPacket(() => decodePacket(full.subarray(0, full.length - 1)), 'truncated');
    expectBadPacket(() => decodePacket(full.subarray(0, DATA_HEADER_LENGTH)), 'truncated');
  });

  it('DATA with a packet number above 2^53 is BadPacket', () => {
    const bytes = encodeData(1, 0, new Uint8Array(TAG));
    bytes[6] = 0x00;
    bytes[7] = 0x20; // pn = 2^53
    expectBadPacket(() => decodePacket(bytes), 'malformed');
  });
});

describe('packet demultiplexing', () => {
  it('rejects a wrong version byte with reason "version"', () => {
    fc.assert(
      fc.property(
        packetCase,
        byte.filter((b) => b !== WIRE_VERSION),
        (c, version) => {
          const bytes = Buffer.from(c.bytes);
          bytes[0] = version;
          expectBadPacket(() => decodePacket(bytes), 'version');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects unknown packet types with reason "unknown-type"', () => {
    for (const type of [0, 9, 10, 0x51, 0xff]) {
      const bytes = new Uint8Array(400);
      bytes[0] = WIRE_VERSION;
      bytes[1] = type;
      expectBadPacket(() => decodePacket(bytes), 'unknown-type');
    }
  });

  it('recognises a real STUN binding request and nothing of ours', () => {
    // RFC 8489 §5: type 0x0001 (Binding request), length 0, magic cookie, 96-bit txid.
    const stun = Buffer.from('000100002112a442b7e7a701bc34d686fa87dfae', 'hex');
    expect(stun.length).toBe(20);
    expect(isStun(stun)).toBe(true);
    // A binding success response (0x0101) with an XOR-MAPPED-ADDRESS attribute.
    const response = Buffer.from(
      '0101000c2112a442b7e7a701bc34d686fa87dfae002000080001a1475e12a443',
      'hex',
    );
    expect(isStun(response)).toBe(true);
    // Too short, wrong cookie, or a first byte outside STUN's range.
    expect(isStun(stun.subarray(0, 19))).toBe(false);
    const badCookie = Buffer.from(stun);
    badCookie[7] = 0x43;
    expect(isStun(badCookie)).toBe(false);
    const ours = Buffer.from(stun);
    ours[0] = WIRE_VERSION;
    expect(isStun(ours)).toBe(false);
    // And our own version byte sits outside every RFC 7983 range.
    expect(WIRE_VERSION >= 4 && WIRE_VERSION < 20).toBe(false);
    expect(WIRE_VERSION > 79 && WIRE_VERSION < 128).toBe(true);
    // STUN is never mistaken for our packets either.
    expectBadPacket(() => decodePacket(stun), 'version');
  });

  it('isStun is false for every packet we encode', () => {
    fc.assert(
      fc.property(packetCase, (c) => {
        expect(isStun(c.bytes)).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('decodePacket fuzz', () => {
  /** Mostly our version byte and a known type, so the decoder gets past the first checks. */
  const datagram = fc.oneof(
    fc.uint8Array({ maxLength: 64, size: 'max' }),
    fc
      .tuple(fc.integer({ min: 0, max: 8 }), fc.uint8Array({ maxLength: 400, size: 'max' }))
      .map(([type, rest]) => Uint8Array.from([WIRE_VERSION, type, ...rest])),
  );

  it('arbitrary bytes either decode or throw BadPacket, nothing else', () => {
    fc.assert(
      fc.property(datagram, (buf) => {
        let p: Packet;
        try {
          p = decodePacket(buf);
        } catch (err) {
          expect(err).toBeInstanceOf(BadPacket);
          return;
        }
        expect(buf[0]).toBe(WIRE_VERSION);
        expect(p.type).toBe(buf[1]);
        if ('receiver' in p) expect(p.receiver).toBeLessThanOrEqual(0xffff_ffff);
        if (p.type === PacketType.Data) {
          expect(Number.isSafeInteger(p.pn)).toBe(true);
          expect(p.sealed.length).toBe(buf.length - DATA_HEADER_LENGTH);
        }
        if (p.type === PacketType.Init) expect(buf.length).toBeGreaterThanOrEqual(MIN_INIT_SIZE);
      }),
      { numRuns: 5000 },
    );
  });
});
