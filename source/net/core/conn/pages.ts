/**
 * Out-of-order stream bytes, stored by offset in fixed-size pages with a
 * presence bitmap each: the reassembly buffer of RFC 9000 §2.2, bounded by
 * construction.
 *
 * Why pages and not one buffer per STREAM frame: a peer chooses the frame
 * sizes and offsets. Kept per frame, one-byte frames at every other offset
 * cost an object, a map entry and a range each (~150 bytes) for one byte
 * charged — the reported amplification — and inserting ranges at descending
 * offsets moved every range on each insert (quadratic). Here memory is the
 * number of pages touched times PAGE_COST, whatever the frame sizes, and the
 * work per frame is proportional to its length (bitmap words, page copies),
 * whatever the order: no operation depends on how many gaps there are.
 */

/** Bytes per page. Small enough that sparse data wastes little, large enough that a 4 MiB window is ~1000 pages. */
export const PAGE_SIZE = 4096;
const WORDS = PAGE_SIZE / 32;
/**
 * What one page really costs: its data, its bitmap, and the JS objects and
 * map entry that hold them. The overhead beyond data and bitmap was measured
 * at 0.36-0.45 KiB on Node 20 (heap plus array-buffer growth over 20,000
 * pages, gc forced: `measurePageBytes` in test/support/scenarios/reassembly.ts,
 * printed by `npm run chaos`); 512 rounds it up.
 */
export const PAGE_OVERHEAD = 512;
export const PAGE_COST = PAGE_SIZE + PAGE_SIZE / 8 + PAGE_OVERHEAD;

interface Page {
  /** Uninitialised: only bytes whose bit is set are ever read. */
  readonly data: Buffer;
  readonly bits: Uint32Array;
}

/** Index of the lowest set bit of a non-zero 32-bit value. */
function lowestBit(x: number): number {
  return 31 - Math.clz32(x & -x);
}

export class PageStore {
  readonly #pages = new Map<number, Page>();
  /** Work done, in steps (a bitmap word scanned or a page touched): for tests that bound it. */
  steps = 0;

  /** Pages held. */
  get size(): number {
    return this.#pages.size;
  }

  has(pos: number): boolean {
    const page = this.#pages.get(Math.floor(pos / PAGE_SIZE));
    if (!page) return false;
    const bit = pos % PAGE_SIZE;
    return (page.bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
  }

  /** First position in [pos, limit) whose bit is `want`, or `limit`. */
  next(pos: number, limit: number, want: boolean): number {
    let p = pos;
    while (p < limit) {
      const index = Math.floor(p / PAGE_SIZE);
      const base = index * PAGE_SIZE;
      const page = this.#pages.get(index);
      this.steps++;
      if (!page) {
        // A missing page is all clear.
        if (!want) return p;
        p = base + PAGE_SIZE;
        continue;
      }
      const start = p - base;
      const first = start >>> 5;
      for (let w = first; w < WORDS && base + w * 32 < limit; w++) {
        this.steps++;
        let word = want ? page.bits[w]! : ~page.bits[w]!;
        if (w === first) word &= -1 << (start & 31);
        if (word !== 0) return Math.min(limit, base + w * 32 + lowestBit(word));
      }
      p = base + PAGE_SIZE;
    }
    return limit;
  }

  /** Copies `data` to [offset, offset + data.length) and marks it present. */
  write(offset: number, data: Uint8Array): void {
    let done = 0;
    while (done < data.length) {
      const pos = offset + done;
      const index = Math.floor(pos / PAGE_SIZE);
      const at = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - at, data.length - done);
      const page = this.#page(index);
      page.data.set(data.subarray(done, done + n), at);
      this.#mark(page.bits, at, at + n);
      done += n;
    }
  }

  /** Calls `each` with the page views covering [from, to), which must be present. */
  read(from: number, to: number, each: (view: Uint8Array) => void): void {
    let pos = from;
    while (pos < to) {
      const index = Math.floor(pos / PAGE_SIZE);
      const at = pos - index * PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - at, to - pos);
      const page = this.#pages.get(index);
      if (!page) throw new Error(`page ${index} missing`);
      this.steps++;
      each(page.data.subarray(at, at + n));
      pos += n;
    }
  }

  /**
   * Forgets the pages that lie wholly in [from, to) (below the delivered
   * prefix); views handed out keep their data alive, not their bitmaps.
   */
  dropWhole(from: number, to: number): void {
    const last = Math.floor(to / PAGE_SIZE);
    for (let i = Math.floor(from / PAGE_SIZE); i < last; i++) {
      this.steps++;
      this.#pages.delete(i);
    }
  }

  clear(): void {
    // Map#clear allocates a new hash table even for an empty map, and the
    // stream clears its (nearly always empty) store after every in-order
    // frame: ~300 bytes per datagram for nothing (issue 16).
    if (this.#pages.size > 0) this.#pages.clear();
  }

  #page(index: number): Page {
    let page = this.#pages.get(index);
    this.steps++;
    if (!page) {
      // One allocation for data and bitmap (array buffers are costly to
      // create); unpooled, so a page never shares memory with anything else.
      const raw = Buffer.allocUnsafeSlow(PAGE_SIZE + WORDS * 4);
      const bits = new Uint32Array(raw.buffer, raw.byteOffset + PAGE_SIZE, WORDS);
      bits.fill(0);
      page = { data: raw.subarray(0, PAGE_SIZE), bits };
      this.#pages.set(index, page);
    }
    return page;
  }

  /** Sets bits [from, to) of one page. */
  #mark(bits: Uint32Array, from: number, to: number): void {
    let bit = from;
    while (bit < to) {
      this.steps++;
      const w = bit >>> 5;
      const lo = bit & 31;
      const hi = Math.min(32, to - w * 32);
      // Bits lo..hi-1 of word w (hi - lo may be 32: the shift must not wrap).
      const mask = hi - lo === 32 ? -1 : ((1 << (hi - lo)) - 1) << lo;
      bits[w]! |= mask;
      bit = w * 32 + hi;
    }
  }
}
