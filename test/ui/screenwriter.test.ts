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
});
