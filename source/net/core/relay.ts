import { isChannelData, isStun } from '../nat/stun-codec.js';
import type { TurnClient, TurnEvent } from '../nat/turn.js';
import { type Addr, addrKey, normalizeIp, sameAddr, viaRelay } from './address.js';
import type { Transmit } from './config.js';
import type { EndpointEvent } from './events.js';
import {
  fallbackDelay,
  newClient,
  type RelayServer,
  type RelayStats,
  type Slot,
  slotStats,
} from './relayslot.js';

export {
  FALLBACK_AFTER_RTOS,
  type RelayDropReason,
  type RelayServer,
  type RelayStats,
} from './relayslot.js';

/**
 * Channels we bind (§12): a peer that reaches us through the relay makes us
 * answer there, so without a bound anyone on the same relay could walk us
 * through all 4,096 channel numbers. Past it, Send indications carry the data.
 */
export const MAX_CHANNELS = 64;
/** IPs we ask the relay to let through (each a CreatePermission, refreshed every 240 s). */
export const MAX_PERMITS = 64;

/**
 * Unused this long after a session last sent or received through it, the
 * allocation is released (Refresh with LIFETIME 0, RFC 8656 §8): the path
 * switched to direct and the relay need not hold a port and bandwidth for
 * us. Long enough that a direct path dying soon after (fallback with
 * hysteresis, issue 17 item 4) finds the relay still there.
 */
export const IDLE_RELEASE_MS = 5 * 60_000;

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
 *
 * A relay may be reached over TCP or TLS instead (RFC 8656 §12.5): the
 * room does not care, it only marks those transmits `stream` for the shell,
 * which frames them on its connection and feeds back what comes out. A UDP
 * relay marked `fallback` that never answers the Allocate is tried again
 * that way. An allocation a session used and then left for IDLE_RELEASE_MS
 * (the path went direct) is released, and allocated again on `need`.
 */
export class Relay {
  private readonly slots: Slot[] = [];
  /** The slot whose allocation we use (the first to answer). */
  private active: Slot | undefined;
  /** The slot whose allocation we released for want of use; allocated again on `need`. */
  private dormant: Slot | undefined;
  private readonly wanted = new Set<string>();
  /** Peers we bound a channel to, on the active allocation. */
  private readonly channels = new Set<string>();
  /** When a session last sent or received through the allocation; undefined while none has. */
  private lastUsed: number | undefined;

  constructor(private readonly host: RelayHost) {}

  get configured(): boolean {
    return this.slots.length > 0;
  }

  start(servers: readonly RelayServer[], now: number): void {
    for (const config of servers) this.addSlot(config, config.transport === 'stream', now);
  }

  /** A new slot for `config`, allocating at once. */
  private addSlot(config: RelayServer, stream: boolean, now: number): Slot {
    const slot: Slot = {
      config,
      stream,
      client: newClient(config, stream, this.host.random),
      reason: undefined,
      earlier: { sent: 0, received: 0 },
      fallbackAt: undefined,
      partner: undefined,
    };
    this.slots.push(slot);
    this.armFallback(slot, now);
    slot.client.allocate(now);
    return slot;
  }

  /** A UDP slot that may fall back gets its moment to try a stream as well (FALLBACK_AFTER_RTOS). */
  private armFallback(slot: Slot, now: number): void {
    slot.fallbackAt =
      slot.config.fallback && !slot.stream ? now + fallbackDelay(slot.config) : undefined;
  }

  /**
   * The UDP Allocate is still unanswered at `fallbackAt`: the same server by
   * stream, racing it (the UDP transaction goes on). Nothing when the server
   * answered anything over UDP (it is reachable; a 401 counts).
   */
  private raceStream(slot: Slot, now: number): void {
    slot.fallbackAt = undefined;
    if (slot.client.state !== 'allocating' || slot.client.heard) return;
    const waited = fallbackDelay(slot.config);
    slot.reason = `no answer over UDP in ${waited} ms; trying TCP as well`;
    let partner = slot.partner;
    if (partner && (partner.client.state === 'allocating' || partner.client.state === 'allocated'))
      return;
    if (partner) this.replaceClient(partner, true, now);
    else {
      partner = this.addSlot(slot.config, true, now);
      partner.partner = slot;
      slot.partner = partner;
    }
    partner.reason = slot.reason;
  }

  /** Our relayed address, once allocated. */
  get relayed(): Addr | undefined {
    const c = this.active?.client;
    return c?.state === 'allocated' ? c.relayed : undefined;
  }

  /** True when `to` can be reached through the allocation now. */
  get ready(): boolean {
    return this.relayed !== undefined;
  }

