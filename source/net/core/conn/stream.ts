import { RangeSet } from '../../recovery/rangeset.js';
import { varintLength, view, writeVarint } from '../../wire/reader.js';
import { BadPacket } from '../errors.js';
import { PAGE_COST, PageStore } from './pages.js';

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

/**
 * A message of at least JOIN_MIN bytes leaves with its length header and its
 * first JOIN_BYTES bytes in one segment (a copy of about 1 KiB), so its first
 * STREAM frame is large enough for the receiver to keep as a view of the
 * datagram (RecvStream's KEEP_VIEW_MIN). With the header alone in a frame,
 * the receiver copied those 1-4 bytes into a fresh 4 KiB reassembly page for
 * every message: 4.6 KB of ArrayBuffer per message, two thirds of what a
 * 1 KiB ping-pong allocated per round trip (bench/workers/alloc.ts). Shorter
 * messages keep the separate header: the receiver copies them either way.
 */
const JOIN_MIN = 512;
const JOIN_BYTES = 1024;

/** onAcked's answer when messages completed: one for every stream (see onAcked). */
const DONE: OutgoingMessage[] = [];
/** onData's answer when messages completed: one for every stream (see parseMessages). */
const COMPLETE: Buffer[] = [];

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
  /** nextChunk's answer, reused: the caller writes it into a packet before asking again. */
  private readonly chunk: { offset: number; data: Uint8Array; retransmit: boolean } = {
    offset: 0,
    data: new Uint8Array(0),
    retransmit: false,
  };

  constructor(readonly id: number) {}

  /** Appends one message; returns its end offset. */
  write(id: number, data: Uint8Array): number {
    const headerLength = varintLength(data.length);
    // See JOIN_MIN: the header travels with the first bytes of a message
    // large enough to be kept as a view at the receiver.
    const joined = data.length >= JOIN_MIN ? Math.min(data.length, JOIN_BYTES) : 0;
    const head = Buffer.allocUnsafe(headerLength + joined);
    writeVarint(head, 0, data.length);
    if (joined > 0) head.set(joined === data.length ? data : view(data, 0, joined), headerLength);
    this.segments.push({ start: this.writeOffset, data: head });
    this.writeOffset += head.length;
    if (data.length > joined) {
      const rest = joined === 0 ? data : view(data, joined, data.length);
      this.segments.push({ start: this.writeOffset, data: rest });
      this.writeOffset += rest.length;
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
    // The application's Buffer: a typed-array view, not Buffer#subarray (see view()).
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
 * Most disjoint runs of out-of-order bytes one stream may hold. A sender that
 * fills its packets (≥ 1 KiB of stream data each) has at most
 * SEND_WINDOW / 1 KiB = 4096 of them in flight, and every run holds at least
 * one received packet, so a well-behaved peer stays below this even if every
 * other packet is lost; more is a peer carving the window into slivers.
 * (Runs cost neither memory nor work in PageStore: this is a sanity bound.)
 */
export const MAX_STREAM_GAPS = 4096;
/**
 * A frame this large, arriving in order, is kept as a view of its datagram
 * (no copy) if it fills at least half of it, as a bulk sender's do: we then
 * hold at most twice what we account for, in objects of ≥ 512 bytes each.
 * Anything smaller is copied into pages, so tiny frames cost no object each.
 */
const KEEP_VIEW_MIN = 512;

const NO_BYTES = new Uint8Array(0);
/** onData's answer when no message completed (most packets of a bulk transfer): shared, frozen. */
const NO_MESSAGES = Object.freeze([]) as unknown as Buffer[];

function worthKeeping(view: Uint8Array): boolean {
  return view.length >= KEEP_VIEW_MIN && view.buffer.byteLength <= 2 * view.length;
}

export class RecvStream {
  /** Bytes at and above contiguousEnd that arrived early (and bytes of the current page below it). */
  private readonly store = new PageStore();
  /** Disjoint runs of stored bytes above contiguousEnd. */
  private runs = 0;
  /** Bytes stored above contiguousEnd. */
  private early = 0;
  /** All bytes below this offset have arrived and been moved to `ready`. */
  private contiguousEnd = 0;
  /** A FIFO: ready[readyHead..] (a head index, not shift(): a 1 MiB message is ~900 chunks). */
  private ready: Uint8Array[] = [];
  private readyHead = 0;
  private readyBytes = 0;
  /** Bytes consumed as complete messages. */
  private consumed = 0;
  /**
   * An owned, growable buffer for the tail of small in-order frames (a
   * partial message): one object however many frames it took, so in-order
   * data never costs a page or an object per frame.
   */
  private tail: Buffer | undefined;
  private tailUsed = 0;
  /** peekHeader's answer: the front message's length and its header's size. */
  private headerLength = 0;
  private headerBytes = 0;

  constructor(readonly id: number) {}

  /** Data bytes held for reassembly (out of order or a partial message). */
  get bufferedBytes(): number {
    return this.early + this.readyBytes;
  }

  /**
   * Memory held, to charge against the reassembly budgets: whole pages at
   * PAGE_COST (what they really cost, however few bytes they hold) plus the
   * partial message, which is below MAX_MESSAGE_SIZE + 8 bytes.
   */
  get chargedBytes(): number {
    const spare = this.tail ? this.tail.length - this.tailUsed : 0;
    return this.readyBytes + spare + this.store.size * PAGE_COST;
  }

  /** Disjoint runs of out-of-order data (each one has a gap below it). */
  get gaps(): number {
    return this.runs;
  }

  /** Pages and ready chunks held: the objects reassembly keeps. */
  get objectsHeld(): number {
    return this.store.size + this.ready.length - this.readyHead;
  }

  /** Reassembly work so far, in steps (bitmap words, page visits): tests bound it. */
  get steps(): number {
    return this.store.steps;
  }

  /**
   * Accepts one STREAM frame; returns the messages it completed, in order.
   * Duplicate bytes are ignored (the first copy is kept). Data beyond the
   * receive window, or more than MAX_STREAM_GAPS runs of early data, is a
   * protocol violation by the peer (BadPacket 'protocol', RFC 9000 §21.7).
   */
  onData(offset: number, data: Uint8Array): Buffer[] {
    const end = offset + data.length;
    if (end > this.consumed + RECV_WINDOW) {
      throw new BadPacket('protocol', 'stream data beyond the receive window');
    }
    if (end <= this.contiguousEnd || data.length === 0) return NO_MESSAGES;
    const fresh = offset >= this.contiguousEnd ? data : data.subarray(this.contiguousEnd - offset);
    if (offset <= this.contiguousEnd && this.runs === 0) {
      // In order with nothing pending (the common case): straight to `ready`,
      // messages parsed from it at once; what is left of a small frame (a
      // partial message) is copied into the tail buffer, never a page.
      const keep = worthKeeping(fresh);
      this.pushReady(fresh);
      this.store.dropWhole(this.contiguousEnd, end);
      this.contiguousEnd = end;
      const out = this.parseMessages();
      if (!keep) this.ownRest(fresh);
      if (this.readyBytes === 0) {
        // Nothing partial: no tail or page is held (or charged) while idle.
        this.tail = undefined;
        this.store.clear();
      }
      return out;
    }
    this.storeNew(Math.max(offset, this.contiguousEnd), end, offset, data);
    if (this.runs > MAX_STREAM_GAPS) {
      throw new BadPacket('protocol', 'too many gaps in stream data');
    }
    this.advance();
    const out = this.parseMessages();
    // Idle: nothing early, nothing partial; the page under contiguousEnd
    // holds only delivered bytes and need not be charged any more.
    if (this.readyBytes === 0) this.tail = undefined;
    if (this.readyBytes === 0 && this.runs === 0) this.store.clear();
    return out;
  }

  /** Copies what is left in `ready` of the frame `frame` into the tail buffer. */
  private ownRest(frame: Uint8Array): void {
    const n = this.ready.length;
    const last = n > this.readyHead ? this.ready[n - 1]! : undefined;
    // Only the unparsed end of this very frame (same memory, same end).
    if (
      !last ||
      last.buffer !== frame.buffer ||
      last.byteOffset + last.length !== frame.byteOffset + frame.length
    )
      return;
    this.ready.pop();
    this.readyBytes -= last.length;
    if (!this.tail || this.tail.length - this.tailUsed < last.length) {
      // Geometric growth (O(log n) buffers for a message of n bytes), never
      // past what the partial message still needs once its length is known:
      // the capacity is charged, so it stays ≤ 2× the bytes held + 256.
      const held = this.readyBytes + last.length;
      const need = this.peekHeaderWith(last)
        ? this.headerLength + this.headerBytes - this.readyBytes
        : MAX_MESSAGE_SIZE + 8;
      const size = Math.min(Math.max(256, 2 * held), need);
      // Its own memory (not the shared pool): views of it are never merged with others.
      this.tail = Buffer.allocUnsafeSlow(Math.max(size, last.length));
      this.tailUsed = 0;
    }
    this.tail.set(last, this.tailUsed);
    this.pushReady(view(this.tail, this.tailUsed, this.tailUsed + last.length));
    this.tailUsed += last.length;
  }

  /** peekHeader, counting `extra` as following `ready`. */
  private peekHeaderWith(extra: Uint8Array): boolean {
    this.ready.push(extra);
    this.readyBytes += extra.length;
    const h = this.peekHeader();
    this.ready.pop();
    this.readyBytes -= extra.length;
    return h;
  }

  /** Stores the bytes of [from, end) not already held; `data` starts at `offset`. */
  private storeNew(from: number, end: number, offset: number, data: Uint8Array): void {
    const store = this.store;
    let pos = from;
    while (pos < end) {
      const absent = store.next(pos, end, false);
      if (absent >= end) break;
      const upTo = store.next(absent, end, true);
      // A new run, unless it touches one below (or the delivered prefix) or above.
      const joinsBelow = absent === this.contiguousEnd || store.has(absent - 1);
      const joinsAbove = store.has(upTo);
      this.runs += 1 - (joinsBelow ? 1 : 0) - (joinsAbove ? 1 : 0);
      store.write(absent, data.subarray(absent - offset, upTo - offset));
      this.early += upTo - absent;
      pos = upTo;
    }
    // A run that starts at contiguousEnd was not counted: advance() takes it.
    if (store.has(this.contiguousEnd)) this.runs++;
  }

  /** Moves the run starting at contiguousEnd, if any, to `ready`. */
  private advance(): void {
    if (!this.store.has(this.contiguousEnd)) return;
    const from = this.contiguousEnd;
    const to = this.store.next(from, Number.POSITIVE_INFINITY, false);
    this.store.read(from, to, (view) => this.pushReady(view));
    this.store.dropWhole(from, to);
    this.early -= to - from;
    this.runs--;
    this.contiguousEnd = to;
  }

  /** Appends to `ready`, extending the last view when it continues in the same page. */
  private pushReady(view: Uint8Array): void {
    const n = this.ready.length;
    const last = n > this.readyHead ? this.ready[n - 1]! : undefined;
    if (last && last.buffer === view.buffer && last.byteOffset + last.length === view.byteOffset) {
      this.ready[n - 1] = new Uint8Array(last.buffer, last.byteOffset, last.length + view.length);
    } else this.ready.push(view);
    this.readyBytes += view.length;
  }

  /**
   * The messages now complete, in an array shared by every stream and
   * overwritten by the next onData (the caller hands them on at once), or
   * the shared empty answer.
   */
  private parseMessages(): Buffer[] {
    let out: Buffer[] | undefined;
    while (this.peekHeader()) {
      const length = this.headerLength;
      const headerBytes = this.headerBytes;
      if (length > MAX_MESSAGE_SIZE)
        throw new BadPacket('protocol', 'message exceeds the maximum size');
      if (this.readyBytes < headerBytes + length) break;
      const message = this.take(headerBytes, length);
      if (!out) {
        out = COMPLETE;
        while (out.length > 0) out.pop(); // (length = 0 would free the backing store)
      }
      out.push(message);
      this.consumed += headerBytes + length;
    }
    return out ?? NO_MESSAGES;
  }

  /**
   * Decodes the varint message length at the front of `ready`, if complete,
   * into headerLength / headerBytes (fields, not a tuple per message).
   */
  private peekHeader(): boolean {
    if (this.readyBytes === 0) return false;
    const head = this.readyHead;
    const first = this.ready[head]![0]!;
    const len = 1 << (first >> 6);
    if (this.readyBytes < len) return false;
    let value = first & 0x3f;
    let chunk = head;
    let pos = 1;
    for (let i = 1; i < len; i++) {
      while (pos >= this.ready[chunk]!.length) {
        chunk++;
        pos = 0;
      }
      value = value * 256 + this.ready[chunk]![pos++]!;
    }
    this.headerLength = value;
    this.headerBytes = len;
    return true;
  }

  /**
   * The message of `n` bytes that follows a `skip`-byte length header at the
   * front of `ready`, both taken off. The header is stepped over, never
   * copied into a Buffer of its own (one per message, thrown away at once:
   * the profile charged it ~0.4 KB per 1 KiB round trip with its views).
   */
  private take(skip: number, n: number): Buffer {
    if (this.ready[this.readyHead]!.length <= skip) {
      // The header ends with the front chunk (or runs past it): step over it first.
      this.skip(skip);
      skip = 0;
    }
    if (n === 0) {
      this.skip(skip);
      return Buffer.alloc(0);
    }
    const head = this.ready[this.readyHead]!;
    if (head.length >= skip + n && 2 * n >= head.buffer.byteLength) {
      // A message that sits in one piece and fills at least half of its
      // buffer is handed out without copying; a small one is copied, so the
      // application never keeps a whole page or datagram alive for it.
      const out = Buffer.from(head.buffer, head.byteOffset + skip, n);
      // Handed out: the tail buffer may not be written again.
      if (this.tail && head.buffer === this.tail.buffer) this.tail = undefined;
      if (head.length === skip + n) this.dropReadyHead();
      else this.ready[this.readyHead] = view(head, skip + n, head.length);
      this.readyBytes -= skip + n;
      return out;
    }
    this.skip(skip);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      // this.ready, read again each time: dropReadyHead may compact it.
      const chunk = this.ready[this.readyHead]!;
      const part = Math.min(chunk.length, n - filled);
      if (part === chunk.length) {
        out.set(chunk, filled); // whole chunk: no view needed
        this.dropReadyHead();
      } else {
        out.set(view(chunk, 0, part), filled);
        this.ready[this.readyHead] = view(chunk, part, chunk.length);
      }
      filled += part;
    }
    this.readyBytes -= n;
    return out;
  }

  /** Takes `n` bytes off the front of `ready` unread (a message's length header). */
  private skip(n: number): void {
    this.readyBytes -= n;
    while (n > 0) {
      const chunk = this.ready[this.readyHead]!;
      if (chunk.length <= n) {
        n -= chunk.length;
        this.dropReadyHead();
      } else {
        this.ready[this.readyHead] = view(chunk, n, chunk.length);
        n = 0;
      }
    }
  }

  /** Pops the front of `ready`, keeping no reference to the datagram it viewed. */
  private dropReadyHead(): void {
    this.ready[this.readyHead++] = NO_BYTES;
    if (this.readyHead === this.ready.length) {
      // Emptied with pop, not `length = 0`, which frees the backing store:
      // the next frame's push then allocated a new one, once per message
      // in a ping-pong (issue 16). Every slot popped was pushed once.
      const ready = this.ready;
      while (ready.length > 0) ready.pop();
      this.readyHead = 0;
    } else if (this.readyHead >= 1024 && this.readyHead * 2 > this.ready.length) {
      this.ready = this.ready.slice(this.readyHead);
      this.readyHead = 0;
    }
  }
}
