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
/** One nick (the usual unicast: no array per send), several, or undefined for every connected peer. */
export type Recipients = string | readonly string[] | undefined;

interface PendingSend {
  /** The endpoint's message id. */
  id: number;
  /** Recipients (endpoint peer id, nick) that have not acknowledged yet. */
  remaining: { id: number; nick: string }[];
  resolve: () => void;
  reject: (err: Error) => void;
  /** performance.now() past which the send rejects with 'timeout'. */
  deadline: number;
  timeout: number;
  /** Settled (acknowledged, failed or timed out): its slot waits to be dropped. */
  done: boolean;
}

/**
 * Pending sends in message-id order, found by binary search. Ids rise with
 * every send and acknowledgements come nearly in order, so the list is a
 * FIFO with a head index: settled records ahead of the first live one are
 * stepped over, and the array is emptied with pop or compacted now and then,
 * keeping its backing store. A Map here rehashed into a new table as its
 * one or two entries came and went: ≈ 0.4 KB per 1 KiB round trip with the
 * promise executor's closure (issue 16).
 */
export class PendingSends {
  private readonly list: PendingSend[] = [];
  private head = 0;
  private live = 0;
  /** Array slots visited when compacting (work, for tests that bound it). */
  compactWork = 0;

  /** Sends not yet settled. */
  get size(): number {
    return this.live;
  }

  /** Array slots held, settled or not (memory, for tests that bound it). */
  get slotsHeld(): number {
    return this.list.length;
  }

  add(p: PendingSend): void {
    const list = this.list;
    // A send that waited for room may register after a later id: it goes
    // where its id belongs (nearly always at the end).
    let lo = this.head;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (list[mid]!.id < p.id) lo = mid + 1;
      else hi = mid;
    }
    if (lo === list.length) list.push(p);
    else list.splice(lo, 0, p);
    this.live++;
  }

  get(id: number): PendingSend | undefined {
    const list = this.list;
    let lo = this.head;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const p = list[mid]!;
      if (p.id === id) return p.done ? undefined : p;
      if (p.id < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }

  /** Marks `p` settled and drops the settled prefix. */
  settle(p: PendingSend): void {
    if (p.done) return;
    p.done = true;
    this.live--;
    const list = this.list;
    while (this.head < list.length && list[this.head]!.done) this.head++;
    if (this.head === list.length) {
      // (length = 0 would free the backing store)
      while (list.length > 0) list.pop();
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > list.length) {
      this.compactWork += list.length;
      list.splice(0, this.head);
      this.head = 0;
    }
  }

  /** Live records, oldest first, as of the call (settling them meanwhile is safe). */
  snapshot(): PendingSend[] {
    return this.list.slice(this.head).filter((p) => !p.done);
  }
}

/** What the shared Promise executor captured (see whenAcknowledged). */
let capturedResolve: () => void = () => {};
let capturedReject: (err: Error) => void = () => {};
const capture = (resolve: () => void, reject: (err: Error) => void): void => {
  capturedResolve = resolve;
  capturedReject = reject;
};

export class Sends {
  /** Sends waiting for acknowledgement (readable for tests that bound what it holds). */
  readonly pending = new PendingSends();
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
  send(recipients: Recipients, data: Uint8Array, timeout: number): Promise<void> {
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
    // Removed in place, order kept (it names them in errors): no closure
    // for findIndex, no array from splice.
    const r = p.remaining;
    let at = 0;
    while (at < r.length && r[at]!.id !== peerId) at++;
    if (at < r.length) {
      for (let i = at + 1; i < r.length; i++) r[i - 1] = r[i]!;
      r.pop();
    }
    if (r.length === 0) {
      this.pending.settle(p);
      p.resolve();
    }
  }

  /** A recipient's session ended with message `id` unacknowledged. */
  undeliverable(id: number, nick: string, reason: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.settle(p);
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
    for (const p of this.pending.snapshot()) {
      this.pending.settle(p);
      p.reject(
        new TransportError(
          `socket closed before ${p.remaining.map((r) => r.nick).join(', ')} acknowledged`,
          'closed',
        ),
      );
    }
    this.wakeRoomWaiters();
  }

  /** Settles when every recipient of a queued message acknowledged it, or at `deadline`. */
  private whenAcknowledged(queued: Queued, deadline: number, timeout: number): Promise<void> {
    if (queued.peers.length === 0) return Promise.resolve();
    this.flush();
    // One executor for every send (it only captures the two functions):
    // no closure and context per send.
    const promise = new Promise<void>(capture);
    this.pending.add({
      id: queued.id,
      remaining: queued.peers,
      resolve: capturedResolve,
      reject: capturedReject,
      deadline,
      timeout,
      done: false,
    });
    this.armTimer(deadline);
    return promise;
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
    for (const p of this.pending.snapshot()) {
      if (p.deadline > now) {
        if (next === undefined || p.deadline < next) next = p.deadline;
        continue;
      }
      this.pending.settle(p);
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
    recipients: Recipients,
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

  private hasRoom(recipients: Recipients, size: number): boolean {
    const total = this.endpoint.totalQueuedBytes();
    if (typeof recipients === 'string') {
      if (total > 0 && total + size > MAX_QUEUED_TOTAL) return false;
      return this.peerHasRoom(recipients, size);
    }
    const nicks = recipients ?? this.endpoint.connectedNicks();
    if (total > 0 && total + size * nicks.length > MAX_QUEUED_TOTAL) return false;
    for (const n of nicks) if (!this.peerHasRoom(n, size)) return false;
    return true;
  }

  private peerHasRoom(nick: string, size: number): boolean {
    const q = this.endpoint.queuedBytes(nick);
    return !(q > 0 && q + size > MAX_QUEUED_PER_PEER);
  }
}
