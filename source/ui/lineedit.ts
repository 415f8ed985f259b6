import type { Key } from 'ink';
import { isUnsafeChar } from '../chat/sanitize.js';

/**
 * The input line's editing, as a pure function of (line, keypress). The App
 * keeps the line in a ref and applies every keypress to the latest one: Ink
 * calls input handlers from the last *committed* render, so a component that
 * computes the next value from its props (as ink-text-input does) drops
 * keystrokes that arrive before React re-renders (fast typing, pastes split
 * in chunks, keys sent by tmux or expect).
 */

export interface Line {
  value: string;
  /** In UTF-16 units, 0..value.length. */
  cursor: number;
}

export type EditResult =
  | { kind: 'edit'; line: Line }
  /** Enter: the line to run (and an empty input after it). */
  | { kind: 'submit'; text: string }
  /** A key the editor does not handle (Tab, Up, PageUp...): the caller's. */
  | { kind: 'other' };

export const EMPTY: Line = { value: '', cursor: 0 };

export function insert(line: Line, text: string): Line {
  // Control characters (a pasted escape sequence) never enter the line: they
  // would act on our own terminal as we echo it, and could not be sent anyway.
  let clean = '';
  for (const ch of text) if (!isUnsafeChar(ch.codePointAt(0)!)) clean += ch;
  return {
    value: line.value.slice(0, line.cursor) + clean + line.value.slice(line.cursor),
    cursor: line.cursor + clean.length,
  };
}

/** Start of the word before the cursor (for Ctrl+W, Alt+Left). */
function wordStart(value: string, from: number): number {
  let i = from;
  while (i > 0 && value[i - 1] === ' ') i--;
  while (i > 0 && value[i - 1] !== ' ') i--;
  return i;
}

function wordEnd(value: string, from: number): number {
  let i = from;
  while (i < value.length && value[i] === ' ') i++;
  while (i < value.length && value[i] !== ' ') i++;
  return i;
}

/** A surrogate pair counts as one character for the cursor. */
const prevIndex = (v: string, i: number) =>
  i >= 2 && /[\uDC00-\uDFFF]/.test(v[i - 1] ?? '') && /[\uD800-\uDBFF]/.test(v[i - 2] ?? '')
    ? i - 2
    : Math.max(0, i - 1);
const nextIndex = (v: string, i: number) =>
  /[\uD800-\uDBFF]/.test(v[i] ?? '') && /[\uDC00-\uDFFF]/.test(v[i + 1] ?? '')
    ? i + 2
    : Math.min(v.length, i + 1);

export function edit(line: Line, input: string, key: Key): EditResult {
  const { value, cursor } = line;
  const ok = (l: Line): EditResult => ({ kind: 'edit', line: l });
  if (key.return) return { kind: 'submit', text: value };
  if (key.tab || key.upArrow || key.downArrow || key.pageUp || key.pageDown)
    return { kind: 'other' };
  if (key.ctrl) {
    switch (input) {
      case 'a':
        return ok({ value, cursor: 0 });
      case 'e':
        return ok({ value, cursor: value.length });
      case 'u':
        return ok({ value: value.slice(cursor), cursor: 0 });
      case 'k':
        return ok({ value: value.slice(0, cursor), cursor });
      case 'w': {
        const start = wordStart(value, cursor);
        return ok({ value: value.slice(0, start) + value.slice(cursor), cursor: start });
      }
      default:
        return { kind: 'other' };
    }
  }
  if (key.leftArrow)
    return ok({ value, cursor: key.meta ? wordStart(value, cursor) : prevIndex(value, cursor) });
  if (key.rightArrow)
    return ok({ value, cursor: key.meta ? wordEnd(value, cursor) : nextIndex(value, cursor) });
  if (key.home) return ok({ value, cursor: 0 });
  if (key.end) return value === '' ? { kind: 'other' } : ok({ value, cursor: value.length });
  // Most terminals send DEL (0x7f) for the Backspace key, which Ink names "delete".
  if (key.backspace || key.delete) {
    if (cursor === 0) return ok(line);
    const at = prevIndex(value, cursor);
    return ok({ value: value.slice(0, at) + value.slice(cursor), cursor: at });
  }
  if (key.escape || key.meta) return { kind: 'other' };
  if (input === '') return { kind: 'other' };
  return ok(insert(line, input));
}
