import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, PageStore } from '../../../../source/net/core/conn/pages.js';
import { Rng } from '../../../support/rng.js';

/** The obvious model: one boolean and one byte per position. */
class Model {
  readonly present = new Map<number, number>();
  write(offset: number, data: Uint8Array): void {
    for (let i = 0; i < data.length; i++) this.present.set(offset + i, data[i]!);
  }
  next(pos: number, limit: number, want: boolean): number {
    for (let p = pos; p < limit; p++) if (this.present.has(p) === want) return p;
    return limit;
  }
}

describe('PageStore', () => {
  it('agrees with a naive model on presence, scans and contents, across page and word edges', () => {
    const rng = new Rng(7);
    const store = new PageStore();
    const model = new Model();
    const span = 3 * PAGE_SIZE;
    for (let round = 0; round < 400; round++) {
      // Offsets near word and page boundaries are the interesting ones.
      const near = rng.chance(0.5) ? rng.int(4) * PAGE_SIZE + rng.int(3) * 32 - 1 : rng.int(span);
      const offset = Math.max(0, Math.min(span - 1, near));
      const data = rng.bytes(1 + rng.int(rng.chance(0.3) ? 200 : 40));
      store.write(offset, data);
      model.write(offset, data);
      for (let probe = 0; probe < 5; probe++) {
        const pos = rng.int(span);
        const limit = pos + rng.int(span - pos + 100);
        expect(store.has(pos)).toBe(model.present.has(pos));
        expect(store.next(pos, limit, true)).toBe(model.next(pos, limit, true));
        expect(store.next(pos, limit, false)).toBe(model.next(pos, limit, false));
      }
    }
    // Every present run reads back what was written.
    for (let pos = store.next(0, span + 200, true); pos < span + 200; ) {
      const end = store.next(pos, span + 200, false);
      const got: number[] = [];
      store.read(pos, end, (v) => got.push(...v));
      expect(got).toEqual(Array.from({ length: end - pos }, (_, i) => model.present.get(pos + i)));
      pos = store.next(end, span + 200, true);
    }
  });

  it('holds one page per page touched, and forgets whole pages below a point', () => {
    const store = new PageStore();
    for (let k = 0; k < 10; k++) store.write(k * PAGE_SIZE + 7, Uint8Array.of(k));
    expect(store.size).toBe(10);
    store.dropWhole(0, 3 * PAGE_SIZE + 100);
    expect(store.size).toBe(7);
    expect(store.has(2 * PAGE_SIZE + 7)).toBe(false);
    expect(store.has(3 * PAGE_SIZE + 7)).toBe(true);
  });

  it('scans in steps proportional to the distance, not to what is stored', () => {
    const store = new PageStore();
    // Every other byte of two pages: 4096 runs.
    for (let p = 0; p < 2 * PAGE_SIZE; p += 2) store.write(p, Uint8Array.of(1));
    store.steps = 0;
    // Finding the next absent byte from a present one is one word away.
    expect(store.next(100, 2 * PAGE_SIZE, false)).toBe(101);
    expect(store.steps).toBeLessThanOrEqual(2);
    store.steps = 0;
    // A full scan of two pages is one step per 32-bit word (plus one per page).
    expect(store.next(1, 2 * PAGE_SIZE, true)).toBe(2);
    expect(store.next(2 * PAGE_SIZE, 10 * PAGE_SIZE, true)).toBe(10 * PAGE_SIZE);
    expect(store.steps).toBeLessThanOrEqual(2 + 8);
  });
});
