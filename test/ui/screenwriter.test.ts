import { EventEmitter } from 'node:events';
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { frameUpdate, ScreenWriter } from '../../source/ui/screenwriter.js';

/** A terminal stream that keeps what is written. */
class Terminal extends EventEmitter {
  columns = 40;
  rows = 12;
  written = '';
  write(text: string, cb?: () => void): boolean {
    this.written += text;
    cb?.();
    return true;
  }
}

/** A bordered pane row `columns` wide holding `text`. */
const paneRow = (text: string, columns = 40) =>
  `│${text}${' '.repeat(columns - 2 - stringWidth(text))}│`;

describe('ScreenWriter', () => {
  it('writes only the rows that changed', () => {
    const a = [paneRow('one'), paneRow('two'), paneRow('three')];
    const b = [paneRow('one'), paneRow('TWO'), paneRow('three')];
    const bytes = frameUpdate(a, b, 40);
    expect(bytes).toContain('TWO');
    expect(bytes).not.toContain('one');
    expect(bytes).not.toContain('three');
    expect(frameUpdate(b, b, 40)).toBe('');
  });

  it('measures a row that only moved once, not on every frame (a scrolling pane)', () => {
    // Under a flood every message row changes place each frame; measuring
    // each again was 9 % of the chat's CPU (string-width, bench/tui.ts).
    const term = new Terminal();
    let measured = 0;
    const writer = new ScreenWriter(term as unknown as NodeJS.WriteStream, (text) => {
      measured++;
      return stringWidth(text);
    });
    const lines = Array.from({ length: 60 }, (_, i) => paneRow(`message ${i} 漢字`));
    const frames = 50;
    for (let f = 0; f < frames; f++) writer.write(lines.slice(f, f + 10).join('\n'));
    // The first frame's 10 rows, then one new row a frame.
    expect(measured).toBe(10 + (frames - 1));
    // Every frame redrew the 10 rows that moved: a full-width row's border is put back.
    expect(term.written.split('\x1b[2K').length - 1).toBe(10 * frames);
    writer.close();
  });

  it('measures no row of ASCII and borders, and every other kind once (its border may need putting back)', () => {
    const term = new Terminal();
    const measuredRows: string[] = [];
    const writer = new ScreenWriter(term as unknown as NodeJS.WriteStream, (text) => {
      measuredRows.push(text);
      return stringWidth(text);
    });
    const gray = (t: string) => `\x1b[90m${t}\x1b[39m`;
    const plain = Array.from({ length: 20 }, (_, i) =>
      gray(paneRow(`12:00:0${i % 10}  <bob> ${i}`)),
    );
    for (let f = 0; f < 10; f++) writer.write(plain.slice(f, f + 10).join('\n'));
    expect(measuredRows).toEqual([]);
    const wide = ['漢字', 'done ✓', '👨‍👩‍👧‍👦 family', 'e\u0301'].map((t) => paneRow(t));
    writer.write(wide.join('\n'));
    expect(measuredRows).toEqual(wide);
    // The family row is as wide as the terminal by string-width: its border goes back in the last column.
    expect(term.written).toContain(`\x1b[3;40H│`);
    writer.close();
  });
});
