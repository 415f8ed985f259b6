import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RangeSet } from '../../../source/net/recovery/rangeset.js';

const LIMIT = 64;

type Op =
  | { kind: 'insert'; start: number; end: number }
  | { kind: 'remove'; start: number; end: number }
  | { kind: 'removeBelow'; value: number }
  | { kind: 'clear' };

const bound = fc.integer({ min: 0, max: LIMIT });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({ kind: fc.constant('insert' as const), start: bound, end: bound }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('remove' as const), start: bound, end: bound }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeBelow' as const), value: bound }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
);

function apply(set: RangeSet, model: Set<number>, op: Op): void {
  switch (op.kind) {
    case 'insert':
      set.insert(op.start, op.end);
      for (let v = op.start; v < op.end; v++) model.add(v);
      break;
    case 'remove':
      set.remove(op.start, op.end);
      for (let v = op.start; v < op.end; v++) model.delete(v);
      break;
    case 'removeBelow':
      set.removeBelow(op.value);
      for (const v of [...model]) if (v < op.value) model.delete(v);
      break;
    case 'clear':
      set.clear();
      model.clear();
      break;
  }
}

/** The ranges a correct implementation must hold: maximal runs of the model, ascending. */
function modelRanges(model: Set<number>): [number, number][] {
  const out: [number, number][] = [];
  for (let v = 0; v <= LIMIT + 1; v++) {
    if (!model.has(v)) continue;
    const last = out[out.length - 1];
    if (last !== undefined && last[1] === v) last[1] = v + 1;
    else out.push([v, v + 1]);
  }
  return out;
}

function modelFirstGap(
  model: Set<number>,
  start: number,
  end: number,
): [number, number] | undefined {
  let v = start;
  while (v < end && model.has(v)) v++;
  if (v >= end) return undefined;
  let w = v;
  while (w < end && !model.has(w)) w++;
  return [v, w];
}

function checkAgainstModel(set: RangeSet, model: Set<number>, a: number, b: number): void {
  const expected = modelRanges(model);
  expect([...set.ranges()]).toEqual(expected);
  expect(set.toArrayDescending()).toEqual([...expected].reverse());
  expect(set.size).toBe(expected.length);
  expect(set.min).toBe(expected.length === 0 ? undefined : Math.min(...model));
  expect(set.max).toBe(expected.length === 0 ? undefined : Math.max(...model));
  expect(set.firstEnd).toBe(expected[0]?.[1]);
  for (let v = 0; v <= LIMIT + 1; v++) expect(set.has(v)).toBe(model.has(v));
  const [lo, hi] = a <= b ? [a, b] : [b, a];
  let all = true;
  for (let v = lo; v < hi; v++) all &&= model.has(v);
  expect(set.containsRange(lo, hi)).toBe(all);
  expect(set.firstGap(lo, hi)).toEqual(modelFirstGap(model, lo, hi));
}

/** Ops on short ranges: many small disjoint ranges, so removes and merges reach the middle. */
const shortStart = fc.integer({ min: 0, max: LIMIT - 6 });
const shortOpArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc
      .record({ start: shortStart, len: fc.integer({ min: 1, max: 4 }) })
      .map(({ start, len }): Op => ({ kind: 'insert', start, end: start + len })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ start: shortStart, len: fc.integer({ min: 1, max: 6 }) })
      .map(({ start, len }): Op => ({ kind: 'remove', start, end: start + len })),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('removeBelow' as const), value: bound }) },
);

/** Binary-search probes of one search over `n` ranges (⌈log2(n + 1)⌉, as documented). */
const probes = (n: number): number => (n === 0 ? 0 : Math.floor(Math.log2(n)) + 1);

/**
 * The bounds `work` promises, from the ranges before the op alone: each binary search
 * counts its probes, and each range that has to move (the ranges above the change,
 * whenever the number of ranges changes) counts one; a remove that reshapes two or more
 * ranges may also count the ranges above them. Appending to or touching the newest range
 * costs nothing. Session's O(MAX_ACK_RANGES) bounds rest on these.
 */
