import { Box, Text } from 'ink';
import type { UiLine } from '../chat/reducer.js';
import { type Row, rowsOf } from './msglayout.js';
import { below, bottomOf, type Scroll } from './scroll.js';

/**
 * The message pane: exactly the rows that fit, laid out by terminal cells
 * (msglayout.ts), ending at the newest row or, scrolled back, where `scroll`
 * says (scroll.ts). Props only. Ink is given rows that already fit, so it
 * never wraps them itself: its wrap would not indent them, and a row it adds
 * would push the pane's bottom border down.
 */

export interface MessagesProps {
  lines: readonly UiLine[];
  /** undefined: following the newest line. */
  scroll: Scroll;
  /** Rows and columns available for lines. */
  height: number;
  width: number;
  color: boolean;
}

/** Rows a pane of `view` rows shows at `scroll`, oldest first. */
export function visibleRows(
  lines: readonly UiLine[],
  scroll: Scroll,
  view: number,
  width: number,
  color: boolean,
): Row[] {
  if (lines.length === 0 || view <= 0) return [];
  const rows = (i: number) => rowsOf(lines[i]!, width, color);
  const b = bottomOf(lines, scroll, (i) => rows(i).length);
  const chunks: Row[][] = [];
  let count = 0;
  for (let i = b.index; i >= 0 && count < view; i--) {
    const r = rows(i);
    const part = i === b.index ? r.slice(0, r.length - b.below) : r;
    chunks.push(part);
    count += part.length;
  }
  return chunks.reverse().flat().slice(-view);
}

function RowLine({ row }: { row: Row }) {
  return (
    <Text wrap="truncate-end">
      {row.map((s, i) => (
        <Text
          // Spans of a row never reorder: the index is their identity.
          // biome-ignore lint/suspicious/noArrayIndexKey: see above
          key={i}
          {...(s.style.color ? { color: s.style.color } : {})}
          bold={s.style.bold ?? false}
          dimColor={s.style.dimColor ?? false}
          inverse={s.style.inverse ?? false}
        >
          {s.text}
        </Text>
      ))}
    </Text>
  );
}

export function Messages({ lines, scroll, height, width, color }: MessagesProps) {
  const view = Math.max(1, height - (scroll ? 1 : 0));
  const shown = visibleRows(lines, scroll, view, width, color);
  const status = scroll
    ? below(lines, scroll, (i) => rowsOf(lines[i]!, width, color).length)
    : undefined;
  return (
    // No overflow="hidden": the rows already fit (visibleRows, msglayout.ts),
    // and a clipping box makes Ink slice every row it draws through
    // slice-ansi on every frame (a fifth of a frame's cost under a flood,
    // by --cpu-prof in bench/tui.ts).
    <Box flexDirection="column" height={height} width={width} justifyContent="flex-end">
      {shown.map((row, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: rows are positions on screen
        <RowLine key={i} row={row} />
      ))}
      {status ? (
        <Text inverse wrap="truncate-end">
          {` scrolled back ${status.rows} row${status.rows === 1 ? '' : 's'}${status.unseen > 0 ? `, ${status.unseen} new` : ''}: End returns `}
        </Text>
      ) : null}
    </Box>
  );
}
