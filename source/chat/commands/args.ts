import {
  decodeInvite,
  fingerprint,
  isInviteCode,
  parseFingerprint,
  parseHostPort,
  validateNick,
} from '../../index.js';
import { isUnsafeChar, quoteForDisplay } from '../sanitize.js';
import type { ErrorAction } from './action.js';

/**
 * Argument checks the command files share. Pure: each returns a message fit
 * to show the user (echoing input only through quoteForDisplay), never
 * throws.
 */

const NICK_RULE = 'use 1-32 letters, digits, "_", "." or "-" (no spaces)';
/** host:port is at most a 253-character host name, a colon and 5 digits (plus IPv6 brackets). */
const MAX_ADDRESS_CHARS = 300;
export const MAX_FILE_CHARS = 4096;

export const error = (message: string): ErrorAction => ({ type: 'error', message });

export const usageError = (usage: string): ErrorAction => error(`usage: ${usage}`);

/** The first character `sanitize` would escape, optionally allowing TAB. */
export function firstUnsafe(text: string, allowTab: boolean): number | undefined {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (allowTab && c === 0x09) continue;
    if (isUnsafeChar(c)) return c;
  }
  return undefined;
}

export function describeChar(code: number): string {
  return code <= 0xff
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

export function checkNick(nick: string): string | undefined {
  try {
    validateNick(nick);
    return undefined;
  } catch {
    return `bad nickname ${quoteForDisplay(nick)}: ${NICK_RULE}`;
  }
}

/** True when `text` parses as a key fingerprint (so a nick-or-fingerprint argument is the latter). */
export function isFingerprint(text: string): boolean {
  try {
    parseFingerprint(text);
    return true;
  } catch {
    return false;
  }
}

/**
 * A word meant as a key rather than an address: no `:` (every host:port and
 * invite code has one) and long, of fingerprint characters and dashes. So a
 * mistyped fingerprint is told apart from an address and named as such.
 */
export function looksLikeFingerprint(text: string): boolean {
  return !text.includes(':') && /^[A-Za-z0-9-]{40,}$/.test(text);
}

/** The canonical fingerprint (lower case, no dashes), or the problem with it. */
export function checkFingerprint(text: string): { fingerprint: string } | ErrorAction {
  try {
    return { fingerprint: fingerprint(parseFingerprint(text)) };
  } catch (err) {
    const why = (err as Error).message.replaceAll(`"${text}"`, 'it');
    return error(
      `bad fingerprint ${quoteForDisplay(text)}: ${why} (give the 52-character fingerprint the peer's chat shows)`,
    );
  }
}

export function checkAddress(address: string): string | undefined {
  if (address.length > MAX_ADDRESS_CHARS) {
    return `bad address ${quoteForDisplay(address)}: too long (${address.length} characters)`;
  }
  const bad = firstUnsafe(address, false);
  if (bad !== undefined) return `bad address: contains control character ${describeChar(bad)}`;
  try {
    parseHostPort(address);
    return undefined;
  } catch (err) {
    return `${(err as Error).message}`;
  }
}

/** The problem with an invite code, or undefined when it decodes. */
export function checkInvite(code: string): string | undefined {
  try {
    decodeInvite(code);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Message text: control characters refused (named visibly), TAB made a space. */
export function checkText(text: string): { text: string } | ErrorAction {
  const bad = firstUnsafe(text, true);
  if (bad !== undefined) {
    return error(`message contains control character ${describeChar(bad)}; not sent`);
  }
  return { text: text.replaceAll('\t', ' ') };
}

/** Splits off the first whitespace-separated word; `rest` has its leading whitespace removed. */
export function firstWord(text: string): { word: string; rest: string } {
  const m = /^(\S*)\s*([\s\S]*)$/u.exec(text);
  return { word: m?.[1] ?? '', rest: m?.[2] ?? '' };
}

/** Box drawing (U+2500-U+257F): the panes' borders, copied off the screen with a code. */
const BOX_DRAWING = /[\u2500-\u257f]/gu;

/**
 * An invite code copied off the screen where the chat wrapped it arrives in
 * pieces, with the pane's border characters and the indent between them (a
 * bracketed paste makes its line ends spaces: see App.tsx). Border
 * characters go (no nick or address has any), and the words after a code
 * that does not decode are joined to it until it does. Anything else is
 * left as it was, for the command's own error.
 */
export function unwrapCode(args: string[]): string[] {
  const at = args.findIndex((a) => isInviteCode(a.replace(BOX_DRAWING, '')));
  if (at < 0) return args;
  const cleaned = args.map((a) => a.replace(BOX_DRAWING, '')).filter((a) => a !== '');
  const i = cleaned.findIndex((a) => isInviteCode(a));
  let code = cleaned[i]!;
  let j = i + 1;
  while (checkInvite(code) !== undefined && j < cleaned.length) code += cleaned[j++];
  if (checkInvite(code) !== undefined) return args;
  return [...cleaned.slice(0, i), code, ...cleaned.slice(j)];
}

export function words(text: string): string[] {
  const t = text.trim();
  return t === '' ? [] : t.split(/\s+/u);
}

/** Exactly one argument, a valid nick (or, when allowed, a fingerprint). */
export function oneNick(
  rest: string,
  usage: string,
  fingerprintToo = false,
): { nick: string } | ErrorAction {
  const args = words(rest);
  const [nick] = args;
  if (args.length !== 1 || nick === undefined) return usageError(usage);
  if (fingerprintToo && isFingerprint(nick)) return { nick };
  const bad = checkNick(nick);
  return bad ? error(bad) : { nick };
}

/** No arguments at all. */
export function noArgs(rest: string, usage: string): ErrorAction | undefined {
  return words(rest).length === 0 ? undefined : usageError(usage);
}

/** A file name: the rest of the line, trimmed. */
export function fileArg(rest: string, usage: string): { file: string } | ErrorAction {
  const file = rest.trim();
  if (file === '') return usageError(usage);
  if (file.length > MAX_FILE_CHARS) return error(`file name too long (${file.length} characters)`);
  const bad = firstUnsafe(file, false);
  if (bad !== undefined) return error(`file name contains control character ${describeChar(bad)}`);
  return { file };
}