  /**
   * A session wants the relay (a dial to a relayed candidate, a path falling
   * back to it): true when the allocation is there; when we released it for
   * want of use, allocates again (the caller's retransmissions cover the
   * round trip). The new allocation has a new relayed address.
   */
  need(now: number): boolean {
    if (this.ready) return true;
    const slot = this.dormant;
    if (slot && (slot.client.state === 'closed' || slot.client.state === 'closing')) {
      this.dormant = undefined;
      this.replaceClient(slot, slot.stream, now);
    }
    return false;
  }

  /** True when `from` is one of our relay servers: its STUN and ChannelData are ours. */
  owns(from: Addr): boolean {
    for (const s of this.slots) if (sameAddr(s.client.server, from)) return true;
    return false;
  }

  /**
   * A message from a relay server; false when it is not TURN (the caller goes
   * on). `overStream`: it came framed off our TCP/TLS connection to `from`
   * (turn-stream.ts); a UDP datagram claiming to be from a server we reach by
   * stream is not taken as its (off-path spoofing is what TCP spares us).
   */
  handleDatagram(data: Buffer, from: Addr, now: number, overStream = false): boolean {
    if (!isStun(data) && !isChannelData(data)) return false;
    const slot = this.slots.find((s) => s.stream === overStream && sameAddr(s.client.server, from));
    if (!slot) return false;
    const client = slot.client;
    const handled = client.handleDatagram(data, from, now) === 'handled';
    this.drain(slot, client, now);
    return handled || isChannelData(data);
  }

  /**
   * The shell's connection to a stream relay broke or never opened (refused,
   * TLS failure, certificate pin mismatch): its allocation dies with it
   * (RFC 8656 §12.5 ties a TCP allocation to its connection), with `reason`.
   */
  linkDown(server: Addr, reason: string, now: number): void {
    const slot = this.slots.find((s) => s.stream && sameAddr(s.client.server, server));
    if (!slot) return;
    const client = slot.client;
    client.linkLost(reason);
    this.drain(slot, client, now);
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
    const c = this.active?.client;
    if (c?.state === 'allocated') c.permit({ address: key, port: 0 }, now);
  }

  /** Sends `data` to `to` (a relay-tagged address) through the allocation; false when there is none. */
  send(to: Addr, data: Buffer, now: number): boolean {
    const slot = this.active;
    if (slot?.client.state !== 'allocated') {
      this.need(now);
      return false;
    }
    const client = slot.client;
    this.lastUsed = now;
    const peer = { address: to.address, port: to.port };
    // A channel costs 4 bytes a datagram instead of 36 (§12); until the
    // server confirms it, the Send indication carries the data.
    const key = addrKey(peer);
    if (!this.channels.has(key) && this.channels.size < MAX_CHANNELS) {
      this.channels.add(key);
      client.bindChannel(peer, now);
    }
    client.send(peer, data, now);
    this.drain(slot, client, now);
    return true;
  }

  pollTransmit(): Transmit | undefined {
    for (const s of this.slots) {
      const t = s.client.pollTransmit();
      if (t) return s.stream ? { to: t.to, data: t.data, stream: true } : t;
    }
    return undefined;
  }

  nextDeadline(): number | undefined {
    let at = this.releaseAt();
    for (const s of this.slots) {
      for (const d of [s.client.nextDeadline(), s.fallbackAt]) {
        if (d !== undefined && (at === undefined || d < at)) at = d;
      }
    }
    return at;
  }

  handleTimeout(now: number): void {
    // A copy: a stream racing a silent UDP slot joins the list here.
    for (const s of [...this.slots]) {
      const c = s.client;
      const d = c.nextDeadline();
      if (d !== undefined && d <= now) {
        c.handleTimeout(now);
        this.drain(s, c, now);
      }
      if (s.fallbackAt !== undefined && s.fallbackAt <= now) this.raceStream(s, now);
    }
    const at = this.releaseAt();
    if (at !== undefined && at <= now) this.release(now);
  }

  /** Releases every allocation (Refresh with lifetime 0). */
  close(now: number): void {
    for (const s of this.slots) {
      const c = s.client;
      c.close(now);
      this.drain(s, c, now);
    }
  }

  stats(): RelayStats {
    const s =
      this.active ??
      this.dormant ??
      this.slots.find((x) => x.client.state !== 'failed') ??
      this.slots[0];
    return slotStats(s, s !== undefined && s === this.dormant);
  }

  /**
   * Why we hold no allocation, when every configured relay failed (`host:port:
   * reason`): what a peer only a relay reaches shows in its state. Undefined
   * while one is allocated, allocating or released.
   */
  failure(): string | undefined {
    if (this.slots.length === 0) return undefined;
    if (this.slots.some((s) => s.client.state !== 'failed' && s.client.state !== 'closed'))
      return undefined;
    if (this.dormant) return undefined;
    // The one that failed last says why (a UDP slot that lost a race to TCP only closed).
    const s =
      this.slots.find((x) => x.client.state === 'failed' && x.reason) ??
      this.slots.find((x) => x.reason) ??
      this.slots[0]!;
    return `${addrKey(s.client.server)}: ${s.reason ?? 'failed'}`;
  }

