import { Console } from 'node:console';
import { EventEmitter } from 'node:events';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

// Ink writes no frames while it believes it runs in CI (see idle.test.tsx).
const ciEnv = vi.hoisted(() => {
  const saved = { CI: process.env.CI, CONTINUOUS_INTEGRATION: process.env.CONTINUOUS_INTEGRATION };
  delete process.env.CI;
  delete process.env.CONTINUOUS_INTEGRATION;
  return saved;
});
afterAll(() => {
  for (const [key, value] of Object.entries(ciEnv))
    if (value !== undefined) process.env[key] = value;
});

import { initialState } from '../../source/chat/reducer.js';
import { createChatStore } from '../../source/chat/store.js';
import type { PeerInfo } from '../../source/net/shell/socket.js';
import type { TransportView } from '../../source/ui/hooks/useTransport.js';
import { runTui, type Tui } from '../../source/ui/run.js';
import { peer, socketStats } from './fixtures.js';
import { VtScreen } from './vt.js';

/**
 * What a real terminal shows, not the frame Ink meant: the whole runTui on
 * a VT screen (vt.ts). In tmux, a peer joining left the screen one row off
 * (Ink 6.8's incremental renderer moves up one row too few after a frame
 * ending in a newline): the stats pane kept "starting…" above the new rows,
 * panes lost their bottom borders, the input row showed twice and the key
 * help vanished.
 */

class Transport extends EventEmitter {
  list: PeerInfo[] = [];
  peers() {
    return this.list;
  }
  stats() {
    return socketStats();
  }
}

class Keyboard extends EventEmitter {
  readonly isTTY = true;
  private queued: string[] = [];
  type(keys: string) {
    this.queued.push(keys);
    this.emit('readable');
  }
  read() {
    return this.queued.shift() ?? null;
  }
  setRawMode() {}
  setEncoding() {}
  ref() {}
  unref() {}
  resume() {}
  pause() {}
}

(console as unknown as { Console: typeof Console }).Console ??= Console;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tui: Tui | undefined;
afterEach(async () => {
  tui?.quit();
  await tui?.done;
  tui = undefined;
});

function start(columns: number, rows: number) {
  const screen = new VtScreen(columns, rows);
  const keyboard = new Keyboard();
  const transport = new Transport();
  const store = createChatStore(initialState('alice'));
  tui = runTui({
    nick: 'alice',
    store,
    controller: {
      execute: async () => undefined,
      nicks: () => ['bob'],
      shutdown: async () => undefined,
    },
    transport: transport as unknown as TransportView,
    color: true,
    stdout: screen as unknown as NodeJS.WriteStream,
    stdin: keyboard as unknown as NodeJS.ReadStream,
    graceMs: 0,
  });
  return { screen, keyboard, transport, store };
}

/** Every pane drawn whole: three tops and bottoms, in turn; one input row, under the panes. */
function expectWhole(lines: string[], rows: number) {
  expect(lines).toHaveLength(rows);
  const tops = lines.filter((l) => l.startsWith('╭')).length;
  const bottoms = lines.filter((l) => l.startsWith('╰')).length;
  expect({ tops, bottoms }).toEqual({ tops: 3, bottoms: 3 });
  let open = false;
  for (const l of lines) {
    if (l.startsWith('╭')) {
      expect(open).toBe(false);
      open = true;
    } else if (l.startsWith('╰')) open = false;
    else if (open) expect(l.startsWith('│')).toBe(true);
  }
  expect(lines[0]!.startsWith('╭')).toBe(true);
  expect(lines.filter((l) => l.startsWith('alice>'))).toHaveLength(1);
  // The last row stays free; above it the key help (given up when short of room), then the input.
  const help = /PgUp\/PgDn/.test(lines[rows - 2]!) ? 1 : 0;
  expect(lines[rows - 2 - help]).toMatch(/^alice>/);
  expect(lines[rows - 1]!.trim()).toBe('');
}

