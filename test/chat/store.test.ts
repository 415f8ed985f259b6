import { describe, expect, it, vi } from 'vitest';
import { initialState } from '../../source/chat/reducer.js';
import { createChatStore } from '../../source/chat/store.js';

describe('createChatStore', () => {
  it('applies events at once but notifies at most once per throttle window', () => {
    vi.useFakeTimers();
    try {
      const store = createChatStore(initialState('alice'), 50);
      const seen = vi.fn();
      store.subscribe(seen);
      for (let i = 0; i < 1000; i++) {
        store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text: String(i) } });
      }
      expect(store.getState().lines).toHaveLength(1000);
      vi.advanceTimersByTime(100);
      expect(seen).toHaveBeenCalledTimes(1);
      store.dispatch({ type: 'follow' }); // no change: no notification
      vi.advanceTimersByTime(100);
      expect(seen).toHaveBeenCalledTimes(1);
      store.close();
      store.dispatch({ type: 'clear' });
      vi.advanceTimersByTime(100);
      expect(seen).toHaveBeenCalledTimes(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
