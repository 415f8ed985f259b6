import { BadPacket } from '../core/errors.js';
import { Reader, varintLength, writeVarint } from './reader.js';

/**
 * Frames inside a DATA packet's encrypted payload, modelled on RFC 9000 §19.
 *
 *   PADDING 0x00
 *   PING    0x01
 *   ACK     0x02 largest ackDelayMicros rangeCount firstRange (gap length)*   (§19.3)
 *   STREAM  0x03 streamId offset length data                                    (§19.8)
 *   CLOSE   0x04 code reasonLength reason(utf8)                                 (§19.19)
 *   PATH_CHALLENGE 0x05 data:8 / PATH_RESPONSE 0x06 data:8                       (§19.17-18)
 *
 * A stream carries messages as [varint length][bytes]; the stream offset gives
 * order and duplicate suppression, exactly as QUIC's STREAM frames do.
 */
export const FrameType = {
  Padding: 0,
  Ping: 1,
  Ack: 2,
  Stream: 3,
  Close: 4,
  PathChallenge: 5,
  PathResponse: 6,
} as const;
export const PATH_DATA_LENGTH = 8;

export type AckFrame = {
  type: 'ack';
  /** Acknowledged packet-number ranges [start, end), descending. */
  ranges: [number, number][];
  ackDelayMicros: number;
};
export type StreamFrame = { type: 'stream'; streamId: number; offset: number; data: Uint8Array };
export type Frame =
  | { type: 'ping' }
  | AckFrame
  | StreamFrame
  | { type: 'close'; code: number; reason: string }
  | { type: 'path-challenge'; data: Uint8Array }
  | { type: 'path-response'; data: Uint8Array };

export const CloseCode = {
  Normal: 0,
  ProtocolViolation: 1,
  FlowControl: 2,
  Replaced: 3,
  Blocked: 4,
  NotAccepted: 5,
  IdleTimeout: 6,
} as const;

/** Most ranges one ACK frame carries; older ones are re-sent or given up. */
export const MAX_ACK_RANGES = 64;
/** Longest CLOSE reason, bytes of UTF-8. */
export const MAX_CLOSE_REASON = 256;

