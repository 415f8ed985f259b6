import { EventEmitter } from 'node:events';
import { render } from 'ink';
import type { ReactElement } from 'react';
import stringWidth from 'string-width';
import { vi } from 'vitest';
import type { ChatLine } from '../../source/chat/format.js';
import { initialState } from '../../source/chat/reducer.js';
import { type ChatStore, createChatStore } from '../../source/chat/store.js';
import type { PeerInfo } from '../../source/net/shell/socket.js';
import { App } from '../../source/ui/App.js';
import type { TransportView } from '../../source/ui/hooks/useTransport.js';
import { peer, socketStats } from './fixtures.js';

/**
 * The whole App on a terminal of a given size (ink-testing-library's is
 * always 100 columns with no rows), driven through its stdin.
 */

class Screen extends EventEmitter {
  frames: string[] = [];
  constructor(
    readonly columns: number,
    readonly rows: number,
  ) {
    super();
  }
  write = (frame: string) => {
    this.frames.push(frame);
  };
  last = () => [...this.frames].reverse().find((f) => f !== '\x07') ?? '';
}

class Keyboard extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  write = (data: string) => {
    this.data = data;
    this.emit('readable');
  };
  read = () => {
    const d = this.data;
    this.data = null;
    return d;
  };
  setEncoding() {}
  setRawMode() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
}

class FakeTransport extends EventEmitter {
  list: PeerInfo[] = [peer('bob'), peer('bella')];
  peers() {
    return this.list;
  }
  stats() {
    return socketStats();
  }
}

export async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`never happened: ${what}`);
}

export interface AppScreen {
  store: ChatStore;
  transport: FakeTransport;
  /** The last frame, as rows. */
  rows(): string[];
  frame(): string;
  /** Writes raw bytes to stdin as one read, and waits for the screen to settle. */
  keys(bytes: string): Promise<void>;
  line(line: ChatLine): void;
  unmount(): void;
}

function mount(tree: ReactElement, out: Screen, keyboard: Keyboard) {
  return render(tree, {
    stdout: out as unknown as NodeJS.WriteStream,
    stderr: new Screen(out.columns, out.rows) as unknown as NodeJS.WriteStream,
    stdin: keyboard as unknown as NodeJS.ReadStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
  });
}

export function appAt(columns: number, rows: number, nick = 'alice'): AppScreen {
  const store = createChatStore(initialState(nick), 0);
  const transport = new FakeTransport();
  const out = new Screen(columns, rows);
  const keyboard = new Keyboard();
  const controller = { execute: vi.fn(async () => undefined), nicks: () => ['bob', 'bella'] };
  const instance = mount(
    <App
      nick={nick}
      store={store}
      controller={controller}
      transport={transport as unknown as TransportView}
      color={false}
      onQuit={() => undefined}
    />,
    out,
    keyboard,
  );
  return {
    store,
    transport,
    frame: out.last,
    rows: () => out.last().split('\n'),
    keys: async (bytes) => {
      const before = out.frames.length;
      keyboard.write(bytes);
      // A key that changes nothing (PageUp at the top) draws no frame: wait
      // a little for one, then for the screen to settle.
      for (let i = 0; i < 20 && out.frames.length === before; i++) {
        await new Promise((r) => setTimeout(r, 5));
      }
      await new Promise((r) => setTimeout(r, 5));
    },
    line: (line) => store.dispatch({ type: 'line', line }),
    unmount: () => {
      instance.unmount();
      store.close();
    },
  };
}

export const BORDER = /^[╭│╰]/;

/** Rows of the frame drawn inside a pane border. */
export const paneRows = (rows: readonly string[]) => rows.filter((r) => BORDER.test(r));

/** The message pane's inner rows (between its top and bottom borders). */
export function messageRows(rows: readonly string[]): string[] {
  const top = rows.findIndex((r) => r.startsWith('╭'));
  const bottom = rows.findIndex((r, i) => i > top && r.startsWith('╰'));
  return rows.slice(top + 1, bottom).map((r) => {
    const inner = r.slice(1);
    return inner.slice(0, inner.lastIndexOf('│')).trimEnd();
  });
}

export { stringWidth };
