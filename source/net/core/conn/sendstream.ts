import { RangeSet } from '../../recovery/rangeset.js';
import { varintLength, view, writeVarint } from '../../wire/reader.js';
import { SEND_WINDOW } from './streamlimits.js';

/**
 * The sending half of a reliable ordered stream, after RFC 9000 §2-§3: a
 * stream is a byte sequence carried in STREAM frames (§19.8) at explicit
 * offsets; messages are framed inside it as [varint length][bytes] (see
 * streamlimits.ts). Data, not packets, is retransmitted (§13.3): a lost
 * packet's byte ranges go back into `lost` and are sent again in whatever
 * packet comes next. The send window (SEND_WINDOW) stands in for the peer's
 * flow-control credit (§4.1).
 */

/**
 * A piece of the stream: a message's bytes (the caller's memory), or its
 * length header, kept as the number (`data` null, `value` the message
 * length) and written as a varint where it is sent: no Buffer per message.
 */
interface Segment {
  start: number;
  data: Uint8Array | null;
  value: number;
}

/** Bytes a segment covers on the stream. */
function segLength(seg: Segment): number {
  return seg.data === null ? varintLength(seg.value) : seg.data.length;
}

/** A header written whole, for copying part of it (a run may cut through it). */
const HEADER_SCRATCH = new Uint8Array(8);

export interface OutgoingMessage {
  id: number;
  /** Stream offset one past the message's last byte. */
  end: number;
  data: Uint8Array;
}

/** onAcked's answer when messages completed: one for every stream (see onAcked). */
const DONE: OutgoingMessage[] = [];

/** onAcked's answer when no message completed (most acks): shared, never mutated. */
const NOTHING_DONE: readonly OutgoingMessage[] = Object.freeze([]);

export class SendStream {
  private readonly segments: Segment[] = [];
  private segHead = 0;
  private readonly messages: OutgoingMessage[] = [];
  private msgHead = 0;
  private readonly lost = new RangeSet();
  private readonly acked = new RangeSet();
  /** Every byte below this offset has been acknowledged. */
  ackedPrefix = 0;
  /** Next never-sent byte. */
  private sendOffset = 0;
  /** End of written data. */
  writeOffset = 0;
  /** nextRun's answer, reused: the caller copies it into a packet before asking again. */
  private readonly run: { offset: number; length: number; retransmit: boolean } = {
    offset: 0,
    length: 0,
    retransmit: false,
  };
  /** nextChunk's answer, reused: the caller writes it into a packet before asking again. */
  private readonly chunk: { offset: number; data: Uint8Array; retransmit: boolean } = {
    offset: 0,
    data: new Uint8Array(0),
    retransmit: false,
  };

  constructor(readonly id: number) {}

  /**
   * Appends one message; returns its end offset. Its length header is a
   * segment of its own and its bytes are the caller's memory, not a copy:
   * the assembler sends a run across both in one STREAM frame (nextRun,
   * copyRun), which is what a copy of header and first KiB into one segment
   * used to buy (≈ 1 KB of ArrayBuffer per 1 KiB message, issue 16).
   */
  write(id: number, data: Uint8Array): number {
    this.segments.push({ start: this.writeOffset, data: null, value: data.length });
    this.writeOffset += varintLength(data.length);
    if (data.length > 0) {
      this.segments.push({ start: this.writeOffset, data, value: 0 });
      this.writeOffset += data.length;
    }
    this.messages.push({ id, end: this.writeOffset, data });
    return this.writeOffset;
  }

  /**
   * Array slots held for segments and messages, released or not: memory, for
   * tests that bound it (a released slot still references its data until the
   * arrays are compacted).
   */
  get slotsHeld(): number {
    return this.segments.length + this.messages.length;
  }

  /** Array slots visited when compacting (work, for tests that bound it). */
  compactWork = 0;

  /** Bytes written but not yet acknowledged. */
  get unacknowledged(): number {
    return this.writeOffset - this.ackedPrefix;
  }

