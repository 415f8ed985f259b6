import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { normalizeIp } from '../core/address.js';
import type { Transmit } from '../core/config.js';
import { UsageError } from '../core/errors.js';
import { literalLookup, type SocketFamily } from './resolve.js';

/**
 * The UDP sockets: the main one (bound dual-stack when it can), the extra
 * sockets many-port probing asks for, and sending from either. Received
 * datagrams go to one receiver given at construction; the socket's own
 * errors (ICMP unreachable and the like) to another.
 */

/** Every datagram in, from the main socket (`via` undefined) or a probing socket. */
export type Receiver = (data: Buffer, rinfo: dgram.RemoteInfo, via?: number) => void;

/** Default requested kernel buffers: room for bursts while the event loop is busy. */
export const DEFAULT_BUFFER_SIZE = 4 * 1024 * 1024;
/** How long close() waits for the last datagrams (CLOSE frames) to leave. */
const CLOSE_DRAIN_CAP = 500;

export interface OpenedSocket extends SocketFamily {
  readonly socket: dgram.Socket;
}

export class Udp implements SocketFamily {
  readonly socket: dgram.Socket;
  readonly family: 4 | 6;
  readonly dualStack: boolean;
  /** Datagrams the OS refused to send (e.g. no route), and probing sockets that failed. */
  sendErrors = 0;
  /** Extra sockets the endpoint asked for (many-port probing), by its ids. */
  private readonly probes = new Map<number, dgram.Socket>();
  private readonly receive: Receiver;
  private sendsInFlight = 0;
  private onDrained: (() => void) | undefined;

  constructor(opened: OpenedSocket, receive: Receiver, onError: (err: Error) => void) {
    this.socket = opened.socket;
    this.family = opened.family;
    this.dualStack = opened.dualStack;
    this.receive = receive;
    // dgram calls a 'message' listener with (data, rinfo): `via` stays undefined.
    this.socket.on('message', receive);
    this.socket.on('error', onError);
  }

  localAddress(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: normalizeIp(a.address), port: a.port };
  }

  /** Kernel buffer sizes as granted (0 once closed). */
  bufferSizes(): { receive: number; send: number } {
    try {
      return { receive: this.socket.getRecvBufferSize(), send: this.socket.getSendBufferSize() };
    } catch {
      return { receive: 0, send: 0 };
    }
  }

  /**
   * Sends one datagram; failures are counted, never thrown (they are the
   * network's). True when the socket is done with `t.data` on return: it was
   * copied to the kernel (or refused) at once, nothing is queued, so its
   * memory may be written again (releasePacket). The lookup is synchronous
   * (literalLookup: an Addr is always an IP literal), so dgram has tried the
   * send before send() returns; a send the kernel could not take at once
   * waits in libuv's queue (getSendQueueCount), holding the bytes.
   */
  send(t: Transmit): boolean {
    const address = this.family === 6 && this.dualStack ? this.mapped(t.to.address) : t.to.address;
    if (t.via !== undefined) {
      // A probing socket: not waited for at close (it may close with sends queued).
      const probe = this.probes.get(t.via);
      // (Sends before its bind completes are queued by dgram: never done at once.)
      if (probe) probe.send(t.data, t.to.port, address, this.onProbeSent);
      else this.sendErrors++;
      return false;
    }
    this.sendsInFlight++;
    this.socket.send(t.data, t.to.port, address, this.onSent);
    return this.socket.getSendQueueCount() === 0;
  }

  /** The latest destination mapped() was asked about, and its answer. */
  private lastTo = '';
  private lastToMapped = '';

  /**
   * A dual-stack IPv6 socket reaches IPv4 peers at their mapped address
   * (::ffff:a.b.c.d). Remembered for the last destination: isIP and the new
   * string took 0.1 µs (IPv4) to 0.3 µs (IPv6) per datagram, and a flush
   * sends its datagrams to one peer in a row.
   */
  private mapped(address: string): string {
    if (address !== this.lastTo) {
      this.lastTo = address;
      this.lastToMapped = isIP(address) === 4 ? `::ffff:${address}` : address;
    }
    return this.lastToMapped;
  }

  /** Every main-socket send's callback, made once (not a closure per datagram). */
  private readonly onSent = (err: Error | null): void => {
    // Per-datagram send errors (EHOSTUNREACH, ENETUNREACH...) are the network's.
    if (err) this.sendErrors++;
    if (--this.sendsInFlight === 0) this.onDrained?.();
  };

  private readonly onProbeSent = (err: Error | null): void => {
    if (err) this.sendErrors++;
  };

  /**
   * Many-port probing: opens the extra sockets the endpoint asked for, each
   * on a fresh port of the main socket's address family; what one receives
   * goes to the receiver tagged with its id.
   */
  openProbes(ids: readonly number[]): void {
    const type = this.family === 6 ? 'udp6' : 'udp4';
    const host = this.family === 6 && this.dualStack ? '::' : this.localAddress().address;
    for (const id of ids) {
      const s = dgram.createSocket({ type, ipv6Only: false });
      s.on('error', () => {
        // A probing socket that cannot bind or send only lowers the odds.
        this.sendErrors++;
        this.closeProbe(id);
      });
      s.on('message', (data, rinfo) => this.receive(data, rinfo, id));
      // Sends before the bind completes are queued by dgram.
      s.bind(0, host);
      this.probes.set(id, s);
    }
  }

  closeProbes(ids: Iterable<number>): void {
    for (const id of ids) this.closeProbe(id);
  }

  /** Extra (probing) sockets open now. */
  get probeCount(): number {
    return this.probes.size;
  }

  private closeProbe(id: number): void {
    const s = this.probes.get(id);
    if (!s) return;
    this.probes.delete(id);
    try {
      s.close();
    } catch {
      // already closed after an error
    }
  }

  /** Lets queued datagrams leave (briefly), then closes every socket. */
  async close(): Promise<void> {
    // dgram sends are asynchronous: the CLOSE frames just flushed must leave
    // before the socket goes.
    if (this.sendsInFlight > 0) {
      await new Promise<void>((resolve) => {
        const cap = setTimeout(resolve, CLOSE_DRAIN_CAP);
        this.onDrained = () => {
          clearTimeout(cap);
          resolve();
        };
      });
    }
    this.closeProbes([...this.probes.keys()]);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }
}

