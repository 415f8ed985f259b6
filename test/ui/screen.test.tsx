import { afterEach, describe, expect, it } from 'vitest';
import type { ChatLine } from '../../source/chat/format.js';
import { type AppScreen, appAt, messageRows, paneRows, stringWidth, until } from './screen.js';

/**
 * The whole screen at real terminal sizes with text of every width: the
 * panes keep their borders, and the message pane shows each row of each line
 * exactly once however it is scrolled.
 */

const at = new Date(2026, 0, 2, 12, 27, 26).getTime();
const msg = (from: string, text: string, over: Partial<ChatLine> = {}): ChatLine =>
  ({ kind: 'message', time: at, from, text, private: false, own: false, ...over }) as ChatLine;

const TEXTS: Record<string, string> = {
  CJK: '漢字'.repeat(45),
  emoji: '😀🎉 party '.repeat(20),
  ZWJ: '👩‍👩‍👧 family '.repeat(20),
  flags: '🇯🇵🇳🇱 '.repeat(30),
  combining: 'e\u0301a\u0308o\u0302 '.repeat(30),
  RTL: 'שלום עולם مرحبا بالعالم '.repeat(8),
  'zero-width': 'a\u200bb\u2060c\ufeffd '.repeat(20),
  long: 'x'.repeat(5000),
};

const SIZES = [
  [40, 12],
  [60, 15],
  [80, 24],
  [120, 40],
  [250, 60],
] as const;

const open: AppScreen[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.unmount();
});
function app(columns: number, rows: number): AppScreen {
  const s = appAt(columns, rows);
  open.push(s);
  return s;
}

/** Every bordered row is exactly as wide as the terminal; the frame fits it. */
function expectIntact(s: AppScreen, columns: number, rows: number) {
  const frame = s.rows();
  expect(frame.length).toBeLessThanOrEqual(rows - 1);
  for (const r of paneRows(frame)) expect([stringWidth(r), r]).toEqual([columns, r]);
  for (const r of frame) expect(stringWidth(r)).toBeLessThanOrEqual(columns);
}

describe('screen layout', () => {
  for (const [columns, rows] of SIZES) {
    it(`keeps every border intact at ${columns}×${rows} with text of every width`, async () => {
      const s = app(columns, rows);
      for (const [kind, text] of Object.entries(TEXTS)) {
        s.line(msg('bob', `${kind}: ${text}`));
        s.line(msg('bob', `after ${kind}`));
        await until(() => s.frame().includes(`after ${kind}`), `${kind} shown`);
        expectIntact(s, columns, rows);
      }
      // The input line, and at least three message rows, are always there.
      expect(s.frame()).toContain('alice> ');
      expect(messageRows(s.rows()).length).toBeGreaterThanOrEqual(3);
    });
  }
});

const PAGE_UP = '\x1b[5~';
const PAGE_DOWN = '\x1b[6~';
const squash = (s: string) => s.replace(/\s+/g, '');

/** A history of short lines, CJK, emoji, flags, combining marks, RTL and a 1,000-character delivered line. */
function fill(s: AppScreen): string {
  let expected = '';
  const add = (from: string, text: string, own = false) => {
    s.line(msg(from, text, own ? { own: true, id: 7, recipients: ['bob'] } : {}));
    expected += `12:27:26${own ? '»' : ''}<${from}>${text}`;
  };
  for (let i = 0; i < 30; i++) add('bob', `line ${i}`);
  for (let i = 0; i < 6; i++) add('dave', `${i}${'漢字'.repeat(45)}`);
  for (const text of [TEXTS.ZWJ!, TEXTS.flags!, TEXTS.combining!, TEXTS.emoji!, TEXTS.RTL!]) {
    add('erin', text);
  }
  add('alice', `${'long '.repeat(200)}TAIL`, true);
  s.store.dispatch({ type: 'delivery', id: 7, nick: 'bob', outcome: 'acked' });
  expected += '✓';
  for (let i = 0; i < 5; i++) add('dave', `after ${i}`);
  return squash(expected);
}

/** The message pane without its status row. */
const pane = (s: AppScreen) => messageRows(s.rows()).filter((r) => !r.startsWith(' scrolled back'));

describe('scrolling the message pane', () => {
  for (const [columns, rows] of [
    [40, 12],
    [60, 15],
    [100, 30],
  ] as const) {
    it(`shows every row exactly once, from the top to the tail, at ${columns}×${rows}`, async () => {
      const s = app(columns, rows);
      const expected = fill(s);
      await until(() => s.frame().includes('after 4'), 'history shown');
      // PageUp to the top: it stops there, with the first line at the pane's top.
      let presses = 0;
      let before = '';
      while (s.frame() !== before) {
        before = s.frame();
        await s.keys(PAGE_UP);
        presses++;
        expect(presses).toBeLessThan(2000);
        expectIntact(s, columns, rows);
      }
      expect(pane(s)[0]).toMatch(/^12:27:26 {2}<bob> line 0$/);
      expect(s.frame()).toContain('scrolled back');
      // PageDown back to the newest, collecting what each page shows.
      let seen = '';
      while (s.frame().includes('scrolled back')) {
        seen += squash(pane(s).join(''));
        await s.keys(PAGE_DOWN);
        expectIntact(s, columns, rows);
      }
      const last = squash(pane(s).join(''));
      expect(expected.startsWith(seen)).toBe(true);
      expect(expected.endsWith(last)).toBe(true);
      // No gap between the last page and the newest rows.
      expect(seen.length + last.length).toBeGreaterThanOrEqual(expected.length);
      expect(seen + last).toContain('TAIL✓');
    });
  }

  it('reaches the tail of a message taller than the pane with PageUp', async () => {
    const s = app(60, 15);
    s.line(msg('alice', `${'word '.repeat(600)}TAIL`, { own: true, id: 1, recipients: ['bob'] }));
    s.store.dispatch({
      type: 'delivery',
      id: 1,
      nick: 'bob',
      outcome: 'failed',
      detail: 'timed out',
    });
    for (let i = 0; i < 4; i++) s.line(msg('bob', `after ${i}`));
    await until(() => s.frame().includes('after 3'), 'shown');
    // Two rows a page here: the tail is two pages up, then the text above it.
    await s.keys(PAGE_UP);
    await s.keys(PAGE_UP);
    expect(squash(pane(s).join(''))).toContain('TAIL✗notdelivered:timedout');
    await s.keys(PAGE_UP);
    expect(pane(s).join('')).toMatch(/^ +word word word/);
  });
});

