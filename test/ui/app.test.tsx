import { EventEmitter } from 'node:events';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Action } from '../../source/chat/commands/index.js';
import type { ExecuteResult } from '../../source/chat/controller.js';
import { initialState } from '../../source/chat/reducer.js';
import { type ChatStore, createChatStore, SETTLE_MS } from '../../source/chat/store.js';
import type { PeerInfo } from '../../source/net/shell/socket.js';
import { App } from '../../source/ui/App.js';
import type { TransportView } from '../../source/ui/hooks/useTransport.js';
import { INVITE } from '../chat/commands/helpers.js';
import { discoveryStats, HOSTILE, inert, peer, relayInfo, socketStats } from './fixtures.js';

/** The App with a fake transport and controller, driven through its stdin. */

class FakeTransport extends EventEmitter {
  list: PeerInfo[] = [peer('bob'), peer('bella')];
  current = socketStats();
  peers() {
    return this.list;
  }
  stats() {
    return this.current;
  }
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

const mounted: { unmount: () => void; store: ChatStore }[] = [];
afterEach(() => {
  for (const m of mounted.splice(0)) {
    m.unmount();
    m.store.close();
  }
});

function setup(
  results: Partial<Record<Action['type'], ExecuteResult>> = {},
  /** Commands whose execute() never settles (a hung /save). */
  hang: readonly Action['type'][] = [],
) {
  const store = createChatStore(initialState('alice'), 0);
  const transport = new FakeTransport();
  const actions: Action[] = [];
  const controller = {
    execute: vi.fn(async (a: Action) => {
      actions.push(a);
      if (hang.includes(a.type)) await new Promise(() => undefined);
      return results[a.type];
    }),
    nicks: () => transport.list.map((p) => p.nick),
  };
  const onQuit = vi.fn();
  const r = render(
    <App
      nick="alice"
      store={store}
      controller={controller}
      transport={transport as unknown as TransportView}
      color={false}
      onQuit={onQuit}
    />,
  );
  mounted.push({ unmount: r.unmount, store });
  // The last screen drawn (a bell is written on its own, after a frame).
  const frame = () => r.frames.findLast((f) => f !== '\x07') ?? '';
  const type = async (keys: string) => {
    r.stdin.write(keys);
    await new Promise((res) => setTimeout(res, 20));
  };
  return {
    store,
    transport,
    actions,
    controller,
    onQuit,
    frame,
    /** Frames drawn so far. */
    frames: () => r.frames.length,
    type,
    stdin: r.stdin,
    stdout: r.stdout,
  };
}

describe('App', () => {
  it('shows the panes with the transport’s peers and stats', async () => {
    const { frame } = setup();
    await until(() => frame().includes('bella'), 'peers shown');
    expect(frame()).toContain('you: alice at 127.0.0.1:47001');
    expect(frame()).toMatch(/bob\s+127\.0\.0\.1:9000/);
    expect(frame()).toContain('alice> ');
  });

  it('updates the peers’ live stats on every stats tick', async () => {
    const { frame, transport } = setup();
    await until(() => /bob\s+127\.0\.0\.1:9000\s+\w+\s+1\.3\s/.test(frame()), 'first rtt');
    transport.list = [peer('bob', {}, { smoothedRtt: 42, retransmits: 7 })];
    transport.emit('stats', socketStats({ datagramsIn: 999 }));
    await until(() => /bob\s+127\.0\.0\.1:9000\s+\w+\s+42\s+0\.5\s+7\s/.test(frame()), 'new rtt');
    expect(frame()).toContain('in 999 pkts');
  });

  it('lists a name looked up by key until it is found, and shows the relay and discovery rows', async () => {
    const { frame, transport } = setup();
    await until(() => frame().includes('bella'), 'peers shown');
    transport.current = socketStats({
      relay: relayInfo(),
      discovery: discoveryStats({ lookingFor: { carol: undefined } }),
    });
    transport.emit('stats', transport.current);
    await until(() => /carol\s+-\s.*looking up by key since/.test(frame()), 'lookup row');
    expect(frame()).toContain('relay on 198.18.0.9:3478: allocated');
    expect(frame()).toMatch(/discovery \(DHT, mDNS\):\s+looking up carol/);
    // Found: the transport's peer takes the row.
    transport.list = [...transport.list, peer('carol', {}, { path: 'relay' })];
    transport.current = socketStats({
      discovery: discoveryStats({ lookingFor: { carol: 'dht' } }),
    });
    transport.emit('stats', transport.current);
    await until(() => /carol\s+127\.0\.0\.1:9000.*relay\s+connected/.test(frame()), 'found');
    expect(frame()).not.toContain('looking up');
  });

  it('sends a typed line as a parsed action and clears the input', async () => {
    const { frame, type, actions } = setup();
    await type('hello bob');
    await until(() => frame().includes('alice> hello bob'), 'typed text shown');
    await type('\r');
    await until(() => actions.length === 1, 'action run');
    expect(actions[0]).toEqual({ type: 'broadcast', text: 'hello bob' });
    expect(frame()).not.toContain('alice> hello bob');
  });

  it('a bracketed paste with line ends is one line: an invite code copied in two rows joins', async () => {
    const { frame, type, actions } = setup();
    // What a terminal in mode 2004 sends for a code copied off two wrapped
    // rows (the pane's borders and indent come along); it may split the
    // paste over reads, as Ink splits at escape sequences.
    await type('/join ');
    await type('\x1b[200~');
    await type(`${INVITE.slice(0, 24)} │\r\n│       `);
    await type(`${INVITE.slice(24)}`);
    await type('\x1b[201~');
    await until(() => frame().includes(INVITE.slice(-8)), 'pasted text shown');
    expect(actions).toEqual([]);
    await type('\r');
    await until(() => actions.length === 1, 'action run');
    expect(actions[0]).toEqual({ type: 'join', code: INVITE });
  });

  it('draws no frame between sending a typed message and its acknowledgment', async () => {
    // The socket's worker times the round trip; a render started on this
    // thread meanwhile competes with it for the CPU and shows up in the RTT
    // column (bench/tui.ts). The frame answering Enter waits SETTLE_MS.
    const { frame, frames, type, controller } = setup();
    await type('hello bob');
    await until(() => frame().includes('alice> hello bob'), 'typed text shown');
    const at: { send?: number; ack?: number } = {};
    controller.execute.mockImplementationOnce(async () => {
      at.send = frames();
      // Acknowledged a little before SETTLE_MS, as on loopback.
      await new Promise((r) => setTimeout(r, SETTLE_MS / 2));
      at.ack = frames();
      return undefined;
    });
    await type('\r');
    await until(() => at.ack !== undefined, 'acknowledged');
    expect(at.ack).toBe(at.send);
    // Then drawn, cleared.
    await until(() => !frame().includes('alice> hello bob'), 'input cleared');
  });

  it('draws the frame answering Enter at once when a key follows it', async () => {
    const { frame, type, stdin } = setup();
    await type('one');
    await until(() => frame().includes('alice> one'), 'typed text shown');
    stdin.write('\r');
    stdin.write('t');
    await until(() => frame().includes('alice> t'), 'next key drawn');
    expect(frame()).not.toContain('alice> one');
  });

  it('loses no keystroke that arrives before the screen re-renders', async () => {
    const { actions, stdin } = setup();
    for (const ch of 'fast typing') stdin.write(ch);
    stdin.write('\x7f'); // Backspace
    stdin.write('\r');
    await until(() => actions.length === 1, 'action run');
    expect(actions[0]).toEqual({ type: 'broadcast', text: 'fast typin' });
  });

  describe('keys batched in one read are each applied, in order, as readline does', () => {
    // tmux send-keys, SSH and a busy UI deliver several keys per read.
    const cases: [string, string, string][] = [
      ['Backspace', 'tyop\x7f\x7fpo', 'typo'],
      ['Ctrl+H', 'tyop\x08\x08po', 'typo'],
      ['Delete deletes forwards', 'abc\x1b[D\x1b[D\x1b[3~', 'ac'],
      ['Alt+Backspace deletes a word backwards', 'one two three\x1b\x7f', 'one two '],
      ['Ctrl+Left, Alt+D', 'one two three\x1b[1;5D\x1b[1;5D\x1bd', 'one  three'],
      ['Ctrl+Right', 'one two\x01\x1b[1;5C!', 'one! two'],
      ['Ctrl+W, Ctrl+A, Ctrl+E', 'abc def\x17xyz\x01>\x05<', '>abc xyz<'],
      ['Ctrl+U', 'hello\x15bye', 'bye'],
      ['Ctrl+K', 'hello world\x01\x1b[1;5C\x0b', 'hello'],
    ];
    for (const [what, keys, text] of cases) {
      it(what, async () => {
        const { actions, stdin } = setup();
        stdin.write(`${keys}\r`);
        await until(() => actions.length === 1, 'action run');
        expect(actions[0]).toEqual({ type: 'broadcast', text });
      });
    }
  });

  it('a command that never returns holds back neither messages nor other commands', async () => {
    const { type, actions, onQuit } = setup({ quit: 'quit' }, ['save']);
    await type('/save /proc/nope/x.json\r');
    await type('hello\r');
    await type('/quit\r');
    await until(() => onQuit.mock.calls.length === 1, 'quit after the hung command');
    expect(actions.map((a) => a.type)).toEqual(['save', 'broadcast', 'quit']);
  });

  it('submits every line of a pasted chunk', async () => {
    const { type, actions } = setup();
    await type('/list\r/help\rhal');
    await until(() => actions.length === 2, 'two actions');
    expect(actions.map((a) => a.type)).toEqual(['list', 'help']);
  });

  it('keeps a Tab inside a pasted chunk as a space, and completes at a Tab that ends it', async () => {
    const { actions, stdin, frame } = setup();
    // Completion would turn "bo" into "bob" inside the pasted text.
    stdin.write('say bo\tthere\r/ms\t');
    await until(() => actions.length === 1, 'action run');
    expect(actions[0]).toEqual({ type: 'broadcast', text: 'say bo there' });
    await until(() => /alice> \/msg\s*$/m.test(frame()), 'command completed');
  });

  it('completes commands and nicks with Tab, listing ambiguous ones', async () => {
    const { frame, type } = setup();
    await type('/ms');
    await type('\t');
    await until(() => /alice> \/msg\s*$/m.test(frame()), 'command completed');
    await type('b');
    await type('\t');
    await until(() => frame().includes('/msg bella  /msg bob'), 'candidates listed');
    await type('o');
    await type('\t');
    await until(() => /alice> \/msg bob\s*$/m.test(frame()), 'nick completed');
  });

  it('recalls earlier lines with Up and Down', async () => {
    const { frame, type } = setup();
    await type('first');
    await type('\r');
    await type('second');
    await type('\r');
    await type('draft');
    await type('\x1b[A');
    await until(() => frame().includes('alice> second'), 'up once');
    await type('\x1b[A');
    await until(() => frame().includes('alice> first'), 'up twice');
    await type('\x1b[B');
    await type('\x1b[B');
    await until(() => frame().includes('alice> draft'), 'back to the draft');
  });

  it('scrolls with PageUp, and End follows again', async () => {
    const { frame, type, store } = setup();
    for (let i = 0; i < 100; i++) {
      store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text: `line ${i}` } });
    }
    await until(() => frame().includes('line 99'), 'lines shown');
    await type('\x1b[5~');
    await until(() => frame().includes('scrolled back'), 'scrolled');
    expect(frame()).not.toContain('line 99');
    await type('\x1b[F');
    await until(
      () => frame().includes('line 99') && !frame().includes('scrolled back'),
      'following',
    );
  });

  it('quits on Ctrl+C and on /quit', async () => {
    const a = setup();
    await a.type('\x03');
    await until(() => a.onQuit.mock.calls.length === 1, 'quit on Ctrl+C');
    const b = setup({ quit: 'quit' });
    await b.type('/quit');
    await b.type('\r');
    await until(() => b.onQuit.mock.calls.length === 1, 'quit');
  });

  it('/clear empties the messages and /bell switches the bell', async () => {
    const { frame, type, store } = setup({ clear: 'clear', bell: 'bell' });
    store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text: 'old line' } });
    await until(() => frame().includes('old line'), 'line shown');
    await type('/clear');
    await type('\r');
    await until(() => !frame().includes('old line'), 'cleared');
    await type('/bell');
    await type('\r');
    await until(() => frame().includes('/bell off'), 'bell off');
    expect(store.getState().bell).toBe(false);
  });

  it('rings the bell for a mention of our nick, unless switched off', async () => {
    const { store, stdout, type, frame } = setup({ bell: 'bell' });
    const bells = () => stdout.frames.filter((f) => f === '\x07').length;
    const mention = (text: string) =>
      store.dispatch({
        type: 'line',
        line: { kind: 'message', time: 0, from: 'bob', text, private: false, own: false },
      });
    mention('alice, are you there?');
    await until(() => bells() === 1, 'bell');
    mention('no mention here');
    await type('/bell');
    await type('\r');
    await until(() => !store.getState().bell, 'bell off');
    mention('alice again');
    // No sleep-then-look: switch the bell on again and wait for the next
    // mention's ring. Renders (and their bell effects) run in order, so once
    // that ring is out, a ring for "alice again" would have been out before it.
    await until(() => frame().includes('alice again'), 'mention shown');
    await type('/bell');
    await type('\r');
    await until(() => store.getState().bell, 'bell on');
    mention('alice back');
    const shownAt = () => stdout.frames.findIndex((f) => f.includes('alice back'));
    await until(
      () => shownAt() >= 0 && stdout.frames.slice(shownAt()).includes('\x07'),
      'the ring after it',
    );
    expect(bells()).toBe(2);
  });

  it('keeps hostile peer text inert on the whole screen', async () => {
    const { frame, store, transport } = setup();
    for (const text of Object.values(HOSTILE)) {
      store.dispatch({
        type: 'line',
        line: { kind: 'message', time: 0, from: 'bob', text, private: false, own: false },
      });
    }
    transport.list = [
      peer('bob', {
        state: {
          kind: 'disconnected',
          since: 0,
          reason: HOSTILE.DEL!,
          cause: { kind: 'remote', code: 0 },
        },
      }),
    ];
    transport.emit('peer', transport.list[0], 'state');
    await until(() => frame().includes('k\\x7fl'), 'hostile lines shown');
    expect(inert(frame())).toBe(true);
  });
});
