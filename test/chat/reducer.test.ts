import { describe, expect, it } from 'vitest';
import type { ChatLine } from '../../source/chat/format.js';
import {
  type ChatState,
  deliverySummary,
  initialState,
  MAX_LINES,
  mentions,
  reduce,
  STRANGER_LINGER_MS,
} from '../../source/chat/reducer.js';
import { peer, socketStats } from '../ui/fixtures.js';

const msg = (
  text: string,
  over: Partial<Extract<ChatLine, { kind: 'message' }>> = {},
): ChatLine => ({
  kind: 'message',
  time: 0,
  from: 'bob',
  text,
  private: false,
  own: false,
  ...over,
});
const sys = (text: string): ChatLine => ({ kind: 'system', time: 0, text });

const feed = (state: ChatState, lines: ChatLine[]) =>
  lines.reduce((s, line) => reduce(s, { type: 'line', line }), state);

describe('reduce', () => {
  it('appends lines with stable, increasing keys', () => {
    const s = feed(initialState('alice'), [sys('a'), sys('b')]);
    expect(s.lines.map((l) => l.key)).toEqual([1, 2]);
    expect(s.lines.map((l) => l.line.kind === 'system' && l.line.text)).toEqual(['a', 'b']);
  });

  it('folds many lines at once exactly as one at a time', () => {
    const lines = Array.from({ length: MAX_LINES + 7 }, (_, i) =>
      i % 3 === 0
        ? msg(`hi alice ${i}`)
        : i % 3 === 1
          ? sys(String(i))
          : msg(`x${i}`, { own: true, id: i, recipients: ['bob'] }),
    );
    const start = feed(initialState('alice'), [sys('before'), sys('and before')]);
    for (const scrolled of [0, 1]) {
      const from = scrolled ? reduce(start, { type: 'scroll', by: 1 }) : start;
      for (const split of [1, 100, lines.length]) {
        let batched = from;
        for (let i = 0; i < lines.length; i += split)
          batched = reduce(batched, { type: 'lines', lines: lines.slice(i, i + split) });
        expect(batched).toEqual(feed(from, lines));
      }
    }
    expect(reduce(start, { type: 'lines', lines: [] })).toBe(start);
  });

  it('keeps at most MAX_LINES, dropping the oldest', () => {
    let s = initialState('alice');
    for (let i = 0; i < MAX_LINES + 10; i++) s = reduce(s, { type: 'line', line: sys(String(i)) });
    expect(s.lines).toHaveLength(MAX_LINES);
    expect(s.lines[0]!.line).toMatchObject({ text: '10' });
  });

  it('tracks each recipient of an own message: acked, failed with its reason, or left', () => {
    let s = feed(initialState('alice'), [
      msg('one', { own: true, id: 1, from: 'alice', recipients: ['bob', 'carol', 'dave'] }),
      msg('two', {
        own: true,
        id: 2,
        from: 'alice',
        private: true,
        to: 'bob',
        recipients: ['bob'],
      }),
      msg('theirs'),
    ]);
    expect(s.lines[0]!.recipients).toEqual([
      { nick: 'bob', outcome: 'pending' },
      { nick: 'carol', outcome: 'pending' },
      { nick: 'dave', outcome: 'pending' },
    ]);
    expect(s.lines[2]!.recipients).toBeUndefined();
    s = reduce(s, { type: 'delivery', id: 1, nick: 'bob', outcome: 'acked' });
    s = reduce(s, { type: 'delivery', id: 1, nick: 'dave', outcome: 'left', detail: 'dave left' });
    s = reduce(s, { type: 'delivery', id: 2, nick: 'bob', outcome: 'failed', detail: 'timed out' });
    expect(s.lines[0]!.recipients).toEqual([
      { nick: 'bob', outcome: 'acked' },
      { nick: 'carol', outcome: 'pending' },
      { nick: 'dave', outcome: 'left', detail: 'dave left' },
    ]);
    expect(s.lines[1]!.recipients).toEqual([
      { nick: 'bob', outcome: 'failed', detail: 'timed out' },
    ]);
    // A settled recipient stays as it was first reported (the transport's
    // rejection that follows "left" is no news), and an unknown message or
    // recipient (e.g. cleared away) changes nothing.
    expect(reduce(s, { type: 'delivery', id: 1, nick: 'dave', outcome: 'failed' })).toBe(s);
    expect(reduce(s, { type: 'delivery', id: 99, nick: 'bob', outcome: 'acked' })).toBe(s);
    expect(reduce(s, { type: 'delivery', id: 1, nick: 'eve', outcome: 'acked' })).toBe(s);
  });

  it('sums up a message’s recipients: acknowledged, waiting, and missing with why', () => {
    let s = feed(initialState('alice'), [
      msg('one', { own: true, id: 1, from: 'alice', recipients: ['bob', 'carol', 'dave'] }),
    ]);
    const summary = () => deliverySummary(s.lines[0]!.recipients!);
    expect(summary()).toEqual({
      total: 3,
      acked: 0,
      waiting: ['bob', 'carol', 'dave'],
      missing: [],
    });
    s = reduce(s, { type: 'delivery', id: 1, nick: 'carol', outcome: 'acked' });
    s = reduce(s, { type: 'delivery', id: 1, nick: 'dave', outcome: 'left', detail: 'dave left' });
    expect(summary()).toEqual({
      total: 3,
      acked: 1,
      waiting: ['bob'],
      missing: [{ nick: 'dave', outcome: 'left', detail: 'dave left' }],
    });
  });

  it('marks mentions of our nick in others’ messages and rings while the bell is on', () => {
    let s = feed(initialState('alice'), [
      msg('hi Alice!'),
      msg('malice aforethought'),
      msg('alice', { own: true, from: 'alice' }),
    ]);
    expect(s.lines.map((l) => l.mention)).toEqual([true, false, false]);
    expect(s.rings).toBe(1);
    s = reduce(s, { type: 'bell', on: false });
    s = feed(s, [msg('@alice again')]);
    expect(s.lines.at(-1)!.mention).toBe(true);
    expect(s.rings).toBe(1);
  });

  it('mentions: whole words only, any case, nicks with dots', () => {
    expect(mentions('ping a.b', 'a.b')).toBe(true);
    expect(mentions('ping axb', 'a.b')).toBe(false);
    expect(mentions('BOB: hi', 'bob')).toBe(true);
    expect(mentions('bobby', 'bob')).toBe(false);
  });

  it('scrolls back within bounds, holds the view as lines arrive, and End follows again', () => {
    let s = feed(
      initialState('alice'),
      Array.from({ length: 20 }, (_, i) => sys(String(i))),
    );
    s = reduce(s, { type: 'scroll', by: 5 });
    expect(s.scroll).toBe(5);
    s = feed(s, [sys('new1'), sys('new2')]);
    expect(s.scroll).toBe(7);
    expect(s.unseen).toBe(2);
    s = reduce(s, { type: 'scroll', by: 1000 });
    expect(s.scroll).toBe(s.lines.length - 1);
    s = reduce(s, { type: 'scroll', by: -5000 });
    expect(s).toMatchObject({ scroll: 0, unseen: 0 });
    s = reduce(reduce(s, { type: 'scroll', by: 3 }), { type: 'follow' });
    expect(s).toMatchObject({ scroll: 0, unseen: 0 });
  });

  it('clear empties the messages but keeps peers and stats', () => {
    let s = feed(initialState('alice'), [sys('x')]);
    s = reduce(s, { type: 'peers', peers: [peer('bob')], now: 5 });
    s = reduce(s, { type: 'stats', stats: socketStats() });
    s = reduce(s, { type: 'clear' });
    expect(s.lines).toEqual([]);
    expect(s.peers).toHaveLength(1);
    expect(s.stats).toBeDefined();
  });

  it('sorts peers and remembers the wall time each entered its kind of state', () => {
    let s = reduce(initialState('alice'), {
      type: 'peers',
      peers: [peer('zed'), peer('bob', { state: { kind: 'connecting', since: 0, attempt: 0 } })],
      now: 1000,
    });
    expect(s.peers.map((p) => [p.info.nick, p.since])).toEqual([
      ['bob', 1000],
      ['zed', 1000],
    ]);
    // Another connecting attempt is the same kind of state: the time stays.
    s = reduce(s, {
      type: 'peers',
      peers: [peer('zed'), peer('bob', { state: { kind: 'connecting', since: 0, attempt: 3 } })],
      now: 2000,
    });
    expect(s.peers[0]!.since).toBe(1000);
    s = reduce(s, {
      type: 'peers',
      peers: [
        peer('zed'),
        peer('bob', { state: { kind: 'unreachable', since: 0, reason: 'no answer' } }),
      ],
      now: 3000,
    });
    expect(s.peers.map((p) => p.since)).toEqual([3000, 1000]);
  });
});