describe('the screen a terminal shows', () => {
  it('stays whole as peers join, lines arrive and keys are typed (120x40)', async () => {
    const { screen, keyboard, transport, store } = start(120, 40);
    await sleep(150);
    expectWhole(screen.lines(), 40);
    for (const nick of ['bob', 'carol', 'dave']) {
      transport.list = [...transport.list, peer(nick)];
      transport.emit('peer');
      await sleep(80);
      expectWhole(screen.lines(), 40);
      expect(screen.lines().filter((l) => l.startsWith(`│${nick} `))).toHaveLength(1);
    }
    store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text: 'a new line' } });
    await sleep(80);
    keyboard.type('hello');
    await sleep(80);
    const lines = screen.lines();
    expectWhole(lines, 40);
    expect(lines.filter((l) => l.includes('a new line'))).toHaveLength(1);
    expect(lines[37]).toMatch(/^alice> hello/);
    expect(lines[38]).toMatch(/PgUp\/PgDn/);
  });

  it('shows a typed key at once, before its frame, which then leaves the row alone', async () => {
    const { screen, keyboard, transport } = start(120, 40);
    transport.list = [peer('bob')];
    transport.emit('peer');
    await sleep(150);
    const writes: string[] = [];
    const write = screen.write.bind(screen);
    screen.write = (data: string | Uint8Array, cb?: () => void) => {
      writes.push(String(data));
      return write(data, cb);
    };
    const inputRow = screen.lines().findIndex((l) => l.startsWith('alice>'));
    const drawsOfInput = () => writes.filter((w) => w.includes(`\x1b[${inputRow + 1};1H`)).length;
    for (const [i, key] of ['h', 'i', '\x7f', 'o'].entries()) {
      keyboard.type(key);
      // No await: the echo is written while the key is handled, the frame later.
      expect(screen.lines()[inputRow]).toMatch(
        ['alice> h', 'alice> hi', 'alice> h ', 'alice> ho'][i]!,
      );
      await sleep(60);
      expect(drawsOfInput()).toBe(i + 1);
    }
    expectWhole(screen.lines(), 40);
    // A Tab that shows completions moves the input row down: no echo, the frame draws it.
    keyboard.type('\x15/');
    await sleep(60);
    keyboard.type('\t');
    await sleep(60);
    expectWhole(screen.lines(), 40);
  });

  it('stays whole at 60x15 and after a resize to 80x24', async () => {
    const { screen, transport } = start(60, 15);
    transport.list = [peer('bob')];
    transport.emit('peer');
    await sleep(150);
    expectWhole(screen.lines(), 15);
    screen.resize(80, 24);
    await sleep(150);
    expectWhole(screen.lines(), 24);
    expect(screen.lines().filter((l) => l.startsWith('│bob '))).toHaveLength(1);
  });

  it('keeps every row in its place when the terminal counts an emoji cluster wider than we do', async () => {
    const { screen, store } = start(80, 24);
    await sleep(100);
    for (const text of [
      'family 👨‍👩‍👧‍👦 and 👩‍❤️‍💋‍👨 end',
      'flags 🇯🇵🇫🇷🇺🇦 skin 👍🏽👋🏿 end',
      `${'x'.repeat(50)} 👨‍👩‍👧‍👦👨‍👩‍👧‍👦👨‍👩‍👧‍👦`,
    ]) {
      store.dispatch({
        type: 'line',
        line: { kind: 'message', time: 0, from: 'bob', text, private: false, own: false },
      });
      await sleep(80);
    }
    const lines = screen.lines();
    expectWhole(lines, 24);
    // Each pane row ends in its border in the last column; the overflow stays in its own row.
    for (const l of lines.filter((r) => /^[│╭╰]/.test(r))) expect(l.trimEnd()).toMatch(/[│╮╯]$/);
    expect(lines.filter((l) => l.includes('<bob> family'))).toHaveLength(1);
  });
});
