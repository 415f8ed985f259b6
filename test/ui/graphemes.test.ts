/**
 * Grapheme clusters in windows (source/ui/graphemes.ts): the same clusters
 * as one Intl.Segmenter pass over the whole text, whatever window ends
 * where, and never a segmenter call over more than a window, so a peer's
 * 64 KiB message is not the 41 s a whole-string pass took.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { graphemes } from '../../source/ui/graphemes.js';
import { rowsOf, rowText } from '../../source/ui/msglayout.js';

const whole = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
const reference = (t: string) => [...whole.segment(t)].map((s) => [s.index, s.segment]);
const windowed = (t: string, w?: number) => [...graphemes(t, w)].map((s) => [s.index, s.segment]);

/** Clusters of every kind whose boundaries depend on context: pairs, sequences, marks, CRLF. */
const PIECES = [
  'a',
  ' ',
  'é',
  'e\u0301',
  '\u0301',
  '漢',
  '👍🏽',
  '👨‍👩‍👧',
  '🇯🇵',
  '🇺',
  'ष्ट',
  'क्‍ष',
  'ก่',
  '\r\n',
  '\r',
  '\n',
  '\u200b',
  '\u200d',
  '\ud83d',
  '각',
  '\u1100\u1161\u11a8',
];

function randomText(rnd: () => number, n: number): string {
  let t = '';
  for (let i = 0; i < n; i++) t += PIECES[Math.floor(rnd() * PIECES.length)];
  return t;
}

function lcg(seed: number) {
  let s = seed;
  return () => {
    s = (s * 48271) % 2147483647;
    return s / 2147483647;
  };
}

describe('graphemes in windows', () => {
  afterEach(() => vi.restoreAllMocks());

  it('gives the clusters one pass over the whole text gives, for windows of 1 to 40 units', () => {
    const rnd = lcg(42);
    let compared = 0;
    for (let trial = 0; trial < 300; trial++) {
      const t = randomText(rnd, 1 + Math.floor(rnd() * 60));
      const w = 1 + Math.floor(rnd() * 40);
      expect(windowed(t, w), `text ${JSON.stringify(t)}, window ${w}`).toEqual(reference(t));
      compared++;
    }
    expect(compared).toBe(300);
  });

  it('gives the same clusters with the default window, across many window ends', () => {
    const rnd = lcg(7);
    for (let trial = 0; trial < 8; trial++) {
      const t = randomText(rnd, 1000 + Math.floor(rnd() * 1000));
      expect(windowed(t)).toEqual(reference(t));
    }
  });

  it('cuts a cluster of thousands of combining marks into pieces, losing nothing', () => {
    const zalgo = `x e${'\u0301'.repeat(20_000)} y`;
    const parts = [...graphemes(zalgo)];
    expect(parts.map((p) => p.segment).join('')).toBe(zalgo);
    expect(Math.max(...parts.map((p) => p.segment.length))).toBeLessThanOrEqual(8192);
    expect(parts.at(-1)).toEqual({ segment: 'y', index: zalgo.length - 1 });
  });

  it('never hands the segmenter more than a window: a 64 KiB line is laid out in ~64 K units of segmenting', () => {
    const text = `${'漢字 and more '.repeat(6000)}`.slice(0, 64 * 1024);
    const seen: number[] = [];
    const real = Intl.Segmenter.prototype.segment;
    vi.spyOn(Intl.Segmenter.prototype, 'segment').mockImplementation(function (
      this: Intl.Segmenter,
      input: string,
    ) {
      seen.push(input.length);
      return real.call(this, input);
    });
    const line = {
      key: 1,
      mention: false,
      line: { kind: 'message', time: 0, from: 'bob', text, private: false, own: false },
    } as const;
    const rows = rowsOf(line as never, 100, false);
    expect(rows.length).toBeGreaterThan(600);
    expect(rows.map(rowText).join('')).toContain('漢字 and more');
    // One pass over the whole text was one call of 65,536 units (41 s on Node 20).
    expect(Math.max(...seen)).toBeLessThanOrEqual(1024);
    const total = seen.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThan(1.05 * text.length + 4096);
  });
});