  get hasDataToSend(): boolean {
    return this.lost.size > 0 || this.canSendNew();
  }

  private canSendNew(): boolean {
    return this.sendOffset < this.writeOffset && this.sendOffset < this.ackedPrefix + SEND_WINDOW;
  }

  /**
   * The next piece to send (lost ranges first, then new data), at most
   * `maxBytes` long and never spanning two segments. The returned object is
   * this stream's own and is overwritten by the next call (one per packet
   * is what the profile charged it; the sender copies it into the packet at
   * once).
   */
  nextChunk(
    maxBytes: number,
  ): { offset: number; data: Uint8Array; retransmit: boolean } | undefined {
    while (this.lost.size > 0) {
      const lostStart = this.lost.min!;
      const lostEnd = this.lost.firstEnd!;
      const gap = this.acked.firstGap(lostStart, lostEnd);
      if (!gap) {
        this.lost.remove(lostStart, lostEnd);
        continue;
      }
      const data = this.slice(gap[0], Math.min(gap[1], gap[0] + maxBytes));
      this.lost.remove(lostStart, gap[0] + data.length);
      return this.answer(gap[0], data, true);
    }
    if (!this.canSendNew()) return undefined;
    const limit = Math.min(
      this.writeOffset,
      this.ackedPrefix + SEND_WINDOW,
      this.sendOffset + maxBytes,
    );
    const offset = this.sendOffset;
    const data = this.slice(offset, limit);
    this.sendOffset = offset + data.length;
    return this.answer(offset, data, false);
  }

  /**
   * The next range to send, as nextChunk picks it (lost ranges first, then
   * new data) but spanning segments: a message's length header and its bytes,
   * and the messages after it, go in one STREAM frame, copied into the
   * packet by copyRun. The answer is this stream's own, overwritten by the
   * next call.
   */
  nextRun(maxBytes: number): { offset: number; length: number; retransmit: boolean } | undefined {
    const r = this.run;
    while (this.lost.size > 0) {
      const lostStart = this.lost.min!;
      const lostEnd = this.lost.firstEnd!;
      const gap = this.acked.firstGap(lostStart, lostEnd);
      if (!gap) {
        this.lost.remove(lostStart, lostEnd);
        continue;
      }
      r.offset = gap[0];
      r.length = Math.min(gap[1] - gap[0], maxBytes);
      r.retransmit = true;
      this.lost.remove(lostStart, r.offset + r.length);
      return r;
    }
    if (!this.canSendNew()) return undefined;
    const limit = Math.min(
      this.writeOffset,
      this.ackedPrefix + SEND_WINDOW,
      this.sendOffset + maxBytes,
    );
    r.offset = this.sendOffset;
    r.length = limit - r.offset;
    r.retransmit = false;
    this.sendOffset = limit;
    return r;
  }

