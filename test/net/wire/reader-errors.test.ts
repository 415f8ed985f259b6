import { describe, expect, it } from 'vitest';
import { Reader, writeVarint } from '../../../source/net/wire/reader.js';
import { expectBadPacket } from '../../support/badpacket.js';

/**
 * What the Reader says when it refuses hostile bytes (found by mutation
 * testing, test/mutation-survivors.md): the field and the shortfall name the
 * fault in a drop log or a protocol-violation CLOSE, counted from the
 * reader's own position and end (a sub-range of a datagram), and `skip`
 * checks a length exactly as `bytes` does.
 */

const message = (fn: () => unknown): string => expectBadPacket(fn).message;

describe('Reader refusals', () => {
  it('a truncation names the field (or the kind of read) and what was left of the range', () => {
    const buf = Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(message(() => new Reader(buf, 10).u8())).toBe('truncated u8: need 1 bytes, have 0');
    // Two bytes left after position 8: counted from the reader's position.
    expect(message(() => new Reader(buf, 8).u32())).toBe('truncated u32: need 4 bytes, have 2');
    expect(message(() => new Reader(buf, 4, 7).u32('index'))).toBe(
      'truncated index: need 4 bytes, have 3',
    );
    expect(message(() => new Reader(buf, 6).u64())).toBe('truncated u64: need 4 bytes, have 0');
    expect(message(() => new Reader(Uint8Array.of(0x40)).varint())).toBe(
      'truncated varint: need 2 bytes, have 1',
    );
    expect(message(() => new Reader(buf, 1, 3).bytes(4))).toBe(
      'truncated bytes: need 4 bytes, have 2',
    );
    expect(message(() => new Reader(buf, 1, 3).skip(3, 'padding'))).toBe(
      'truncated padding: need 3 bytes, have 2',
    );
  });

  it('a value past 2^53 and a bad length say so', () => {
    const big = Uint8Array.from([0x00, 0x20, 0, 0, 0, 0, 0, 0]);
    expect(message(() => new Reader(big).u64())).toBe('u64 exceeds 2^53');
    expect(message(() => new Reader(big).u64('packet number'))).toBe('packet number exceeds 2^53');
    const varint = Uint8Array.from([0xc0, 0x20, 0, 0, 0, 0, 0, 0]);
    expect(message(() => new Reader(varint).varint())).toBe('varint exceeds 2^53');
    expect(message(() => new Reader(varint).bytes(-1))).toBe('bad bytes length');
    expect(message(() => new Reader(varint).bytes(1.5, 'reason'))).toBe('bad reason length');
  });

  it('skip steps over bytes checked like bytes(): where they start, and nothing else moves', () => {
    const buf = Uint8Array.from([1, 2, 3, 4, 5]);
    const r = new Reader(buf, 1);
    expect(r.skip(2)).toBe(1);
    expect(r.offset).toBe(3);
    expect(r.skip(0)).toBe(3);
    expect(r.u8()).toBe(4);
    for (const n of [-1, 1.5, Number.NaN, 2 ** 60]) {
      const at = new Reader(buf);
      expect(expectBadPacket(() => at.skip(n), 'malformed').message).toBe('bad bytes length');
      expect(at.offset).toBe(0);
    }
    expect(message(() => new Reader(buf).skip(-1, 'padding'))).toBe('bad padding length');
    expectBadPacket(() => new Reader(buf, 4).skip(2), 'truncated');
  });

  it('writeVarint names the value it cannot encode', () => {
    expect(() => writeVarint(new Uint8Array(8), 0, -1)).toThrow(
      new RangeError('varint out of range: -1'),
    );
    expect(() => writeVarint(new Uint8Array(8), 0, 2 ** 53)).toThrow(/^varint out of range: /);
  });
});
