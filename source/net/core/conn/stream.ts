import { RangeSet } from '../../recovery/rangeset.js';
import { varintLength, writeVarint } from '../../wire/reader.js';
import { BadPacket } from '../errors.js';

/**
 * Reliable ordered streams, after RFC 9000 §2-§4: a stream is a byte sequence
 * carried in STREAM frames at explicit offsets; messages are framed inside it
 * as [varint length][bytes]. Data, not packets, is retransmitted: a lost
 * packet's byte ranges go back into `lost` and are sent again in whatever
 * packet comes next.
 */

/** Largest message a caller may send (documented in the readme). */
export const MAX_MESSAGE_SIZE = 1024 * 1024;
/**
 * How far past the oldest unacknowledged byte a sender may run, and how far
 * past its delivered data a receiver buffers. A fixed window instead of
 * QUIC's MAX_STREAM_DATA credit: simple, and it bounds reassembly memory.
 */
export const SEND_WINDOW = 4 * 1024 * 1024;
export const RECV_WINDOW = 2 * SEND_WINDOW;

interface Segment {
  start: number;
  data: Uint8Array;
}

export interface OutgoingMessage {
  id: number;
  /** Stream offset one past the message's last byte. */
  end: number;
  data: Uint8Array;
}

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

  constructor(readonly id: number) {}

  /** Appends one message; returns its end offset. */
  write(id: number, data: Uint8Array): number {
    const header = Buffer.allocUnsafe(varintLength(data.length));
    writeVarint(header, 0, data.length);
    this.segments.push({ start: this.writeOffset, data: header });
    this.writeOffset += header.length;
    if (data.length > 0) {
      this.segments.push({ start: this.writeOffset, data });
      this.writeOffset += data.length;
    }
    this.messages.push({ id, end: this.writeOffset, data });
    return this.writeOffset;
  }

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
   * `maxBytes` long and never spanning two segments.
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
      return { offset: gap[0], data, retransmit: true };
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
    return { offset, data, retransmit: false };
  }

  /** A view of [start, end) clipped to the segment holding `start`. */
  private slice(start: number, end: number): Uint8Array {
    let lo = this.segHead;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.start <= start) lo = mid;
      else hi = mid - 1;
    }
    const seg = this.segments[lo]!;
    const from = start - seg.start;
    const to = Math.min(end - seg.start, seg.data.length);
    return seg.data.subarray(from, to);
  }

  onLost(offset: number, length: number): void {
    if (offset + length <= this.ackedPrefix) return;
    this.lost.insert(Math.max(offset, this.ackedPrefix), offset + length);
  }

  /** Records an acknowledgement; returns the messages it completed, oldest first. */
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
    const done: OutgoingMessage[] = [];
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
      if (seg.start + seg.data.length > this.ackedPrefix) break;
      this.segHead++;
    }
  }

  /** Drop consumed array prefixes now and then, so long runs stay O(1) amortised. */
  private compact(): void {
    if (this.segHead > 1024 && this.segHead * 2 > this.segments.length) {
      this.segments.splice(0, this.segHead);
      this.segHead = 0;
    }
    if (this.msgHead > 1024 && this.msgHead * 2 > this.messages.length) {
      this.messages.splice(0, this.msgHead);
      this.msgHead = 0;
    }
  }

  /** Messages not yet fully acknowledged (to resend after the peer restarted). */
  pendingMessages(): OutgoingMessage[] {
    return this.messages.slice(this.msgHead);
  }
}

/**
 * Stream data arrives as a view into its (decrypted) datagram, which nobody
 * writes to again. A view that covers at least half of its buffer is kept as
 * it is — one copy fewer per packet on bulk transfers; a smaller one is
 * copied, so a peer sending tiny frames cannot make us hold whole datagrams
 * for a few bytes each (what we keep is at most twice what we account for).
 */
function keepOrCopy(data: Uint8Array): Uint8Array {
  return data.buffer.byteLength <= 2 * data.length ? data : Buffer.from(data);
}