  /**
   * Copies the stream's bytes [offset, offset + length) (a range nextRun
   * gave: written, not yet acknowledged) into `buf` at `pos`; returns the
   * position after them. Whole segments are copied as they are, without a
   * view; only a segment cut by the range's ends is viewed.
   */
  copyRun(buf: Uint8Array, pos: number, offset: number, length: number): number {
    let i = this.segmentAt(offset);
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const seg = this.segments[i++]!;
      const from = at - seg.start;
      const length = segLength(seg);
      const n = Math.min(length - from, end - at);
      const data = seg.data;
      if (data === null) {
        if (from === 0 && n === length) writeVarint(buf, pos, seg.value);
        else {
          writeVarint(HEADER_SCRATCH, 0, seg.value);
          for (let k = 0; k < n; k++) buf[pos + k] = HEADER_SCRATCH[from + k]!;
        }
      } else buf.set(from === 0 && n === length ? data : view(data, from, from + n), pos);
      pos += n;
      at += n;
    }
    return pos;
  }

  /** Index of the segment holding stream offset `start` (binary search). */
  private segmentAt(start: number): number {
    let lo = this.segHead;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.start <= start) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  private answer(
    offset: number,
    data: Uint8Array,
    retransmit: boolean,
  ): { offset: number; data: Uint8Array; retransmit: boolean } {
    const c = this.chunk;
    c.offset = offset;
    c.data = data;
    c.retransmit = retransmit;
    return c;
  }

  /** A view of [start, end) clipped to the segment holding `start`. */
  private slice(start: number, end: number): Uint8Array {
    const seg = this.segments[this.segmentAt(start)]!;
    const from = start - seg.start;
    const to = Math.min(end - seg.start, segLength(seg));
    if (seg.data === null) {
      // A length header (nextChunk only; the assembler's copyRun writes it in place).
      const head = Buffer.allocUnsafe(segLength(seg));
      writeVarint(head, 0, seg.value);
      return view(head, from, to);
    }
    // A segment that fits whole goes as itself: a 1 KiB message (one joined
    // segment) or a short one's bytes leave with no view (≈ 96 B each).
    if (from === 0 && to === seg.data.length) return seg.data;
    // Part of one: a typed-array view, not Buffer#subarray (see view()).
    return view(seg.data, from, to);
  }

  onLost(offset: number, length: number): void {
    if (offset + length <= this.ackedPrefix) return;
    this.lost.insert(Math.max(offset, this.ackedPrefix), offset + length);
  }

  /**
   * Records an acknowledgement; returns the messages it completed, oldest
   * first, in an array shared by every stream, overwritten by the next call
   * (an array per completed message was ~0.2 KB per 1 KiB round trip).
   */
  onAcked(offset: number, length: number): readonly OutgoingMessage[] {
    if (offset + length <= this.ackedPrefix) return NOTHING_DONE;
    if (offset <= this.ackedPrefix && this.acked.size === 0) {
      // In order, nothing acknowledged out of order above (the usual case):
      // the prefix just moves; the range set is not touched.
      this.ackedPrefix = offset + length;
    } else {
      this.acked.insert(offset, offset + length);
      const firstStart = this.acked.min;
      if (firstStart === undefined || firstStart > this.ackedPrefix) return NOTHING_DONE;
      this.ackedPrefix = this.acked.firstEnd!;
      this.acked.removeBelow(this.ackedPrefix);
    }
    if (this.lost.size > 0) this.lost.removeBelow(this.ackedPrefix);
    this.releaseSegments();
    if (
      this.msgHead >= this.messages.length ||
      this.messages[this.msgHead]!.end > this.ackedPrefix
    ) {
      this.compact();
      return NOTHING_DONE;
    }
    const done = DONE;
    while (done.length > 0) done.pop(); // (length = 0 would free the backing store)
    while (
      this.msgHead < this.messages.length &&
      this.messages[this.msgHead]!.end <= this.ackedPrefix
    ) {
      done.push(this.messages[this.msgHead++]!);
    }
    this.compact();
    return done;
  }

  private releaseSegments(): void {
    while (this.segHead < this.segments.length) {
      const seg = this.segments[this.segHead]!;
      if (seg.start + segLength(seg) > this.ackedPrefix) break;
      this.segHead++;
    }
  }

  /** Drop consumed array prefixes now and then, so long runs stay O(1) amortised. */
  private compact(): void {
    if (this.segHead > 1024 && this.segHead * 2 > this.segments.length) {
      this.compactWork += this.segments.length;
      this.segments.splice(0, this.segHead);
      this.segHead = 0;
    }
    if (this.msgHead > 1024 && this.msgHead * 2 > this.messages.length) {
      this.compactWork += this.messages.length;
      this.messages.splice(0, this.msgHead);
      this.msgHead = 0;
    }
  }

  /** Messages not yet fully acknowledged (to resend after the peer restarted). */
  pendingMessages(): OutgoingMessage[] {
    return this.messages.slice(this.msgHead);
  }
}