  /** A fresh client on `slot` (a fallback to a stream, or allocating again after a release). */
  private replaceClient(slot: Slot, stream: boolean, now: number): void {
    slot.earlier.sent += slot.client.relayedBytes.sent;
    slot.earlier.received += slot.client.relayedBytes.received;
    slot.stream = stream;
    slot.client = newClient(slot.config, stream, this.host.random);
    this.armFallback(slot, now);
    slot.client.allocate(now);
  }

  /** When the allocation, used by a session and then left, is released; undefined while it is not. */
  private releaseAt(): number | undefined {
    if (this.lastUsed === undefined || this.active?.client.state !== 'allocated') return undefined;
    return this.lastUsed + IDLE_RELEASE_MS;
  }

  /** No session used the allocation for IDLE_RELEASE_MS: give it back (Refresh, LIFETIME 0, §8). */
  private release(now: number): void {
    const slot = this.active;
    if (!slot) return;
    this.active = undefined;
    this.dormant = slot;
    this.lastUsed = undefined;
    this.channels.clear();
    slot.reason = `released after ${IDLE_RELEASE_MS / 60_000} min unused; allocated again when needed`;
    const c = slot.client;
    c.close(now);
    this.drain(slot, c, now);
  }

  private drain(slot: Slot, client: TurnClient, now: number): void {
    for (let e = client.pollEvent(); e; e = client.pollEvent()) this.onEvent(slot, client, e, now);
  }

  private onEvent(slot: Slot, client: TurnClient, e: TurnEvent, now: number): void {
    switch (e.kind) {
      case 'data':
        if (slot === this.active && client === slot.client) {
          this.lastUsed = now;
          this.host.deliver(e.data, viaRelay(e.peer), now);
        }
        return;
      case 'allocated':
        this.onAllocated(slot, client, e.relayed, now);
        return;
      case 'failed':
        if (e.op === 'allocate' || e.op === 'refresh') this.onLost(slot, client, e, now);
        return;
      default:
        return;
    }
  }

  private onAllocated(slot: Slot, client: TurnClient, relayed: Addr, now: number): void {
    if (this.active?.client.state === 'allocated') {
      client.close(now); // another relay answered first
      return;
    }
    this.active = slot;
    this.dormant = undefined;
    this.lastUsed = undefined;
    slot.reason = undefined;
    slot.fallbackAt = undefined;
    this.channels.clear();
    const partner = slot.partner;
    if (slot.stream && partner?.client.state === 'allocating') {
      // The stream won the race: the UDP Allocate stops retransmitting (a
      // stream still allocating when UDP wins is released once it answers, above).
      partner.fallbackAt = undefined;
      partner.client.close(now);
      this.drain(partner, partner.client, now);
    }
    // The relay's own IP: peers on the same relay reach us from their allocation.
    client.permit({ address: relayed.address, port: 0 }, now);
    for (const ip of this.wanted) client.permit({ address: ip, port: 0 }, now);
    this.host.emit({ type: 'relay', state: 'allocated', relayed, server: client.server });
  }

  private onLost(
    slot: Slot,
    client: TurnClient,
    e: Extract<TurnEvent, { kind: 'failed' }>,
    now: number,
  ): void {
    const where = addrKey(client.server);
    const partner = slot.partner;
    if (
      slot.config.fallback &&
      !slot.stream &&
      !partner &&
      e.op === 'allocate' &&
      e.code === undefined
    ) {
      // RFC 8656 §3.1 / issue 17 item 2: a network that drops outbound UDP
      // still lets TCP out; the same server, the same port, over a stream.
      slot.reason = `no answer over UDP (${e.reason}); trying TCP`;
      this.replaceClient(slot, true, now);
      return;
    }
    slot.reason = `${e.op} failed${e.code ? ` (${e.code})` : ''}: ${e.reason}`;
    if (slot === this.active) {
      this.active = undefined;
      this.lastUsed = undefined;
      this.host.emit({ type: 'relay', state: 'failed', relayed: undefined, server: client.server });
    } else if (partner && e.op === 'allocate') {
      // One of a UDP / stream race: while the other may still allocate, its
      // outcome is the one to report; when both failed, both reasons.
      const other = partner.client.state;
      if (other === 'allocating' || other === 'allocated') return;
      if (other === 'failed' && partner.reason)
        slot.reason = `${slot.reason}; ${partner.stream ? 'over TCP' : 'over UDP'}: ${partner.reason}`;
      partner.reason = slot.reason;
    }
    this.host.emit({
      type: 'error',
      code: 'relay',
      message: `TURN relay ${where}${slot.stream ? ' (over TCP/TLS)' : ''}: ${slot.reason}`,
      address: client.server,
    });
  }
}
