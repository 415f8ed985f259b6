import type { PeerInfo } from '../index.js';
import type { ChatSocket } from './controller.js';
import { type ChatLine, describeState, quoteStart } from './format.js';
import { encodeChat } from './protocol.js';
import type { Outcome } from './reducer.js';

/**
 * Our own messages, from the line the user typed to how each recipient's
 * copy ended: echoes the message with its recipients, sends one copy per
 * recipient (the transport acknowledges a send as a whole, so per-recipient
 * sends are what make per-recipient marks true), keeps every send's promise
 * until it settles (a shutdown waits for acknowledgements) and reports each
 * recipient's outcome once. A recipient whose peer leaves is reported when
 * its state event arrives, not when the send times out (issue 15).
 */

export type Settled = Exclude<Outcome, 'pending'>;

export interface DeliveryDeps {
  readonly socket: ChatSocket;
  /** Our own nick, for echoing what we send. */
  readonly nick: string;
  print(line: ChatLine): void;
  system(text: string): void;
  error(text: string): void;
  verbose(text: string): void;
  now(): number;
  /** The peer called `nick`, or throws the error line for an unknown one. */
  requirePeer(nick: string): PeerInfo;
  /**
   * How each recipient of each own message fared, by the `id` on its
   * ChatLine. When given, the "delivered" system lines are left out: the
   * screen marks the message itself.
   */
  onDelivery?: ((id: number, nick: string, outcome: Settled, detail?: string) => void) | undefined;
}

/** A message some recipient has not settled yet. */
interface Open {
  id: number;
  text: string;
  /** The recipient of a private message. */
  to: string | undefined;
  total: number;
  acked: number;
  waiting: Set<string>;
  /** Counted once in `unsent` when its first recipient is lost. */
  lost: boolean;
}

export class Deliveries {
  private readonly pending = new Set<Promise<void>>();
  private readonly open = new Map<number, Open>();
  /** Own messages not sent (nobody to send to) or not acknowledged by everyone. */
  private unsentCount = 0;
  private nextId = 1;

  constructor(private readonly d: DeliveryDeps) {}

  /** Own messages that could not be sent or were not acknowledged, so far. */
  get unsent(): number {
    return this.unsentCount;
  }

  /** Sends still waiting for acknowledgement. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Settles when every send made so far has settled. */
  settled(): Promise<unknown> {
    return Promise.all([...this.pending]);
  }

  /** Sends `text` to `to` only, or to every connected peer. */
  send(text: string, to?: string): void {
    const recipients = to === undefined ? this.everyone() : this.one(to);
    if (!recipients) return;
    const id = this.nextId++;
    this.d.print({
      kind: 'message',
      id,
      time: this.d.now(),
      from: this.d.nick,
      text,
      private: to !== undefined,
      own: true,
      ...(to !== undefined ? { to } : {}),
      recipients,
    });
    const msg: Open = {
      id,
      text,
      to,
      total: recipients.length,
      acked: 0,
      waiting: new Set(recipients),
      lost: false,
    };
    this.open.set(id, msg);
    if (to !== undefined) {
      const peer = this.d.socket.peers().find((p) => p.nick === to);
      if (peer && peer.state.kind !== 'connected') {
        this.d.system(`${to} is ${describeState(peer.state)}; the message waits until it connects`);
      }
    }
    const payload = encodeChat({ text, private: to !== undefined });
    for (const nick of recipients) {
      this.track(
        this.d.socket.send(payload, { recipient: nick }),
        () => this.settle(msg, nick, 'acked'),
        (err) => this.settle(msg, nick, 'failed', reasonFor(nick, err)),
      );
    }
  }

  /**
   * `peer` is gone (its session ended, or the user removed it): whatever it
   * has not acknowledged will not be, so say so now rather than at the
   * send's timeout. Ended by us for another reason (blocked, closing), the
   * transport rejects those sends itself at once.
   */
  peerGone(peer: PeerInfo, removed: boolean): void {
    const s = peer.state;
    let why: string;
    if (removed) why = `${peer.nick} was removed`;
    else if (s.kind !== 'disconnected' || s.cause.kind === 'local') return;
    else why = s.cause.kind === 'remote' ? `${peer.nick} left` : `${peer.nick} left (${s.reason})`;
    for (const msg of [...this.open.values()]) {
      if (msg.waiting.has(peer.nick)) this.settle(msg, peer.nick, 'left', why);
    }
  }

  /** Connected peers, or undefined (said) when there are none. */
  private everyone(): string[] | undefined {
    const connected = this.d.socket.peers().filter((p) => p.state.kind === 'connected');
    if (connected.length > 0) return connected.map((p) => p.nick);
    this.unsentCount++;
    this.d.error('nobody is connected: message not sent (add a peer with /add <nick> <host:port>)');
    return undefined;
  }

  /** [nick] for a known peer; an unknown one is counted and thrown as its error line. */
  private one(nick: string): string[] {
    if (!this.d.socket.peers().some((x) => x.nick === nick)) {
      this.unsentCount++;
      this.d.requirePeer(nick);
    }
    return [nick];
  }

  /** Keeps a send's promise for shutdown and reports how it ended. */
  private track(send: Promise<void>, ok: () => void, fail: (err: Error) => void): void {
    const p: Promise<void> = send
      .then(ok, fail)
      .catch(() => undefined)
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  /** One recipient's outcome; the first one stands. */
  private settle(msg: Open, nick: string, outcome: Settled, detail?: string): void {
    if (!msg.waiting.delete(nick)) return;
    if (outcome === 'acked') msg.acked++;
    else {
      if (!msg.lost) this.unsentCount++;
      msg.lost = true;
      // The line names the message: several may be in flight to the same peer.
      this.d.error(`✗ ${quoteStart(msg.text)} not delivered to ${nick}: ${detail ?? outcome}`);
    }
    this.d.onDelivery?.(msg.id, nick, outcome, detail);
    if (msg.waiting.size > 0) return;
    this.open.delete(msg.id);
    if (!this.d.onDelivery) this.reportDelivered(msg);
  }

  /** Without a screen to mark the message, a line says who got it. */
  private reportDelivered(msg: Open): void {
    if (msg.acked === 0) return;
    if (msg.to !== undefined) {
      this.d.system(`delivered to ${msg.to}`);
      return;
    }
    const of = msg.acked === msg.total ? '' : ` of ${msg.total}`;
    this.d.verbose(`delivered to ${msg.acked}${of} peer${msg.total === 1 ? '' : 's'}`);
  }
}

/** The transport's reason, without the recipient's nick it starts with when there is one. */
function reasonFor(nick: string, err: Error): string {
  const prefix = `${nick}: `;
  return err.message.startsWith(prefix) ? err.message.slice(prefix.length) : err.message;
}
