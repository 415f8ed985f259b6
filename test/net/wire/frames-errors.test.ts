import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import {
  ackFrameLength,
  decodeFrames,
  FrameType,
  writeAckFrame,
} from '../../../source/net/wire/frames.js';

/**
 * A truncated frame is dropped as 'truncated' with a message naming the field
 * it cut (RFC 9000 §19 layouts; one-byte varints below 64 here).
 */

function error(bytes: number[]): BadPacket {
  try {
    decodeFrames(Uint8Array.from(bytes));
  } catch (err) {
    if (err instanceof BadPacket) return err;
    throw err;
  }
  throw new Error('decoded without error');
}

const { Ack, Stream, Close, PathChallenge, PathResponse } = FrameType;

describe('decodeFrames: each truncation names its field', () => {
  const cases: [number[], string][] = [
    [[Stream], 'stream id'],
    [[Stream, 1], 'stream offset'],
    [[Stream, 1, 0], 'stream length'],
    [[Stream, 1, 0, 3, 9, 9], 'stream data'],
    [[PathChallenge, 1, 2, 3], 'path challenge'],
    [[PathResponse, 1, 2, 3, 4, 5, 6, 7], 'path response'],
    [[Close], 'close code'],
    [[Close, 0], 'close reason length'],
    [[Close, 0, 2, 65], 'close reason'],
    [[Ack], 'ack largest'],
    [[Ack, 10], 'ack delay'],
    [[Ack, 10, 0], 'ack range count'],
    [[Ack, 10, 0, 1], 'ack first range'],
    [[Ack, 10, 0, 1, 2], 'ack gap'],
    [[Ack, 10, 0, 1, 2, 0], 'ack range length'],
  ];
  for (const [bytes, field] of cases) {
    it(`[${bytes.join(' ')}]: truncated ${field}`, () => {
      const err = error(bytes);
      expect(err.reason).toBe('truncated');
      expect(err.message).toMatch(new RegExp(`^truncated ${field}: need \\d+ bytes, have \\d+$`));
    });
  }

  it('the complete frames decode', () => {
    expect(decodeFrames(Uint8Array.from([Stream, 1, 0, 2, 9, 9]))).toHaveLength(1);
    expect(decodeFrames(Uint8Array.from([Ack, 10, 0, 1, 2, 0, 1]))).toEqual([
      {
        type: 'ack',
        ranges: [
          [8, 11],
          [5, 7],
        ],
        ackDelayMicros: 0,
      },
    ]);
  });

  it('names the malformation: overflow, unknown type, reason length, ranges', () => {
    const big = [0xc0, 0x1f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]; // 2^53 - 1 as an 8-byte varint
    expect(error([Stream, 1, ...big, 1, 0]).message).toBe('stream offset overflow');
    expect(error([7]).message).toBe('unknown frame type 7');
    expect(error([Close, 0, 0x41, 0x01]).message).toBe('close reason too long');
    expect(error([Ack, 1, 0, 0, 2]).message).toBe('ack range below zero');
    expect(error([Ack, 1, 0, 0x40, 0x40, 0]).message).toBe('too many ack ranges'); // 64 more
  });

  it('a later ACK range below zero is named too', () => {
    // first range [1, 2); gap 0 puts the next range's top at -1.
    expect(error([Ack, 1, 0, 1, 0, 0, 5]).message).toBe('ack range below zero');
  });

  it('a stream frame ending exactly at 2^53 - 1 decodes; one byte further does not', () => {
    const at = (n: number) =>
      [0xc0, 0, 0, 0, 0, 0, 0, 0].map((b, i) => b | (Math.floor(n / 256 ** (7 - i)) % 256));
    const last = Number.MAX_SAFE_INTEGER - 1;
    const [frame] = decodeFrames(Uint8Array.from([Stream, 1, ...at(last), 1, 42]));
    expect(frame).toMatchObject({ type: 'stream', offset: last });
    expect(error([Stream, 1, ...at(last + 1), 1, 42]).message).toBe('stream offset overflow');
  });
});

describe('ACK frame length at varint boundaries (RFC 9000 §16: 63, 16383)', () => {
  it('ackFrameLength equals what writeAckFrame writes', () => {
    for (const largest of [62, 63, 64, 65, 16_382, 16_383, 16_384]) {
      for (const ranges of [
        [[largest - 1, largest + 1]],
        [
          [largest - 1, largest + 1],
          [0, 1],
        ],
      ] as [number, number][][]) {
        for (const delay of [0, 63, 64]) {
          const buf = Buffer.alloc(64);
          expect(writeAckFrame(buf, 0, ranges, delay), `${JSON.stringify(ranges)} ${delay}`).toBe(
            ackFrameLength(ranges, delay),
          );
        }
      }
    }
  });

  it('writeAckFrame refuses an empty range list by name', () => {
    expect(() => writeAckFrame(Buffer.alloc(8), 0, [], 0)).toThrow(new RangeError('empty ack'));
  });
});
