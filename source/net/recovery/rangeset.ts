/**
 * A set of non-negative integers stored as sorted, disjoint, non-adjacent half-open ranges
 * [start, end). Used for ACK ranges (packet numbers) and stream byte ranges.
 *
 * Representation: two parallel sorted arrays of range starts and ends. The hot paths in a
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
export class RangeSet {
  // Invariant: starts[i] < ends[i] < starts[i + 1] (strict: adjacent ranges are always merged).
  #starts: number[] = [];
  #ends: number[] = [];
  /** Search probes plus array elements moved, since construction. */
  work = 0;

  insert(start: number, end: number): void {
    if (!(start < end)) return;
    const starts = this.#starts;
    const ends = this.#ends;
    const n = starts.length;
    // Fast paths: empty set, or strictly after / touching the last range.
    if (n === 0 || start > ends[n - 1]!) {
      starts.push(start);
      ends.push(end);
      return;
    }
    if (start >= starts[n - 1]!) {
      if (end > ends[n - 1]!) ends[n - 1] = end;
      return;
    }
    // First range that could merge: its end reaches `start` (adjacency counts, so >=).
    const i = this.#firstEndAtLeast(start);
    // First range that cannot merge: it starts strictly after `end`.
    const j = this.#firstStartAbove(end);
    if (i === j) {
      this.work += n - i;
      starts.splice(i, 0, start);
      ends.splice(i, 0, end);
      return;
    }
    const newStart = Math.min(start, starts[i]!);
    const newEnd = Math.max(end, ends[j - 1]!);
    if (j - i > 1) this.work += n - j;
    starts.splice(i, j - i, newStart);
    ends.splice(i, j - i, newEnd);
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
        this.work += starts.length - k;
        starts.splice(k, 0, end);
        ends.splice(k, 0, tailEnd);
        return;
      }
      k++;
    }
    this.work += starts.length - j;
    dropRange(starts, k, j);
    dropRange(ends, k, j);
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
    return this.#starts.length;
  }

  get min(): number | undefined {
    return this.#starts[0];
  }

  /** End (exclusive) of the lowest range: with `min`, the first range without a tuple. */
  get firstEnd(): number | undefined {
    return this.#ends[0];
  }

  /** Largest contained value, i.e. end - 1 of the last range. */
  get max(): number | undefined {
    const n = this.#ends.length;
    return n === 0 ? undefined : this.#ends[n - 1]! - 1;
  }

  /** Ascending. Do not mutate the set while iterating. */
  *ranges(): IterableIterator<[number, number]> {
    const starts = this.#starts;
    const ends = this.#ends;
    for (let k = 0; k < starts.length; k++) yield [starts[k]!, ends[k]!];
  }

  /** The ranges, highest first, as a new array (what an ACK frame encodes; no iterator). */
  toArrayDescending(): [number, number][] {
    const starts = this.#starts;
    const ends = this.#ends;
    const out: [number, number][] = new Array(starts.length);
    for (let k = starts.length - 1, i = 0; k >= 0; k--, i++) out[i] = [starts[k]!, ends[k]!];
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
    const next = this.#starts[k + 1];
    return [cursor, next === undefined ? end : Math.min(end, next)];
  }

  /** Drop everything below `value` (to bound memory). */
  removeBelow(value: number): void {
    const i = this.#firstEndAbove(value);
    if (i > 0) {
      this.work += this.#starts.length - i;
      dropRange(this.#starts, 0, i);
      dropRange(this.#ends, 0, i);
    }
    if (this.#starts.length > 0 && this.#starts[0]! < value) this.#starts[0] = value;
  }

  clear(): void {
    this.#starts = [];
    this.#ends = [];
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
    this.work += 32 - Math.clz32(a.length);
    return firstIndex(a, value, strict);
  }
}

/** Removes a[from..to) in place; unlike splice, allocates no array of removed elements. */
function dropRange(a: number[], from: number, to: number): void {
  const n = a.length;
  if (from >= to) return;
  for (let k = to; k < n; k++) a[k - to + from] = a[k]!;
  a.length = n - (to - from);
}

/** Binary search in a sorted array: the first index whose element is > value (strict) or >= value. */
function firstIndex(a: readonly number[], value: number, strict: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = a[mid]!;
    if (strict ? x > value : x >= value) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
