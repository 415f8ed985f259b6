import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { frameRows, MIN_MESSAGE_ROWS } from '../../source/ui/frame.js';
import { inputWindow } from '../../source/ui/InputLine.js';

const shown = (w: ReturnType<typeof inputWindow>) =>
  `${w.left ? '…' : ''}${w.before}[${w.under}]${w.after}${w.right ? '…' : ''}`;

describe('inputWindow', () => {
  it('shows a short line whole', () => {
    expect(shown(inputWindow({ value: 'hello', cursor: 5 }, 20))).toBe('hello[ ]');
    expect(shown(inputWindow({ value: 'hello', cursor: 1 }, 20))).toBe('h[e]llo');
  });

  it('scrolls a long line by display width, keeping the cursor in view', () => {
    const value = '漢字'.repeat(50);
    for (const cursor of [0, 1, 37, 60, 99, 100]) {
      const w = inputWindow({ value, cursor }, 20);
      // The cursor's cluster is shown, and the row never exceeds its room.
      expect(w.under).toBe(cursor < 100 ? value[cursor] : ' ');
      expect(stringWidth(shown(w).replace('[', '').replace(']', ''))).toBeLessThanOrEqual(20);
    }
    expect(shown(inputWindow({ value, cursor: 0 }, 20))).toMatch(/^\[漢\]字.*…$/);
    expect(shown(inputWindow({ value, cursor: 100 }, 20))).toMatch(/^….*字\[ \]$/);
  });
});

describe('frameRows', () => {
  it('always leaves the input line and three message rows', () => {
    for (let rows = 12; rows <= 60; rows++) {
      for (const peers of [0, 2, 10]) {
        const f = frameRows(rows, peers, 3, rows % 2 === 0);
        expect(f.messages).toBeGreaterThanOrEqual(MIN_MESSAGE_ROWS + 2);
        expect(f.messages + f.peers + f.stats + f.status + f.input).toBe(rows - 1);
      }
    }
  });

  it('shrinks the peers pane, then drops stats and key help at 60×15', () => {
    expect(frameRows(15, 2, 2, false)).toEqual({
      messages: 5,
      peers: 5,
      peerRows: 2,
      stats: 3,
      statsRows: 1,
      status: 0,
      input: 1,
    });
  });
});
