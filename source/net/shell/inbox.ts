import type { EventEmitter } from 'node:events';
import { TransportError } from '../core/errors.js';
import { type Message, reportError, type SocketEvents } from './types.js';

/**
 * Where received messages go: hooks and 'message' listeners when there are
 * any, else a queue for receive() bounded in messages and in bytes.
 */

export const DEFAULT_RECEIVE_QUEUE_LIMIT = 10_000;
/**
 * The queue's memory bound: the message count alone let 1,000 messages of
 * 1 MiB (each one acknowledged) hold a GiB outside the V8 heap. 32 maximum-
 * size messages; what one queued message retains is at most about twice its
 * content (stream.ts keepOrCopy), so the queue holds well under 100 MiB.
 */
export const DEFAULT_RECEIVE_QUEUE_BYTES = 32 * 1024 * 1024;

export type Hook = (msg: Message) => void;

interface Waiter {
  resolve: (m: Message | null) => void;
  timer?: NodeJS.Timeout;
}

export class Inbox {
  /** Messages discarded because the queue was full, and their content bytes. */
  dropped = 0;
  droppedBytes = 0;
  /**
   * Replaced, never changed in place, when a hook is added or removed: a
   * delivery walks the array it started with (a hook that removes itself or
   * adds another mid-delivery changes the next one), without copying it per
   * message (issue 16).
   */
  private hooks: readonly Hook[] = [];
  private readonly queue: Message[] = [];
  private readonly waiters: Waiter[] = [];
  /** Content bytes in `queue`. */
  private queueBytes = 0;
  /** An overflow was reported and the application has not read since. */
  private overflowReported = false;
  private closed = false;

  constructor(
    private readonly emitter: EventEmitter<SocketEvents>,
    private readonly limit: number,
    private readonly byteLimit: number,
  ) {}

  get queuedMessages(): number {
    return this.queue.length;
  }

  get queuedBytes(): number {
    return this.queueBytes;
  }

  /**
   * Hooks and 'message' listeners take messages when present (and then they
   * are not queued); otherwise they wait in a bounded queue for receive().
   */
  deliver(msg: Message): void {
    if (this.hooks.length > 0 || this.emitter.listenerCount('message') > 0) {
      const hooks = this.hooks;
      for (let i = 0; i < hooks.length; i++) hooks[i]!(msg);
      this.emitter.emit('message', msg);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.resolve(msg);
      return;
    }
    this.queue.push(msg);
    this.queueBytes += msg.content.length;
    this.bound();
  }

  /** The next queued message, or null after `timeout` ms (default: wait forever). */
  receive(timeout: number | undefined): Promise<Message | null> {
    const next = this.queue.shift();
    if (next) {
      this.queueBytes -= next.content.length;
      // The application is reading again: a later overflow is news.
      this.overflowReported = false;
      return Promise.resolve(next);
    }
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: Waiter = { resolve };
      if (timeout !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        }, timeout);
      }
      this.waiters.push(waiter);
    });
  }

  /** Runs `hook` for each incoming message; returns a function that removes it. */
  addHook(hook: Hook): () => void {
    this.hooks = [...this.hooks, hook];
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks = this.hooks.filter((_, k) => k !== i);
    };
  }

  /** Waiting receive() calls get null; later ones too, once the queue is read out. */
  close(): void {
    this.closed = true;
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(null);
    }
  }

  /**
   * Keeps the queue within its message and byte limits by discarding the
   * oldest. Every message here was already acknowledged to its sender (its
   * transport delivery succeeded), so a discard is never silent: it is
   * counted, and reported as an error once per overflow.
   */
  private bound(): void {
    let dropped = 0;
    let bytes = 0;
    let from: string | undefined;
    while (this.queue.length > this.limit || this.queueBytes > this.byteLimit) {
      const old = this.queue.shift()!;
      this.queueBytes -= old.content.length;
      dropped++;
      bytes += old.content.length;
      from ??= old.peer;
    }
    if (dropped === 0) return;
    this.dropped += dropped;
    this.droppedBytes += bytes;
    if (this.overflowReported) return;
    this.overflowReported = true;
    reportError(
      this.emitter,
      new TransportError(
        `receive() queue full (${this.limit} messages / ${this.byteLimit} bytes): ` +
          `discarded acknowledged messages, the oldest from ${from}; see stats().queueDropped`,
        'receive-queue-full',
      ),
    );
  }
}
