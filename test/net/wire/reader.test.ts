import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import {
  Reader,
  varintLength,
  writeU32,
  writeU64,
  writeVarint,
} from '../../../source/net/wire/reader.js';
import { expectBadPacket } from '../../support/badpacket.js';

/** Runs `fn`, asserting it throws a BadPacket (with `reason`, when given). */
function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text, 'hex'));
}

function encodeVarint(value: number): Uint8Array {
  const buf = new Uint8Array(varintLength(value));
  expect(writeVarint(buf, 0, value)).toBe(buf.length);
  return buf;
}

const safeNat = fc.oneof(
  fc.integer({ min: 0, max: 0x3f }),
  fc.integer({ min: 0x40, max: 0x3fff }),
  fc.integer({ min: 0x4000, max: 0x3fff_ffff }),
  fc.integer({ min: 0x4000_0000, max: Number.MAX_SAFE_INTEGER }),
  fc.constantFrom(0, 0x3f, 0x40, 0x3fff, 0x4000, 0x3fff_ffff, 0x4000_0000, Number.MAX_SAFE_INTEGER),
);

describe('varint', () => {
  it('round-trips every value in 0..2^53-1, using exactly varintLength bytes', () => {
    fc.assert(
      fc.property(safeNat, fc.integer({ min: 0, max: 8 }), (value, lead) => {
        const len = varintLength(value);
        const buf = new Uint8Array(lead + len + 3).fill(0xaa);
        const end = writeVarint(buf, lead, value);
        expect(end).toBe(lead + len);
        // The bytes around the encoding are untouched.
        expect(buf.subarray(0, lead).every((b) => b === 0xaa)).toBe(true);
        expect(buf.subarray(end).every((b) => b === 0xaa)).toBe(true);
        // The two-bit prefix names the length (RFC 9000 §16).
        expect(1 << (buf[lead]! >> 6)).toBe(len);
        const r = new Reader(buf, lead);
        expect(r.varint()).toBe(value);
        expect(r.offset).toBe(end);
        expect(r.remaining).toBe(3);
      }),
      { numRuns: 500 },
    );
  });

  it('picks the shortest length class', () => {
    expect(varintLength(0)).toBe(1);
    expect(varintLength(63)).toBe(1);
    expect(varintLength(64)).toBe(2);
    expect(varintLength(16383)).toBe(2);
    expect(varintLength(16384)).toBe(4);
    expect(varintLength(1073741823)).toBe(4);
    expect(varintLength(1073741824)).toBe(8);
    expect(varintLength(Number.MAX_SAFE_INTEGER)).toBe(8);
  });

  it('decodes the RFC 9000 Appendix A.1 examples', () => {
    expect(new Reader(hex('9d7f3e7d')).varint()).toBe(494878333);
    expect(new Reader(hex('7bbd')).varint()).toBe(15293);
    expect(new Reader(hex('25')).varint()).toBe(37);
    // Non-minimal encodings are valid and decode to the same value.
    expect(new Reader(hex('4025')).varint()).toBe(37);
    expect(new Reader(hex('80000025')).varint()).toBe(37);
    expect(new Reader(hex('c000000000000025')).varint()).toBe(37);
  });

  it('encodes the RFC 9000 examples to their shortest form', () => {
    expect(Buffer.from(encodeVarint(494878333)).toString('hex')).toBe('9d7f3e7d');
    expect(Buffer.from(encodeVarint(15293)).toString('hex')).toBe('7bbd');
    expect(Buffer.from(encodeVarint(37)).toString('hex')).toBe('25');
  });

  it('rejects the 8-byte RFC example, which exceeds 2^53, with BadPacket', () => {
    // 0xc2197c5eff14e88c = 151288809941952652 > Number.MAX_SAFE_INTEGER
    const r = new Reader(hex('c2197c5eff14e88c'));
    expectBadPacket(() => r.varint(), 'malformed');
    // A failed read consumes nothing.
    expect(r.offset).toBe(0);
  });

  it('accepts 2^53-1 and rejects 2^53 and the 62-bit maximum', () => {
    expect(new Reader(hex('c01fffffffffffff')).varint()).toBe(Number.MAX_SAFE_INTEGER);
    expectBadPacket(() => new Reader(hex('c020000000000000')).varint(), 'malformed');
    expectBadPacket(() => new Reader(hex('ffffffffffffffff')).varint(), 'malformed');
  });

  it('writeVarint refuses values it cannot encode', () => {
    const buf = new Uint8Array(8);
    expect(() => writeVarint(buf, 0, -1)).toThrow(RangeError);
    expect(() => writeVarint(buf, 0, 1.5)).toThrow(RangeError);
    expect(() => writeVarint(buf, 0, 2 ** 53)).toThrow(RangeError);
    expect(() => writeVarint(buf, 0, Number.NaN)).toThrow(RangeError);
  });

  it('throws BadPacket (never RangeError) for every truncation of every encoding', () => {
    fc.assert(
      fc.property(safeNat, (value) => {
        const full = encodeVarint(value);
        for (let cut = 0; cut < full.length; cut++) {
          // Both a short buffer and a Reader whose end bound is short.
          const bad = expectBadPacket(
            () => new Reader(full.subarray(0, cut)).varint(),
            'truncated',
          );
          expect(bad.message).toContain('varint');
          expectBadPacket(() => new Reader(full, 0, cut).varint(), 'truncated');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('truncation of the RFC examples throws BadPacket at every length', () => {
    for (const text of ['9d7f3e7d', '7bbd', '4025', 'c2197c5eff14e88c']) {
      const full = hex(text);
      for (let cut = 0; cut < full.length; cut++) {
        expectBadPacket(() => new Reader(full.subarray(0, cut)).varint('x'), 'truncated');
      }
    }
  });
});

describe('u32 / u64', () => {
  it('u32 round-trips big-endian', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (value) => {
        const buf = new Uint8Array(4);
        expect(writeU32(buf, 0, value)).toBe(4);
        expect(new DataView(buf.buffer).getUint32(0, false)).toBe(value);
        expect(new Reader(buf).u32()).toBe(value);
      }),
      { numRuns: 300 },
    );
    expect(new Reader(hex('ffffffff')).u32()).toBe(0xffff_ffff);
    expect(new Reader(hex('80000000')).u32()).toBe(0x8000_0000);
  });

  it('u64 round-trips every value up to 2^53-1', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (value) => {
        const buf = new Uint8Array(8);
        expect(writeU64(buf, 0, value)).toBe(8);
        expect(new DataView(buf.buffer).getBigUint64(0, false)).toBe(BigInt(value));
        expect(new Reader(buf).u64()).toBe(value);
      }),
      { numRuns: 300 },
    );
    expect(new Reader(hex('001fffffffffffff')).u64()).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('u64 rejects values above 2^53 - 1 with BadPacket', () => {
    expectBadPacket(() => new Reader(hex('0020000000000000')).u64(), 'malformed');
    expectBadPacket(() => new Reader(hex('ffffffffffffffff')).u64(), 'malformed');
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }), (value) => {
        const buf = new Uint8Array(8);
        new DataView(buf.buffer).setBigUint64(0, value, false);
        expectBadPacket(() => new Reader(buf).u64(), 'malformed');
      }),
      { numRuns: 200 },
    );
  });

  it('u32 / u64 / u8 truncations throw BadPacket', () => {
    const buf = hex('0102030405060708');
    for (let cut = 0; cut < 4; cut++) {
      expectBadPacket(() => new Reader(buf.subarray(0, cut)).u32('idx'), 'truncated');
    }
    for (let cut = 0; cut < 8; cut++) {
      expectBadPacket(() => new Reader(buf.subarray(0, cut)).u64('pn'), 'truncated');
    }
    expectBadPacket(() => new Reader(new Uint8Array(0)).u8(), 'truncated');
    expectBadPacket(() => new Reader(buf, 8).u8(), 'truncated');
  });
});

