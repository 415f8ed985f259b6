import { type ChatEvent, type ChatState, reduce } from './reducer.js';

/**
 * Holds the reducer's state for the screen. Events are folded in at once
 * (cheap), but subscribers hear about it at most once per `throttleMs`, so a
 * flood of messages or stats cannot re-render the screen more often than that
 * and starve the keyboard.
 */

export interface ChatStore {
  getState(): ChatState;
  dispatch(ev: ChatEvent): void;
  subscribe(listener: () => void): () => void;
  /** Stops the pending notification timer (on exit). */
  close(): void;
}

export function createChatStore(initial: ChatState, throttleMs = 50): ChatStore {
  let state = initial;
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  let last = Number.NEGATIVE_INFINITY;
  let closed = false;

  const notify = () => {
    timer = undefined;
    last = performance.now();
    for (const l of [...listeners]) l();
  };

  return {
    getState: () => state,
    dispatch(ev) {
      const next = reduce(state, ev);
      if (next === state || closed) return;
      state = next;
      if (timer) return;
      const wait = Math.max(0, last + throttleMs - performance.now());
      timer = setTimeout(notify, wait);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
