/**
 * readFrames: the per-packet frame walk (issue 16) reports by callback what
 * decodeFrames returns as objects, parses the whole payload before reporting
 * anything, and reuses its ranges from packet to packet.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeFrames,
  type Frame,
  FrameType,
  writeAckFrame,
  writeCloseFrame,
  writePathFrame,
  writePing,
  writeStreamFrame,
} from '../../../source/net/wire/frames.js';
import { type FrameSink, readFrames } from '../../../source/net/wire/framewalk.js';
import { expectBadPacket } from '../../support/badpacket.js';
import { Rng } from '../../support/rng.js';

/** A sink that records what it is told, copying what is only valid during the call. */
function recorder(stopStream = -1): { sink: FrameSink; got: Frame[]; ranges: object[] } {
  const got: Frame[] = [];
  const ranges: object[] = [];
  const sink: FrameSink = {
    onPing: () => got.push({ type: 'ping' }),
    onAck: (r, ackDelayMicros) => {
      ranges.push(r, ...r);
      got.push({
        type: 'ack',
        ranges: r.map(([a, b]): [number, number] => [a, b]),
        ackDelayMicros,
      });
    },
    onStream: (streamId, offset, payload, start, length) => {
      const data = Uint8Array.from(payload.subarray(start, start + length));
      got.push({ type: 'stream', streamId, offset, data });
      return streamId !== stopStream;
    },
    onPathChallenge: (data) => got.push({ type: 'path-challenge', data: Uint8Array.from(data) }),
    onPathResponse: (data) => got.push({ type: 'path-response', data: Uint8Array.from(data) }),
    onClose: (code, reason) => got.push({ type: 'close', code, reason }),
  };
  return { sink, got, ranges };
}

const plain = (frames: Frame[]) =>
  frames.map((f) => ('data' in f ? { ...f, data: Array.from(f.data) } : f));

/** A random payload of every frame kind (a CLOSE, if any, last). */
function payload(rng: Rng): Uint8Array {
  const buf = new Uint8Array(1400);
  let pos = 0;
  const n = rng.int(6);
  for (let i = 0; i < n; i++) {
    switch (rng.int(5)) {
      case 0:
        pos = writePing(buf, pos);
        break;
      case 1: {
        const ranges: [number, number][] = [];
        let hi = 10_000 + rng.int(1000);
        for (let k = 0; k < 1 + rng.int(5); k++) {
          const lo = hi - 1 - rng.int(20);
          ranges.push([lo, hi]);
          hi = lo - 2 - rng.int(20);
        }
        pos = writeAckFrame(buf, pos, ranges, rng.int(50_000));
        break;
      }
      case 2:
        pos = writeStreamFrame(
          buf,
          pos,
          rng.int(4),
          rng.int(1e6),
          new Uint8Array(rng.int(100)).fill(i),
        );
        break;
      case 3:
        pos = writePathFrame(buf, pos, rng.int(2) === 1, new Uint8Array(8).fill(i + 1));
        break;
      default:
        buf[pos++] = FrameType.Padding;
    }
  }
  if (rng.int(4) === 0) pos = writeCloseFrame(buf, pos, rng.int(7), 'bye ✓');
  return buf.subarray(0, pos);
}

describe('readFrames', () => {
  it('reports exactly what decodeFrames returns, in order', () => {
    const rng = new Rng(16);
    for (let i = 0; i < 500; i++) {
      const p = payload(rng);
      const { sink, got } = recorder();
      expect(readFrames(p, sink)).toBe(!got.some((f) => f.type === 'close'));
      expect(plain(got)).toEqual(plain(decodeFrames(p)));
    }
  });

  it('reports nothing from a payload that fails to parse (the packet is dropped whole)', () => {
    const good = new Uint8Array(64);
    let pos = writeStreamFrame(good, 0, 0, 0, Uint8Array.from([1, 2, 3]));
    pos = writePing(good, pos);
    const bad = Uint8Array.from([...good.subarray(0, pos), FrameType.Ack, 5]); // truncated ACK
    const { sink, got } = recorder();
    expectBadPacket(() => readFrames(bad, sink), 'truncated');
    expect(got).toEqual([]);
    // And the next payload is walked from a clean table.
    expect(readFrames(good.subarray(0, pos), sink)).toBe(true);
    expect(got.map((f) => f.type)).toEqual(['stream', 'ping']);
  });

  it('stops where the sink says so, and after a CLOSE', () => {
    const buf = new Uint8Array(64);
    let pos = writeStreamFrame(buf, 0, 1, 0, Uint8Array.from([1]));
    pos = writeStreamFrame(buf, pos, 2, 0, Uint8Array.from([2]));
    pos = writeCloseFrame(buf, pos, 0, 'x');
    pos = writePing(buf, pos);
    const stop1 = recorder(1);
    expect(readFrames(buf.subarray(0, pos), stop1.sink)).toBe(false);
    expect(stop1.got.map((f) => f.type)).toEqual(['stream']);
    const all = recorder();
    expect(readFrames(buf.subarray(0, pos), all.sink)).toBe(false);
    expect(all.got.map((f) => f.type)).toEqual(['stream', 'stream', 'close']);
    // decodeFrames still returns every frame, the PING after the CLOSE too.
    expect(decodeFrames(buf.subarray(0, pos)).map((f) => f.type)).toEqual([
      'stream',
      'stream',
      'close',
      'ping',
    ]);
  });

  it('hands every ACK the same ranges array and pairs, packet after packet', () => {
    const { sink, got, ranges } = recorder();
    const buf = new Uint8Array(64);
    for (let pn = 10; pn < 1010; pn++) {
      const end = writeAckFrame(
        buf,
        0,
        [
          [pn, pn + 1],
          [pn - 5, pn - 3],
        ],
        0,
      );
      readFrames(buf.subarray(0, end), sink);
    }
    expect(got).toHaveLength(1000);
    expect(got.at(-1)).toEqual({
      type: 'ack',
      ranges: [
        [1009, 1010],
        [1004, 1006],
      ],
      ackDelayMicros: 0,
    });
    expect(new Set(ranges).size).toBe(3); // one array, two pairs
  });

  it('a sink that walks another payload inside a callback gets a table of its own', () => {
    const inner = new Uint8Array(16);
    const innerEnd = writeStreamFrame(inner, 0, 7, 0, Uint8Array.from([7]));
    const outer = new Uint8Array(32);
    let pos = writeStreamFrame(outer, 0, 1, 0, Uint8Array.from([1]));
    pos = writePing(outer, pos);
    const nested = recorder();
    const { sink, got } = recorder();
    const wrapping: FrameSink = {
      ...sink,
      onStream: (id, offset, payload, start, length) => {
        readFrames(inner.subarray(0, innerEnd), nested.sink);
        return sink.onStream(id, offset, payload, start, length);
      },
    };
    expect(readFrames(outer.subarray(0, pos), wrapping)).toBe(true);
    expect(got.map((f) => f.type)).toEqual(['stream', 'ping']);
    expect(nested.got).toEqual([
      { type: 'stream', streamId: 7, offset: 0, data: Uint8Array.from([7]) },
    ]);
  });
});
