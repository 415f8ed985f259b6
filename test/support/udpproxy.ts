import dgram from 'node:dgram';
import { Rng } from './rng.js';

/**
 * A user-space UDP impairment proxy on 127.0.0.1 (no sch_netem here): clients
 * send to `port`; each client gets its own upstream socket towards `target`,
 * like a NAT mapping, and replies come back through the listening socket.
 * Loss, duplication, delay and jitter come from a seeded Rng, in both
 * directions. `rebind()` moves every client to a fresh upstream port (NAT
 * rebinding); `blackout` drops everything.
 */
export interface Impairment {
  loss?: number;
  duplicate?: number;
  delay?: number;
  jitter?: number;
}

export class UdpProxy {
  readonly rng: Rng;
  blackout = false;
  impairment: Impairment;
  /** Sees every datagram the proxy receives, before impairment (for recording). */
  tap: ((data: Buffer, towardsTarget: boolean) => void) | undefined;
  stats = { forwarded: 0, dropped: 0, duplicated: 0 };
  private readonly front = dgram.createSocket('udp4');
  private readonly upstreams = new Map<string, dgram.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  private constructor(
    private readonly target: { address: string; port: number },
    seed: number,
    impairment: Impairment,
  ) {
    this.rng = new Rng(seed);
    this.impairment = impairment;
  }

  static async start(
    target: { address: string; port: number },
    seed: number,
    impairment: Impairment = {},
  ) {
    const proxy = new UdpProxy(target, seed, impairment);
    await new Promise<void>((resolve) => proxy.front.bind(0, '127.0.0.1', resolve));
    proxy.front.on('message', (msg, rinfo) => proxy.fromClient(msg, rinfo));
    return proxy;
  }

  /** Datagrams held for their delay (duplicates included), not yet sent on. */
  get inFlight(): number {
    return this.timers.size;
  }

  get port(): number {
    return this.front.address().port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let up = this.upstreams.get(key);
    if (!up) {
      up = this.openUpstream(rinfo);
      this.upstreams.set(key, up);
    }
    const sock = up;
    this.tap?.(msg, true);
    this.impair(msg, (d) => sock.send(d, this.target.port, this.target.address));
  }

  private openUpstream(client: dgram.RemoteInfo): dgram.Socket {
    const up = dgram.createSocket('udp4');
    up.bind(0, '127.0.0.1');
    up.on('message', (msg) => {
      // Only the target may answer through a mapping.
      this.tap?.(msg, false);
      this.impair(msg, (d) => this.front.send(d, client.port, client.address));
    });
    up.on('error', () => {});
    return up;
  }

  private impair(msg: Buffer, send: (d: Buffer) => void): void {
    if (this.closed) return;
    const { loss = 0, duplicate = 0, delay = 0, jitter = 0 } = this.impairment;
    if (this.blackout || this.rng.chance(loss)) {
      this.stats.dropped++;
      return;
    }
    const copies = this.rng.chance(duplicate) ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    for (let i = 0; i < copies; i++) {
      const wait = delay + (jitter > 0 ? (this.rng.next() * 2 - 1) * jitter : 0);
      const data = Buffer.from(msg);
      if (wait <= 0) {
        this.stats.forwarded++;
        send(data);
        continue;
      }
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.closed) return;
        this.stats.forwarded++;
        send(data);
      }, wait);
      this.timers.add(t);
    }
  }

  /** Every client continues from a new upstream source port (NAT rebinding). */
  rebind(): void {
    for (const [key, old] of this.upstreams) {
      const [address, port] = [
        key.slice(0, key.lastIndexOf(':')),
        Number(key.slice(key.lastIndexOf(':') + 1)),
      ];
      this.upstreams.set(key, this.openUpstream({ address, port, family: 'IPv4', size: 0 }));
      old.close();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const up of this.upstreams.values()) up.close();
    await new Promise<void>((resolve) => this.front.close(() => resolve()));
  }
}