/** Asks for kernel buffers; some platforms refuse, and stats report what we got. */
export function requestBuffers(socket: dgram.Socket, receive: number): void {
  try {
    socket.setRecvBufferSize(receive);
    socket.setSendBufferSize(DEFAULT_BUFFER_SIZE);
  } catch {
    // Refused: the OS default stays.
  }
}
/**
 * Binds the main socket: to `host` when given (an IP literal), else `::`
 * dual-stack, falling back to `0.0.0.0` where IPv6 is unavailable. Bind
 * failures are UsageErrors that say what to change.
 */
export async function openSocket(host: string | undefined, port: number): Promise<OpenedSocket> {
  const attempt = (type: 'udp4' | 'udp6', address: string) =>
    new Promise<dgram.Socket>((resolve, reject) => {
      const socket = dgram.createSocket({
        type,
        ipv6Only: false,
        reuseAddr: false,
        lookup: literalLookup,
      });
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(port, address, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    });
  const explain = (err: NodeJS.ErrnoException, address: string) => {
    if (err.code === 'EADDRINUSE')
      return new UsageError(`port ${port} is already in use on ${address}`);
    if (err.code === 'EADDRNOTAVAIL')
      return new UsageError(`cannot bind ${address}: no such local address`);
    if (err.code === 'EACCES') return new UsageError(`no permission to bind port ${port}`);
    return new UsageError(`cannot bind ${address}:${port}: ${err.message}`);
  };
  if (host !== undefined) {
    const family = isIP(host);
    if (family === 0) throw new UsageError(`bad bind address "${host}": give an IP address`);
    const h = normalizeIp(host);
    try {
      const socket = await attempt(family === 6 ? 'udp6' : 'udp4', h);
      return {
        socket,
        family: family === 6 ? 6 : 4,
        dualStack: family === 6 && (h === '::' || h === '::0'),
      };
    } catch (err) {
      throw explain(err as NodeJS.ErrnoException, h);
    }
  }
  try {
    return { socket: await attempt('udp6', '::'), family: 6, dualStack: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw explain(err as NodeJS.ErrnoException, '::');
  }
  try {
    return { socket: await attempt('udp4', '0.0.0.0'), family: 4, dualStack: false };
  } catch (err) {
    throw explain(err as NodeJS.ErrnoException, '0.0.0.0');
  }
}
