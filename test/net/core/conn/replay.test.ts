import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REPLAY_WINDOW, ReplayWindow } from '../../../../source/net/core/conn/replay.js';

/** The specification: each pn once, and nothing REPLAY_WINDOW or more below the highest. */
class Model {
  readonly seen = new Set<number>();
  highest = -1;

  mayAccept(pn: number): boolean {
    return !this.seen.has(pn) && pn > this.highest - REPLAY_WINDOW;
  }

  commit(pn: number): void {
    this.seen.add(pn);
    if (pn > this.highest) this.highest = pn;
  }
}

/** A packet number relative to the current highest, so the interesting edges get hit. */
type Op = { base: 'highest' | 'zero'; delta: number; authentic: boolean };

const op: fc.Arbitrary<Op> = fc.record({
  base: fc.constantFrom<Op['base']>('highest', 'highest', 'highest', 'zero'),
  delta: fc.oneof(
    fc.integer({ min: -40, max: 40 }),
    fc.integer({ min: -REPLAY_WINDOW - 40, max: -REPLAY_WINDOW + 40 }),
    fc.integer({ min: -2 * REPLAY_WINDOW, max: 2 * REPLAY_WINDOW }),
    fc.integer({ min: REPLAY_WINDOW - 40, max: REPLAY_WINDOW + 40 }),
    fc.integer({ min: REPLAY_WINDOW, max: 100 * REPLAY_WINDOW }),
  ),
  // Forged packets pass mayAccept but fail authentication: they are never committed.
  authentic: fc.oneof(fc.constant(true), fc.constant(true), fc.constant(true), fc.constant(false)),
});

function run(ops: Op[], start = 0): void {
  const w = new ReplayWindow();
  const m = new Model();
  for (const o of ops) {
    const base = o.base === 'zero' ? start : Math.max(start, m.highest);
    const pn = Math.max(0, Math.min(Number.MAX_SAFE_INTEGER, base + o.delta));
    const expected = m.mayAccept(pn);
    if (w.mayAccept(pn) !== expected) {
      expect({ pn, highest: m.highest, accepted: w.mayAccept(pn) }).toEqual({
        pn,
        highest: m.highest,
        accepted: expected,
      });
    }
    if (expected && o.authentic) {
      w.commit(pn);
      m.commit(pn);
      // Committed numbers are refused from then on.
      if (w.mayAccept(pn)) expect(w.mayAccept(pn)).toBe(false);
    }
    if (w.highest !== m.highest) expect(w.highest).toBe(m.highest);
  }
}

describe('ReplayWindow', () => {
  it('matches the Set model on random sequences', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300, size: 'max' }), (ops) => run(ops)),
      { numRuns: 300 },
    );
  });

  it('matches the Set model near 2^53', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 100, size: 'max' }), (ops) =>
        run(ops, Number.MAX_SAFE_INTEGER - 50 * REPLAY_WINDOW),
      ),
      { numRuns: 100 },
    );
  });

  it('accepts each packet number once, in any order within the window', () => {
    const w = new ReplayWindow();
    const pns = Array.from({ length: REPLAY_WINDOW }, (_, i) => i).reverse();
    w.commit(REPLAY_WINDOW - 1);
    for (const pn of pns.slice(1)) {
      expect(w.mayAccept(pn)).toBe(true);
      w.commit(pn);
    }
    for (const pn of pns) expect(w.mayAccept(pn)).toBe(false);
    expect(w.mayAccept(REPLAY_WINDOW)).toBe(true);
  });

  it('refuses anything REPLAY_WINDOW or more below the highest, even if never seen', () => {
    const w = new ReplayWindow();
    w.commit(10_000);
    expect(w.highest).toBe(10_000);
    expect(w.mayAccept(10_000 - REPLAY_WINDOW)).toBe(false);
    expect(w.mayAccept(10_000 - REPLAY_WINDOW + 1)).toBe(true);
    expect(w.mayAccept(0)).toBe(false);
    expect(w.mayAccept(10_000)).toBe(false);
    expect(w.mayAccept(10_001)).toBe(true);
  });

  it('a jump of a whole window or more forgets every old bit', () => {
    const w = new ReplayWindow();
    for (let pn = 0; pn < 100; pn++) w.commit(pn);
    const jump = 99 + REPLAY_WINDOW;
    w.commit(jump);
    // Slots that aliased the old packet numbers are free for the new ones.
    for (let pn = jump - REPLAY_WINDOW + 1; pn < jump; pn++) expect(w.mayAccept(pn)).toBe(true);
    expect(w.mayAccept(jump)).toBe(false);
    expect(w.mayAccept(99)).toBe(false);
  });

  it('a jump of less than a window clears exactly the skipped slots', () => {
    const w = new ReplayWindow();
    for (let pn = 0; pn < REPLAY_WINDOW; pn++) w.commit(pn);
    w.commit(REPLAY_WINDOW + 10);
    // REPLAY_WINDOW..+9 were skipped (their slots held 0..9, now cleared), 11.. are still seen.
    for (let pn = REPLAY_WINDOW; pn < REPLAY_WINDOW + 10; pn++) expect(w.mayAccept(pn)).toBe(true);
    for (let pn = 11; pn < REPLAY_WINDOW; pn++) expect(w.mayAccept(pn)).toBe(false);
    expect(w.mayAccept(10)).toBe(false);
  });

  it('packet number 0 is accepted first and only once', () => {
    const w = new ReplayWindow();
    expect(w.highest).toBe(-1);
    expect(w.mayAccept(0)).toBe(true);
    w.commit(0);
    expect(w.mayAccept(0)).toBe(false);
    expect(w.highest).toBe(0);
  });
});

describe('ReplayWindow work', () => {
  it('a peer jumping its packet numbers by just under the window costs words, not bits', () => {
    const w = new ReplayWindow();
    let pn = 0;
    const packets = 1000;
    for (let i = 0; i < packets; i++) {
      pn += REPLAY_WINDOW - 1 - (i % 33);
      expect(w.mayAccept(pn)).toBe(true);
      w.commit(pn);
    }
    // Clearing the slots skipped over touches at most every 32-bit word once
    // (plus a partial word at each end), not one bit at a time (~4000 steps).
    expect(w.steps).toBeLessThanOrEqual(packets * (REPLAY_WINDOW / 32 + 2));
    // And the window is still right: the slots skipped over are clear.
    expect(w.mayAccept(pn - 1)).toBe(true);
    expect(w.mayAccept(pn)).toBe(false);
  });
});
