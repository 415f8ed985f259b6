import { isUnsafeChar } from '../chat/sanitize.js';
import { graphemes } from './graphemes.js';
import type { KeyPress } from './keys.js';

/**
 * The input line's editing, as a pure function of (line, key press), with
 * readline's keys (GNU Readline manual, "Commands For Moving" and "Commands
 * For Killing Text"). The App keeps the line in a ref and applies every key
 * of a read to the latest one, in order: Ink calls input handlers from the
 * last *committed* render, so a component that computes the next value from
 * its props (as ink-text-input does) drops keystrokes that arrive before
 * React re-renders (fast typing, pastes split in chunks, keys sent by tmux).
 * The cursor moves by grapheme cluster: 👩‍👩‍👧 or e + U+0301 is one step.
 */

export interface Line {
  value: string;
  /** In UTF-16 units, 0..value.length, always at a cluster boundary. */
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

/** Start of the cluster before `i`. */
function prevCluster(v: string, i: number): number {
  let start = 0;
  for (const { index } of graphemes(v)) {
    if (index >= i) break;
    start = index;
  }
  return start;
}

/** End of the cluster at `i`. */
function nextCluster(v: string, i: number): number {
  if (i >= v.length) return v.length;
  for (const { segment, index } of graphemes(v)) {
    if (index + segment.length > i) return index + segment.length;
  }
  return v.length;
}

type CharTest = (ch: string) => boolean;
/** Readline's words are letters and digits (forward-word, backward-word). */
const word: CharTest = (ch) => /^[\p{L}\p{N}\p{M}_]$/u.test(ch);
/** unix-word-rubout's words end only at whitespace. */
const notSpace: CharTest = (ch) => ch !== ' ';

/** The code point ending at `i` (exclusive), whole when it is a surrogate pair. */
function charBefore(v: string, i: number): string {
  const low = v.charCodeAt(i - 1);
  const pair = i >= 2 && low >= 0xdc00 && low <= 0xdfff;
  return v.slice(pair ? i - 2 : i - 1, i);
}

const charAt = (v: string, i: number) => String.fromCodePoint(v.codePointAt(i)!);

/** Start of the word before `from`. */
function wordStart(v: string, from: number, inWord: CharTest): number {
  let i = from;
  while (i > 0 && !inWord(charBefore(v, i))) i -= charBefore(v, i).length;
  while (i > 0 && inWord(charBefore(v, i))) i -= charBefore(v, i).length;
  return i;
}

/** End of the word at or after `from`. */
function wordEnd(v: string, from: number, inWord: CharTest): number {
  let i = from;
  while (i < v.length && !inWord(charAt(v, i))) i += charAt(v, i).length;
  while (i < v.length && inWord(charAt(v, i))) i += charAt(v, i).length;
  return i;
}

const cut = (v: string, from: number, to: number): Line => ({
  value: v.slice(0, from) + v.slice(to),
  cursor: from,
});

function ctrlLetter(line: Line, letter: string): Line | undefined {
  const { value: v, cursor: c } = line;
  switch (letter) {
    case 'a': // beginning-of-line
      return { value: v, cursor: 0 };
    case 'e': // end-of-line
      return { value: v, cursor: v.length };
    case 'b': // backward-char
      return { value: v, cursor: prevCluster(v, c) };
    case 'f': // forward-char
      return { value: v, cursor: nextCluster(v, c) };
    case 'd': // delete-char
      return cut(v, c, nextCluster(v, c));
    case 'u': // unix-line-discard
      return cut(v, 0, c);
    case 'k': // kill-line
      return cut(v, c, v.length);
    case 'w': // unix-word-rubout: the word before, up to whitespace
      return cut(v, wordStart(v, c, notSpace), c);
    default:
      return undefined;
  }
}

function altLetter(line: Line, letter: string): Line | undefined {
  const { value: v, cursor: c } = line;
  switch (letter) {
    case 'b': // backward-word
      return { value: v, cursor: wordStart(v, c, word) };
    case 'f': // forward-word
      return { value: v, cursor: wordEnd(v, c, word) };
    case 'd': // kill-word
      return cut(v, c, wordEnd(v, c, word));
    default:
      return undefined;
  }
}

function moveOrDelete(line: Line, key: KeyPress): Line | undefined {
  const { value: v, cursor: c } = line;
  const byWord = key.ctrl || key.meta;
  switch (key.name) {
    case 'left':
      return { value: v, cursor: byWord ? wordStart(v, c, word) : prevCluster(v, c) };
    case 'right':
      return { value: v, cursor: byWord ? wordEnd(v, c, word) : nextCluster(v, c) };
    case 'home':
      return { value: v, cursor: 0 };
    case 'end':
      return { value: v, cursor: v.length };
    case 'backspace': // backward-delete-char; with Alt, backward-kill-word
      return key.meta ? cut(v, wordStart(v, c, word), c) : cut(v, prevCluster(v, c), c);
    case 'delete': // delete-char; with Ctrl or Alt, kill-word
      return cut(v, c, byWord ? wordEnd(v, c, word) : nextCluster(v, c));
    default:
      return undefined;
  }
}

export function edit(line: Line, key: KeyPress): EditResult {
  const ok = (l: Line | undefined): EditResult =>
    l ? { kind: 'edit', line: l } : { kind: 'other' };
  switch (key.name) {
    case 'return':
      return { kind: 'submit', text: line.value };
    case 'text':
      return ok(insert(line, key.text));
    case 'letter':
      return ok(key.ctrl ? ctrlLetter(line, key.text) : altLetter(line, key.text));
    case 'end':
      // End on an empty line is the caller's (follow the newest messages).
      return line.value === '' ? { kind: 'other' } : ok(moveOrDelete(line, key));
    default:
      return ok(moveOrDelete(line, key));
  }
}
