import fc from 'fast-check';
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { cells, cellWidth, clipCells, wrapSpans } from '../../source/ui/cells.js';

const rows = (text: string, width: number, rest = width) =>
  wrapSpans([{ text, style: 0 }], { width, rest }).map((r) => r.map((s) => s.text).join(''));

describe('cells', () => {
  it('measures clusters as the terminal draws them', () => {
    expect(cells('👩‍👩‍👧').map((c) => c.width)).toEqual([2]);
    expect(cells('🇯🇵🇳🇱').map((c) => c.text)).toEqual(['🇯🇵', '🇳🇱']);
    expect(cells('e\u0301x').map((c) => [c.text, c.width])).toEqual([
      ['e\u0301', 1],
      ['x', 1],
    ]);
    expect(cellWidth('漢字ab')).toBe(6);
  });

  it('shows a cluster that takes no cell as its escape', () => {
    const cs = cells('a\u200bb');
    expect(cs.map((c) => c.text).join('')).toBe('a\\u200bb');
    expect(cs.every((c) => c.width === 1)).toBe(true);
    expect(
      cells('\u0301')
        .map((c) => c.text)
        .join(''),
    ).toBe('\\u0301');
  });

  it('clips by cells, never inside a cluster', () => {
    expect(clipCells('漢字漢字', 5)).toBe('漢字…');
    expect(clipCells('👩‍👩‍👧👩‍👩‍👧', 3)).toBe('👩‍👩‍👧…');
    expect(clipCells('abc', 3)).toBe('abc');
  });
});

describe('wrapSpans', () => {
  it('breaks at spaces, dropping them, and cuts long words between clusters', () => {
    expect(rows('aaa bbb ccc', 7)).toEqual(['aaa bbb', 'ccc']);
    expect(rows('aaa      bbb', 5)).toEqual(['aaa', 'bbb']);
    expect(rows('x'.repeat(12), 5)).toEqual(['xxxxx', 'xxxxx', 'xx']);
    expect(rows('🇯🇵'.repeat(5), 5)).toEqual(['🇯🇵🇯🇵', '🇯🇵🇯🇵', '🇯🇵']);
    expect(rows('漢字漢', 5, 3)).toEqual(['漢字', '漢']);
  });

  it('keeps every row within its width and loses no cluster', () => {
    const unit = fc.constantFrom(
      'a',
      ' ',
      '漢',
      '👩‍👩‍👧',
      '🇯🇵',
      'e\u0301',
      'ש',
      '\u200b',
      'ก\u0e35',
    );
    fc.assert(
      fc.property(
        fc.array(unit, { maxLength: 200 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 2, max: 40 }),
        (units, width, rest) => {
          const text = units.join('');
          const out = rows(text, width, rest);
          out.forEach((r, i) => {
            expect(stringWidth(r)).toBeLessThanOrEqual(Math.max(i === 0 ? width : rest, 2));
          });
          // Only spaces at breaks vanish.
          const shown = cells(text)
            .map((c) => c.text)
            .join('')
            .replaceAll(' ', '');
          expect(out.join('').replaceAll(' ', '')).toBe(shown);
        },
      ),
      { numRuns: 500 },
    );
  });
});
