/**
 * Makes hostile text safe to print on a terminal.
 *
 * Everything a peer sends (message text, nicks, error details) may contain
 * escape sequences that recolour the screen, move the cursor, retitle the
 * window, write the clipboard (OSC 52) or reorder what the reader sees (bidi
 * overrides). This replaces every character that could do so with a visible,
 * inert escape, so the reader sees *that* something odd was sent:
 *
 * - C0 controls U+0000-U+001F (incl. ESC, BEL, CR, LF, TAB) and DEL U+007F → `\xHH`
 * - C1 controls U+0080-U+009F (8-bit CSI, OSC, ST...) → `\xHH`
 * - bidi controls U+061C, U+200E/F, U+202A-U+202E, U+2066-U+2069 → `\uHHHH`
 * - line and paragraph separators (Zl U+2028, Zp U+2029; NEL U+0085 is C1)
 *   → `\uHHHH`: some terminals and fonts end the row there, and text a peer
 *   starts on a fresh row at column 0 could pass for a line of its own
 *
 * All other text, including every printable Unicode character, is untouched.
 * Pure: no I/O, never throws.
 */

function isBidiControl(code: number): boolean {
  return (
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/** Zl and Zp (Unicode 15: only U+2028 and U+2029, but tested by category). */
const SEPARATOR = /^[\p{Zl}\p{Zp}]$/u;

function isSeparator(code: number): boolean {
  return code >= 0x2000 && SEPARATOR.test(String.fromCharCode(code));
}

/** True for the characters `sanitize` escapes. */
export function isUnsafeChar(code: number): boolean {
  return code <= 0x1f || (code >= 0x7f && code <= 0x9f) || isBidiControl(code) || isSeparator(code);
}

function hex(code: number, width: number): string {
  return code.toString(16).padStart(width, '0');
}

export function sanitize(text: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (!isUnsafeChar(code)) continue;
    out += text.slice(start, i);
    out += code <= 0xff ? `\\x${hex(code, 2)}` : `\\u${hex(code, 4)}`;
    start = i + 1;
  }
  return start === 0 ? text : out + text.slice(start);
}

/** `sanitize`, then cut to `max` characters (marking the cut) for echoing user input in messages. */
export function quoteForDisplay(text: string, max = 40): string {
  const safe = sanitize(text);
  if (safe.length <= max) return `"${safe}"`;
  // Never split a surrogate pair.
  const last = safe.charCodeAt(max - 1);
  const end = last >= 0xd800 && last <= 0xdbff ? max - 1 : max;
  return `"${safe.slice(0, end)}…"`;
}
