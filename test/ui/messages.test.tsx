import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { ChatLine } from '../../source/chat/format.js';
import { type ChatState, initialState, reduce } from '../../source/chat/reducer.js';
import { Messages, visibleRows } from '../../source/ui/Messages.js';
import { rowsOf, rowText } from '../../source/ui/msglayout.js';
import { type Scroll, scrollBy } from '../../source/ui/scroll.js';
import { HOSTILE, inert } from './fixtures.js';

const at = new Date(2026, 0, 2, 12, 3, 4).getTime();

function stateWith(lines: ChatLine[], nick = 'alice'): ChatState {
  return lines.reduce((s, line) => reduce(s, { type: 'line', line }), initialState(nick));
}

function frame(s: ChatState, height = 10, width = 80, scroll: Scroll = undefined): string {
  const { lastFrame, unmount } = render(
    <Messages lines={s.lines} scroll={scroll} height={height} width={width} color={false} />,
  );
  const out = lastFrame() ?? '';
  unmount();
  return out;
}

const msg = (
  text: string,
  over: Partial<Extract<ChatLine, { kind: 'message' }>> = {},
): ChatLine => ({
  kind: 'message',
  time: at,
  from: 'bob',
  text,
  private: false,
  own: false,
  ...over,
});

describe('Messages pane', () => {
  it('shows time, nick, text, system and error lines', () => {
    const out = frame(
      stateWith([
        { kind: 'system', time: at, text: 'bob connected' },
        msg('hello'),
        { kind: 'error', time: at, text: 'nobody is connected' },
      ]),
    );
    expect(out).toContain('12:03:04 -- bob connected');
    expect(out).toContain('12:03:04  <bob> hello');
    expect(out).toContain('12:03:04 !! nobody is connected');
  });

  it('marks own and private messages and shows the delivery state', () => {
    let s = stateWith([
      msg('to all', { own: true, from: 'alice', id: 1, recipients: ['bob'] }),
      msg('psst', {
        own: true,
        from: 'alice',
        id: 2,
        private: true,
        to: 'bob',
        recipients: ['bob'],
      }),
      msg('secret', { private: true }),
      msg('lost', { own: true, from: 'alice', id: 3, recipients: ['bob'] }),
    ]);
    expect(frame(s)).toContain('»<alice> to all …');
    s = reduce(s, { type: 'delivery', id: 1, nick: 'bob', outcome: 'acked' });
    s = reduce(s, { type: 'delivery', id: 2, nick: 'bob', outcome: 'acked' });
    s = reduce(s, { type: 'delivery', id: 3, nick: 'bob', outcome: 'failed', detail: 'timed out' });
    const out = frame(s);
    expect(out).toContain('»<alice> to all ✓');
    expect(out).toContain('»[private → bob] <alice> psst ✓');
    expect(out).toContain(' [private] <bob> secret');
    expect(out).toContain('»<alice> lost ✗ not delivered: timed out');
  });

  it('marks a message to several peers per recipient: ✓ when all, ✓ n/m with who is missing', () => {
    const to = ['bob', 'carol', 'dave'];
    let s = stateWith([msg('hello everyone', { own: true, from: 'alice', id: 1, recipients: to })]);
    expect(frame(s)).toContain('»<alice> hello everyone …');
    s = reduce(s, { type: 'delivery', id: 1, nick: 'bob', outcome: 'acked' });
    expect(frame(s)).toContain('»<alice> hello everyone ✓ 1/3 · waiting: carol, dave');
    s = reduce(s, { type: 'delivery', id: 1, nick: 'carol', outcome: 'acked' });
    expect(frame(s)).toContain('»<alice> hello everyone ✓ 2/3 · waiting: dave');
    const left = reduce(s, {
      type: 'delivery',
      id: 1,
      nick: 'dave',
      outcome: 'left',
      detail: 'dave left',
    });
    expect(frame(left)).toContain('»<alice> hello everyone ✓ 2/3 · missing: dave (left)');
    const all = reduce(s, { type: 'delivery', id: 1, nick: 'dave', outcome: 'acked' });
    expect(frame(all)).toContain('»<alice> hello everyone ✓');
    expect(frame(all)).not.toContain('3/3');
  });

  it('a message nobody acknowledged says who is missing and why, still waiting or not', () => {
    let s = stateWith([
      msg('anyone?', { own: true, from: 'alice', id: 1, recipients: ['bob', 'carol'] }),
    ]);
    s = reduce(s, { type: 'delivery', id: 1, nick: 'bob', outcome: 'left', detail: 'bob left' });
    expect(frame(s)).toContain('»<alice> anyone? … 0/2 · waiting: carol · missing: bob (left)');
    s = reduce(s, {
      type: 'delivery',
      id: 1,
      nick: 'carol',
      outcome: 'failed',
      detail: 'timed out',
    });
    expect(frame(s)).toContain('»<alice> anyone? ✗ 0/2 · missing: bob (left), carol (failed)');
  });

  it("marks a stranger's lines, so a look-alike nick cannot pass for a friend", () => {
    const out = frame(
      stateWith([msg('trust me', { from: 'b\u043eb-6rk4xxtd', stranger: true }), msg('hi')]),
    );
    expect(out).toContain('12:03:04  [stranger] <b\u043eb-6rk4xxtd> trust me');
    expect(out).toContain('12:03:04  <bob> hi');
  });

  it('marks a line naming us with ! in the gutter', () => {
    const out = frame(stateWith([msg('hey alice, look'), msg('nothing here')], 'alice'));
    expect(out).toContain('12:03:04 !<bob> hey alice, look');
    expect(out).toContain('12:03:04  <bob> nothing here');
  });

  it('shows the newest lines that fit, and older ones when scrolled back', () => {
    let s = stateWith(Array.from({ length: 30 }, (_, i) => msg(`line ${i}`)));
    let out = frame(s, 5);
    expect(out).toContain('line 29');
    expect(out).not.toContain('line 24');
    const rows = (i: number) => rowsOf(s.lines[i]!, 80, false).length;
    // Ten rows back in a pane of four (one row is the status).
    const back = scrollBy(s.lines, undefined, 10, 4, rows);
    s = reduce(s, { type: 'line', line: msg('newest') });
    out = frame(s, 5, 80, back);
    expect(out).toContain('line 19');
    expect(out).toContain('line 16');
    expect(out).not.toContain('line 15');
    expect(out).not.toContain('line 20');
    expect(out).toContain('scrolled back 11 rows, 1 new: End returns');
    out = frame(s, 5);
    expect(out).toContain('newest');
    expect(out).not.toContain('scrolled back');
  });

  it('counts wrapped rows in cells when choosing what fits', () => {
    const s = stateWith([msg('a'), msg('漢'.repeat(40)), msg('b')]);
    // 16 cells of lead, so 80 cells of CJK text take 4 rows of 24 at width 40.
    expect(rowsOf(s.lines[1]!, 40, false).map(rowText)).toEqual([
      `12:03:04  <bob> ${'漢'.repeat(12)}`,
      ...[1, 2].map(() => ' '.repeat(16) + '漢'.repeat(12)),
      ' '.repeat(16) + '漢'.repeat(4),
    ]);
    expect(visibleRows(s.lines, undefined, 3, 40, false).map(rowText)).toEqual([
      ' '.repeat(16) + '漢'.repeat(12),
      ' '.repeat(16) + '漢'.repeat(4),
      '12:03:04  <bob> b',
    ]);
  });

  it('indents continuation rows past the nick column, even when it is too wide to hang under', () => {
    const s = stateWith([
      msg('word '.repeat(30), { own: true, from: 'alice', private: true, to: 'bob' }),
      { kind: 'system', time: at, text: 'word '.repeat(30) },
    ]);
    // "12:03:04 »[private → bob] <alice> " is 34 cells: at 38 the text keeps 20.
    const priv = rowsOf(s.lines[0]!, 38, false).map(rowText);
    expect(priv[0]).toMatch(/^12:03:04 »\[private → bob\] <alice> word$/);
    for (const r of priv.slice(1)) expect(r).toMatch(/^ {18}\S/);
    // A system line's text starts at 12, and so do its continuations.
    const sys = rowsOf(s.lines[1]!, 38, false).map(rowText);
    for (const r of sys.slice(1)) expect(r).toMatch(/^ {12}word/);
  });

  describe('renders hostile text inert and visible', () => {
    for (const [kind, text] of Object.entries(HOSTILE)) {
      it(kind, () => {
        const out = frame(
          stateWith([
            msg(text),
            msg(text, { from: 'bob', private: true }),
            { kind: 'error', time: at, text },
            { kind: 'system', time: at, text },
          ]),
          20,
          200,
        );
        expect(inert(out)).toBe(true);
        // The user sees that something odd was sent.
        expect(out).toMatch(/\\x[0-9a-f]{2}|\\u[0-9a-f]{4}/);
      });
    }
  });
});
