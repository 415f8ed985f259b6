import type { ChatLine } from './format.js';
import { type ChatEvent, type ChatState, reduce } from './reducer.js';

/**
 * Holds the reducer's state for the screen. Subscribers hear about a change
 * at most once per `throttleMs`, so a flood of messages or stats cannot
 * re-render the screen more often than that and starve the keyboard.
 *
 * Lines are folded in lazily: the next read of the state folds all the lines
 * dispatched since, in order, in one reducer step (one copy of the line list
 * per frame, not per message). Any other event folds them first, so order is
 * kept.
 *
 * The screen reads `snapshot()`, the state as last published: by the
 * store's own (throttled) notification, or by the screen itself when it is
 * about to draw for another reason (a keystroke: `publish()`), so that frame
 * shows the newest lines too. The store's next notification then waits
 * TYPING_HOLD throttle windows, or is dropped when nothing changed since. While the
 * user types under a flood the frames are the keystrokes' own, and a key
 * rarely waits behind a frame drawn for the network (bench/tui.ts). The
 * screen must not read the live state: React re-checks the snapshot after
 * each frame and, finding lines that arrived meanwhile, draws again at once
 * (two frames per key under a flood).
 *
 * Even the first change after a quiet spell is shown only `SETTLE_MS` later:
 * the transport acknowledges what just arrived an event-loop turn or a few
 * ms later (source/net/session.ts), and a render that starts first holds
 * that ACK for the whole render — measured with bench/tui.ts, a 10-20 ms
 * render showed up as the peer's RTT.
 */

/** Shortest wait before subscribers hear of a change, ms (never more than the throttle). */
export const SETTLE_MS = 10;

/**
 * After a frame the screen drew for a keystroke, the store's own frames wait
 * this many throttle windows (150 ms at 50): keys typed less than that apart
 * (20-60 ms in bench/tui.ts) each get a frame of their own, with the newest
 * lines in it, and none waits behind a frame drawn for the network, which
 * had one key in five wait a whole render under 1,000 msg/s.
 */
export const TYPING_HOLD = 3;

export interface ChatStore {
  /** The newest state. */
  getState(): ChatState;
  /** The state as last published: what the screen draws. */
  snapshot(): ChatState;
  /**
   * The screen is about to draw (a keystroke): the newest state is published
   * for it, no subscriber is told, and none is for TYPING_HOLD throttle windows.
   */
  publish(): void;
  dispatch(ev: ChatEvent): void;
  subscribe(listener: () => void): () => void;
  /** The screen drew `state` just now (any frame, whatever caused it). */
  drawn(state: ChatState): void;
  /** Stops the pending notification timer (on exit). */
  close(): void;
}

export function createChatStore(initial: ChatState, throttleMs = 50): ChatStore {
  let state = initial;
  let published = initial;
  let pending: ChatLine[] = [];
  const listeners = new Set<() => void>();
  let timer: NodeJS.Timeout | undefined;
  /** No notification before this (a throttle window after the last publish, longer after a keystroke's). */
  let quietUntil = Number.NEGATIVE_INFINITY;
  let shown: ChatState | undefined;
  let closed = false;

  const fold = (): ChatState => {
    if (pending.length > 0) {
      const lines = pending;
      pending = [];
      state = reduce(state, { type: 'lines', lines });
    }
    return state;
  };

  const publish = (quietMs: number) => {
    published = fold();
    quietUntil = performance.now() + quietMs;
  };

  const notify = () => {
    timer = undefined;
    // Nothing new since published, and that was drawn.
    if (closed || (fold() === published && published === shown)) return;
    // Published since this was scheduled (for a keystroke's frame).
    const wait = quietUntil - performance.now();
    if (wait > 0) {
      timer = setTimeout(notify, wait);
      return;
    }
    publish(throttleMs);
    for (const l of [...listeners]) l();
  };

  const schedule = () => {
    if (timer) return;
    const wait = Math.max(Math.min(SETTLE_MS, throttleMs), quietUntil - performance.now());
    timer = setTimeout(notify, wait);
  };

  return {
    getState: fold,
    snapshot: () => published,
    publish: () => publish(TYPING_HOLD * throttleMs),
    dispatch(ev) {
      if (closed) return;
      if (ev.type === 'line') {
        pending.push(ev.line);
        schedule();
        return;
      }
      const before = fold();
      const next = reduce(before, ev);
      if (next === before) return;
      state = next;
      schedule();
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    drawn(s) {
      shown = s;
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
    },
  };
}
