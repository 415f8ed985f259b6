import { describe, expect, it } from 'vitest';
import { below, bottomOf, type Scroll, scrollBy } from '../../source/ui/scroll.js';

// Lines by key with their row counts: a tall one (key 3) among short ones.
const lines = [1, 2, 3, 4, 5].map((key) => ({ key }));
const heights: Record<number, number> = { 0: 1, 1: 2, 2: 10, 3: 1, 4: 1 };
const rows = (i: number) => heights[i]!;

describe('scrollBy', () => {
  it('moves by rows, inside a line taller than the pane', () => {
    const a = scrollBy(lines, undefined, 3, 4, rows);
    expect(a).toEqual({ anchor: 3, below: 1, seen: 5 });
    expect(bottomOf(lines, a, rows)).toEqual({ index: 2, below: 1 });
    expect(below(lines, a!, rows)).toEqual({ rows: 3, unseen: 0 });
  });

  it('stops with the first row at the top, and follows again at the bottom', () => {
    let pos: Scroll;
    for (let i = 0; i < 10; i++) pos = scrollBy(lines, pos, 4, 4, rows);
    // 15 rows in all: the top view of 4 rows ends in the tall line's first row.
    expect(pos).toEqual({ anchor: 3, below: 9, seen: 5 });
    expect(scrollBy(lines, pos, 4, 4, rows)).toEqual(pos);
    expect(scrollBy(lines, pos, -11, 4, rows)).toBeUndefined();
  });

  it('does not scroll when everything fits', () => {
    expect(scrollBy(lines.slice(0, 2), undefined, 5, 4, rows)).toBeUndefined();
  });

  it('keeps its place as new lines arrive, and counts them', () => {
    const pos = scrollBy(lines, undefined, 3, 4, rows)!;
    const more = [...lines, { key: 6 }, { key: 7 }];
    const r = (i: number) => heights[i] ?? 1;
    expect(bottomOf(more, pos, r)).toEqual({ index: 2, below: 1 });
    expect(below(more, pos, r)).toEqual({ rows: 5, unseen: 2 });
  });

  it('stays on the same line when a resize changes its rows, and when it is gone', () => {
    const pos = scrollBy(lines, undefined, 9, 4, rows)!;
    expect(bottomOf(lines, pos, rows)).toEqual({ index: 2, below: 7 });
    // Wider: the tall line now takes 3 rows; the view ends in its last one.
    const wide = (i: number) => (i === 2 ? 3 : 1);
    expect(bottomOf(lines, pos, wide)).toEqual({ index: 2, below: 2 });
    // /clear or the line limit removed it: the next line, from its top.
    expect(bottomOf(lines.slice(3), pos, () => 2)).toEqual({ index: 0, below: 1 });
  });

  it('lays out only the lines a page passes, not the whole history', () => {
    const many = Array.from({ length: 5000 }, (_, i) => ({ key: i + 1 }));
    const touched = new Set<number>();
    const count = (i: number) => {
      touched.add(i);
      return 2;
    };
    const pos = scrollBy(many, undefined, 10, 10, count);
    expect(pos).toEqual({ anchor: 4995, below: 0, seen: 5000 });
    // The 5 lines paged over, and the 5 above them that fill the view; the
    // top clamp looks one line further.
    expect(touched.size).toBeLessThanOrEqual(12);
  });
});
