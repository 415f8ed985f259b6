/**
 * A set of non-negative integers stored as sorted, disjoint, non-adjacent half-open ranges
 * [start, end). Used for ACK ranges (packet numbers) and stream byte ranges.
 *
 * Representation: two parallel sorted arrays of range starts and ends and a count; the
 * arrays keep their length (capacity) when ranges go, so the common cycle of a session's ACK ranges (insert a packet
 * number, drop everything once the peer acknowledged our ACK) allocates nothing. With plain
 * arrays, dropping the last range freed the backing store and the next insert allocated a new
 * one: ~600 bytes per 1 KiB round trip of the in-process ping-pong (issue 16). The hot paths in a
 * transport are "append just past the end" (a new packet number or the next stream bytes) and
 * "drop from the front" (bounding memory once ranges are acknowledged), both of which are O(1)
 * or O(ranges) here; everything else is a binary search plus one splice.
 *
 * A splice moves every range above the insertion point, so a set a peer can
 * shape (by the order of what it sends or acknowledges) must be kept to a
 * bounded size by its owner (Session caps its ACK ranges at MAX_ACK_RANGES;
 * reassembly does not use it at all, see conn/pages.ts). `work`
 * counts what each operation costs (search probes plus elements moved), so
 * tests can bound it without a clock.
 */
/** Capacity kept however few ranges remain (a session's ACK ranges stay below this). */
const KEEP_CAPACITY = 64;

export class RangeSet {
  // Invariant: starts[i] < ends[i] < starts[i + 1] for i < n (strict: adjacent ranges are
  // always merged); slots at and above n are unused.
  #starts: number[] = [];
  #ends: number[] = [];
  #n = 0;
  /** Search probes plus array elements moved, since construction. */
  work = 0;

