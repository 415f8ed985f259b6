import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TimerHeap } from '../../../source/net/core/timerheap.js';
import { Rng } from '../../support/rng.js';

interface Owner {
  name: number;
}

type Op =
  | { kind: 'set'; owner: number; time: number | undefined }
  | { kind: 'pop'; now: number }
  | { kind: 'peek' };

const OWNERS = 12;

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('set' as const),
      owner: fc.integer({ min: 0, max: OWNERS - 1 }),
      time: fc.option(fc.integer({ min: 0, max: 200 }), { freq: 5 }).map((t) => t ?? undefined),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pop' as const),
      now: fc.integer({ min: 0, max: 200 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('peek' as const) }) },
);

/** Applies ops to a heap and a Map model, asserting they agree at every step. */
function run(ops: Op[]): void {
  const owners: Owner[] = Array.from({ length: OWNERS }, (_, name) => ({ name }));
  const heap = new TimerHeap<Owner>();
  const model = new Map<Owner, number>();
  const modelMin = () => (model.size === 0 ? undefined : Math.min(...model.values()));
  for (const o of ops) {
    switch (o.kind) {
      case 'set': {
        const owner = owners[o.owner]!;
        heap.set(owner, o.time);
        if (o.time === undefined) model.delete(owner);
        else model.set(owner, o.time);
        break;
      }
      case 'pop': {
        const due = heap.popDue(o.now);
        const times = due.map((d) => model.get(d));
        // Exactly the owners due, each once, ordered by time.
        const expected = [...model].filter(([, t]) => t <= o.now).map(([d]) => d.name);
        const got = due.map((d) => d.name);
        // No duplicates, and the union is no larger than either side: the same set.
        const sameSet =
          got.length === expected.length &&
          new Set(got).size === got.length &&
          new Set([...got, ...expected]).size === got.length;
        if (!sameSet) expect(got.sort((a, b) => a - b)).toEqual(expected.sort((a, b) => a - b));
        for (let i = 1; i < times.length; i++) {
          if (!(times[i]! >= times[i - 1]!))
            expect(times).toEqual([...times].sort((a, b) => a! - b!));
        }
        for (const d of due) model.delete(d);
        break;
      }
      case 'peek':
        break;
    }
    const peek = heap.peekTime();
    if (peek !== modelMin()) expect(peek).toBe(modelMin());
  }
  // Everything left comes out at the end, in time order.
  const rest = heap.popDue(Number.POSITIVE_INFINITY);
  expect(rest.map((d) => model.get(d))).toEqual([...model.values()].sort((a, b) => a - b));
  expect(new Set(rest).size).toBe(model.size);
  expect(heap.peekTime()).toBeUndefined();
  expect(heap.popDue(Number.POSITIVE_INFINITY)).toEqual([]);
}

/** Reads the private heap array's length: the only way to see stale entries pile up. */
function internalLength(heap: TimerHeap<Owner>): number {
  return (heap as unknown as { heap: unknown[] }).heap.length;
}