const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * Decodes every frame of a payload into objects (tests, the closing state;
 * the per-packet path can use framewalk.ts's readFrames). Throws BadPacket on any
 * malformation.
 */
export function decodeFrames(payload: Uint8Array): Frame[] {
  const r = new Reader(payload);
  const frames: Frame[] = [];
  while (r.remaining > 0) {
    const type = r.u8('frame type');
    switch (type) {
      case FrameType.Padding:
        break;
      case FrameType.Ping:
        frames.push({ type: 'ping' });
        break;
      case FrameType.Ack:
        frames.push(decodeAck(r));
        break;
      case FrameType.Stream: {
        const streamId = r.varint('stream id');
        const offset = r.varint('stream offset');
        const length = r.varint('stream length');
        if (offset + length > Number.MAX_SAFE_INTEGER) {
          throw new BadPacket('malformed', 'stream offset overflow');
        }
        frames.push({ type: 'stream', streamId, offset, data: r.bytes(length, 'stream data') });
        break;
      }
      case FrameType.PathChallenge:
        frames.push({ type: 'path-challenge', data: r.bytes(PATH_DATA_LENGTH, 'path challenge') });
        break;
      case FrameType.PathResponse:
        frames.push({ type: 'path-response', data: r.bytes(PATH_DATA_LENGTH, 'path response') });
        break;
      case FrameType.Close: {
        const code = r.varint('close code');
        const len = r.varint('close reason length');
        if (len > MAX_CLOSE_REASON) throw new BadPacket('malformed', 'close reason too long');
        frames.push({ type: 'close', code, reason: decoder.decode(r.bytes(len, 'close reason')) });
        break;
      }
      default:
        throw new BadPacket('malformed', `unknown frame type ${type}`);
    }
  }
  return frames;
}

function decodeAck(r: Reader): AckFrame {
  const largest = r.varint('ack largest');
  const ackDelayMicros = r.varint('ack delay');
  const count = r.varint('ack range count');
  // `count` excludes the first range.
  if (count + 1 > MAX_ACK_RANGES) throw new BadPacket('malformed', 'too many ack ranges');
  const first = r.varint('ack first range');
  if (first > largest) throw new BadPacket('malformed', 'ack range below zero');
  const ranges: [number, number][] = [[largest - first, largest + 1]];
  let smallest = largest - first;
  for (let i = 0; i < count; i++) {
    const gap = r.varint('ack gap');
    const len = r.varint('ack range length');
    // RFC 9000 §19.3.1: next largest = smallest - gap - 2.
    const hi = smallest - gap - 2;
    const lo = hi - len;
    if (lo < 0) throw new BadPacket('malformed', 'ack range below zero');
    ranges.push([lo, hi + 1]);
    smallest = lo;
  }
  return { type: 'ack', ranges, ackDelayMicros };
}

/** Bytes needed to encode an ACK frame for `ranges` (descending, disjoint, non-adjacent). */
export function ackFrameLength(
  ranges: readonly [number, number][],
  ackDelayMicros: number,
): number {
  const first = ranges[0];
  if (!first) return 0;
  let n = 1 + varintLength(first[1] - 1) + varintLength(ackDelayMicros);
  n += varintLength(ranges.length - 1) + varintLength(first[1] - 1 - first[0]);
  let smallest = first[0];
  for (let i = 1; i < ranges.length; i++) {
    const [lo, hi] = ranges[i]!;
    n += varintLength(smallest - (hi - 1) - 2) + varintLength(hi - 1 - lo);
    smallest = lo;
  }
  return n;
}

export function writeAckFrame(
  buf: Uint8Array,
  pos: number,
  ranges: readonly [number, number][],
  ackDelayMicros: number,
): number {
  const first = ranges[0];
  if (!first) throw new RangeError('empty ack');
  buf[pos++] = FrameType.Ack;
  pos = writeVarint(buf, pos, first[1] - 1);
  pos = writeVarint(buf, pos, ackDelayMicros);
  pos = writeVarint(buf, pos, ranges.length - 1);
  pos = writeVarint(buf, pos, first[1] - 1 - first[0]);
  let smallest = first[0];
  for (let i = 1; i < ranges.length; i++) {
    const [lo, hi] = ranges[i]!;
    pos = writeVarint(buf, pos, smallest - (hi - 1) - 2);
    pos = writeVarint(buf, pos, hi - 1 - lo);
    smallest = lo;
  }
  return pos;
}

/** Header bytes of a STREAM frame (everything but the data). */
export function streamHeaderLength(streamId: number, offset: number, length: number): number {
  return 1 + varintLength(streamId) + varintLength(offset) + varintLength(length);
}

export function writeStreamFrame(
  buf: Uint8Array,
  pos: number,
  streamId: number,
  offset: number,
  data: Uint8Array,
): number {
  pos = writeStreamHeader(buf, pos, streamId, offset, data.length);
  buf.set(data, pos);
  return pos + data.length;
}

/** A STREAM frame's header for `length` bytes of data, which the caller writes next. */
export function writeStreamHeader(
  buf: Uint8Array,
  pos: number,
  streamId: number,
  offset: number,
  length: number,
): number {
  buf[pos++] = FrameType.Stream;
  pos = writeVarint(buf, pos, streamId);
  pos = writeVarint(buf, pos, offset);
  return writeVarint(buf, pos, length);
}

export function writePing(buf: Uint8Array, pos: number): number {
  buf[pos] = FrameType.Ping;
  return pos + 1;
}

function closeReasonBytes(reason: string): Buffer {
  return Buffer.from(reason.slice(0, MAX_CLOSE_REASON), 'utf8').subarray(0, MAX_CLOSE_REASON);
}

export function closeFrameLength(code: number, reason: string): number {
  const bytes = closeReasonBytes(reason).length;
  return 1 + varintLength(code) + varintLength(bytes) + bytes;
}

export function writeCloseFrame(
  buf: Uint8Array,
  pos: number,
  code: number,
  reason: string,
): number {
  const bytes = Buffer.from(reason.slice(0, MAX_CLOSE_REASON), 'utf8').subarray(
    0,
    MAX_CLOSE_REASON,
  );
  buf[pos++] = FrameType.Close;
  pos = writeVarint(buf, pos, code);
  pos = writeVarint(buf, pos, bytes.length);
  buf.set(bytes, pos);
  return pos + bytes.length;
}

/** PATH_CHALLENGE or PATH_RESPONSE with its 8 bytes. */
export function writePathFrame(
  buf: Uint8Array,
  pos: number,
  response: boolean,
  data: Uint8Array,
): number {
  buf[pos++] = response ? FrameType.PathResponse : FrameType.PathChallenge;
  buf.set(data.subarray(0, PATH_DATA_LENGTH), pos);
  return pos + PATH_DATA_LENGTH;
}
