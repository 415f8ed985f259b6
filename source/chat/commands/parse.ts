import { quoteForDisplay } from '../sanitize.js';
import type { Action } from './action.js';
import { checkText, describeChar, error, firstUnsafe, firstWord } from './args.js';
import { findCommand } from './registry.js';

/**
 * The chat's input line → one typed Action. Pure and total: every string,
 * however malformed, yields an Action (bad input is `{type:'error'}` with a
 * message fit to show the user); nothing here throws or does I/O.
 *
 * A line starting with `/` is a command (its own file parses the
 * arguments); `//text` sends the text `/text`. Anything else is a message to
 * every connected peer. Message text may not contain control characters
 * (receivers would only see them escaped), except TAB, which becomes a space.
 */

/** Longest accepted input line, in UTF-8 bytes. */
export const MAX_INPUT_BYTES = 64 * 1024;

/** An unpaired UTF-16 surrogate: text that was never valid Unicode. */
function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return true;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return true;
  }
  return false;
}

export function parseCommand(line: string): Action {
  if (typeof line !== 'string') return error('input is not text');
  const bytes = Buffer.byteLength(line, 'utf8');
  if (bytes > MAX_INPUT_BYTES) {
    return error(`input too long: ${bytes} bytes (the limit is ${MAX_INPUT_BYTES})`);
  }
  // One line terminator left on by a caller is not part of the input.
  const text = line.replace(/\r?\n$/u, '');
  if (hasLoneSurrogate(text)) return error('input is not valid Unicode (unpaired surrogate)');
  if (text.includes('\u0000')) return error('input contains a NUL character');
  if (text.trim() === '') return { type: 'none' };

  const start = text.trimStart();
  if (!start.startsWith('/')) return message(text);
  if (start.startsWith('//')) return message(start.slice(1));

  const { word: name, rest } = firstWord(start.slice(1));
  if (name === '') return error('empty command: type /help for the list');
  const bad = firstUnsafe(name, false);
  if (bad !== undefined) {
    return error(`command name contains control character ${describeChar(bad)}`);
  }
  const cmd = findCommand(name);
  if (!cmd) return error(`unknown command ${quoteForDisplay(`/${name}`)}: type /help for the list`);
  return cmd.parse(rest, findCommand);
}

function message(text: string): Action {
  const t = checkText(text);
  return 'type' in t ? t : { type: 'broadcast', text: t.text };
}
