import { isChannelData, isStun } from '../nat/stun-codec.js';
import { TurnClient, type TurnEvent, type TurnState } from '../nat/turn.js';
import { type Addr, addrKey, normalizeIp, sameAddr, viaRelay } from './address.js';
import type { Transmit } from './config.js';
import type { EndpointEvent } from './events.js';

/**
 * Channels we bind (§12): a peer that reaches us through the relay makes us
 * answer there, so without a bound anyone on the same relay could walk us
 * through all 4,096 channel numbers. Past it, Send indications carry the data.
 */
export const MAX_CHANNELS = 64;
/** IPs we ask the relay to let through (each a CreatePermission, refreshed every 240 s). */
export const MAX_PERMITS = 64;

/** One TURN server to allocate on (the shell resolved its URI). */
export interface RelayServer {
  server: Addr;
  username: string;
  password: string;
}

/** What `stats()` shows of our allocation. */
export interface RelayStats {
  /** The relay in use (the first to answer), or the first configured while none has. */
  server: Addr | undefined;
  state: TurnState | 'none';
  /** Our relayed transport address: a candidate peers can reach us at. */
  relayed: Addr | undefined;
  /** Our address as the relay saw it (XOR-MAPPED-ADDRESS): a server-reflexive candidate. */
  mapped: Addr | undefined;
  /** Payload bytes relayed each way. */
  bytesSent: number;
  bytesReceived: number;
  /** Datagrams from the relay dropped (no permission, unknown channel, malformed...). */
  dropped: number;
}

/** What the relay room needs from the endpoint. */
export interface RelayHost {
  emit(event: EndpointEvent): void;
  /** A datagram that came out of the allocation, from `from` (tagged `relay`). */
  deliver(data: Buffer, from: Addr, now: number): void;
  /** Random bytes for TURN transaction ids. */
  random(n: number): Buffer;
}

/**
 * Our TURN allocation (RFC 8656), sans I/O, on the shared peer socket: the
 * relay's datagrams reach it before our wire parser (STUN by its first byte
 * 0-3 and magic cookie, ChannelData by 0x40-0x4F, RFC 7983 §7), and what
 * peers sent to our relayed address comes out tagged `relay` so the session
 * layer sees one more path. With several relays configured each is asked;
 * the first to allocate is kept and the others are released.
 *
 * Permissions are by IP (§9). The relay's own IP is permitted at once: a
 * peer with an allocation on the same relay sends to our relayed address
 * from its own, so its datagrams arrive from the relay's IP and pass without
 * either side knowing the other's real address. A peer without an allocation
 * must be permitted by its IP, which we know only from an invite code or an
 * introduction (`permit`).
 */
export class Relay {
  private readonly clients: TurnClient[] = [];
  private active: TurnClient | undefined;
  private readonly wanted = new Set<string>();
  /** Peers we bound a channel to, on the active allocation. */
  private readonly channels = new Set<string>();

  constructor(private readonly host: RelayHost) {}

  get configured(): boolean {
    return this.clients.length > 0;
  }

  start(servers: readonly RelayServer[], now: number): void {
    for (const s of servers) {
      const client = new TurnClient({
        server: s.server,
        username: s.username,
        password: s.password,
        randomBytes: this.host.random,
      });
      this.clients.push(client);
      client.allocate(now);
    }
  }

  /** Our relayed address, once allocated. */
  get relayed(): Addr | undefined {
    return this.active?.state === 'allocated' ? this.active.relayed : undefined;
  }

  /** True when `to` can be reached through the allocation now. */
  get ready(): boolean {
    return this.relayed !== undefined;
  }

  /** True when `from` is one of our relay servers: its STUN and ChannelData are ours. */
  owns(from: Addr): boolean {
    for (const c of this.clients) if (sameAddr(c.server, from)) return true;
    return false;
  }

  /** A datagram from a relay server; false when it is not TURN (the caller goes on). */
  handleDatagram(data: Buffer, from: Addr, now: number): boolean {
    if (!isStun(data) && !isChannelData(data)) return false;
    const client = this.clients.find((c) => sameAddr(c.server, from));
    if (!client) return false;
    const handled = client.handleDatagram(data, from, now) === 'handled';
    this.drain(client, now);
    return handled || isChannelData(data);
  }