describe('Reader', () => {
  it('reads sequentially within [start, end) and reports remaining', () => {
    const buf = hex('ff0102030405ff');
    const r = new Reader(buf, 1, 6);
    expect(r.remaining).toBe(5);
    expect(r.u8()).toBe(1);
    expect(Array.from(r.bytes(2))).toEqual([2, 3]);
    expect(r.offset).toBe(4);
    expect(Array.from(r.rest())).toEqual([4, 5]);
    expect(r.remaining).toBe(0);
    expectBadPacket(() => r.u8(), 'truncated');
  });

  it('bytes() returns a view and validates its length', () => {
    const buf = hex('0a0b0c');
    const view = new Reader(buf).bytes(2);
    buf[0] = 0x99;
    expect(view[0]).toBe(0x99);
    expect(new Reader(buf).bytes(0).length).toBe(0);
    expectBadPacket(() => new Reader(buf).bytes(4), 'truncated');
    expectBadPacket(() => new Reader(buf).bytes(-1), 'malformed');
    expectBadPacket(() => new Reader(buf).bytes(1.5), 'malformed');
    expectBadPacket(() => new Reader(buf).bytes(Number.NaN), 'malformed');
    expectBadPacket(() => new Reader(buf).bytes(2 ** 60), 'malformed');
  });

  it('arbitrary reads on arbitrary bytes either succeed or throw BadPacket', () => {
    const op = fc.constantFrom('u8', 'u32', 'u64', 'varint', 'bytes', 'rest');
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 24, size: 'max' }),
        fc.array(fc.tuple(op, fc.integer({ min: 0, max: 30 })), { maxLength: 10 }),
        (buf, ops) => {
          const r = new Reader(buf);
          for (const [kind, n] of ops) {
            const before = r.offset;
            try {
              switch (kind) {
                case 'u8':
                  expect(r.u8()).toBe(buf[before]);
                  break;
                case 'u32':
                  expect(r.u32()).toBeLessThanOrEqual(0xffff_ffff);
                  break;
                case 'u64':
                  expect(Number.isSafeInteger(r.u64())).toBe(true);
                  break;
                case 'varint':
                  expect(Number.isSafeInteger(r.varint())).toBe(true);
                  break;
                case 'bytes':
                  expect(r.bytes(n).length).toBe(n);
                  break;
                case 'rest':
                  expect(r.rest().length).toBe(buf.length - before);
                  break;
              }
            } catch (err) {
              expect(err).toBeInstanceOf(BadPacket);
            }
            expect(r.offset).toBeGreaterThanOrEqual(before);
            expect(r.offset).toBeLessThanOrEqual(buf.length);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
