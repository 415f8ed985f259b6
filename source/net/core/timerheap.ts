/**
 * A binary min-heap of (time, owner) deadlines with lazy invalidation: the
 * endpoint pushes a new entry whenever an owner's deadline changes and stale
 * entries are skipped when they surface. This keeps "earliest deadline across
 * all sessions" O(log n) for a socket with thousands of peers (one OS timer
 * for the whole socket, never one per peer or per packet).
 *
 * Entries that leave the heap are kept for the next push and popDue answers
 * in one reused array: the endpoint sets a peer's deadline after every flush,
 * and an entry per set was most of what this heap allocated (issue 16).
 */
interface Entry<T> {
  time: number;
  owner: T | undefined;
  generation: number;
}

/** Spare entries kept for reuse (beyond this, they are left to the collector). */
const MAX_SPARE = 64;

export class TimerHeap<T extends object> {
  private readonly heap: Entry<T>[] = [];
  private readonly generations = new WeakMap<T, number>();
  private readonly scheduled = new WeakMap<T, number>();
  /** Entries in `heap` that no longer match their owner's generation. */
  private stale = 0;
  /** Entries out of the heap, owner cleared, ready for the next push. */
  private readonly spare: Entry<T>[] = [];
  /** popDue's answer, reused. */
  private readonly due: T[] = [];

  /** Sets (or clears, with undefined) the owner's single deadline. */
  set(owner: T, time: number | undefined): void {
    if (time !== undefined && this.scheduled.get(owner) === time) return;
    const generation = (this.generations.get(owner) ?? 0) + 1;
    this.generations.set(owner, generation);
    if (this.scheduled.has(owner)) this.stale++;
    if (time === undefined) {
      this.scheduled.delete(owner);
      return;
    }
    this.scheduled.set(owner, time);
    const e = this.spare.pop();
    if (e) {
      e.time = time;
      e.owner = owner;
      e.generation = generation;
      this.heap.push(e);
    } else this.heap.push({ time, owner, generation });
    this.up(this.heap.length - 1);
    // Stale entries accumulate when deadlines move often; rebuild when they dominate.
    if (this.heap.length > 64 && this.stale > 3 * (this.heap.length - this.stale)) this.rebuild();
  }

  private isLive(e: Entry<T>): boolean {
    return this.generations.get(e.owner!) === e.generation;
  }

  private rebuild(): void {
    const live = this.heap.filter((e) => this.isLive(e));
    for (const e of this.heap) if (!this.isLive(e)) this.recycle(e);
    this.heap.length = 0;
    this.stale = 0;
    for (const e of live) {
      this.heap.push(e);
      this.up(this.heap.length - 1);
    }
  }

  private recycle(e: Entry<T>): void {
    e.owner = undefined; // no reference kept to an owner that is gone
    if (this.spare.length < MAX_SPARE) this.spare.push(e);
  }

  peekTime(): number | undefined {
    this.dropStale();
    return this.heap[0]?.time;
  }

  /**
   * Removes and returns the owners whose deadline is <= now. The array is
   * this heap's own, overwritten by the next call: iterate it at once.
   */
  popDue(now: number): T[] {
    const due = this.due;
    while (due.length > 0) due.pop(); // (length = 0 would free its backing store)
    for (;;) {
      this.dropStale();
      const top = this.heap[0];
      if (!top || top.time > now) break;
      this.pop();
      const owner = top.owner!;
      this.generations.set(owner, top.generation + 1);
      this.scheduled.delete(owner);
      due.push(owner);
      this.recycle(top);
    }
    return due;
  }

  private dropStale(): void {
    while (this.heap.length > 0 && !this.isLive(this.heap[0]!)) {
      const top = this.heap[0]!;
      this.pop();
      this.stale--;
      this.recycle(top);
    }
  }

  private pop(): void {
    const last = this.heap.pop()!;
    if (this.heap.length === 0) return;
    this.heap[0] = last;
    this.down(0);
  }

  private up(i: number): void {
    const h = this.heap;
    const e = h[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.time <= e.time) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  private down(i: number): void {
    const h = this.heap;
    const e = h[i]!;
    const n = h.length;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= n) break;
      if (child + 1 < n && h[child + 1]!.time < h[child]!.time) child++;
      if (h[child]!.time >= e.time) break;
      h[i] = h[child]!;
      i = child;
    }
    h[i] = e;
  }
}

/** The earlier of two optional deadlines (no array, no closure: used on every flush). */
export function earliest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || (b !== undefined && b < a) ? b : a;
}