export class RecvStream {
  private readonly received = new RangeSet();
  private readonly pieces = new Map<number, Uint8Array>();
  /** All bytes below this offset have arrived and been moved to `ready`. */
  private contiguousEnd = 0;
  private readonly ready: Uint8Array[] = [];
  private readyBytes = 0;
  /** Bytes consumed as complete messages. */
  private consumed = 0;
  private buffered = 0;

  constructor(readonly id: number) {}

  /** Bytes held for reassembly (out of order or a partial message). */
  get bufferedBytes(): number {
    return this.buffered + this.readyBytes;
  }

  /**
   * Accepts one STREAM frame; returns the messages it completed, in order.
   * Duplicate bytes are ignored. Data beyond the receive window is a protocol
   * violation by the peer (BadPacket 'protocol').
   */
  onData(offset: number, data: Uint8Array): Buffer[] {
    const end = offset + data.length;
    if (end > this.consumed + RECV_WINDOW) {
      throw new BadPacket('protocol', 'stream data beyond the receive window');
    }
    if (end <= this.contiguousEnd || data.length === 0) return [];
    if (offset <= this.contiguousEnd && this.pieces.size === 0) {
      // In order with nothing pending (the usual case): straight to `ready`.
      // `received` only tracks bytes above contiguousEnd, so it is empty here.
      const copy = keepOrCopy(data.subarray(this.contiguousEnd - offset));
      this.ready.push(copy);
      this.readyBytes += copy.length;
      this.contiguousEnd = end;
      return this.parseMessages();
    }
    let from = Math.max(offset, this.contiguousEnd);
    // Store only bytes not seen before, so pieces never overlap.
    while (from < end) {
      const gap = this.received.firstGap(from, end);
      if (!gap) break;
      const copy = keepOrCopy(data.subarray(gap[0] - offset, gap[1] - offset));
      this.pieces.set(gap[0], copy);
      this.buffered += copy.length;
      this.received.insert(gap[0], gap[1]);
      from = gap[1];
    }
    this.advance();
    return this.parseMessages();
  }

  private advance(): void {
    for (;;) {
      const piece = this.pieces.get(this.contiguousEnd);
      if (!piece) break;
      this.pieces.delete(this.contiguousEnd);
      this.buffered -= piece.length;
      this.ready.push(piece);
      this.readyBytes += piece.length;
      this.contiguousEnd += piece.length;
    }
    this.received.removeBelow(this.contiguousEnd);
  }

  private parseMessages(): Buffer[] {
    const out: Buffer[] = [];
    for (;;) {
      const header = this.peekHeader();
      if (!header) break;
      const [length, headerBytes] = header;
      if (length > MAX_MESSAGE_SIZE)
        throw new BadPacket('protocol', 'message exceeds the maximum size');
      if (this.readyBytes < headerBytes + length) break;
      this.take(headerBytes);
      out.push(this.take(length));
      this.consumed += headerBytes + length;
    }
    return out;
  }

  /** Decodes the varint message length at the front of `ready`, if complete. */
  private peekHeader(): [number, number] | undefined {
    if (this.readyBytes === 0) return undefined;
    const first = this.ready[0]![0]!;
    const len = 1 << (first >> 6);
    if (this.readyBytes < len) return undefined;
    let value = first & 0x3f;
    let chunk = 0;
    let pos = 1;
    for (let i = 1; i < len; i++) {
      while (pos >= this.ready[chunk]!.length) {
        chunk++;
        pos = 0;
      }
      value = value * 256 + this.ready[chunk]![pos++]!;
    }
    return [value, len];
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const head = this.ready[0]!;
    if (head.length >= n) {
      // A message that sits in one piece is handed out without copying.
      const out = Buffer.from(head.buffer, head.byteOffset, n);
      if (head.length === n) this.ready.shift();
      else this.ready[0] = head.subarray(n);
      this.readyBytes -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.ready[0]!;
      const part = Math.min(chunk.length, n - filled);
      out.set(chunk.subarray(0, part), filled);
      filled += part;
      if (part === chunk.length) this.ready.shift();
      else this.ready[0] = chunk.subarray(part);
    }
    this.readyBytes -= n;
    return out;
  }
}
