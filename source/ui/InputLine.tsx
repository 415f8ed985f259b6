import { Box, Text } from 'ink';
import { sanitize } from '../chat/sanitize.js';
import { cells, cellWidth, clipCells } from './cells.js';
import type { Line } from './lineedit.js';

/**
 * The input line: prompt, text and cursor, always one row. Props only; the
 * App owns the editing (see lineedit.ts for why it is not ink-text-input's
 * own state). A line longer than the row scrolls sideways, by display width,
 * half a row at a time, so the cursor stays in view and a 5,000-character
 * paste never pushes the panes off the screen.
 */

export interface InputLineProps {
  nick: string;
  line: Line;
  /** Terminal columns. */
  width: number;
  /** Completion candidates to show after an ambiguous Tab. */
  hint?: string;
  placeholder?: string;
}

/** What one row shows of the line: text before, under and after the cursor. */
export interface InputWindow {
  before: string;
  under: string;
  after: string;
  /** Text is hidden to the left / right (drawn as …). */
  left: boolean;
  right: boolean;
}

/** The part of `line` shown in `room` cells (cursor included, one cell at the end). */
export function inputWindow(line: Line, room: number): InputWindow {
  const cs = cells(line.value);
  const col: number[] = [0];
  for (const c of cs) col.push(col[col.length - 1]! + c.width);
  let at = cs.findIndex((c) => c.start >= line.cursor);
  if (at === -1) at = cs.length;
  const cursorEnd = col[at]! + (cs[at]?.width ?? 1);
  const total = col[cs.length]! + 1;
  let first = 0;
  if (total > room && cursorEnd > room - 1) {
    // Shift by half rows: the text jumps rarely, and never under the cursor.
    const step = Math.max(1, Math.floor(room / 2));
    const shift = Math.ceil((cursorEnd - (room - 2)) / step) * step;
    while (first < at && col[first]! < shift) first++;
  }
  const left = first > 0;
  const space = room - (left ? 1 : 0);
  // Cells [first, to) and what else the row needs: the cursor's free cell
  // after the text, or the … that says more follows.
  const fits = (to: number) =>
    col[to]! - col[first]! + (to < cs.length ? 1 : at === cs.length ? 1 : 0) <= space;
  let last = Math.min(cs.length, at + 1);
  while (last < cs.length && fits(last + 1)) last++;
  const right = last < cs.length;
  const text = (from: number, to: number) =>
    cs
      .slice(from, to)
      .map((c) => c.text)
      .join('');
  return {
    before: text(first, at),
    under: at < cs.length ? cs[at]!.text : ' ',
    after: text(at + 1, last),
    left,
    right,
  };
}

export function InputLine({
  nick,
  line,
  width,
  hint,
  placeholder = 'type a message, or /help',
}: InputLineProps) {
  const prompt = `${clipCells(sanitize(nick), Math.max(1, Math.floor(width / 3)))}> `;
  const room = Math.max(2, width - cellWidth(prompt) - 1);
  const w = inputWindow(line, room);
  return (
    <Box flexDirection="column" flexShrink={0}>
      {hint ? (
        <Text dimColor wrap="truncate-end">
          {clipCells(hint, width)}
        </Text>
      ) : null}
      <Text wrap="truncate-end">
        <Text bold>{prompt}</Text>
        {line.value === '' ? (
          <>
            <Text inverse> </Text>
            <Text dimColor>{clipCells(placeholder, Math.max(0, room - 1))}</Text>
          </>
        ) : (
          <>
            {w.left ? <Text dimColor>…</Text> : null}
            {w.before}
            <Text inverse>{w.under}</Text>
            {w.after}
            {w.right ? <Text dimColor>…</Text> : null}
          </>
        )}
      </Text>
    </Box>
  );
}