  /**
   * Lets datagrams from `ip` through the allocation (a peer without a relay
   * of its own, named by an invite or an introduction). Remembered, so a
   * relay that allocates later permits it too.
   */
  permit(ip: string, now: number): void {
    const key = normalizeIp(ip);
    if (this.wanted.has(key) || this.wanted.size >= MAX_PERMITS) return;
    this.wanted.add(key);
    if (this.active?.state === 'allocated') this.active.permit({ address: key, port: 0 }, now);
  }

  /** Sends `data` to `to` (a relay-tagged address) through the allocation; false when there is none. */
  send(to: Addr, data: Buffer, now: number): boolean {
    const client = this.active;
    if (client?.state !== 'allocated') return false;
    const peer = { address: to.address, port: to.port };
    // A channel costs 4 bytes a datagram instead of 36 (§12); until the
    // server confirms it, the Send indication carries the data.
    const key = addrKey(peer);
    if (!this.channels.has(key) && this.channels.size < MAX_CHANNELS) {
      this.channels.add(key);
      client.bindChannel(peer, now);
    }
    client.send(peer, data, now);
    this.drain(client, now);
    return true;
  }

  pollTransmit(): Transmit | undefined {
    for (const c of this.clients) {
      const t = c.pollTransmit();
      if (t) return t;
    }
    return undefined;
  }

  nextDeadline(): number | undefined {
    let at: number | undefined;
    for (const c of this.clients) {
      const d = c.nextDeadline();
      if (d !== undefined && (at === undefined || d < at)) at = d;
    }
    return at;
  }

  handleTimeout(now: number): void {
    for (const c of this.clients) {
      const d = c.nextDeadline();
      if (d === undefined || d > now) continue;
      c.handleTimeout(now);
      this.drain(c, now);
    }
  }

  /** Releases every allocation (Refresh with lifetime 0). */
  close(now: number): void {
    for (const c of this.clients) {
      c.close(now);
      this.drain(c, now);
    }
  }

  stats(): RelayStats {
    const c = this.active ?? this.clients[0];
    const dropped = c ? Object.values(c.dropped).reduce((a, b) => a + b, 0) : 0;
    return {
      server: c?.server,
      state: c?.state ?? 'none',
      relayed: c?.state === 'allocated' ? c.relayed : undefined,
      mapped: c?.mapped,
      bytesSent: c?.relayedBytes.sent ?? 0,
      bytesReceived: c?.relayedBytes.received ?? 0,
      dropped,
    };
  }

  private drain(client: TurnClient, now: number): void {
    for (let e = client.pollEvent(); e; e = client.pollEvent()) this.onEvent(client, e, now);
  }

  private onEvent(client: TurnClient, e: TurnEvent, now: number): void {
    switch (e.kind) {
      case 'data':
        if (client === this.active) this.host.deliver(e.data, viaRelay(e.peer), now);
        return;
      case 'allocated':
        if (this.active?.state === 'allocated') {
          client.close(now); // another relay answered first
          return;
        }
        this.active = client;
        this.channels.clear();
        // The relay's own IP: peers on the same relay reach us from their allocation.
        client.permit({ address: e.relayed.address, port: 0 }, now);
        for (const ip of this.wanted) client.permit({ address: ip, port: 0 }, now);
        this.host.emit({
          type: 'relay',
          state: 'allocated',
          relayed: e.relayed,
          server: client.server,
        });
        return;
      case 'failed':
        if (e.op === 'allocate' || e.op === 'refresh') {
          if (client === this.active) {
            this.active = undefined;
            this.host.emit({
              type: 'relay',
              state: 'failed',
              relayed: undefined,
              server: client.server,
            });
          }
          this.host.emit({
            type: 'error',
            code: 'relay',
            message: `TURN relay ${addrKey(client.server)}: ${e.op} failed${e.code ? ` (${e.code})` : ''}: ${e.reason}`,
            address: client.server,
          });
        }
        return;
      default:
        return;
    }
  }
}