  insert(start: number, end: number): void {
    if (!(start < end)) return;
    const n = this.#n;
    // Fast paths: empty set, or strictly after / touching the last range.
    if (n === 0 || start > this.#ends[n - 1]!) {
      this.#insertAt(n, start, end);
      return;
    }
    if (start >= this.#starts[n - 1]!) {
      if (end > this.#ends[n - 1]!) this.#ends[n - 1] = end;
      return;
    }
    // First range that could merge: its end reaches `start` (adjacency counts, so >=).
    const i = this.#firstEndAtLeast(start);
    // First range that cannot merge: it starts strictly after `end`.
    const j = this.#firstStartAbove(end);
    if (i === j) {
      this.work += n - i;
      this.#insertAt(i, start, end);
      return;
    }
    const newStart = Math.min(start, this.#starts[i]!);
    const newEnd = Math.max(end, this.#ends[j - 1]!);
    if (j - i > 1) this.work += n - j;
    this.#starts[i] = newStart;
    this.#ends[i] = newEnd;
    this.#drop(i + 1, j);
  }

  remove(start: number, end: number): void {
    if (!(start < end)) return;
    const starts = this.#starts;
    const ends = this.#ends;
    // Overlapping ranges are those with end > start and start < end.
    const i = this.#firstEndAbove(start);
    const j = this.#firstStartAtLeast(end);
    if (i >= j) return;
    // What survives: the part of range i below `start`, the part of range j-1 above `end`.
    const headStart = starts[i]!;
    const tailEnd = ends[j - 1]!;
    const keepHead = headStart < start;
    const keepTail = tailEnd > end;
    if (j - i === 1 && keepHead !== keepTail) {
      // One range trimmed at one side (the common case): no reshaping at all.
      if (keepHead) ends[i] = start;
      else starts[i] = end;
      return;
    }
    let k = i;
    if (keepHead) {
      starts[k] = headStart;
      ends[k] = start;
      k++;
    }
    if (keepTail) {
      if (k < j) {
        starts[k] = end;
        ends[k] = tailEnd;
      } else {
        // Both sides of one range survive: it splits in two.
        this.work += this.#n - k;
        this.#insertAt(k, end, tailEnd);
        return;
      }
      k++;
    }
    this.work += this.#n - j;
    this.#drop(k, j);
  }

  has(value: number): boolean {
    const k = this.#lastStartAtMost(value);
    return k >= 0 && value < this.#ends[k]!;
  }

  /** True when every integer in [start, end) is in the set (vacuously true for an empty range). */
  containsRange(start: number, end: number): boolean {
    if (!(start < end)) return true;
    const k = this.#lastStartAtMost(start);
    return k >= 0 && end <= this.#ends[k]!;
  }

  /** Number of disjoint ranges (not number of values). */
  get size(): number {
    return this.#n;
  }

  /** Ranges the arrays have room for: the memory held, whatever `size` is now. */
  get capacity(): number {
    return this.#starts.length;
  }

  get min(): number | undefined {
    return this.#n === 0 ? undefined : this.#starts[0];
  }

  /** End (exclusive) of the lowest range: with `min`, the first range without a tuple. */
  get firstEnd(): number | undefined {
    return this.#n === 0 ? undefined : this.#ends[0];
  }

  /** Largest contained value, i.e. end - 1 of the last range. */
  get max(): number | undefined {
    const n = this.#n;
    return n === 0 ? undefined : this.#ends[n - 1]! - 1;
  }

  /** Ascending. Do not mutate the set while iterating. */
  *ranges(): IterableIterator<[number, number]> {
    const starts = this.#starts;
    const ends = this.#ends;
    for (let k = 0; k < this.#n; k++) yield [starts[k]!, ends[k]!];
  }

  /** Start of the k-th range, ascending (0 <= k < size): reading ranges without a tuple. */
  startAt(k: number): number {
    return this.#starts[k]!;
  }

  /** End (exclusive) of the k-th range, ascending (0 <= k < size). */
  endAt(k: number): number {
    return this.#ends[k]!;
  }

  /** The ranges, highest first, as a new array (what an ACK frame encodes; no iterator). */
  toArrayDescending(): [number, number][] {
    const starts = this.#starts;
    const ends = this.#ends;
    const n = this.#n;
    const out: [number, number][] = new Array(n);
    for (let k = n - 1, i = 0; k >= 0; k--, i++) out[i] = [starts[k]!, ends[k]!];
    return out;
  }

  /** First gap inside [start, end): the sub-range NOT in the set, or undefined if fully covered. */
  firstGap(start: number, end: number): [number, number] | undefined {
    if (!(start < end)) return undefined;
    let cursor = start;
    const k = this.#lastStartAtMost(start);
    if (k >= 0 && this.#ends[k]! > start) cursor = this.#ends[k]!;
    if (cursor >= end) return undefined;
    // Ranges never touch, so the next range (if any) starts strictly after `cursor`.
    const next = k + 1 < this.#n ? this.#starts[k + 1]! : undefined;
    return [cursor, next === undefined ? end : Math.min(end, next)];
  }

  /** Drop everything below `value` (to bound memory). */
  removeBelow(value: number): void {
    const i = this.#firstEndAbove(value);
    if (i > 0) {
      this.work += this.#n - i;
      this.#drop(0, i);
    }
    if (this.#n > 0 && this.#starts[0]! < value) this.#starts[0] = value;
  }

  clear(): void {
    this.#n = 0;
    this.#shrink();
  }

  /** Opens slot `i` (moving [i, n) up one) and writes the range there. */
  #insertAt(i: number, start: number, end: number): void {
    const n = this.#n;
    const starts = this.#starts;
    const ends = this.#ends;
    if (n === starts.length) {
      // Grown the way push grows an array (amortised, in place when it can).
      starts.push(0);
      ends.push(0);
    }
    for (let k = n; k > i; k--) {
      starts[k] = starts[k - 1]!;
      ends[k] = ends[k - 1]!;
    }
    starts[i] = start;
    ends[i] = end;
    this.#n = n + 1;
  }

  /** Removes ranges [from, to), moving those above down. */
  #drop(from: number, to: number): void {
    if (from >= to) return;
    const n = this.#n;
    const starts = this.#starts;
    const ends = this.#ends;
    for (let k = to; k < n; k++) {
      starts[k - to + from] = starts[k]!;
      ends[k - to + from] = ends[k]!;
    }
    this.#n = n - (to - from);
    this.#shrink();
  }

  /** A set that once held many ranges gives the memory back when it holds few. */
  #shrink(): void {
    const cap = this.#starts.length;
    if (cap > KEEP_CAPACITY && this.#n * 4 < cap) {
      const keep = Math.max(KEEP_CAPACITY, 2 * this.#n);
      this.#starts.length = keep;
      this.#ends.length = keep;
    }
  }

  // --- binary searches (all return an index in [0, n] or -1) ---

  /** Index of the last range whose start <= value, or -1. */
  #lastStartAtMost(value: number): number {
    return this.#firstStartAbove(value) - 1;
  }

  /** Index of the first range whose start > value. */
  #firstStartAbove(value: number): number {
    return this.#search(this.#starts, value, true);
  }

  /** Index of the first range whose start >= value. */
  #firstStartAtLeast(value: number): number {
    return this.#search(this.#starts, value, false);
  }

  /** Index of the first range whose end >= value (it overlaps or touches `value`). */
  #firstEndAtLeast(value: number): number {
    return this.#search(this.#ends, value, false);
  }

  /** Index of the first range whose end > value (it contains something >= value). */
  #firstEndAbove(value: number): number {
    return this.#search(this.#ends, value, true);
  }

  #search(a: readonly number[], value: number, strict: boolean): number {
    // ⌈log2(n + 1)⌉ probes: counted, not run twice.
    this.work += 32 - Math.clz32(this.#n);
    return firstIndex(a, this.#n, value, strict);
  }
}

/** Binary search in sorted a[0, n): the first index whose element is > value (strict) or >= value. */
function firstIndex(a: readonly number[], n: number, value: number, strict: boolean): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[mid]!;
    if (strict ? x > value : x >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
