import { randomBytes } from 'node:crypto';
import { type Addr, normalizeIp } from '../core/address.js';
import { BadPacket, UsageError } from '../core/errors.js';
import {
  decodeStunMessage,
  encodeStunMessage,
  isChannelData,
  isStun,
  STUN_TRANSACTION_ID_LENGTH,
  type StunMessage,
} from './stun-codec.js';
import { type Channel, REFRESH_FRACTION, TurnBindings } from './turn-bindings.js';
import {
  channelNumberAttr,
  dataAttr,
  decodeChannelData,
  encodeChannelData,
  firstAttr,
  lifetimeAttr,
  lifetimeOf,
  requestedTransportUdp,
  stunType,
  TurnAttr,
  TurnMethod,
  xorAddressOf,
  xorPeerAttr,
} from './turn-codec.js';
import type { TurnClientOptions, TurnEvent, TurnOp, TurnState } from './turn-events.js';
import { TurnTransactions, type TxOutcome } from './turn-tx.js';

/**
 * A TURN client (RFC 8656) for one allocation over UDP, sans I/O like the
 * STUN client: feed it every datagram from the server (`handleDatagram`),
 * send what `pollTransmit` returns, call `handleTimeout` at `nextDeadline`,
 * and read `pollEvent`. It allocates with long-term credentials, refreshes
 * the allocation at 80 % of its lifetime (§8), installs permissions (§9,
 * 300 s, refreshed after 240 s) and channels (§12, 600 s, refreshed after
 * 480 s), sends through a channel once it is bound and by Send indication
 * before (§11), and turns Data indications and ChannelData into `data`
 * events — only from peers we gave a permission, only on channels the server
 * confirmed. Nothing the network does makes it throw.
 */

export type { TurnClientOptions, TurnEvent, TurnOp, TurnState } from './turn-events.js';

const DEFAULT_LIFETIME_S = 600;

type Label =
  | { op: 'allocate' | 'refresh' | 'close' }
  | { op: 'permission'; ip: string }
  | { op: 'channel'; peer: Addr; channel: number };

export class TurnClient {
  readonly server: Addr;
  private readonly txs: TurnTransactions<Label>;
  private readonly transmits: { to: Addr; data: Buffer }[] = [];
  private readonly events: TurnEvent[] = [];
  private readonly random: (n: number) => Buffer;
  private readonly requestedLifetime: number;
  private readonly bindings = new TurnBindings();
  private refreshAt = Number.POSITIVE_INFINITY;
  private expiresAt = Number.POSITIVE_INFINITY;
  state: TurnState = 'idle';
  relayed: Addr | undefined;
  mapped: Addr | undefined;
  /** Payload bytes relayed each way (the data, not the TURN headers). */
  readonly relayedBytes = { sent: 0, received: 0 };
  /** Datagrams dropped, by why (the request layer's own are in `txs.dropped`). */
  readonly dropped = {
    malformed: 0,
    wrongSource: 0,
    unknownChannel: 0,
    noPermission: 0,
    notForUs: 0,
  };

  constructor(opts: TurnClientOptions) {
    this.server = { address: normalizeIp(opts.server.address), port: opts.server.port };
    this.random = opts.randomBytes ?? randomBytes;
    this.requestedLifetime = opts.lifetime ?? DEFAULT_LIFETIME_S;
    if (!Number.isInteger(this.requestedLifetime) || this.requestedLifetime < 1) {
      throw new UsageError('TURN lifetime must be a positive integer of seconds');
    }
    this.txs = new TurnTransactions<Label>(
      this.server,
      { username: opts.username, password: opts.password },
      {
        rto: opts.rto,
        maxTransmits: opts.maxTransmits,
        lastWaitFactor: opts.lastWaitFactor,
        software: opts.software,
        randomBytes: this.random,
      },
      this.transmits,
    );
  }

  /** Responses the request layer dropped (unknown transaction, not a response, bad integrity). */
  get droppedResponses(): Readonly<TurnTransactions<Label>['dropped']> {
    return this.txs.dropped;
  }

  private droppedResponseCount(): number {
    const d = this.txs.dropped;
    return d.unknownTransaction + d.notResponse + d.badIntegrity;
  }

