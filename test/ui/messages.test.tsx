import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { ChatLine } from '../../source/chat/format.js';
import { type ChatState, initialState, reduce } from '../../source/chat/reducer.js';
import { Messages, visibleLines } from '../../source/ui/Messages.js';
import { HOSTILE, inert } from './fixtures.js';

const at = new Date(2026, 0, 2, 12, 3, 4).getTime();

function stateWith(lines: ChatLine[], nick = 'alice'): ChatState {
  return lines.reduce((s, line) => reduce(s, { type: 'line', line }), initialState(nick));
}

function frame(s: ChatState, height = 10, width = 80): string {
  const { lastFrame, unmount } = render(
    <Messages
      lines={s.lines}
      scroll={s.scroll}
      unseen={s.unseen}
      height={height}
      width={width}
      color={false}
    />,
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
      msg('to all', { own: true, from: 'alice', id: 1 }),
      msg('psst', { own: true, from: 'alice', id: 2, private: true, to: 'bob' }),
      msg('secret', { private: true }),
      msg('lost', { own: true, from: 'alice', id: 3 }),
    ]);
    expect(frame(s)).toContain('»<alice> to all …');
    s = reduce(s, { type: 'delivery', id: 1, state: 'delivered' });
    s = reduce(s, { type: 'delivery', id: 2, state: 'delivered' });
    s = reduce(s, { type: 'delivery', id: 3, state: 'failed', detail: 'timed out' });
    const out = frame(s);
    expect(out).toContain('»<alice> to all ✓');
    expect(out).toContain('»[private → bob] <alice> psst ✓');
    expect(out).toContain(' [private] <bob> secret');
    expect(out).toContain('»<alice> lost ✗ not delivered: timed out');
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
    s = reduce(s, { type: 'scroll', by: 10 });
    s = reduce(s, { type: 'line', line: msg('newest') });
    out = frame(s, 5);
    expect(out).toContain('line 19');
    expect(out).not.toContain('line 29');
    expect(out).toContain('scrolled back 11 lines, 1 new: End returns');
    out = frame(reduce(s, { type: 'follow' }), 5);
    expect(out).toContain('newest');
    expect(out).not.toContain('scrolled back');
  });

  it('counts wrapped rows when choosing what fits', () => {
    const s = stateWith([msg('a'), msg('x'.repeat(100)), msg('b')]);
    expect(visibleLines(s.lines, 0, 3, 40).map((l) => l.key)).toEqual([2, 3]);
    expect(visibleLines(s.lines, 0, 6, 40).map((l) => l.key)).toEqual([1, 2, 3]);
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
