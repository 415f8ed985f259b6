import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../source/net/core/errors.js';
import {
  confusableWith,
  MAX_ANNOUNCED_CHARS,
  nickSkeleton,
  SKELETON_CACHE_LIMIT,
  sanitizeAnnouncedNick,
  skeletonCacheSize,
  validateNick,
} from '../../../source/net/core/names.js';

const CYRILLIC_O = '\u043e';
const HANGUL_FILLER = '\u3164';

function problem(nick: string): string | undefined {
  try {
    validateNick(nick);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    return (err as Error).message;
  }
}

describe('validateNick', () => {
  it('accepts plain ASCII nicks and returns them unchanged', () => {
    for (const nick of ['bob', 'alice_1', 'a.b-c', 'x', '42', 'n'.repeat(32)]) {
      expect(validateNick(nick)).toBe(nick);
    }
  });

  it('accepts international names, composed or decomposed', () => {
    const names = [
      'Zoë',
      'Zoe\u0308',
      '李雷',
      'Ωmega',
      'Владимир',
      'हिन्दी',
      'Tie\u0302\u0301ng',
      'שלום',
    ];
    for (const nick of names) expect(problem(nick)).toBeUndefined();
  });

  it('refuses the old bad cases: empty, too long, spaces, symbols, controls', () => {
    expect(problem('')).toMatch(/1-32/);
    expect(problem('n'.repeat(33))).toMatch(/1-32/);
    expect(problem('bad nick')).toMatch(/bad nickname "bad nick": no spaces/);
    expect(problem('b@d')).toMatch(/bad nickname "b@d": U\+0040 is not a letter/);
    expect(problem('b\u001bd')).toMatch(/"b<U\+001B>d"/);
  });

  const invisible: [string, string][] = [
    ['Hangul filler U+3164', `bob${HANGUL_FILLER}`],
    ['Hangul choseong filler U+115F', 'b\u115fob'],
    ['Hangul jungseong filler U+1160', '\u1160bob'],
    ['halfwidth Hangul filler U+FFA0', 'bo\uffa0b'],
    ['zero-width joiner', 'b\u200dob'],
    ['zero-width non-joiner', 'b\u200cob'],
    ['zero-width space', 'b\u200bob'],
    ['word joiner', 'bob\u2060'],
    ['soft hyphen', 'b\u00adob'],
    ['byte order mark', '\ufeffbob'],
    ['right-to-left override', '\u202ebob'],
    ['left-to-right isolate', 'bob\u2066'],
    ['variation selector', 'bob\ufe0f'],
    ['Mongolian free variation selector', 'bob\u180b'],
    ['combining grapheme joiner', 'bo\u034fb'],
  ];
  for (const [what, nick] of invisible) {
    it(`refuses a ${what}, naming it without printing it`, () => {
      const message = problem(nick);
      expect(message).toMatch(/is invisible/);
      const cp = [...nick].find((c) => !/^[a-z]$/.test(c))!;
      expect(message).toContain(
        `U+${cp.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`,
      );
      expect(message).not.toContain(cp);
    });
  }

  it('refuses whitespace of every kind', () => {
    for (const ws of [' ', '\t', '\n', '\u00a0', '\u2003', '\u3000', '\u2028']) {
      expect(problem(`b${ws}b`)).toBeDefined();
    }
  });

  it('refuses combining marks standing alone, or piled up', () => {
    expect(problem('\u0308bob')).toMatch(/combining mark U\+0308 has no letter/);
    expect(problem('bob_\u0301')).toMatch(/has no letter/);
    expect(problem('bob-\u20dd')).toMatch(/has no letter/); // enclosing circle (Me)
    expect(problem(`z${'\u0301'.repeat(4)}`)).toBeUndefined();
    expect(problem(`z${'\u0301'.repeat(5)}`)).toMatch(/more than 4 marks/);
  });
});

describe('nickSkeleton (UTS #39 §4)', () => {
  it('maps look-alikes from other scripts, compatibility forms and case to one skeleton', () => {
    const bob = nickSkeleton('bob');
    for (const lookalike of [`b${CYRILLIC_O}b`, 'ℬob', 'ｂｏｂ', 'Bob', 'BOB', 'b0b', '𝐛𝐨𝐛']) {
      expect(nickSkeleton(lookalike), lookalike).toBe(bob);
    }
  });

  it('ignores invisible characters and the encoding of accents', () => {
    expect(nickSkeleton(`bob${HANGUL_FILLER}`)).toBe(nickSkeleton('bob'));
    expect(nickSkeleton('b\u200dob')).toBe(nickSkeleton('bob'));
    expect(nickSkeleton('Zoë')).toBe(nickSkeleton('Zoe\u0308'));
  });

  it('keeps what a reader can tell apart apart', () => {
    expect(nickSkeleton('Zoë')).not.toBe(nickSkeleton('Zoe'));
    expect(nickSkeleton('bob')).not.toBe(nickSkeleton('bob2'));
    expect(nickSkeleton('Ωmega')).not.toBe(nickSkeleton('omega'));
    expect(nickSkeleton('李雷')).not.toBe(nickSkeleton('李電'));
  });

  it('uses the real confusables table, multi-character prototypes included', () => {
    expect(nickSkeleton('m')).toBe(nickSkeleton('rn')); // confusables.txt: 006D -> 0072 006E
  });
});