function workBounds(before: [number, number][], op: Op): [number, number] {
  const n = before.length;
  if (op.kind === 'clear') return [0, 0];
  if (op.kind === 'removeBelow') {
    const gone = before.filter(([, e]) => e <= op.value).length;
    const cost = probes(n) + (gone > 0 ? n - gone : 0);
    return [cost, cost];
  }
  const { start, end } = op;
  if (!(start < end)) return [0, 0];
  const newest = before[n - 1];
  if (op.kind === 'insert') {
    if (newest === undefined || start >= newest[0]) return [0, 0];
    const touching = before.filter(([s, e]) => e >= start && s <= end).length;
    const above = before.filter(([s]) => s > end).length;
    const cost = 2 * probes(n) + (touching === 1 ? 0 : above);
    return [cost, cost];
  }
  const overlapping = before.filter(([s, e]) => e > start && s < end);
  const above = before.filter(([s]) => s >= end).length;
  const first = overlapping[0];
  const last = overlapping[overlapping.length - 1];
  const keepHead = first !== undefined && first[0] < start;
  const keepTail = last !== undefined && last[1] > end;
  const count = overlapping.length;
  // The number of ranges changes unless one range is trimmed at one side, or two are.
  const countChanges = count > 0 && count - Number(keepHead) - Number(keepTail) !== 0;
  const cost = 2 * probes(n) + (countChanges ? above : 0);
  return [cost, cost + (count >= 2 ? above : 0)];
}

