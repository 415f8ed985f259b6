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
        // A few turns (React's scheduler and Ink's frame run on timers here).
        for (let turn = 0; turn < 5; turn++) await vi.advanceTimersByTimeAsync(2);
        // The key's frame: the key, and every message so far.
        expect(r.lastFrame()).toContain(`alice> ${'x'.repeat(k + 1)}`);
        expect(r.lastFrame()).toMatch(new RegExp(`#${n - 1}\\b`));
        // The next key 20 to 60 ms later, as bench/tui.ts types them.
        await flood(20 + ((k * 17) % 45));
      }
      const drawn = r.frames.length - before;
      // One frame per key. Before, the flood added its own every 50 ms, and
      // React drew again after each frame on finding newer lines in the
      // store: 112 frames for these 60 keys; with the store's own frames
      // held one throttle window after a key's (not TYPING_HOLD), 98.
      expect(drawn).toBeGreaterThanOrEqual(keys);
      expect(drawn).toBeLessThanOrEqual(keys + 3);
    } finally {
      r.unmount();
      store.close();
    }
  });
});
