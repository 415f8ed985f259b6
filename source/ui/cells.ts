import stringWidth from 'string-width';
import { graphemes } from './graphemes.js';

/**
 * Text measured in terminal cells, the unit the screen is made of.
 *
 * A "character" on screen is a grapheme cluster (UAX #29): 👩‍👩‍👧 is five
 * code points and eight UTF-16 units but one cluster two cells wide; 🇯🇵 is
 * two code points, one cluster; e + U+0301 is one cluster one cell wide.
 * Widths come from string-width, the measure Ink itself lays boxes out with,
 * so our rows and Ink's borders agree. Rows are never cut inside a cluster
 * (wrap-ansi's hard wrap cuts by code point: it splits flags and strands
 * combining marks at a row's start, which is why it is not used here).
 */

export interface Cell {
  /** What to print: the cluster, or a visible escape for a zero-width one. */
  text: string;
  /** Cells on screen, ≥ 1. */
  width: number;
  /** Where the cluster starts in the source string (UTF-16 units). */
  start: number;
  /** Its length in the source string. */
  length: number;
}

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

// string-width runs several Unicode-property regexes per call: measuring
// each distinct cluster once makes laying out 5,000 lines several times
// faster (chat text repeats its characters). Bounded: cleared when full.
const widths = new Map<string, number>();
const MAX_WIDTHS = 20_000;

function widthOf(cluster: string): number {
  let w = widths.get(cluster);
  if (w === undefined) {
    if (widths.size >= MAX_WIDTHS) widths.clear();
    w = stringWidth(cluster);
    widths.set(cluster, w);
  }
  return w;
}

const escapeCluster = (g: string) =>
  [...g].map((ch) => `\\u${ch.codePointAt(0)!.toString(16).padStart(4, '0')}`).join('');

/**
 * The clusters of `text`, each with its width. A cluster that takes no cell
 * (U+200B, U+2060, U+FEFF, a lone combining mark or ZWJ) is shown as its
 * `\uHHHH` escape instead: Ink gives every cluster at least one cell while a
 * terminal gives it none, so it would shift the rest of the row, and the
 * pane's right border, by one column.
 */
export function cells(text: string): Cell[] {
  const out: Cell[] = [];
  if (PRINTABLE_ASCII.test(text)) {
    for (let i = 0; i < text.length; i++)
      out.push({ text: text[i]!, width: 1, start: i, length: 1 });
    return out;
  }
  for (const { segment, index } of graphemes(text)) {
    const w = widthOf(segment);
    if (w > 0) {
      out.push({ text: segment, width: w, start: index, length: segment.length });
      continue;
    }
    // The escape is plain ASCII: one cell per character, so it wraps too.
    [...escapeCluster(segment)].forEach((ch, k) => {
      out.push({ text: ch, width: 1, start: index, length: k === 0 ? segment.length : 0 });
    });
  }
  return out;
}

/** Display width of `text` as `cells` shows it. */
export function cellWidth(text: string): number {
  if (PRINTABLE_ASCII.test(text)) return text.length;
  let w = 0;
  for (const c of cells(text)) w += c.width;
  return w;
}

/** `text` cut to `width` cells, marking a cut with … (never inside a cluster). */
export function clipCells(text: string, width: number): string {
  if (width <= 0) return '';
  const cs = cells(text);
  let total = 0;
  for (const c of cs) total += c.width;
  if (total <= width) return cs.map((c) => c.text).join('');
  let out = '';
  let w = 0;
  for (const c of cs) {
    if (w + c.width > width - 1) break;
    out += c.text;
    w += c.width;
  }
  return `${out}…`;
}

/** `text` padded with spaces to `width` cells (unchanged when wider). */
export function padCells(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - cellWidth(text)));
}

/** A run of text drawn in one style. */
export interface Span<S> {
  text: string;
  style: S;
}

export interface WrapOptions {
  /** Cells in the first row. */
  width: number;
  /** Cells in every further row (the caller indents them). */
  rest: number;
  /**
   * Spaces before this cluster index are not break points (a line's
   * timestamp and nick stay together on its first row).
   */
  breakFrom?: number;
}

/** The clusters of all spans, and each one's style (parallel arrays: no per-cluster copies). */
function flatten<S>(spans: readonly Span<S>[]): { cs: Cell[]; styles: S[] } {
  const cs: Cell[] = [];
  const styles: S[] = [];
  for (const s of spans) {
    for (const c of cells(s.text)) {
      cs.push(c);
      styles.push(s.style);
    }
  }
  return { cs, styles };
}

function toSpans<S>(
  cs: readonly Cell[],
  styles: readonly S[],
  from: number,
  to: number,
): Span<S>[] {
  const out: Span<S>[] = [];
  let last: Span<S> | undefined;
  for (let k = from; k < to; k++) {
    if (last && last.style === styles[k]) last.text += cs[k]!.text;
    else {
      last = { text: cs[k]!.text, style: styles[k]! };
      out.push(last);
    }
  }
  return out;
}

/** End (exclusive) of the row starting at `i` with `limit` cells, and where the next starts. */
function rowEnd(
  cs: readonly Cell[],
  i: number,
  limit: number,
  breakFrom: number,
): { end: number; next: number } {
  let w = 0;
  let j = i;
  let space = -1;
  while (j < cs.length && w + cs[j]!.width <= limit) {
    if (j > i && j >= breakFrom && cs[j]!.text === ' ') space = j;
    w += cs[j]!.width;
    j++;
  }
  if (j === cs.length) return { end: j, next: j };
  // A cluster wider than the row (a wide one in a 1-cell row) still takes one.
  if (j === i) return { end: i + 1, next: i + 1 };
  // Word wrap: break at the overflowing space, else at the last one that fit;
  // a word longer than the row is cut between clusters.
  const at = j >= breakFrom && cs[j]!.text === ' ' ? j : space;
  if (at > i) return { end: trimSpaces(cs, i, at), next: skipSpaces(cs, at) };
  return { end: j, next: j };
}

/** The end of a row broken at `at`, without the spaces before the break. */
function trimSpaces(cs: readonly Cell[], i: number, at: number): number {
  let end = at;
  while (end > i + 1 && cs[end - 1]!.text === ' ') end--;
  return end;
}

/** Spaces at a break vanish, all of them: no row starts with blanks. */
function skipSpaces(cs: readonly Cell[], i: number): number {
  let j = i;
  while (j < cs.length && cs[j]!.text === ' ') j++;
  return j;
}

/**
 * Word-wraps styled text into rows: the first `width` cells wide, the rest
 * `rest` wide. The spaces at a break are dropped; no row is wider than its limit
 * and none is cut inside a cluster.
 */
export function wrapSpans<S>(spans: readonly Span<S>[], opts: WrapOptions): Span<S>[][] {
  const { cs, styles } = flatten(spans);
  const breakFrom = opts.breakFrom ?? 0;
  const rows: Span<S>[][] = [];
  let i = 0;
  while (i < cs.length || rows.length === 0) {
    const limit = Math.max(1, rows.length === 0 ? opts.width : opts.rest);
    const { end, next } = rowEnd(cs, i, limit, breakFrom);
    rows.push(toSpans(cs, styles, i, end));
    i = next;
    if (cs.length === 0) break;
  }
  return rows;
}
