import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import {
  ackFrameLength,
  CloseCode,
  closeFrameLength,
  decodeFrames,
  type Frame,
  FrameType,
  MAX_ACK_RANGES,
  PATH_DATA_LENGTH,
  streamHeaderLength,
  writeAckFrame,
  writeCloseFrame,
  writePathFrame,
  writePing,
  writeStreamFrame,
} from '../../../source/net/wire/frames.js';
import { varintLength, writeVarint } from '../../../source/net/wire/reader.js';
import { expectBadPacket, outcome } from '../../support/badpacket.js';

/** A frame to write; `padding` is written as a 0x00 byte and decodes to nothing. */
type Spec = Frame | { type: 'padding' };

/** Descending, disjoint, non-adjacent [start, end) ranges built bottom-up from sizes. */
const ackRanges = (maxRanges: number, big = false): fc.Arbitrary<[number, number][]> =>
  fc
    .tuple(
      fc.integer({ min: 0, max: big ? 2 ** 40 : 1000 }),
      fc.array(
        fc.tuple(
          fc.integer({ min: 1, max: big ? 2 ** 20 : 100 }), // range length
          fc.integer({ min: 1, max: big ? 2 ** 20 : 100 }), // missing packets before the next range
        ),
        { minLength: 1, maxLength: maxRanges, size: 'max' },
      ),
    )
    .map(([base, parts]) => {
      const ranges: [number, number][] = [];
      let next = base;
      for (const [len, gap] of parts) {
        ranges.push([next, next + len]);
        next += len + gap;
      }
      return ranges.reverse();
    });

const ackFrame = fc
  .tuple(
    fc.oneof(ackRanges(MAX_ACK_RANGES), ackRanges(MAX_ACK_RANGES, true)),
    fc.oneof(fc.integer({ min: 0, max: 100_000 }), fc.integer({ min: 0, max: 2 ** 40 })),
  )
  .map(([ranges, ackDelayMicros]): Frame => ({ type: 'ack', ranges, ackDelayMicros }));

const streamFrame = fc
  .tuple(
    fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 2 ** 32 })),
    fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 2 ** 50 })),
    fc.uint8Array({ maxLength: 300, size: 'max' }),
  )
  .map(([streamId, offset, data]): Frame => ({ type: 'stream', streamId, offset, data }));

/** Reasons that fit the 256-byte limit, including multi-byte and astral characters. */
const closeReason = fc
  .string({ unit: 'binary', maxLength: 60, size: 'max' })
  .filter((s) => Buffer.byteLength(s) <= 256)
  // A leading U+FEFF does not survive decoding (covered by its own test below).
  .filter((s) => !s.startsWith('\ufeff'));

const closeFrame = fc
  .tuple(fc.constantFrom(...Object.values(CloseCode)), closeReason)
  .map(([code, reason]): Frame => ({ type: 'close', code, reason }));

const pathFrame = fc
  .tuple(fc.boolean(), fc.uint8Array({ minLength: 8, maxLength: 8 }))
  .map(
    ([response, data]): Frame => ({ type: response ? 'path-response' : 'path-challenge', data }),
  );

const spec: fc.Arbitrary<Spec> = fc.oneof(
  fc.constant<Spec>({ type: 'ping' }),
  fc.constant<Spec>({ type: 'padding' }),
  ackFrame,
  streamFrame,
  closeFrame,
  pathFrame,
);

function specLength(s: Spec): number {
  switch (s.type) {
    case 'ping':
    case 'padding':
      return 1;
    case 'ack':
      return ackFrameLength(s.ranges, s.ackDelayMicros);
    case 'stream':
      return streamHeaderLength(s.streamId, s.offset, s.data.length) + s.data.length;
    case 'close':
      return closeFrameLength(s.code, s.reason);
    case 'path-challenge':
    case 'path-response':
      return 1 + PATH_DATA_LENGTH;
  }
}

