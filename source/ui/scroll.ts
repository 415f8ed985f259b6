/**
 * Where the message pane is scrolled to, in rows.
 *
 * Following (undefined), the pane ends at the newest row. Scrolled back, it
 * ends inside a line named by its key, with `below` of that line's rows under
 * the pane: new lines arriving below do not move the view, and a line taller
 * than the pane can be read to its tail (its ✓ or ✗). Pure functions over
 * `rowCount(index)`, which lays lines out lazily: a page moves by walking only
 * the lines it passes, never the whole history.
 */

export interface ScrollPos {
  /** Key of the line at the pane's bottom. */
  anchor: number;
  /** Rows of that line under the pane's bottom (0 ≤ below < its rows). */
  below: number;
  /** Key of the newest line when we scrolled back: later ones are "new". */
  seen: number;
}

export type Scroll = ScrollPos | undefined;

export interface Keyed {
  key: number;
}

/** Index of the line with key `key`, or of the first later one (keys increase). */
export function indexOfKey(lines: readonly Keyed[], key: number): number {
  let lo = 0;
  let hi = lines.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (lines[mid]!.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** The pane's bottom edge: the line index and its rows below the pane. */
export interface Bottom {
  index: number;
  below: number;
}

export function bottomOf(
  lines: readonly Keyed[],
  pos: Scroll,
  rowCount: (i: number) => number,
): Bottom {
  if (!pos || lines.length === 0) return { index: lines.length - 1, below: 0 };
  const index = Math.min(indexOfKey(lines, pos.anchor), lines.length - 1);
  // The anchor line is gone (cleared, or fell off the top): start of the next.
  if (lines[index]!.key !== pos.anchor) return { index, below: rowCount(index) - 1 };
  return { index, below: Math.min(pos.below, rowCount(index) - 1) };
}

/** True when at least `need` rows lie above the bottom edge `b` (inclusive). */
function rowsAbove(b: Bottom, need: number, rowCount: (i: number) => number): boolean {
  let rows = rowCount(b.index) - b.below;
  for (let i = b.index - 1; i >= 0 && rows < need; i--) rows += rowCount(i);
  return rows >= need;
}

/** The bottom edge that shows the very first rows in a `view`-row pane. */
function topBottom(count: number, view: number, rowCount: (i: number) => number): Bottom {
  let rows = 0;
  for (let i = 0; i < count; i++) {
    const r = rowCount(i);
    if (rows + r >= view) return { index: i, below: rows + r - view };
    rows += r;
  }
  return { index: count - 1, below: 0 };
}

function posAt(lines: readonly Keyed[], b: Bottom, pos: Scroll): Scroll {
  if (b.index >= lines.length - 1 && b.below <= 0) return undefined;
  return {
    anchor: lines[b.index]!.key,
    below: b.below,
    seen: pos?.seen ?? lines[lines.length - 1]!.key,
  };
}

/**
 * Scrolls `by` rows (positive: back, to older rows) in a pane showing `view`
 * rows while scrolled back. Stops with the first row at the pane's top, and
 * follows again on reaching the newest row.
 */
export function scrollBy(
  lines: readonly Keyed[],
  pos: Scroll,
  by: number,
  view: number,
  rowCount: (i: number) => number,
): Scroll {
  if (lines.length === 0) return undefined;
  let { index, below } = bottomOf(lines, pos, rowCount);
  below += by;
  while (below >= rowCount(index) && index > 0) {
    below -= rowCount(index);
    index--;
  }
  while (below < 0 && index < lines.length - 1) {
    index++;
    below += rowCount(index);
  }
  if (below < 0) return undefined;
  below = Math.min(below, rowCount(index) - 1);
  if (!rowsAbove({ index, below }, view, rowCount)) {
    // Everything fits the following pane (one row taller, having no status
    // row): there is nothing to scroll back to.
    if (!rowsAbove({ index: lines.length - 1, below: 0 }, view + 2, rowCount)) return undefined;
    return posAt(lines, topBottom(lines.length, view, rowCount), pos);
  }
  return posAt(lines, { index, below }, pos);
}

/** Rows under the pane's bottom, and the lines new since scrolling back. */
export function below(
  lines: readonly Keyed[],
  pos: ScrollPos,
  rowCount: (i: number) => number,
): { rows: number; unseen: number } {
  const b = bottomOf(lines, pos, rowCount);
  let rows = b.below;
  for (let i = b.index + 1; i < lines.length; i++) rows += rowCount(i);
  const unseen = lines.length - indexOfKey(lines, pos.seen + 1);
  return { rows, unseen };
}
