import { performance } from 'node:perf_hooks';
import type { Endpoint } from '../core/endpoint.js';
import { TransportError, UsageError } from '../core/errors.js';

/**
 * Sends waiting for acknowledgement (one timer for all their deadlines) and
 * backpressure: a send waits for room while its recipients already have too
 * many bytes unacknowledged.
 */

export const DEFAULT_SEND_TIMEOUT = 30_000;
/** Unacknowledged bytes per peer, and in all, beyond which send() waits. */
export const MAX_QUEUED_PER_PEER = 16 * 1024 * 1024;
export const MAX_QUEUED_TOTAL = 64 * 1024 * 1024;

type Queued = ReturnType<Endpoint['sendMessage']>;

interface PendingSend {
  /** Recipients (endpoint peer id, nick) that have not acknowledged yet. */
  remaining: { id: number; nick: string }[];
  resolve: () => void;
  reject: (err: Error) => void;
  /** performance.now() past which the send rejects with 'timeout'. */
  deadline: number;
  timeout: number;
}

export class Sends {
  private readonly pending = new Map<number, PendingSend>();
  /** Sends waiting for queue room; woken after every pump. */
  private roomWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private closed = false;

  /** `flush` asks the driver to send what was queued (once per turn). */
  constructor(
    private readonly endpoint: Endpoint,
    private readonly flush: () => void,
  ) {}

  /**
   * Queues `data` for the recipients and settles when every one
   * acknowledged, or rejects at `timeout`. With room (the usual case) the
   * message is queued in this call, not a promise hop later, so a send made
   * inside a hook joins this turn's flush.
   */
  send(recipients: string[] | undefined, data: Uint8Array, timeout: number): Promise<void> {
    const deadline = performance.now() + timeout;
    if (this.hasRoom(recipients, data.length)) {
      const queued = this.endpoint.sendMessage(recipients, data, performance.now());
      return this.whenAcknowledged(queued, deadline, timeout);
    }
    return this.queueWhenRoom(recipients, data, deadline).then((queued) =>
      this.whenAcknowledged(queued, deadline, timeout),
    );
  }

  /** A recipient acknowledged message `id` (the endpoint's 'delivered' event). */
  delivered(id: number, peerId: number): void {
    const p = this.pending.get(id);
    if (!p) return;
    const at = p.remaining.findIndex((r) => r.id === peerId);
    if (at >= 0) p.remaining.splice(at, 1);
    if (p.remaining.length === 0) {
      this.pending.delete(id);
      p.resolve();
    }
  }

  /** A recipient's session ended with message `id` unacknowledged. */
  undeliverable(id: number, nick: string, reason: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(new TransportError(`${nick}: ${reason} before acknowledging`, 'undeliverable'));
  }

  /** After every pump: acknowledgements may have made room. */
  wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0) return;
    const waiters = this.roomWaiters;
    this.roomWaiters = [];
    for (const wake of waiters) wake();
  }

  /** Rejects every pending send ('closed'); sends waiting for room then fail too. */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    for (const [, p] of this.pending) {
      p.reject(
        new TransportError(
          `socket closed before ${p.remaining.map((r) => r.nick).join(', ')} acknowledged`,
          'closed',
        ),
      );
    }
    this.pending.clear();
    this.wakeRoomWaiters();
  }

  /** Settles when every recipient of a queued message acknowledged it, or at `deadline`. */
  private whenAcknowledged(queued: Queued, deadline: number, timeout: number): Promise<void> {
    if (queued.peers.length === 0) return Promise.resolve();
    this.flush();
    return new Promise((resolve, reject) => {
      this.pending.set(queued.id, { remaining: queued.peers, resolve, reject, deadline, timeout });
      this.armTimer(deadline);
    });
  }

  /**
   * One timer for every pending send, due at the earliest deadline (armed
   * lazily: a send acknowledged in time costs no timer of its own).
   */
  private armTimer(deadline: number): void {
    if (this.timerAt !== undefined && this.timerAt <= deadline) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = deadline;
    this.timer = setTimeout(this.expire, Math.max(0, deadline - performance.now()));
  }

  private readonly expire = (): void => {
    this.timer = undefined;
    this.timerAt = undefined;
    const now = performance.now();
    let next: number | undefined;
    for (const [id, p] of this.pending) {
      if (p.deadline > now) {
        if (next === undefined || p.deadline < next) next = p.deadline;
        continue;
      }
      this.pending.delete(id);
      const who = p.remaining.map((r) => r.nick).join(', ');
      p.reject(
        new TransportError(
          `not acknowledged within ${p.timeout} ms by: ${who} (delivery unknown)`,
          'timeout',
        ),
      );
    }
    if (next !== undefined) this.armTimer(next);
  };

  /**
   * Backpressure: a send waits while a recipient already has
   * MAX_QUEUED_PER_PEER bytes unacknowledged (or all peers together
   * MAX_QUEUED_TOTAL), so a fast writer cannot grow our memory without bound.
   */
  private async queueWhenRoom(
    recipients: string[] | undefined,
    data: Uint8Array,
    deadline: number,
  ): Promise<Queued> {
    for (;;) {
      if (this.closed) throw new UsageError('socket is closed');
      // Check and enqueue in one synchronous step: concurrent senders must
      // not all see room that only one of them may take.
      if (this.hasRoom(recipients, data.length)) {
        return this.endpoint.sendMessage(recipients, data, performance.now());
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TransportError(
          'send queue full: peers are not acknowledging fast enough',
          'backpressure',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, left);
        function wake() {
          clearTimeout(timer);
          resolve();
        }
        this.roomWaiters.push(wake);
      });
    }
  }

  private hasRoom(recipients: string[] | undefined, size: number): boolean {
    const nicks = recipients ?? this.endpoint.connectedNicks();
    const total = this.endpoint.totalQueuedBytes();
    if (total > 0 && total + size * nicks.length > MAX_QUEUED_TOTAL) return false;
    for (const n of nicks) {
      const q = this.endpoint.queuedBytes(n);
      if (q > 0 && q + size > MAX_QUEUED_PER_PEER) return false;
    }
    return true;
  }
}