/** A peer that closed its session. */
const left = {
  kind: 'disconnected',
  since: 0,
  reason: 'closed by peer',
  cause: { kind: 'remote', code: 0 },
} as const;

describe('strangers in the peers pane', () => {
  it('a peer we never added drops from the pane a minute after it left; /list keeps it', () => {
    let s = initialState('alice');
    const stranger = peer('eve', { pinned: false });
    s = reduce(s, { type: 'peers', peers: [peer('bob'), stranger], now: 1000 });
    s = reduce(s, {
      type: 'peers',
      peers: [peer('bob', { state: left }), peer('eve', { pinned: false, state: left })],
      now: 2000,
    });
    expect(s.shown.map((p) => p.info.nick)).toEqual(['bob', 'eve']);
    const later = (now: number) =>
      reduce(s, {
        type: 'peers',
        peers: [peer('bob', { state: left }), peer('eve', { pinned: false, state: left })],
        now,
      });
    expect(later(2000 + STRANGER_LINGER_MS - 1).shown.map((p) => p.info.nick)).toEqual([
      'bob',
      'eve',
    ]);
    s = later(2000 + STRANGER_LINGER_MS);
    // Our own peer stays (we may want to see it come back); the stranger goes.
    expect(s.shown.map((p) => p.info.nick)).toEqual(['bob']);
    expect(s.peers.map((p) => p.info.nick)).toEqual(['bob', 'eve']);
    // Still gone on the next refresh; back as soon as it connects again.
    s = reduce(s, {
      type: 'peers',
      peers: [peer('bob', { state: left }), peer('eve', { pinned: false, state: left })],
      now: 2000 + 2 * STRANGER_LINGER_MS,
    });
    expect(s.shown.map((p) => p.info.nick)).toEqual(['bob']);
    s = reduce(s, {
      type: 'peers',
      peers: [peer('bob'), stranger],
      now: 2000 + 3 * STRANGER_LINGER_MS,
    });
    expect(s.shown.map((p) => p.info.nick)).toEqual(['bob', 'eve']);
  });
});

