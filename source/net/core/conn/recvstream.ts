import { view } from '../../wire/reader.js';
import { BadPacket } from '../errors.js';
import { PAGE_COST, PageStore } from './pages.js';
import { MAX_MESSAGE_SIZE, RECV_WINDOW } from './streamlimits.js';

/**
 * The receiving half of a reliable ordered stream, after RFC 9000 §2-§3 (see
 * sendstream.ts): STREAM frames (§19.8) arrive at explicit offsets, in any
 * order and possibly duplicated; their bytes are reassembled (§2.2), in-order
 * frames without a copy where possible and early ones in pages (pages.ts),
 * and complete [varint length][bytes] messages are handed out in order. Data
 * beyond the receive window (our stand-in for §4.1's flow-control limit) or
 * carved into too many gaps (the reassembly attack of §21.7) is a protocol
 * violation.
 */

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
/** onData's answer when messages completed: one for every stream (see parseMessages). */
const COMPLETE: Buffer[] = [];
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

  /**
   * onData for the frame at `buf[start, start + length)`, viewed only when
   * it must be. A frame that is exactly one whole message, in order with
   * nothing pending, and large enough to be handed out without a copy (as
   * take() would) becomes the message's Buffer directly: a 1 KiB message
   * costs that one object, not a view of the frame first (issue 16).
   */
  onDataAt(offset: number, buf: Uint8Array, start: number, length: number): Buffer[] {
    const n = this.wholeMessageAt(offset, buf, start, length);
    if (n < 0) return this.onData(offset, view(buf, start, start + length));
    const message = Buffer.from(buf.buffer, buf.byteOffset + start + length - n, n);
    const end = offset + length;
    this.store.dropWhole(this.contiguousEnd, end);
    this.contiguousEnd = end;
    this.consumed += length;
    // Nothing partial: no tail or page is held (or charged) while idle.
    this.tail = undefined;
    this.store.clear();
    const out = COMPLETE;
    while (out.length > 0) out.pop(); // (length = 0 would free the backing store)
    out.push(message);
    return out;
  }

  /**
   * The length of the one message the frame holds exactly, when onDataAt
   * may hand it out directly (see there); -1 otherwise, and the general
   * path decides (and throws what it throws).
   */
  private wholeMessageAt(offset: number, buf: Uint8Array, start: number, length: number): number {
    if (offset !== this.contiguousEnd || this.runs !== 0 || this.readyBytes !== 0) return -1;
    if (length === 0 || offset + length > this.consumed + RECV_WINDOW) return -1;
    const first = buf[start]!;
    const headerBytes = 1 << (first >> 6);
    if (headerBytes >= length) return -1;
    let n = first & 0x3f;
    for (let i = 1; i < headerBytes; i++) n = n * 256 + buf[start + i]!;
    if (n > MAX_MESSAGE_SIZE || headerBytes + n !== length) return -1;
    return 2 * n >= buf.buffer.byteLength ? n : -1;
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
