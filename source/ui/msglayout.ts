import { formatTime } from '../chat/format.js';
import { deliverySummary, type UiLine } from '../chat/reducer.js';
import { sanitize } from '../chat/sanitize.js';
import { cells, cellWidth, type Span, wrapSpans } from './cells.js';
import { hue, nickColor } from './theme.js';

/**
 * One chat line laid out as the rows the message pane draws, in terminal
 * cells. Every piece of text a peer controls goes through `sanitize` here.
 *
 * Continuation rows are indented under the text, never under the timestamp
 * or nick: a peer that pads its message so that a row would begin
 * "12:27:26  <Carol> …" only gets that text drawn at column ≥ 11, where no
 * real line has its timestamp or nick.
 */

export interface RowStyle {
  color?: string | undefined;
  bold?: boolean;
  dimColor?: boolean;
  inverse?: boolean;
}

export type Row = readonly Span<RowStyle>[];

/** An own message's mark and its colour: `…`, `✓`, `✓ 2/3 · waiting: dave`, `✗ …`. */
function deliveryMark(l: UiLine): { text: string; color: string } | undefined {
  if (!l.recipients || l.recipients.length === 0) return undefined;
  const { total, acked, waiting, missing } = deliverySummary(l.recipients);
  if (acked === total) return { text: ' ✓', color: 'green' };
  if (waiting.length === total) return { text: ' …', color: 'gray' };
  const only = missing[0];
  if (total === 1 && only) {
    return { text: ` ✗ not delivered${only.detail ? `: ${only.detail}` : ''}`, color: 'red' };
  }
  const head = acked > 0 ? '✓' : waiting.length > 0 ? '…' : '✗';
  const parts = [`${head} ${acked}/${total}`];
  if (waiting.length > 0) parts.push(`waiting: ${waiting.join(', ')}`);
  if (missing.length > 0) {
    parts.push(`missing: ${missing.map((r) => `${r.nick} (${r.outcome})`).join(', ')}`);
  }
  const color = missing.length === 0 ? 'gray' : acked > 0 || waiting.length > 0 ? 'yellow' : 'red';
  return { text: ` ${parts.join(' · ')}`, color };
}

/** The line in three parts: a lead (time, gutter), a header (nick) and the text. */
interface Parts {
  lead: Span<RowStyle>[];
  header: Span<RowStyle>[];
  body: Span<RowStyle>[];
}

const DIM: RowStyle = { dimColor: true };

function parts(l: UiLine, color: boolean): Parts {
  const line = l.line;
  const stamp = { text: `${formatTime(line.time)} `, style: DIM };
  if (line.kind === 'system') {
    const gray = { color: hue(color, 'gray') };
    return {
      lead: [stamp, { text: '-- ', style: gray }],
      header: [],
      body: [{ text: sanitize(line.text), style: gray }],
    };
  }
  if (line.kind === 'error') {
    const red = { color: hue(color, 'red'), bold: true };
    return {
      lead: [stamp, { text: '!! ', style: red }],
      header: [],
      body: [{ text: sanitize(line.text), style: red }],
    };
  }
  // The gutter: » our own line, ! a line naming us.
  const gutter = line.own ? '»' : l.mention ? '!' : ' ';
  const priv = line.private
    ? line.own
      ? `[private → ${sanitize(line.to ?? '?')}] `
      : '[private] '
    : '';
  const header: Span<RowStyle>[] = [];
  if (priv) header.push({ text: priv, style: { color: hue(color, 'magenta') } });
  // A peer the user never added: marked, so a look-alike cannot pass for a friend.
  if (line.stranger) header.push({ text: '[stranger] ', style: { color: hue(color, 'yellow') } });
  header.push({
    text: `<${sanitize(line.from)}> `,
    style: { color: hue(color, nickColor(line.from)), bold: true },
  });
  const body: Span<RowStyle>[] = [
    {
      text: sanitize(line.text),
      style: {
        bold: l.mention,
        inverse: l.mention && !color,
        color: l.mention ? hue(color, 'yellowBright') : undefined,
      },
    },
  ];
  const mark = deliveryMark(l);
  if (mark) body.push({ text: sanitize(mark.text), style: { color: hue(color, mark.color) } });
  return {
    lead: [
      stamp,
      { text: gutter, style: { bold: true, color: l.mention ? hue(color, 'yellow') : undefined } },
    ],
    header,
    body,
  };
}

const widthOf = (spans: readonly Span<RowStyle>[]) =>
  spans.reduce((w, s) => w + cellWidth(s.text), 0);
const clustersOf = (spans: readonly Span<RowStyle>[]) =>
  spans.reduce((n, s) => n + cells(s.text).length, 0);

/** Cells of text a continuation row keeps at least, when the nick column is wide. */
const MIN_TEXT = 20;
/**
 * Real lines start their timestamp at column 0 and their nick (or private
 * tag) at column 10: a continuation row starts right of both, at 11 or more.
 */
const MIN_INDENT = 11;

/** Rows of `l` at `width` cells, uncached. */
export function layoutRows(l: UiLine, width: number, color: boolean): Row[] {
  const { lead, header, body } = parts(l, color);
  const headed = widthOf(lead) + widthOf(header);
  // Hang the text under itself; a nick column too wide for that (a private
  // tag in a narrow pane) still leaves MIN_TEXT cells of text per row.
  const indent = Math.min(
    Math.max(MIN_INDENT, Math.min(headed, width - MIN_TEXT)),
    Math.max(0, width - 1),
  );
  const rows = wrapSpans([...lead, ...header, ...body], {
    width,
    rest: width - indent,
    // The timestamp (and the nick, when it fits) stay on the first row.
    breakFrom: clustersOf(lead) + (headed < width ? clustersOf(header) : 0),
  });
  const pad: Span<RowStyle> = { text: ' '.repeat(indent), style: {} };
  return rows.map((r, i) => (i === 0 ? r : [pad, ...r]));
}

interface Cached {
  width: number;
  color: boolean;
  rows: Row[];
}

// A UiLine is immutable (a delivery update makes a new one), so its rows
// only change with the width: lay each out once per width, not per render.
const cache = new WeakMap<UiLine, Cached>();

/** Rows of `l` at `width` cells, computed once per line and width. */
export function rowsOf(l: UiLine, width: number, color: boolean): Row[] {
  const hit = cache.get(l);
  if (hit && hit.width === width && hit.color === color) return hit.rows;
  const rows = layoutRows(l, width, color);
  cache.set(l, { width, color, rows });
  return rows;
}

/** The row as plain text (tests, and the width checks). */
export const rowText = (r: Row) => r.map((s) => s.text).join('');