/** Writes the frames; returns the payload and the offset where each frame ends. */
function writeAll(specs: Spec[]): { payload: Uint8Array; ends: number[] } {
  const total = specs.reduce((n, s) => n + specLength(s), 0);
  const buf = new Uint8Array(total + 16).fill(0xee);
  let pos = 0;
  const ends: number[] = [];
  for (const s of specs) {
    const start = pos;
    switch (s.type) {
      case 'padding':
        buf[pos++] = FrameType.Padding;
        break;
      case 'ping':
        pos = writePing(buf, pos);
        break;
      case 'ack':
        pos = writeAckFrame(buf, pos, s.ranges, s.ackDelayMicros);
        break;
      case 'stream':
        pos = writeStreamFrame(buf, pos, s.streamId, s.offset, s.data);
        break;
      case 'close':
        pos = writeCloseFrame(buf, pos, s.code, s.reason);
        break;
      case 'path-challenge':
      case 'path-response':
        pos = writePathFrame(buf, pos, s.type === 'path-response', s.data);
        break;
    }
    // The length helpers predict exactly what the writers write (checked cheaply here).
    if (pos - start !== specLength(s))
      expect({ wrote: pos - start }).toEqual({ wrote: specLength(s) });
    ends.push(pos);
  }
  if (pos !== total) expect(pos).toBe(total);
  return { payload: buf.subarray(0, pos), ends };
}

function decoded(specs: Spec[]): Frame[] {
  return specs.filter((s): s is Frame => s.type !== 'padding');
}

/** Frames with byte views turned into arrays, for deep equality. */
function plain(frames: Frame[]): unknown[] {
  return frames.map((f) => (f.type === 'stream' ? { ...f, data: Array.from(f.data) } : f));
}

/** Checks the invariants every successfully decoded frame must satisfy. */
function checkWellFormed(frames: Frame[]): void {
  for (const f of frames) {
    switch (f.type) {
      case 'ack': {
        expect(f.ranges.length).toBeGreaterThanOrEqual(1);
        let prevStart = Number.POSITIVE_INFINITY;
        for (const [lo, hi] of f.ranges) {
          expect(lo).toBeGreaterThanOrEqual(0);
          expect(hi).toBeGreaterThan(lo);
          // Descending, disjoint and non-adjacent.
          expect(hi).toBeLessThan(prevStart);
          prevStart = lo;
        }
        expect(Number.isSafeInteger(f.ackDelayMicros)).toBe(true);
        break;
      }
      case 'stream':
        expect(Number.isSafeInteger(f.streamId)).toBe(true);
        expect(Number.isSafeInteger(f.offset + f.data.length)).toBe(true);
        break;
      case 'close':
        expect(typeof f.reason).toBe('string');
        expect(Buffer.byteLength(f.reason)).toBeLessThanOrEqual(256 * 3);
        break;
      case 'ping':
        break;
    }
  }
}