describe('RangeSet', () => {
  it('behaves like a Set<number> under random operations (model-based)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), bound, bound, (ops, a, b) => {
        const set = new RangeSet();
        const model = new Set<number>();
        for (const op of ops) {
          apply(set, model, op);
          checkAgainstModel(set, model, a, b);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('behaves like a Set<number> with many short ranges, and work stays within its bounds (model-based)', () => {
    // Short ranges leave many disjoint ranges, so inserts and removes land in the middle:
    // what a remove drops, the ranges above it must close up over.
    fc.assert(
      fc.property(
        fc.array(shortOpArb, { minLength: 20, maxLength: 60 }),
        bound,
        bound,
        (ops, a, b) => {
          const set = new RangeSet();
          const model = new Set<number>();
          for (const op of ops) {
            const [low, high] = workBounds(modelRanges(model), op);
            const before = set.work;
            apply(set, model, op);
            // Measured before the checks below, whose queries search (and count) too.
            const cost = set.work - before;
            expect(cost).toBeGreaterThanOrEqual(low);
            expect(cost).toBeLessThanOrEqual(high);
            checkAgainstModel(set, model, a, b);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('removing a whole range in the middle keeps every range above it; trimming one moves nothing', () => {
    const s = new RangeSet();
    for (const v of [0, 4, 8, 12]) s.insert(v, v + 2);
    // Trimming [0, 2) up to the range that starts at 4: two searches over 4 ranges, no moves.
    const before = s.work;
    s.remove(1, 4);
    expect(s.work - before).toBe(2 * probes(4));
    s.insert(1, 2);
    s.remove(3, 7);
    expect([...s.ranges()]).toEqual([
      [0, 2],
      [8, 10],
      [12, 14],
    ]);
  });

  it('merges adjacent and overlapping inserts into one range', () => {
    const s = new RangeSet();
    s.insert(0, 5);
    s.insert(5, 10); // adjacent: half-open ranges touching at 5
    expect([...s.ranges()]).toEqual([[0, 10]]);
    s.insert(20, 30);
    s.insert(12, 14);
    s.insert(9, 21); // bridges everything
    expect([...s.ranges()]).toEqual([[0, 30]]);
  });

  it('ignores empty and inverted ranges', () => {
    const s = new RangeSet();
    s.insert(5, 5);
    s.insert(7, 3);
    expect(s.size).toBe(0);
    expect(s.min).toBeUndefined();
    expect(s.max).toBeUndefined();
    s.insert(0, 10);
    s.remove(4, 4);
    s.remove(8, 2);
    expect([...s.ranges()]).toEqual([[0, 10]]);
  });

  it('splits a range on an interior remove', () => {
    const s = new RangeSet();
    s.insert(0, 10);
    s.remove(3, 6);
    expect([...s.ranges()]).toEqual([
      [0, 3],
      [6, 10],
    ]);
    expect(s.has(3)).toBe(false);
    expect(s.has(6)).toBe(true);
    expect(s.max).toBe(9);
  });

  it('reports the first gap, or undefined when covered', () => {
    const s = new RangeSet();
    s.insert(0, 4);
    s.insert(6, 8);
    expect(s.firstGap(0, 10)).toEqual([4, 6]);
    expect(s.firstGap(6, 10)).toEqual([8, 10]);
    expect(s.firstGap(1, 3)).toBeUndefined();
    expect(s.firstGap(3, 3)).toBeUndefined();
    expect(new RangeSet().firstGap(2, 5)).toEqual([2, 5]);
    expect(s.containsRange(2, 2)).toBe(true);
  });

  it('removeBelow trims a straddling range and drops older ones', () => {
    const s = new RangeSet();
    s.insert(0, 3);
    s.insert(5, 10);
    s.insert(12, 13);
    s.removeBelow(7);
    expect([...s.ranges()]).toEqual([
      [7, 10],
      [12, 13],
    ]);
    s.removeBelow(100);
    expect(s.size).toBe(0);
  });

  it('handles a long run of appends and front removals with few ranges', () => {
    const s = new RangeSet();
    for (let pn = 0; pn < 100_000; pn++) {
      if (pn % 1000 !== 999) s.insert(pn, pn + 1); // one gap per thousand
      if (pn % 5000 === 4999) s.removeBelow(pn - 2000);
    }
    expect(s.size).toBeLessThanOrEqual(4);
    expect(s.max).toBe(99_998);
    expect(s.has(99_999)).toBe(false);
  });
});

describe('RangeSet work (search probes plus elements moved)', () => {
  const n = 4000;
  const everyOtherDescending = Array.from({ length: n }, (_, i) => 2 * (n - i));

  it('counts the moves a front insert costs: quadratic when nothing bounds the size', () => {
    const set = new RangeSet();
    for (const v of everyOtherDescending) set.insert(v, v + 1);
    expect(set.size).toBe(n);
    // Each insert at index 0 moves every range already there: n(n-1)/2 in all.
    expect(set.work).toBeGreaterThanOrEqual((n * (n - 1)) / 2);
  });

  it('is O(bound) per operation when the owner caps the size, whatever the order', () => {
    const cap = 64;
    const orders = {
      ascending: Array.from({ length: n }, (_, i) => 2 * i),
      descending: everyOtherDescending,
      interleaved: Array.from({ length: n }, (_, i) => (i % 2 ? 4 * n - 2 * i : 2 * i)),
    };
    for (const values of Object.values(orders)) {
      const set = new RangeSet();
      for (const v of values) {
        set.insert(v, v + 1);
        while (set.size > cap) set.remove(set.min!, set.firstEnd!);
      }
      expect(set.size).toBeLessThanOrEqual(cap);
      expect(set.work).toBeLessThanOrEqual(n * (2 * cap + 32));
    }
  });

  it('appends and in-order merges cost no moves', () => {
    const set = new RangeSet();
    for (let v = 0; v < n; v++) set.insert(v, v + 1);
    for (let v = n + 1; v < 3 * n; v += 2) set.insert(v, v + 1);
    expect(set.work).toBe(0);
    // A duplicate of the newest packet (or of the newest range's start) is the same fast path.
    const last = set.max!;
    set.insert(last, last + 1);
    set.insert(last, last + 2);
    expect(set.max).toBe(last + 1);
    expect(set.work).toBe(0);
  });
});

describe('RangeSet memory (capacity: ranges its arrays have room for)', () => {
  it('keeps its arrays when emptied, so a session acknowledging every packet allocates nothing', () => {
    const set = new RangeSet();
    set.insert(0, 1);
    const capacity = set.capacity;
    expect(capacity).toBeGreaterThanOrEqual(1);
    for (let pn = 1; pn < 1000; pn++) {
      set.insert(pn, pn + 1);
      set.removeBelow(pn + 1); // the peer acknowledged the ACK that carried it
      expect(set.size).toBe(0);
      expect(set.capacity).toBe(capacity);
    }
    set.insert(5000, 5001);
    expect([...set.ranges()]).toEqual([[5000, 5001]]);
  });

  it('gives back what many ranges held once few remain', () => {
    const set = new RangeSet();
    for (let v = 0; v < 10_000; v += 2) set.insert(v, v + 1);
    expect(set.capacity).toBeGreaterThanOrEqual(5000);
    set.removeBelow(9990);
    expect(set.size).toBe(5);
    expect(set.capacity).toBeLessThanOrEqual(64);
    set.clear();
    expect(set.capacity).toBeLessThanOrEqual(64);
    expect(set.min).toBeUndefined();
    expect(set.max).toBeUndefined();
    expect(set.firstEnd).toBeUndefined();
  });
});