describe('the order of the peers pane', () => {
  it('puts the peers we added first, then connected strangers, then the rest', () => {
    const unreachable = { kind: 'unreachable', since: 0, reason: 'no answer' } as const;
    const s = reduce(initialState('alice'), {
      type: 'peers',
      peers: [
        peer('adam', { pinned: false, state: left }),
        peer('ben', { pinned: false }),
        peer('zed', { state: unreachable }),
        peer('carl', { pinned: false, state: left }),
        peer('yan'),
      ],
      now: 1000,
    });
    // A pane of a few rows shows the friend that cannot be reached, not
    // strangers that left (they linger a minute: STRANGER_LINGER_MS).
    expect(s.shown.map((p) => p.info.nick)).toEqual(['yan', 'zed', 'ben', 'adam', 'carl']);
    // /list keeps the alphabetical order.
    expect(s.peers.map((p) => p.info.nick)).toEqual(['adam', 'ben', 'carl', 'yan', 'zed']);
  });
});

describe('peers looked up by key', () => {
  it('a name being looked up and not yet a peer gets a row of its own, until found', () => {
    let s = reduce(initialState('alice'), {
      type: 'peers',
      peers: [peer('bob')],
      lookingUp: ['carol', 'bob'],
      now: 1000,
    });
    // bob is a peer already: its own row, not a second one.
    expect(s.shown.map((p) => [p.info.nick, p.lookingUp === true, p.since])).toEqual([
      ['bob', false, 1000],
      ['carol', true, 1000],
    ]);
    expect(s.shown[1]!.info).toMatchObject({ address: undefined, fingerprint: undefined });
    s = reduce(s, { type: 'peers', peers: [peer('bob')], lookingUp: ['carol'], now: 2000 });
    expect(s.shown[1]!.since).toBe(1000);
    // Found: the transport's peer replaces the placeholder.
    s = reduce(s, {
      type: 'peers',
      peers: [peer('bob'), peer('carol', { state: { kind: 'connecting', since: 0, attempt: 0 } })],
      lookingUp: [],
      now: 3000,
    });
    expect(s.shown.map((p) => [p.info.nick, p.lookingUp === true])).toEqual([
      ['bob', false],
      ['carol', false],
    ]);
  });
});
