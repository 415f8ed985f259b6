/**
 * A FIFO with O(1) amortised push and shift: a head index into an array that
 * is reset whenever it drains, instead of Array.prototype.shift, which moves
 * every element and would make draining n items O(n²).
 */
/** Dead slots tolerated before a compaction (small queues never copy). */
const COMPACT_AFTER = 1024;
/**
 * A drained queue keeps an array of at most this many slots and writes over
 * them again. The endpoint's transmit and event queues drain every turn;
 * starting each turn from a fresh [] made V8 allocate a new backing store
 * (17 slots, ~150 bytes) at the first push: ~600 bytes per 1 KiB round trip
 * of the in-process ping-pong (issue 16). A larger array is freed.
 */
const KEEP_DRAINED = 64;

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;
  /** One past the last item: slots [tail, items.length) are free (undefined). */
  private tail = 0;

  get length(): number {
    return this.tail - this.head;
  }

  push(item: T): void {
    if (this.tail < this.items.length) this.items[this.tail] = item;
    else this.items.push(item);
    this.tail++;
  }

  shift(): T | undefined {
    if (this.head >= this.tail) {
      if (this.items.length > KEEP_DRAINED) this.items = [];
      this.head = 0;
      this.tail = 0;
      return undefined;
    }
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // A queue that never quite drains would otherwise grow forever: once the
    // dead prefix is at least half the array, drop it. Copying the live half
    // costs no more than the shifts that made the dead one (still O(1) amortised).
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.tail) {
      this.items = this.items.slice(this.head, this.tail);
      this.tail -= this.head;
      this.head = 0;
    }
    return item;
  }
}