describe('confusableWith', () => {
  const inUse = ['bob', 'alice', 'paypal', 'scope'];

  it('finds the pinned name a stranger imitates', () => {
    const cases: [string, string][] = [
      [`b${CYRILLIC_O}b`, 'bob'], // Cyrillic о among Latin letters
      [`bob${HANGUL_FILLER}`, 'bob'], // trailing blank letter
      ['ℬob', 'bob'], // script capital B
      ['ｂｏｂ', 'bob'], // fullwidth
      ['b\u200dob', 'bob'], // zero-width joiner
      ['\u202ebob', 'bob'], // right-to-left override
      ['p\u0430ypal', 'paypal'], // mixed scripts: Cyrillic а inside Latin
      ['\u0455\u0441\u043e\u0440\u0435', 'scope'], // whole-script: all Cyrillic ѕсоре
      ['ALICE', 'alice'],
    ];
    for (const [stranger, name] of cases)
      expect(confusableWith(stranger, inUse), stranger).toBe(name);
  });

  it('returns an identical name too, and nothing for distinct names', () => {
    expect(confusableWith('alice', inUse)).toBe('alice');
    for (const nick of ['carol', 'bob2', 'Zoë', '李雷', 'Ωmega', 'bo']) {
      expect(confusableWith(nick, inUse), nick).toBeUndefined();
    }
    expect(confusableWith('bob', [])).toBeUndefined();
    expect(confusableWith('bob', new Map([['BOB', 1]]).keys())).toBe('BOB');
    // Capital I, digit 1 and small l: UTS #39 maps all three to l.
    expect(confusableWith('Il1', ['lll'])).toBe('lll');
    expect(confusableWith('AL1CE', ['ALICE'])).toBe('ALICE');
  });

  it('caches skeletons of names in use only, and never more than the limit', () => {
    const before = skeletonCacheSize();
    const strangers = Array.from({ length: 50 }, (_, i) => `stranger${i}`);
    for (const s of strangers) confusableWith(s, ['bob']);
    expect(skeletonCacheSize()).toBeLessThanOrEqual(before + 1);
    const many = Array.from({ length: SKELETON_CACHE_LIMIT + 10 }, (_, i) => `name${i}`);
    expect(confusableWith(`n\u0430me${SKELETON_CACHE_LIMIT + 9}`, many)).toBe(
      `name${SKELETON_CACHE_LIMIT + 9}`,
    );
    expect(skeletonCacheSize()).toBeLessThanOrEqual(SKELETON_CACHE_LIMIT);
    expect(skeletonCacheSize()).toBeGreaterThan(0);
  });
});

describe('sanitizeAnnouncedNick', () => {
  it('drops invisible characters and replaces the rest of what a nick cannot hold', () => {
    expect(sanitizeAnnouncedNick(`bob${HANGUL_FILLER}`)).toBe('bob');
    expect(sanitizeAnnouncedNick('\u202eboB')).toBe('boB');
    expect(sanitizeAnnouncedNick('b\u200db\ufe0f')).toBe('bb');
    expect(sanitizeAnnouncedNick('bad nick!')).toBe('bad_nick_');
    expect(sanitizeAnnouncedNick('\u0301_\u0301x')).toBe('_x');
    expect(sanitizeAnnouncedNick('Zoe\u0308')).toBe('Zoë');
  });

  it('falls back to "peer" when nothing visible is left', () => {
    for (const empty of ['', HANGUL_FILLER.repeat(3), '\u200b\u2060', '\u0308']) {
      expect(sanitizeAnnouncedNick(empty)).toBe('peer');
    }
  });

  it('cuts at MAX_ANNOUNCED_CHARS characters, never inside a surrogate pair', () => {
    const out = sanitizeAnnouncedNick('𝒷'.repeat(40));
    expect([...out]).toHaveLength(MAX_ANNOUNCED_CHARS);
    expect(out).toBe('𝒷'.repeat(MAX_ANNOUNCED_CHARS));
  });

  const tricky = fc.constantFrom(
    'b',
    'o',
    '_',
    ' ',
    '!',
    '𝒷',
    '\u043e',
    HANGUL_FILLER,
    '\u115f',
    '\u0308',
    '\u20dd',
    '\u202e',
    '\u200d',
    '\ufe0f',
    '\ud800',
    '\u0000',
  );

  it('always yields a valid nick with nothing invisible (property)', () => {
    const anyText = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 60 }),
      fc.string({ unit: tricky, maxLength: 60 }),
    );
    fc.assert(
      fc.property(anyText, (announced) => {
        const nick = sanitizeAnnouncedNick(announced);
        expect(() => validateNick(nick)).not.toThrow();
        expect([...nick].length).toBeLessThanOrEqual(MAX_ANNOUNCED_CHARS);
        expect(nick).not.toMatch(/[\p{Default_Ignorable_Code_Point}\p{Cf}\s]/u);
      }),
      { numRuns: 1000 },
    );
  });

  it('leaves a valid short NFC nick as it is (property)', () => {
    const letters = fc.constantFrom('a', 'Z', '9', '_', '.', '-', 'ë', '李', 'Ω', 'ж', '𝒷');
    fc.assert(
      fc.property(
        fc.string({ unit: letters, minLength: 1, maxLength: MAX_ANNOUNCED_CHARS }),
        (n) => {
          expect(sanitizeAnnouncedNick(n)).toBe(n);
        },
      ),
    );
  });
});
