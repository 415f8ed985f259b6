import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUnsafeChar, quoteForDisplay, sanitize } from '../../source/chat/sanitize.js';

/** Nothing a terminal would act on survives. */
function inert(text: string): boolean {
  const bidi = [0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067];
  return ![...text].some((ch) => {
    const c = ch.codePointAt(0) ?? 0;
    return (
      c <= 0x1f ||
      (c >= 0x7f && c <= 0x9f) ||
      bidi.includes(c) ||
      c === 0x2068 ||
      c === 0x2069 ||
      /\p{Zl}|\p{Zp}/u.test(ch)
    );
  });
}

describe('sanitize', () => {
  it('renders ANSI CSI sequences inert and visible', () => {
    const out = sanitize('\u001b[31mred\u001b[0m \u001b[2J\u001b[H');
    expect(out).toBe('\\x1b[31mred\\x1b[0m \\x1b[2J\\x1b[H');
    expect(inert(out)).toBe(true);
  });

  it('renders an OSC 52 clipboard write (BEL- and ST-terminated) inert', () => {
    expect(sanitize('\u001b]52;c;Y3VybCBldmlsLnNofHNo\u0007')).toBe(
      '\\x1b]52;c;Y3VybCBldmlsLnNofHNo\\x07',
    );
    expect(sanitize('\u001b]52;c;aGk=\u001b\\')).toBe('\\x1b]52;c;aGk=\\x1b\\');
    // Window title (OSC 0) too.
    expect(sanitize('\u001b]0;pwned\u0007')).toBe('\\x1b]0;pwned\\x07');
  });

  it('escapes BEL, NUL, backspace, CR, LF, TAB and every other C0 control', () => {
    expect(sanitize('ding\u0007')).toBe('ding\\x07');
    expect(sanitize('a\u0000b\bc\rd\ne\tf')).toBe('a\\x00b\\x08c\\x0dd\\x0ae\\x09f');
    for (let c = 0; c < 0x20; c++) {
      expect(sanitize(String.fromCharCode(c))).toBe(`\\x${c.toString(16).padStart(2, '0')}`);
    }
  });

  it('escapes DEL and the C1 controls (8-bit CSI, OSC, ST...)', () => {
    expect(sanitize('x\u007fy')).toBe('x\\x7fy');
    expect(sanitize('\u009b31mred')).toBe('\\x9b31mred');
    expect(sanitize('\u009d52;c;aGk=\u009c')).toBe('\\x9d52;c;aGk=\\x9c');
    for (let c = 0x80; c <= 0x9f; c++) {
      expect(sanitize(String.fromCharCode(c))).toBe(`\\x${c.toString(16)}`);
    }
  });

  it('escapes Unicode bidi controls', () => {
    // The classic "exe.txt" trick: U+202E reverses what follows.
    expect(sanitize('invoice\u202etxt.exe')).toBe('invoice\\u202etxt.exe');
    const bidi = [
      0x061c, 0x200e, 0x200f, 0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068,
      0x2069,
    ];
    for (const c of bidi) {
      expect(sanitize(`a${String.fromCharCode(c)}b`)).toBe(
        `a\\u${c.toString(16).padStart(4, '0')}b`,
      );
      expect(isUnsafeChar(c)).toBe(true);
    }
  });

  it('escapes every line and paragraph separator, so no text starts a row of its own', () => {
    // U+0085 NEL is a C1 control; U+2028 (Zl) and U+2029 (Zp) end a line in
    // some terminals and fonts, and a forged line would start at column 0.
    expect(sanitize('a\u2028b\u2029c\u0085d')).toBe('a\\u2028b\\u2029c\\x85d');
    for (const c of [0x2028, 0x2029, 0x85]) expect(isUnsafeChar(c)).toBe(true);
  });

  it('leaves normal text and Unicode untouched', () => {
    for (const text of [
      '',
      'hello, world!',
      'Zoë ñandú façade',
      '日本語のテキスト',
      'مرحبا بالعالم', // right-to-left script itself is fine
      'שלום',
      '👋🏽 👨‍👩‍👧 🇳🇱',
      'tab\\x09 already escaped-looking text',
      '\u00a0non-breaking\u2003spaces\u3000',
      'zero\u200bwidth joiner\u200d',
      '∑ ≠ ∞ → ←',
    ]) {
      expect(sanitize(text)).toBe(text);
    }
  });

  it('output is always inert, and equal to the input when the input was', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 100 }), (text) => {
        const out = sanitize(text);
        expect(inert(out)).toBe(true);
        if (inert(text)) expect(out).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('quoteForDisplay', () => {
  it('quotes, sanitizes and shortens', () => {
    expect(quoteForDisplay('bob')).toBe('"bob"');
    expect(quoteForDisplay('b\u001bb')).toBe('"b\\x1bb"');
    expect(quoteForDisplay('x'.repeat(100), 10)).toBe(`"${'x'.repeat(10)}…"`);
  });

  it('never splits a surrogate pair', () => {
    expect(quoteForDisplay(`${'x'.repeat(9)}😀`, 10)).toBe(`"${'x'.repeat(9)}…"`);
  });
});
