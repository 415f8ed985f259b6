/**
 * Raw terminal input to key presses, every one of them, in order.
 *
 * One read from the terminal may hold many keys: a held Backspace, keys
 * typed over SSH, a paste, `tmux send-keys "tyop" BSpace BSpace "po"`, or
 * anything typed while the UI was busy. Ink's useInput hands such a read to
 * its handler as one string with the Backspace bytes inside it, which an
 * editor can only insert (and strip) as text. This parser splits it into the
 * keys a person pressed, decoding the xterm/VT220 sequences (ECMA-48 CSI and
 * SS3, xterm modifier parameters "1;5C") and ESC-prefixed Alt keys.
 */

export type KeyName =
  | 'text'
  | 'return'
  | 'tab'
  | 'backspace'
  | 'delete'
  | 'insert'
  | 'up'
  | 'down'
  | 'left'
  | 'right'
  | 'home'
  | 'end'
  | 'pageup'
  | 'pagedown'
  | 'escape'
  /** A letter with Ctrl or Alt (see `letter`). */
  | 'letter'
  /** Bracketed paste (xterm mode 2004): ESC[200~ before a paste, ESC[201~ after. */
  | 'pastestart'
  | 'pasteend'
  /** A sequence we do not know: ignored, never typed as text. */
  | 'unknown';

export interface KeyPress {
  name: KeyName;
  /** The typed characters, for 'text'; the lower-case letter, for 'letter'. */
  text: string;
  ctrl: boolean;
  /** Alt (sent as ESC before the key, or as an xterm modifier). */
  meta: boolean;
  shift: boolean;
}

const key = (name: KeyName, mods: Partial<KeyPress> = {}): KeyPress => ({
  name,
  text: '',
  ctrl: false,
  meta: false,
  shift: false,
  ...mods,
});

/** CSI "n~" keys (VT220). */
const TILDE: Record<string, KeyName> = {
  '1': 'home',
  '2': 'insert',
  '3': 'delete',
  '4': 'end',
  '5': 'pageup',
  '6': 'pagedown',
  '7': 'home',
  '8': 'end',
  '200': 'pastestart',
  '201': 'pasteend',
};

/** CSI and SS3 final bytes. */
const FINAL: Record<string, KeyName> = {
  A: 'up',
  B: 'down',
  C: 'right',
  D: 'left',
  H: 'home',
  F: 'end',
};

/** rxvt's SS3 a-d: Ctrl+arrows. */
const RXVT_CTRL: Record<string, KeyName> = { a: 'up', b: 'down', c: 'right', d: 'left' };

/** xterm modifier parameter: 1 + (shift 1 | alt 2 | ctrl 4). */
function modifiers(param: string | undefined): Partial<KeyPress> {
  const m = Math.max(0, Number(param ?? '1') - 1) || 0;
  return { shift: (m & 1) !== 0, meta: (m & 2) !== 0, ctrl: (m & 4) !== 0 };
}

/** A control byte on its own (not ESC). */
function control(code: number): KeyPress {
  if (code === 0x0d || code === 0x0a) return key('return');
  if (code === 0x09) return key('tab');
  if (code === 0x7f || code === 0x08) return key('backspace');
  if (code >= 0x01 && code <= 0x1a) {
    return key('letter', { text: String.fromCharCode(code + 0x60), ctrl: true });
  }
  return key('unknown');
}

interface Parsed {
  press: KeyPress;
  /** Index after the sequence. */
  next: number;
}

function csi(s: string, start: number): Parsed {
  // ECMA-48 5.4: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, a final 0x40-0x7E.
  let i = start;
  while (i < s.length && s.charCodeAt(i) >= 0x20 && s.charCodeAt(i) <= 0x3f) i++;
  const final = s[i];
  if (final === undefined || s.charCodeAt(i) < 0x40 || s.charCodeAt(i) > 0x7e) {
    return { press: key('unknown'), next: i };
  }
  const params = s.slice(start, i).split(';');
  const next = i + 1;
  if (final === 'Z') return { press: key('tab', { shift: true }), next };
  const name = final === '~' ? TILDE[params[0] ?? ''] : FINAL[final];
  return { press: name ? key(name, modifiers(params[1])) : key('unknown'), next };
}

/** The sequence starting with ESC at `i`. */
function escaped(s: string, i: number): Parsed {
  const next = s[i + 1];
  if (next === undefined) return { press: key('escape'), next: i + 1 };
  if (next === '[') return csi(s, i + 2);
  if (next === 'O' && i + 2 < s.length) {
    const f = s[i + 2]!;
    const rxvt = RXVT_CTRL[f];
    if (rxvt) return { press: key(rxvt, { ctrl: true }), next: i + 3 };
    return { press: key(FINAL[f] ?? 'unknown'), next: i + 3 };
  }
  // ESC before a key is Alt+key (xterm's metaSendsEscape, every SSH client).
  if (next === '\x1b') {
    const inner = escaped(s, i + 1);
    return { press: { ...inner.press, meta: true }, next: inner.next };
  }
  const code = next.codePointAt(0)!;
  const width = code > 0xffff ? 2 : 1;
  if (code < 0x20 || code === 0x7f) return { press: { ...control(code), meta: true }, next: i + 2 };
  return {
    press: key('letter', {
      text: next.toLowerCase(),
      meta: true,
      shift: next !== next.toLowerCase(),
    }),
    next: i + 1 + width,
  };
}

export function parseKeys(chunk: string): KeyPress[] {
  const out: KeyPress[] = [];
  let text = '';
  const flush = () => {
    if (text) out.push(key('text', { text }));
    text = '';
  };
  let i = 0;
  while (i < chunk.length) {
    const code = chunk.charCodeAt(i);
    if (code === 0x1b) {
      flush();
      const p = escaped(chunk, i);
      out.push(p.press);
      i = p.next;
    } else if (code < 0x20 || code === 0x7f) {
      flush();
      out.push(control(code));
      // CR LF from a paste is one line end.
      i += code === 0x0d && chunk[i + 1] === '\n' ? 2 : 1;
    } else {
      text += chunk[i];
      i++;
    }
  }
  flush();
  return out;
}
