import net from 'node:net';
import tls from 'node:tls';
import { type Addr, addrKey } from '../core/address.js';
import type { Transmit } from '../core/config.js';
import { BadPacket } from '../core/errors.js';
import { frameForStream, StreamFramer } from '../nat/turn-stream.js';

/**
 * TCP and TLS connections to TURN relays (RFC 8656 §12.5): the core's relay
 * room marks its transmits to a stream relay `stream`, and they are written
 * here, ChannelData padded (nat/turn-stream.ts); what the relay sends is cut
 * back into messages and handed to `sink.frame`. A connection opens on the
 * first transmit and, once it breaks (refused, TLS failure, a certificate
 * that does not match its pin, a bad frame, closed), `sink.down` says why;
 * the next transmit (a new allocation) opens a new one.
 */

/** How to reach one relay by stream. */
export interface LinkTarget {
  server: Addr;
  /** The URI's host: TLS's server name (SNI) and the name the certificate must carry. */
  host: string;
  tls: boolean;
  /** The certificate's SHA-256 it must present; when set, the system CAs are not consulted. */
  pin: Buffer | undefined;
}

export interface LinkSink {
  frame(data: Buffer, server: Addr): void;
  down(server: Addr, reason: string): void;
}

/** A connection that has not connected (and, for TLS, verified) by then is given up. */
export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Bytes queued on one connection (before it opens, or while the kernel's
 * buffer is full) past which a transmit is dropped, as a full UDP socket
 * would: the reliable transport above retransmits, and a stalled relay
 * cannot make us hold unbounded memory.
 */
export const MAX_QUEUED_BYTES = 256 * 1024;
/** At close, a relay that does not close its side of the connection by then is cut off. */
export const END_GRACE_MS = 1000;

export class RelayLinks {
  private readonly targets = new Map<string, LinkTarget>();
  private readonly links = new Map<string, Link>();
  /** Transmits dropped: no target configured, or the connection's queue full. */
  dropped = 0;

  constructor(private readonly sink: LinkSink) {}

  configure(target: LinkTarget): void {
    this.targets.set(addrKey(target.server), target);
  }

  /** 'tls' or 'tcp' for a configured stream relay. */
  transportOf(server: Addr): 'tls' | 'tcp' | undefined {
    const t = this.targets.get(addrKey(server));
    return t ? (t.tls ? 'tls' : 'tcp') : undefined;
  }

  send(t: Transmit): void {
    const key = addrKey(t.to);
    let link = this.links.get(key);
    if (!link) {
      const target = this.targets.get(key);
      if (!target) {
        this.dropped++;
        return;
      }
      link = new Link(target, this.sink, () => this.links.delete(key));
      this.links.set(key, link);
    }
    if (!link.write(frameForStream(t.data))) this.dropped++;
  }

  /** Ends every connection once what is queued (a last Refresh with LIFETIME 0) is written. */
  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.end()));
    this.links.clear();
  }
}

class Link {
  private readonly socket: net.Socket;
  private readonly framer = new StreamFramer();
  private ready = false;
  private queue: Buffer[] = [];
  private queued = 0;
  private done = false;
  private readonly closed: Promise<void>;

  constructor(
    private readonly target: LinkTarget,
    private readonly sink: LinkSink,
    private readonly forget: () => void,
  ) {
    const { server } = target;
    this.socket = target.tls
      ? tls.connect({
          host: server.address,
          port: server.port,
          // SNI carries names only (RFC 6066 §3); an IP literal is checked against the IP SANs.
          ...(net.isIP(target.host) === 0 ? { servername: target.host } : {}),
          // Pinned: the fingerprint decides (checked at secureConnect), not the
          // CAs nor the name; else both, as tls.connect does by default.
          rejectUnauthorized: target.pin === undefined,
        })
      : net.connect({ host: server.address, port: server.port });
    // Our datagrams are small and latency-bound: no Nagle (RFC 896) delay.
    this.socket.setNoDelay(true);
    this.socket.setTimeout(CONNECT_TIMEOUT_MS, () => this.fail('connecting timed out'));
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.once(target.tls ? 'secureConnect' : 'connect', this.onConnect);
    this.socket.on('data', this.onData);
    this.socket.on('error', (err) => this.fail(describe(err, target.tls)));
    this.socket.on('close', () => this.fail('the relay closed the connection'));
  }

  /** False when dropped (the queue is full, or the connection is over). */
  write(frame: Buffer): boolean {
    if (this.done) return false;
    if (!this.ready) {
      if (this.queued + frame.length > MAX_QUEUED_BYTES) return false;
      this.queue.push(frame);
      this.queued += frame.length;
      return true;
    }
    if (this.socket.writableLength + frame.length > MAX_QUEUED_BYTES) return false;
    this.socket.write(frame);
    return true;
  }

  async end(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.socket.end();
    // Closing the socket must not wait on a relay that keeps its half open.
    const cut = setTimeout(() => this.socket.destroy(), END_GRACE_MS);
    await this.closed;
    clearTimeout(cut);
  }

  private readonly onConnect = (): void => {
    const pin = this.target.pin;
    if (pin && this.socket instanceof tls.TLSSocket) {
      const got = this.socket.getPeerCertificate().fingerprint256 ?? '';
      const bytes = Buffer.from(got.replace(/:/g, ''), 'hex');
      if (!bytes.equals(pin)) {
        this.fail(`TLS certificate pin mismatch: the relay presented SHA-256 ${got || '(none)'}`);
        return;
      }
    }
    this.socket.setTimeout(0);
    this.ready = true;
    for (const f of this.queue) this.socket.write(f);
    this.queue = [];
    this.queued = 0;
  };

  private readonly onData = (chunk: Buffer): void => {
    if (this.done) return;
    let frames: Buffer[];
    try {
      frames = this.framer.push(chunk);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      this.fail(`the relay sent a bad frame: ${err.message}`);
      return;
    }
    for (const f of frames) this.sink.frame(f, this.target.server);
  };

  private fail(reason: string): void {
    if (this.done) return;
    this.done = true;
    this.forget();
    this.socket.destroy();
    const how = this.target.tls ? 'TLS' : 'TCP';
    this.sink.down(this.target.server, `${how} to ${addrKey(this.target.server)}: ${reason}`);
  }
}

/** A connection error as a reason a person can act on. */
function describe(err: NodeJS.ErrnoException, secure: boolean): string {
  switch (err.code) {
    case 'ECONNREFUSED':
      return 'connection refused (nothing listens on that TCP port)';
    case 'ECONNRESET':
      return 'connection reset by the relay';
    case 'ETIMEDOUT':
      return 'connecting timed out';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return `unreachable (${err.code})`;
    default:
      return secure ? `TLS failed: ${err.message}` : err.message;
  }
}
