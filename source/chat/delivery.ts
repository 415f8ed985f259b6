import type { PeerInfo } from '../index.js';
import type { ChatSocket } from './controller.js';
import { type ChatLine, describeState } from './format.js';
import { encodeChat } from './protocol.js';

/**
 * Our own messages, from the line the user typed to how each send ended:
 * echoes the message, sends it, keeps its promise until it settles (so a
 * shutdown can wait for the acknowledgements) and reports the outcome.
 */

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
   * How each own message ended, by the `id` on its ChatLine. When given, the
   * "delivered" system lines are left out: the screen marks the message itself.
   */
  onDelivery?: ((id: number, state: 'delivered' | 'failed', detail?: string) => void) | undefined;
}

export class Deliveries {
  private readonly pending = new Set<Promise<void>>();
  /** Own messages not sent (nobody to send to) or not acknowledged. */
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
    if (to === undefined) this.broadcast(text);
    else this.privateMessage(to, text);
  }

  /** Keeps a send's promise for shutdown and reports how it ended. */
  private track(send: Promise<void>, ok: () => void, fail: (err: Error) => void): void {
    const p: Promise<void> = send
      .then(ok, fail)
      .catch(() => undefined)
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private echo(text: string, to?: string): number {
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
    });
    return id;
  }

  private broadcast(text: string): void {
    const connected = this.d.socket.peers().filter((p) => p.state.kind === 'connected');
    if (connected.length === 0) {
      this.unsentCount++;
      this.d.error(
        'nobody is connected: message not sent (add a peer with /add <nick> <host:port>)',
      );
      return;
    }
    const id = this.echo(text);
    const n = connected.length;
    const done = this.d.onDelivery;
    this.track(
      this.d.socket.send(encodeChat({ text, private: false })),
      () =>
        done
          ? done(id, 'delivered')
          : this.d.verbose(`delivered to ${n} peer${n === 1 ? '' : 's'}`),
      (err) => {
        this.unsentCount++;
        done?.(id, 'failed', err.message);
        this.d.error(`not delivered: ${err.message}`);
      },
    );
  }

  private privateMessage(nick: string, text: string): void {
    const peer = this.d.socket.peers().find((x) => x.nick === nick);
    if (!peer) {
      this.unsentCount++;
      this.d.requirePeer(nick);
      return;
    }
    const id = this.echo(text, nick);
    if (peer.state.kind !== 'connected') {
      this.d.system(`${nick} is ${describeState(peer.state)}; the message waits until it connects`);
    }
    const done = this.d.onDelivery;
    this.track(
      this.d.socket.send(encodeChat({ text, private: true }), { recipient: nick }),
      () => (done ? done(id, 'delivered') : this.d.system(`delivered to ${nick}`)),
      (err) => {
        this.unsentCount++;
        done?.(id, 'failed', err.message);
        this.d.error(`message to ${nick} failed: ${err.message}`);
      },
    );
  }
}