  /** True once the server answered any of our requests (a 401 challenge counts): it is reachable. */
  get heard(): boolean {
    return this.txs.answered > 0;
  }

  /** True when requests are signed with MESSAGE-INTEGRITY-SHA256. */
  get sha256(): boolean {
    return this.txs.sha256;
  }

  allocate(now: number): void {
    if (this.state !== 'idle') throw new UsageError(`TURN allocate in state ${this.state}`);
    this.state = 'allocating';
    this.txs.start(
      { op: 'allocate' },
      TurnMethod.Allocate,
      () => [requestedTransportUdp(), lifetimeAttr(this.requestedLifetime)],
      now,
    );
  }

  /** Asks for (and keeps refreshing) a permission for `peer`'s IP (RFC 8656 §9); the port is ignored. */
  permit(peer: Addr, now: number): void {
    this.requireAllocated('permit');
    const ip = normalizeIp(peer.address);
    if (this.bindings.addPermission(ip)) this.requestPermission(ip, now);
  }

  /** Binds a channel to `peer` (which also installs its permission, §12); returns the channel number. */
  bindChannel(peer: Addr, now: number): number {
    this.requireAllocated('bindChannel');
    const p = { address: normalizeIp(peer.address), port: peer.port };
    const existing = this.bindings.channelOf(p);
    if (existing) return existing.channel;
    const ch = this.bindings.addChannel(p);
    // The binding installs the permission (§12.2); it is refreshed on its own
    // (every 240 s), since the channel's refresh (480 s) comes too late for it.
    this.bindings.addPermission(p.address);
    this.requestChannel(ch, now);
    return ch.channel;
  }

  /**
   * Relays `data` to `peer`: ChannelData once its channel is bound, else a
   * Send indication (§11.1). Asks for a permission first if there is none;
   * the relay drops what arrives before it is installed, which our reliable
   * transport above retransmits.
   */
  send(peer: Addr, data: Uint8Array, now: number): 'channel' | 'indication' {
    this.requireAllocated('send');
    const p = { address: normalizeIp(peer.address), port: peer.port };
    const ch = this.bindings.channelOf(p);
    this.relayedBytes.sent += data.length;
    if (ch?.bound) {
      this.transmits.push({ to: this.server, data: encodeChannelData(ch.channel, data) });
      return 'channel';
    }
    if (!this.bindings.hasPermission(p.address)) this.permit(p, now);
    const id = this.random(STUN_TRANSACTION_ID_LENGTH);
    const msg = encodeStunMessage(stunType(TurnMethod.Send, 'indication'), id, [
      xorPeerAttr(p, id),
      dataAttr(data),
    ]);
    this.transmits.push({ to: this.server, data: msg });
    return 'indication';
  }

