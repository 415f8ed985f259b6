/**
 * A FIFO with O(1) amortised push and shift: a head index into an array that
 * is reset whenever it drains, instead of Array.prototype.shift, which moves
 * every element and would make draining n items O(n²).
 */
/** Dead slots tolerated before a compaction (small queues never copy). */
const COMPACT_AFTER = 1024;

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) {
      if (this.head > 0) {
        this.items = [];
        this.head = 0;
      }
      return undefined;
    }
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // A queue that never quite drains would otherwise grow forever: once the
    // dead prefix is at least half the array, drop it. Copying the live half
    // costs no more than the shifts that made the dead one (still O(1) amortised).
    if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
