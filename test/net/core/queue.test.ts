import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Fifo } from '../../../source/net/core/queue.js';

/** The backing array's length: the memory the queue holds, live or not. */
function backing<T>(q: Fifo<T>): number {
  return (q as unknown as { items: unknown[] }).items.length;
}

describe('Fifo', () => {
  it('returns items in push order, then undefined when empty', () => {
    const q = new Fifo<number>();
    expect(q.shift()).toBeUndefined();
    for (let i = 0; i < 5; i++) q.push(i);
    expect(q.length).toBe(5);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([0, 1, 2]);
    expect(q.length).toBe(2);
    q.push(5);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([3, 4, 5, undefined]);
    expect(q.length).toBe(0);
  });

  it('behaves as an array model under any interleaving of push and shift', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.integer(), { nil: undefined }), { maxLength: 500 }),
        (ops) => {
          const q = new Fifo<number>();
          const model: number[] = [];
          for (const op of ops) {
            if (op === undefined) expect(q.shift()).toBe(model.shift());
            else {
              q.push(op);
              model.push(op);
            }
            expect(q.length).toBe(model.length);
          }
        },
      ),
      { seed: 11, numRuns: 300 },
    );
  });

  it('releases shifted items (no reference kept to what was taken)', () => {
    const q = new Fifo<object>();
    const a = {};
    q.push(a);
    q.push({});
    expect(q.shift()).toBe(a);
    const items = (q as unknown as { items: unknown[] }).items;
    expect(items.includes(a)).toBe(false);
  });

  it('a long queue keeps its order across compactions', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 5000; i++) q.push(i);
    const out: number[] = [];
    for (let i = 0; i < 3000; i++) out.push(q.shift()!);
    for (let i = 5000; i < 6000; i++) q.push(i);
    while (q.length > 0) out.push(q.shift()!);
    expect(out).toEqual(Array.from({ length: 6000 }, (_, i) => i));
    expect(backing(q)).toBeLessThanOrEqual(6000);
  });

  it('frees its memory once drained', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 10_000; i++) q.push(i);
    while (q.length > 0) q.shift();
    q.shift();
    expect(backing(q)).toBe(0);
  });

  it('a small queue drained every turn keeps its array (no new backing store per turn)', () => {
    const q = new Fifo<number>();
    for (let i = 0; i < 3; i++) q.push(i);
    const first = (q as unknown as { items: unknown[] }).items;
    for (let turn = 0; turn < 100; turn++) {
      while (q.shift() !== undefined);
      for (let i = 0; i < 3; i++) q.push(turn * 3 + i);
      expect((q as unknown as { items: unknown[] }).items).toBe(first);
    }
    expect(backing(q)).toBe(3);
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual([297, 298, 299, undefined]);
  });

  it('holds memory bounded by its length when it never drains (a steady stream)', () => {
    const q = new Fifo<number>();
    q.push(0);
    let outOfOrder = 0;
    let peak = 0;
    for (let i = 1; i <= 100_000; i++) {
      q.push(i);
      if (q.shift() !== i - 1) outOfOrder++;
      peak = Math.max(peak, backing(q));
    }
    expect(outOfOrder).toBe(0);
    expect(q.length).toBe(1);
    expect(q.shift()).toBe(100_000);
    // One live item: the backing array may keep some slack, never all 100,000.
    expect(peak).toBeLessThanOrEqual(2048);
  });
});
