import { Console } from 'node:console';
import { EventEmitter } from 'node:events';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';

// Ink writes no frames while it believes it runs in CI (is-in-ci reads CI when
// ink is first imported): this test counts what a user's terminal receives,
// so it imports ink as outside CI, then puts the environment back for the
// files that run after it in this worker.
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
import type { PeerInfo, SocketStats } from '../../source/net/shell/socket.js';
import type { TransportView } from '../../source/ui/hooks/useTransport.js';
import { runTui, type Tui } from '../../source/ui/run.js';
import { peer, socketStats } from './fixtures.js';

/**
 * What an idle full-screen chat writes to its terminal: the real runTui (Ink,
 * the App, every pane) on a terminal that counts bytes, fed by a transport
 * whose clock we step. Each step is one simulated second: the stats tick
 * (4/s in the transport) moves uptime on, and a connected peer exchanges a
 * keepalive every 15 s (KEEPALIVE_INTERVAL), which moves its counters and RTT.
 */

class Terminal extends EventEmitter {
  readonly isTTY = true;
  columns = 120;
  rows = 40;
  bytes = 0;
  writes = 0;
  write(data: string | Uint8Array, cb?: () => void): boolean {
    this.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    this.writes++;
    cb?.();
    return true;
  }
}

class Keyboard extends EventEmitter {
  readonly isTTY = true;
  private queued: string[] = [];
  /** Keys as one read from the terminal. */
  type(keys: string) {
    this.queued.push(keys);
    this.emit('readable');
  }
  setRawMode() {
    return this;
  }
  setEncoding() {
    return this;
  }
  read() {
    return this.queued.shift() ?? null;
  }
  ref() {
    return this;
  }
  unref() {
    return this;
  }
  resume() {
    return this;
  }
  pause() {
    return this;
  }
}

/** A transport whose time we set: seconds since start and keepalives exchanged. */
class IdleTransport extends EventEmitter {
  seconds = 0;
  list(): PeerInfo[] {
    const keepalives = Math.floor(this.seconds / 15);
    return [
      peer(
        'bob',
        {},
        {
          packetsSent: 10 + keepalives,
          packetsReceived: 9 + keepalives,
          bytesSent: 1000 + 60 * keepalives,
          bytesReceived: 900 + 60 * keepalives,
          smoothedRtt: 1.25 + (keepalives % 3) * 0.1,
        },
      ),
    ];
  }
  peers() {
    return this.list();
  }
  stats(): SocketStats {
    const keepalives = Math.floor(this.seconds / 15);
    return socketStats({
      uptime: this.seconds * 1000,
      datagramsIn: 120 + keepalives,
      datagramsOut: 118 + keepalives,
      bytesIn: 14_200 + 60 * keepalives,
      bytesOut: 13_900 + 60 * keepalives,
    });
  }
  tick() {
    this.seconds++;
    this.emit('stats', this.stats());
  }
}

// runTui patches the console (Ink's patchConsole), which needs the
// constructor vitest's own console object lacks.
(console as unknown as { Console: typeof Console }).Console ??= Console;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let tui: Tui | undefined;
afterEach(async () => {
  tui?.quit();
  await tui?.done;
  tui = undefined;
});

/** Bytes written per simulated second over `seconds` after the first frame, and Ink renders. */
async function idle(
  seconds: number,
  keyboard = new Keyboard(),
  terminal = new Terminal(),
): Promise<{ perSecond: number; renders: number }> {
  let renders = 0;
  const transport = new IdleTransport();
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
    stdout: terminal as unknown as NodeJS.WriteStream,
    stdin: keyboard as unknown as NodeJS.ReadStream,
    graceMs: 0,
    onRender: () => {
      renders++;
    },
  });
  await sleep(200);
  const start = terminal.bytes;
  renders = 0;
  expect(start).toBeGreaterThan(1000);
  for (let i = 0; i < seconds; i++) {
    transport.tick();
    // Longer than the store's throttle and Ink's frame interval: every tick
    // that changes the screen is drawn.
    await sleep(70);
  }
  return { perSecond: (terminal.bytes - start) / seconds, renders };
}

describe('an idle chat', () => {
  it('writes under 1 KB/s to the terminal (one connected peer, keepalives every 15 s)', async () => {
    const { perSecond, renders } = await idle(60);
    process.stderr.write(`idle chat terminal output: ${perSecond.toFixed(0)} bytes/s\n`);
    expect(perSecond).toBeLessThan(1000);
    // Drawn only for what changed: 4 keepalives and the uptime's minute (not 60 ticks).
    expect(renders).toBeLessThanOrEqual(6);
  });

  it('writes only the input row for a keystroke, not the whole screen', async () => {
    const keyboard = new Keyboard();
    const terminal = new Terminal();
    await idle(1, keyboard, terminal);
    const before = terminal.bytes;
    const keys = 'hello';
    for (const k of keys) {
      keyboard.type(k);
      await sleep(30);
    }
    const perKey = (terminal.bytes - before) / keys.length;
    // A whole 120x40 frame is about 7 KB; the input row with its escapes is
    // under 200 bytes (the whole screen went out for every key before).
    expect(perKey).toBeGreaterThan(0);
    expect(perKey).toBeLessThan(400);
  });
});