describe('TimerHeap', () => {
  it('agrees with a Map model on random set/clear/popDue/peek sequences', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200, size: 'max' }), (ops) => run(ops)),
      { numRuns: 300 },
    );
  });

  it('pops ties and re-set owners correctly', () => {
    const [a, b, c] = [{ name: 0 }, { name: 1 }, { name: 2 }];
    const heap = new TimerHeap<Owner>();
    heap.set(a, 5);
    heap.set(b, 5);
    heap.set(c, 1);
    heap.set(c, 7); // moves later: the old entry at 1 is stale
    expect(heap.peekTime()).toBe(5);
    expect(new Set(heap.popDue(5))).toEqual(new Set([a, b]));
    expect(heap.popDue(6)).toEqual([]);
    heap.set(a, 7); // same time as c; setting twice is idempotent
    heap.set(a, 7);
    expect(new Set(heap.popDue(100))).toEqual(new Set([a, c]));
    expect(heap.peekTime()).toBeUndefined();
  });

  it('a popped owner is not popped again, and can be re-armed', () => {
    const a = { name: 0 };
    const heap = new TimerHeap<Owner>();
    heap.set(a, 3);
    expect(heap.popDue(3)).toEqual([a]);
    expect(heap.popDue(3)).toEqual([]);
    heap.set(a, 3);
    expect(heap.popDue(3)).toEqual([a]);
    heap.set(a, 4);
    heap.set(a, undefined);
    expect(heap.popDue(10)).toEqual([]);
    expect(heap.peekTime()).toBeUndefined();
  });

  it('stays correct and bounded after 100k deadline updates on a few owners', () => {
    const rng = new Rng(20240601);
    const owners: Owner[] = Array.from({ length: 16 }, (_, name) => ({ name }));
    const heap = new TimerHeap<Owner>();
    const model = new Map<Owner, number>();
    let maxLength = 0;
    for (let i = 0; i < 100_000; i++) {
      const owner = owners[rng.int(owners.length)]!;
      if (rng.chance(0.05)) {
        heap.set(owner, undefined);
        model.delete(owner);
      } else {
        const t = rng.int(1_000_000);
        heap.set(owner, t);
        model.set(owner, t);
      }
      maxLength = Math.max(maxLength, internalLength(heap));
    }
    // Stale entries are rebuilt away: the heap never holds more than a small multiple
    // of its live entries (it rebuilds once stale > 3 x live, above 64 entries).
    expect(maxLength).toBeLessThanOrEqual(4 * owners.length + 65);
    const min = Math.min(...model.values());
    expect(heap.peekTime()).toBe(min);
    const all = heap.popDue(Number.POSITIVE_INFINITY);
    expect(all.map((o) => model.get(o))).toEqual([...model.values()].sort((a, b) => a - b));
    expect(new Set(all)).toEqual(new Set(model.keys()));
  });

  it('stays bounded when owners come and go through popDue', () => {
    const rng = new Rng(7);
    const owners: Owner[] = Array.from({ length: 8 }, (_, name) => ({ name }));
    const heap = new TimerHeap<Owner>();
    let now = 0;
    let maxLength = 0;
    let popped = 0;
    for (let i = 0; i < 50_000; i++) {
      heap.set(owners[rng.int(owners.length)]!, now + rng.int(100));
      if (i % 10 === 0) {
        now += 5;
        const due = heap.popDue(now);
        popped += due.length;
        expect(new Set(due).size).toBe(due.length);
      }
      maxLength = Math.max(maxLength, internalLength(heap));
    }
    expect(popped).toBeGreaterThan(0);
    expect(maxLength).toBeLessThanOrEqual(4 * owners.length + 65);
  });

  it('a deadline moved after every flush reuses heap entries, and popDue one answer array', () => {
    const owners: Owner[] = Array.from({ length: 4 }, (_, name) => ({ name }));
    const heap = new TimerHeap<Owner>();
    const entries = new Set<object>();
    const answers = new Set<object>();
    let now = 0;
    for (let turn = 0; turn < 1000; turn++) {
      // As the endpoint does: every owner's deadline moves each turn, one comes due.
      for (const [i, o] of owners.entries()) heap.set(o, now + 1 + i);
      for (const e of (heap as unknown as { heap: object[] }).heap) entries.add(e);
      now += 1;
      const due = heap.popDue(now);
      expect(due).toEqual([owners[0]]);
      answers.add(due);
    }
    expect(answers.size).toBe(1);
    // The live entries plus the stale ones not yet surfaced, each reused: never one per set.
    expect(entries.size).toBeLessThanOrEqual(4 * owners.length + 65);
    // Entries out of the heap keep no owner alive.
    const spare = (heap as unknown as { spare: { owner: unknown }[] }).spare;
    expect(spare.every((e) => e.owner === undefined)).toBe(true);
  });
});