describe('the issue’s repro', () => {
  it('30 short lines, 12 CJK lines, then a last line: nothing lost, nothing garbled', async () => {
    const s = app(80, 24);
    for (let i = 0; i < 30; i++) s.line(msg('Dave', `short ${i}`));
    for (let i = 0; i < 12; i++) s.line(msg('Dave', '漢字'.repeat(45)));
    s.line(msg('Dave', 'LAST LINE after cjk END'));
    await until(() => s.frame().includes('END'), 'last line');
    const rows = pane(s);
    expect(rows.at(-1)).toBe('12:27:26  <Dave> LAST LINE after cjk END');
    // Each CJK line is 180 cells: three whole rows of 60 under a 17-cell nick column.
    expect(rows.slice(-4, -1)).toEqual([
      `12:27:26  <Dave> ${'漢字'.repeat(15)}`,
      `${' '.repeat(17)}${'漢字'.repeat(15)}`,
      `${' '.repeat(17)}${'漢字'.repeat(15)}`,
    ]);
    expectIntact(s, 80, 24);
  });
});

describe('after a 5,000-character message', () => {
  it('new lines take whole rows below it, drawn over nothing', async () => {
    const s = app(80, 24);
    s.line(msg('bob', 'x'.repeat(5000)));
    await until(() => s.frame().includes('xxxx'), 'long line');
    for (let i = 0; i < 3; i++) s.line(msg('carol', `new ${i}`));
    await until(() => s.frame().includes('new 2'), 'new lines');
    const rows = pane(s);
    expect(rows.slice(-3)).toEqual([0, 1, 2].map((i) => `12:27:26  <carol> new ${i}`));
    // 78 inner cells, 16 of them "12:27:26  <bob> ": 62 x a row, the last
    // row holding what is left of 5,000 (40).
    expect(rows.at(-4)).toBe(`${' '.repeat(16)}${'x'.repeat(40)}`);
    for (const r of rows.slice(0, -4)) expect(r).toBe(`${' '.repeat(16)}${'x'.repeat(62)}`);
    expectIntact(s, 80, 24);
  });
});

describe('continuation rows', () => {
  it('are indented under the text, so padding cannot forge a line from someone else', async () => {
    const s = app(60, 15);
    const forged = '12:27:26  <Carol> Alice, Bob’s key changed, it’s fine: /trust Bob';
    for (let pad = 30; pad < 50; pad++) s.line(msg('mallory', `${'x'.repeat(pad)} ${forged}`));
    s.line(msg('bob', `a\u2028b\u2029c`));
    await until(() => s.frame().includes('c'), 'shown');
    let paged = 0;
    while (paged++ < 40) {
      const rows = pane(s);
      for (const r of rows) {
        // A row at column 0 is the start of a real line; Carol wrote none.
        if (/^\d\d:\d\d:\d\d/.test(r)) expect(r).toMatch(/^12:27:26 [ !]<(mallory|bob)> /);
        else if (r !== '') expect(r).toMatch(/^ {11}/);
      }
      await s.keys(PAGE_UP);
    }
    s.line(msg('bob', 'end'));
    await s.keys('\x1b[F');
    expect(s.frame()).toContain('a\\u2028b\\u2029c');
  });
});

describe('small and narrow terminals', () => {
  it('shows the peers’ STATE whole at 80×24, dropping other columns first', async () => {
    const s = app(80, 24);
    await until(() => s.frame().includes('bella'), 'peers shown');
    expect(s.frame()).toMatch(/bella .*connected since \d\d:\d\d\s*│/);
    expect(s.frame()).toMatch(/NICK .*STATE/);
  });

  it('keeps a 5,000-character input on one row, scrolled to the cursor', async () => {
    const s = app(60, 15);
    await s.keys(`${'y'.repeat(4999)}Z`);
    await until(() => s.frame().includes('Z'), 'typed');
    expectIntact(s, 60, 15);
    const input = s.rows().find((r) => r.startsWith('alice> '));
    // (the cursor after the Z is an inverse space, trimmed from the frame)
    expect(input).toMatch(/^alice> …y+Z$/);
    expect(stringWidth(input ?? '')).toBeLessThanOrEqual(60);
    expect(messageRows(s.rows()).length).toBeGreaterThanOrEqual(3);
  });
});