describe('frame round trip', () => {
  it('decodes frame lists written with the write* helpers', () => {
    fc.assert(
      fc.property(fc.array(spec, { maxLength: 8 }), (specs) => {
        const { payload } = writeAll(specs);
        const frames = decodeFrames(payload);
        expect(plain(frames)).toEqual(plain(decoded(specs)));
        checkWellFormed(frames);
      }),
      { numRuns: 500 },
    );
  });

  it('ackFrameLength equals the bytes writeAckFrame writes, for 1..64 ranges', () => {
    fc.assert(
      fc.property(ackFrame, fc.integer({ min: 0, max: 5 }), (f, at) => {
        if (f.type !== 'ack') return;
        const buf = new Uint8Array(at + ackFrameLength(f.ranges, f.ackDelayMicros));
        const end = writeAckFrame(buf, at, f.ranges, f.ackDelayMicros);
        expect(end).toBe(buf.length);
        expect(decodeFrames(buf.subarray(at))).toEqual([f]);
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips an ACK with exactly MAX_ACK_RANGES ranges', () => {
    const ranges: [number, number][] = [];
    for (let i = MAX_ACK_RANGES - 1; i >= 0; i--) ranges.push([i * 3, i * 3 + 2]);
    expect(ranges.length).toBe(MAX_ACK_RANGES);
    const { payload } = writeAll([{ type: 'ack', ranges, ackDelayMicros: 25_000 }]);
    expect(decodeFrames(payload)).toEqual([{ type: 'ack', ranges, ackDelayMicros: 25_000 }]);
  });

  it('ACK with a single range starting at packet 0', () => {
    const { payload } = writeAll([{ type: 'ack', ranges: [[0, 1]], ackDelayMicros: 0 }]);
    expect(Array.from(payload)).toEqual([FrameType.Ack, 0, 0, 0, 0]);
    expect(decodeFrames(payload)).toEqual([{ type: 'ack', ranges: [[0, 1]], ackDelayMicros: 0 }]);
  });

  it('ackFrameLength of no ranges is 0 and writeAckFrame refuses them', () => {
    expect(ackFrameLength([], 0)).toBe(0);
    expect(() => writeAckFrame(new Uint8Array(16), 0, [], 0)).toThrow(RangeError);
  });

  it('close frames carry unicode reasons intact', () => {
    for (const reason of ['', 'bye', 'ünïcödé', '再见 👋🏽', 'x'.repeat(256), 'é'.repeat(128)]) {
      const { payload } = writeAll([{ type: 'close', code: CloseCode.Replaced, reason }]);
      expect(decodeFrames(payload)).toEqual([{ type: 'close', code: CloseCode.Replaced, reason }]);
    }
  });

  it('close reasons starting with U+FEFF (BOM) round-trip', () => {
    // frames.ts decodes reasons with `new TextDecoder('utf-8', { fatal: false })`,
    // which strips a leading EF BB BF unless constructed with `ignoreBOM: true`.
    const reason = '\ufeffbye';
    const { payload } = writeAll([{ type: 'close', code: CloseCode.Normal, reason }]);
    expect(decodeFrames(payload)).toEqual([{ type: 'close', code: CloseCode.Normal, reason }]);
  });

  it('close reasons longer than 256 bytes are cut on write and stay decodable', () => {
    const reason = 'ab'.repeat(300);
    const buf = new Uint8Array(closeFrameLength(CloseCode.Normal, reason));
    const end = writeCloseFrame(buf, 0, CloseCode.Normal, reason);
    // The writer truncates to 256 bytes and closeFrameLength counts the same.
    expect(end).toBe(buf.length);
    expect(decodeFrames(buf.subarray(0, end))).toEqual([
      { type: 'close', code: CloseCode.Normal, reason: reason.slice(0, 256) },
    ]);
  });

  it('a stream frame header is exactly streamHeaderLength bytes', () => {
    fc.assert(
      fc.property(streamFrame, (f) => {
        if (f.type !== 'stream') return;
        const buf = new Uint8Array(streamHeaderLength(f.streamId, f.offset, f.data.length) + 300);
        const end = writeStreamFrame(buf, 0, f.streamId, f.offset, f.data);
        expect(end - f.data.length).toBe(streamHeaderLength(f.streamId, f.offset, f.data.length));
      }),
      { numRuns: 200 },
    );
  });
});

describe('frame truncation', () => {
  it('every truncation throws BadPacket or decodes to a prefix of the frames', () => {
    fc.assert(
      fc.property(fc.array(spec, { minLength: 1, maxLength: 5 }), (specs) => {
        const { payload, ends } = writeAll(specs);
        for (let cut = 0; cut < payload.length; cut++) {
          const k = ends.indexOf(cut);
          if (cut === 0 || k >= 0) {
            // A cut at a frame boundary is itself a valid payload: the frames before it.
            const kept = cut === 0 ? [] : specs.slice(0, k + 1);
            expect(plain(decodeFrames(payload.subarray(0, cut)))).toEqual(plain(decoded(kept)));
          } else {
            // Every frame type is self-delimiting, so a cut inside a frame is always detected.
            const cutShort = () => decodeFrames(payload.subarray(0, cut));
            if (outcome(cutShort) !== 'truncated') expectBadPacket(cutShort, 'truncated');
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('frame validation', () => {
  function ackBytes(largest: number, delay: number, count: number, first: number, rest: number[]) {
    const buf = new Uint8Array(1 + 8 * (4 + rest.length));
    buf[0] = FrameType.Ack;
    let pos = 1;
    for (const v of [largest, delay, count, first, ...rest]) pos = writeVarint(buf, pos, v);
    return buf.subarray(0, pos);
  }

  it('rejects more than MAX_ACK_RANGES additional ranges (count field above the limit)', () => {
    const rest: number[] = [];
    for (let i = 0; i < MAX_ACK_RANGES + 1; i++) rest.push(0, 0);
    const largest = 10_000;
    expectBadPacket(
      () => decodeFrames(ackBytes(largest, 0, MAX_ACK_RANGES + 1, 0, rest)),
      'malformed',
    );
    // The check happens before the ranges are read: no need to send them.
    expectBadPacket(() => decodeFrames(ackBytes(largest, 0, 2 ** 40, 0, [])), 'malformed');
  });

  it('rejects an ACK carrying MAX_ACK_RANGES + 1 ranges (one more than the documented maximum)', () => {
    // MAX_ACK_RANGES is documented as "Most ranges one ACK frame carries" and the
    // sender (session.ts) never keeps more than that many. The range-count field is
    // the number of ranges AFTER the first, so the decoder's `count > MAX_ACK_RANGES`
    // still lets MAX_ACK_RANGES + 1 ranges through.
    const ranges: [number, number][] = [];
    for (let i = MAX_ACK_RANGES; i >= 0; i--) ranges.push([i * 3, i * 3 + 2]);
    expect(ranges.length).toBe(MAX_ACK_RANGES + 1);
    const buf = new Uint8Array(ackFrameLength(ranges, 0));
    writeAckFrame(buf, 0, ranges, 0);
    expectBadPacket(() => decodeFrames(buf), 'malformed');
  });

  it('rejects a first ACK range reaching below zero', () => {
    expectBadPacket(() => decodeFrames(ackBytes(5, 0, 0, 6, [])), 'malformed');
    expect(decodeFrames(ackBytes(5, 0, 0, 5, []))).toEqual([
      { type: 'ack', ranges: [[0, 6]], ackDelayMicros: 0 },
    ]);
  });

  it('rejects a later ACK range reaching below zero (through the gap or the length)', () => {
    // Largest 10, first range [10, 11), smallest 10. Next largest = 10 - gap - 2.
    expect(decodeFrames(ackBytes(10, 0, 1, 0, [8, 0]))).toEqual([
      {
        type: 'ack',
        ranges: [
          [10, 11],
          [0, 1],
        ],
        ackDelayMicros: 0,
      },
    ]);
    expectBadPacket(() => decodeFrames(ackBytes(10, 0, 1, 0, [9, 0])), 'malformed');
    expect(decodeFrames(ackBytes(10, 0, 1, 0, [0, 8]))).toEqual([
      {
        type: 'ack',
        ranges: [
          [10, 11],
          [0, 9],
        ],
        ackDelayMicros: 0,
      },
    ]);
    expectBadPacket(() => decodeFrames(ackBytes(10, 0, 1, 0, [0, 9])), 'malformed');
    expectBadPacket(() => decodeFrames(ackBytes(10, 0, 1, 0, [2 ** 50, 0])), 'malformed');
  });

  it('rejects unknown frame types', () => {
    for (const type of [7, 8, 0x1c, 0xff]) {
      expectBadPacket(() => decodeFrames(Uint8Array.of(FrameType.Ping, type)), 'malformed');
    }
  });

  it('rejects a stream frame whose end exceeds 2^53 - 1', () => {
    const buf = new Uint8Array(32);
    buf[0] = FrameType.Stream;
    let pos = writeVarint(buf, 1, 0);
    pos = writeVarint(buf, pos, Number.MAX_SAFE_INTEGER);
    pos = writeVarint(buf, pos, 1);
    buf[pos++] = 7;
    expectBadPacket(() => decodeFrames(buf.subarray(0, pos)), 'malformed');
  });

  it('rejects a stream frame whose data runs past the payload', () => {
    const buf = Uint8Array.of(FrameType.Stream, 0, 0, 5, 1, 2, 3);
    expectBadPacket(() => decodeFrames(buf), 'truncated');
  });

  it('rejects a close reason longer than 256 bytes', () => {
    const reason = new Uint8Array(257).fill(0x61);
    const buf = new Uint8Array(1 + 1 + 2 + 257);
    buf[0] = FrameType.Close;
    let pos = writeVarint(buf, 1, 0);
    pos = writeVarint(buf, pos, 257);
    buf.set(reason, pos);
    expectBadPacket(() => decodeFrames(buf), 'malformed');
  });

  it('replaces invalid UTF-8 in a close reason rather than throwing', () => {
    const buf = Uint8Array.of(FrameType.Close, 0, 2, 0xff, 0xfe);
    expect(decodeFrames(buf)).toEqual([{ type: 'close', code: 0, reason: '\ufffd\ufffd' }]);
  });

  it('treats padding as nothing', () => {
    expect(decodeFrames(new Uint8Array(50))).toEqual([]);
    expect(decodeFrames(new Uint8Array(0))).toEqual([]);
  });
});

describe('decodeFrames fuzz', () => {
  const varintBytes = fc
    .oneof(
      fc.integer({ min: 0, max: 70 }),
      fc.integer({ min: 0, max: 20_000 }),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    )
    .map((v) => {
      const b = new Uint8Array(varintLength(v));
      writeVarint(b, 0, v);
      return Array.from(b);
    });
  /** Token soup: frame type bytes, valid varints and raw bytes, so decoding gets deep. */
  const token = fc.oneof(
    fc.integer({ min: 0, max: 5 }).map((t) => [t]),
    varintBytes,
    varintBytes,
    fc.uint8Array({ maxLength: 8 }).map((b) => Array.from(b)),
  );
  /** Valid payloads with a few bytes overwritten and possibly cut short. */
  const mutated = fc
    .tuple(
      fc.array(spec, { minLength: 1, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
      fc.option(fc.nat()),
    )
    .map(([specs, edits, cut]) => {
      const bytes = Uint8Array.from(writeAll(specs).payload);
      for (const [at, value] of edits) bytes[at % bytes.length] = value;
      return cut === null ? bytes : bytes.subarray(0, cut % (bytes.length + 1));
    });
  const payload = fc.oneof(
    fc.uint8Array({ maxLength: 200, size: 'max' }),
    fc.array(token, { maxLength: 40, size: 'max' }).map((ts) => Uint8Array.from(ts.flat())),
    mutated,
  );

  it('arbitrary bytes decode to well-formed frames or throw BadPacket, nothing else', () => {
    let decodedSome = 0;
    fc.assert(
      fc.property(payload, (buf) => {
        let frames: Frame[];
        try {
          frames = decodeFrames(buf);
        } catch (err) {
          expect(err).toBeInstanceOf(BadPacket);
          return;
        }
        if (frames.some((f) => f.type !== 'ping')) decodedSome++;
        checkWellFormed(frames);
      }),
      { numRuns: 5000 },
    );
    // The generator must actually reach the frame decoders, not just fail on byte one.
    expect(decodedSome).toBeGreaterThan(50);
  });
});