  /** Releases the allocation: Refresh with LIFETIME 0 (§8), then `closed`. */
  close(now: number): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.txs.cancel();
    if (this.state !== 'allocated') {
      this.finishClose();
      return;
    }
    this.state = 'closing';
    this.txs.start({ op: 'close' }, TurnMethod.Refresh, () => [lifetimeAttr(0)], now);
  }

  /**
   * The connection to the server broke (TCP or TLS, RFC 8656 §12.5): an
   * allocation lives and dies with its connection, so it is lost, with the
   * connection's `reason`. Nothing to do once closed or failed.
   */
  linkLost(reason: string): void {
    if (this.state === 'closing') {
      this.finishClose();
      return;
    }
    if (this.state !== 'allocating' && this.state !== 'allocated') return;
    this.lose(this.state === 'allocating' ? 'allocate' : 'refresh', undefined, reason);
  }

  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.transmits.shift();
  }

  pollEvent(): TurnEvent | undefined {
    return this.events.shift();
  }

  nextDeadline(): number | undefined {
    let at = this.txs.nextDeadline() ?? Number.POSITIVE_INFINITY;
    if (this.state === 'allocated') {
      at = Math.min(at, this.refreshAt, this.expiresAt, this.bindings.nextRefresh());
    }
    return Number.isFinite(at) ? at : undefined;
  }

  handleTimeout(now: number): void {
    for (const outcome of this.txs.handleTimeout(now)) this.finish(outcome, now);
    if (this.state !== 'allocated') return;
    if (now >= this.expiresAt) {
      this.lose('refresh', undefined, 'the allocation expired before a refresh succeeded');
      return;
    }
    if (now >= this.refreshAt && !this.txs.has((l) => l.op === 'refresh')) {
      this.refreshAt = Number.POSITIVE_INFINITY;
      this.txs.start(
        { op: 'refresh' },
        TurnMethod.Refresh,
        () => [lifetimeAttr(this.requestedLifetime)],
        now,
      );
    }
    const due = this.bindings.due(now);
    for (const ip of due.ips) this.requestPermission(ip, now);
    for (const c of due.channels) this.requestChannel(c, now);
  }

  /**
   * One datagram from the network. Returns 'ignored' when it was not ours
   * (wrong source, not STUN or ChannelData) or was dropped (counted).
   */
  handleDatagram(buf: Uint8Array, from: Addr, now: number): 'handled' | 'ignored' {
    if (normalizeIp(from.address) !== this.server.address || from.port !== this.server.port) {
      this.dropped.wrongSource++;
      return 'ignored';
    }
    try {
      if (isStun(buf)) return this.handleStun(buf, decodeStunMessage(buf), now);
      if (isChannelData(buf)) return this.handleChannelData(buf);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      this.dropped.malformed++;
      return 'ignored';
    }
    this.dropped.notForUs++;
    return 'ignored';
  }

  // ---- incoming --------------------------------------------------------------------

  private handleChannelData(buf: Uint8Array): 'handled' | 'ignored' {
    const { channel, data } = decodeChannelData(buf);
    const ch = this.bindings.channel(channel);
    // Until the server confirms the binding it may not use it (§12.1).
    if (!ch?.bound || this.state !== 'allocated') {
      this.dropped.unknownChannel++;
      return 'ignored';
    }
    this.relayedBytes.received += data.length;
    this.events.push({ kind: 'data', peer: ch.peer, data, channel });
    return 'handled';
  }

  private handleStun(raw: Uint8Array, msg: StunMessage, now: number): 'handled' | 'ignored' {
    if (msg.class === 'indication' && msg.method === TurnMethod.Data) {
      // §11.4: a Data indication is unsigned; the permission check is what we have.
      const peer = xorAddressOf(msg, TurnAttr.XorPeerAddress);
      const data = firstAttr(msg, TurnAttr.Data);
      if (!peer || !data)
        throw new BadPacket('malformed', 'TURN: Data indication without peer or data');
      if (this.state !== 'allocated' || !this.bindings.permitted(peer.address)) {
        this.dropped.noPermission++;
        return 'ignored';
      }
      this.relayedBytes.received += data.length;
      this.events.push({ kind: 'data', peer, data, channel: undefined });
      return 'handled';
    }
    if (msg.class !== 'success' && msg.class !== 'error') {
      this.dropped.notForUs++;
      return 'ignored';
    }
    const before = this.droppedResponseCount();
    const outcome = this.txs.handleResponse(raw, msg, now);
    if (outcome) this.finish(outcome, now);
    return this.droppedResponseCount() === before ? 'handled' : 'ignored';
  }

  // ---- outcomes ----------------------------------------------------------------------

  private finish(outcome: TxOutcome<Label>, now: number): void {
    const label = outcome.label;
    if (outcome.kind === 'failed') {
      this.failed(label, outcome.code, outcome.reason, now);
      return;
    }
    const msg = outcome.msg;
    switch (label.op) {
      case 'allocate':
        this.allocated(msg, now);
        return;
      case 'refresh':
        this.refreshed(msg, now);
        return;
      case 'close':
        this.finishClose();
        return;
      case 'permission':
        if (this.bindings.permissionInstalled(label.ip, now)) {
          this.events.push({ kind: 'permission', ip: label.ip });
        }
        return;
      case 'channel':
        if (this.bindings.channelBound(label.channel, now)) {
          this.events.push({ kind: 'channel', peer: label.peer, channel: label.channel });
        }
    }
  }

  private allocated(msg: StunMessage, now: number): void {
    let relayed: Addr | undefined;
    let lifetime: number | undefined;
    try {
      relayed = xorAddressOf(msg, TurnAttr.XorRelayedAddress);
      lifetime = lifetimeOf(msg);
    } catch (err) {
      // Signed by the server, yet unreadable: the transaction is over, so
      // fail now rather than wait in 'allocating' for an answer that came.
      if (!(err instanceof BadPacket)) throw err;
    }
    if (!relayed || lifetime === undefined || lifetime === 0) {
      this.state = 'failed';
      this.events.push({
        kind: 'failed',
        op: 'allocate',
        code: undefined,
        reason: 'Allocate success without a readable XOR-RELAYED-ADDRESS and LIFETIME',
      });
      return;
    }
    this.state = 'allocated';
    this.relayed = relayed;
    this.mapped = msg.mappedAddress;
    this.schedule(lifetime, now);
    this.events.push({ kind: 'allocated', relayed, mapped: this.mapped, lifetime });
  }

  private refreshed(msg: StunMessage, now: number): void {
    const lifetime = lifetimeOf(msg) ?? this.requestedLifetime;
    this.schedule(lifetime, now);
    this.events.push({ kind: 'refreshed', lifetime });
  }

  private schedule(lifetimeS: number, now: number): void {
    this.expiresAt = now + lifetimeS * 1000;
    this.refreshAt = now + lifetimeS * 1000 * REFRESH_FRACTION;
  }

  private failed(label: Label, code: number | undefined, reason: string, now: number): void {
    switch (label.op) {
      case 'allocate':
        this.state = 'failed';
        this.events.push({ kind: 'failed', op: 'allocate', code, reason });
        return;
      case 'close':
        // The server forgets it within its lifetime anyway (§8).
        this.finishClose();
        return;
      case 'refresh':
        // 437: the server no longer knows the allocation (§8); a silence is
        // retried until the allocation would expire.
        if (code !== undefined) {
          this.lose('refresh', code, reason);
          return;
        }
        this.events.push({ kind: 'failed', op: 'refresh', code, reason });
        this.refreshAt = now;
        return;
      case 'permission':
        this.bindings.dropPermission(label.ip);
        this.events.push({
          kind: 'failed',
          op: 'permission',
          code,
          reason,
          peer: { address: label.ip, port: 0 },
        });
        return;
      case 'channel': {
        const ip = label.peer.address;
        if (!this.txs.has((l) => l.op === 'permission' && l.ip === ip)) {
          this.bindings.dropUninstalledPermission(ip);
        }
        this.bindings.dropChannel(label.channel);
        this.events.push({ kind: 'failed', op: 'channel', code, reason, peer: label.peer });
      }
    }
  }

  /** The allocation is gone: everything on it goes too. */
  private lose(op: TurnOp, code: number | undefined, reason: string): void {
    this.state = 'failed';
    this.txs.cancel();
    this.bindings.clear();
    this.events.push({ kind: 'failed', op, code, reason });
  }

  private finishClose(): void {
    this.state = 'closed';
    this.txs.cancel();
    this.bindings.clear();
    this.events.push({ kind: 'closed' });
  }

  // ---- requests ----------------------------------------------------------------------

  private requestPermission(ip: string, now: number): void {
    if (this.txs.has((l) => l.op === 'permission' && l.ip === ip)) return;
    this.txs.start(
      { op: 'permission', ip },
      TurnMethod.CreatePermission,
      (id) => [xorPeerAttr({ address: ip, port: 0 }, id)],
      now,
    );
  }

  private requestChannel(c: Channel, now: number): void {
    if (this.txs.has((l) => l.op === 'channel' && l.channel === c.channel)) return;
    this.txs.start(
      { op: 'channel', peer: c.peer, channel: c.channel },
      TurnMethod.ChannelBind,
      (id) => [channelNumberAttr(c.channel), xorPeerAttr(c.peer, id)],
      now,
    );
  }

  private requireAllocated(what: string): void {
    if (this.state !== 'allocated') throw new UsageError(`TURN ${what} in state ${this.state}`);
  }
}
