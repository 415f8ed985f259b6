import { type ChatEvent, type ChatState, reduce } from './reducer.js';

/**
 * Holds the reducer's state for the screen. Events are folded in at once
 * (cheap), but subscribers hear about it at most once per `throttleMs`, so a
 * flood of messages or stats cannot re-render the screen more often than that
 * and starve the keyboard.
 *
 * Even the first change after a quiet spell is shown only `SETTLE_MS` later:
 * the transport acknowledges what just arrived an event-loop turn or a few
 * ms later (source/net/session.ts), and a render that starts first holds
 * that ACK for the whole render — measured with bench/tui.ts, a 10-20 ms
 * render showed up as the peer's RTT.
 */

/** Shortest wait before subscribers hear of a change, ms (never more than the throttle). */
export const SETTLE_MS = 10;

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
      const wait = Math.max(Math.min(SETTLE_MS, throttleMs), last + throttleMs - performance.now());
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
