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
 * One message on the stream, [start, end): its length header (kept as the
 * number, data.length, and written as a varint where it is sent: no Buffer
 * per message), then its bytes (the caller's memory). The header and the
 * bytes are the two segments nextChunk hands out one at a time; the record
 * is also the message onAcked reports. One record where a segment for the
 * header, one for the bytes and a message record were three (issue 16).
 */
interface Entry extends OutgoingMessage {
  start: number;
}

/** Where an entry's bytes start on the stream (after its length header). */
function dataStart(e: Entry): number {
  return e.end - e.data.length;
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
  /** Messages written, in stream order; those before `head` are acknowledged whole. */
  private readonly entries: Entry[] = [];
  private head = 0;
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
    const start = this.writeOffset;
    this.writeOffset = start + varintLength(data.length) + data.length;
    this.entries.push({ id, start, end: this.writeOffset, data });
    return this.writeOffset;
  }

  /**
   * Array slots held for messages, released or not: memory, for tests that
   * bound it (a released slot still references its data until the array is
   * compacted).
   */
  get slotsHeld(): number {
    return this.entries.length;
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
    let i = this.entryAt(offset);
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const e = this.entries[i++]!;
      const data = e.data;
      const bytesAt = dataStart(e);
      if (at < bytesAt) {
        // (Part of) the length header.
        const header = bytesAt - e.start;
        const from = at - e.start;
        const n = Math.min(header - from, end - at);
        if (from === 0 && n === header) writeVarint(buf, pos, data.length);
        else {
          writeVarint(HEADER_SCRATCH, 0, data.length);
          for (let k = 0; k < n; k++) buf[pos + k] = HEADER_SCRATCH[from + k]!;
        }
        pos += n;
        at += n;
      }
      if (at >= end || data.length === 0) continue;
      const from = at - bytesAt;
      const n = Math.min(data.length - from, end - at);
      buf.set(from === 0 && n === data.length ? data : view(data, from, from + n), pos);
      pos += n;
      at += n;
    }
    return pos;
  }

  /** Index of the message holding stream offset `start` (binary search). */
  private entryAt(start: number): number {
    const entries = this.entries;
    let lo = this.head;
    let hi = entries.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (entries[mid]!.start <= start) lo = mid;
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
    const e = this.entries[this.entryAt(start)]!;
    const data = e.data;
    const bytesAt = dataStart(e);
    if (start < bytesAt) {
      // A length header (nextChunk only; the assembler's copyRun writes it in place).
      const header = bytesAt - e.start;
      const head = Buffer.allocUnsafe(header);
      writeVarint(head, 0, data.length);
      return view(head, start - e.start, Math.min(end - e.start, header));
    }
    const from = start - bytesAt;
    const to = Math.min(end - bytesAt, data.length);
    // A segment that fits whole goes as itself: a 1 KiB message (one joined
    // segment) or a short one's bytes leave with no view (≈ 96 B each).
    if (from === 0 && to === data.length) return data;
    // Part of one: a typed-array view, not Buffer#subarray (see view()).
    return view(data, from, to);
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
    const entries = this.entries;
    if (this.head >= entries.length || entries[this.head]!.end > this.ackedPrefix) {
      this.compact();
      return NOTHING_DONE;
    }
    const done = DONE;
    while (done.length > 0) done.pop(); // (length = 0 would free the backing store)
    while (this.head < entries.length && entries[this.head]!.end <= this.ackedPrefix) {
      done.push(entries[this.head++]!);
    }
    this.compact();
    return done;
  }

  /** Drop the acknowledged prefix now and then, so long runs stay O(1) amortised. */
  private compact(): void {
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.compactWork += this.entries.length;
      this.entries.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Messages not yet fully acknowledged (to resend after the peer restarted). */
  pendingMessages(): OutgoingMessage[] {
    return this.entries.slice(this.head);
  }
}
