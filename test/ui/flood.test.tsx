import { EventEmitter } from 'node:events';
import { render } from 'ink-testing-library';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { initialState } from '../../source/chat/reducer.js';
import { createChatStore } from '../../source/chat/store.js';
import { App } from '../../source/ui/App.js';
import type { TransportView } from '../../source/ui/hooks/useTransport.js';
import { peer, socketStats } from './fixtures.js';

/**
 * Typing while 1,000 messages a second arrive (issue 16: keystroke → screen
 * p99 ≤ 20 ms; bench/tui.ts measures it in a pty). What this pins down, on
 * the virtual clock: the frames drawn are the keystrokes' own, each showing
 * the newest messages, and the flood adds (almost) none: a key then never
 * waits behind a frame drawn for the network.
 */

class Transport extends EventEmitter {
  peers() {
    return [peer('flood')];
  }
  stats() {
    return socketStats();
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('typing under a flood of messages', () => {
  it('draws a frame per key and hardly any for the flood, each frame with the newest message', async () => {
    vi.useFakeTimers({
      toFake: [
        'setTimeout',
        'clearTimeout',
        'setImmediate',
        'clearImmediate',
        'setInterval',
        'clearInterval',
        'Date',
        'performance',
      ],
    });
    const store = createChatStore(initialState('alice'));
    const r = render(
      <App
        nick="alice"
        store={store}
        controller={{ execute: async () => undefined, nicks: () => [] }}
        transport={new Transport() as unknown as TransportView}
        color={false}
        onQuit={() => undefined}
      />,
    );
    try {
      let n = 0;
      const flood = async (ms: number) => {
        // 5 messages every 5 ms: 1,000 a second.
        for (let t = 0; t < ms; t += 5) {
          for (let i = 0; i < 5; i++) {
            store.dispatch({
              type: 'line',
              line: {
                kind: 'message',
                time: 0,
                from: 'flood',
                text: `#${n++}`,
                private: false,
                own: false,
              },
            });
          }
          await vi.advanceTimersByTimeAsync(5);
        }
      };
      await flood(1000);
      const before = r.frames.length;
      const keys = 60;
      for (let k = 0; k < keys; k++) {
        r.stdin.write('x');
        // A key every 35 ms: faster than the store's 50 ms throttle.
        await flood(35);
        expect(r.lastFrame()).toContain(`alice> ${'x'.repeat(k + 1)}`);
        // What is on screen is never older than the store's throttle (50 ms, 50 messages).
        const newest = Math.max(
          ...[...(r.lastFrame() ?? '').matchAll(/#(\d+)/g)].map((m) => Number(m[1])),
        );
        expect(newest).toBeGreaterThanOrEqual(n - 1 - 50);
      }
      const drawn = r.frames.length - before;
      // One frame per key. Before, the flood added its own every 50 ms, and
      // React drew again after each frame on finding newer lines in the
      // store: 132 frames for these 60 keys.
      expect(drawn).toBeGreaterThanOrEqual(keys);
      expect(drawn).toBeLessThanOrEqual(keys + 3);
    } finally {
      r.unmount();
      store.close();
    }
  });
});
