import { describe, expect, it, vi } from 'vitest';
import * as reducer from '../../source/chat/reducer.js';
import { initialState } from '../../source/chat/reducer.js';
import { createChatStore, TYPING_HOLD } from '../../source/chat/store.js';

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

  it('folds the lines dispatched between two reads in one reducer step', () => {
    const store = createChatStore(initialState('alice'), 50);
    const steps = vi.spyOn(reducer, 'reduce');
    try {
      for (let i = 0; i < 1000; i++) {
        store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text: String(i) } });
      }
      expect(steps).not.toHaveBeenCalled();
      const state = store.getState();
      expect(state.lines.map((l) => l.key)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
      expect(steps).toHaveBeenCalledTimes(1);
      // Nothing new: the same state, no step.
      expect(store.getState()).toBe(state);
      expect(steps).toHaveBeenCalledTimes(1);
      // Another event folds the lines before it first: order is kept.
      store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text: 'last' } });
      store.dispatch({ type: 'clear' });
      expect(store.getState().lines).toEqual([]);
    } finally {
      steps.mockRestore();
      store.close();
    }
  });

  it('publishes the newest state for a frame the screen draws, and then holds its own frames while keys come', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    const store = createChatStore(initialState('alice'), 50);
    try {
      const seen = vi.fn();
      store.subscribe(seen);
      const line = (text: string) =>
        store.dispatch({ type: 'line', line: { kind: 'system', time: 0, text } });
      /** A keystroke's frame: published, then drawn. */
      const keyFrame = () => {
        store.publish();
        store.drawn(store.snapshot());
      };
      const shown = () =>
        store.snapshot().lines.map((l) => l.line.kind === 'system' && l.line.text);
      line('a');
      expect(shown()).toEqual([]);
      vi.advanceTimersByTime(5);
      keyFrame();
      expect(shown()).toEqual(['a']);
      vi.advanceTimersByTime(100);
      // The frame showed it: nobody is told again.
      expect(seen).not.toHaveBeenCalled();
      // New lines after a keystroke's frame: told TYPING_HOLD windows after it, not sooner.
      keyFrame();
      line('b');
      vi.advanceTimersByTime(TYPING_HOLD * 50 - 1);
      expect(seen).not.toHaveBeenCalled();
      expect(shown()).toEqual(['a']);
      vi.advanceTimersByTime(1);
      expect(seen).toHaveBeenCalledTimes(1);
      expect(shown()).toEqual(['a', 'b']);
      store.drawn(store.snapshot());
      // After the store's own frame, the next waits one window.
      line('c');
      vi.advanceTimersByTime(50);
      expect(seen).toHaveBeenCalledTimes(2);
      store.drawn(store.snapshot());
      // A key every 20-60 ms under a flood: each frame shows the newest
      // lines, and the store asks for no frame of its own.
      for (let i = 0; i < 40; i++) {
        line(`flood ${i}`);
        vi.advanceTimersByTime(20 + ((i * 17) % 41));
        keyFrame();
        expect(shown().at(-1)).toBe(`flood ${i}`);
      }
      expect(seen).toHaveBeenCalledTimes(2);
      // Typing stops: the lines that came after the last frame are still told.
      line('after');
      vi.advanceTimersByTime(TYPING_HOLD * 50);
      expect(seen).toHaveBeenCalledTimes(3);
      expect(shown().at(-1)).toBe('after');
    } finally {
      store.close();
      vi.useRealTimers();
    }
  });
});
