import type dgram from 'node:dgram';
import type { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { addrKey, normalizeIp } from '../core/address.js';
import { CLOSE_DRAIN_MS } from '../core/conn/closing.js';
import type { Endpoint } from '../core/endpoint.js';
import { TransportError } from '../core/errors.js';
import type { EndpointEvent } from '../core/events.js';
import { parseFingerprint } from '../crypto/identity.js';
import type { TrustStore } from '../store/truststore.js';
import { releasePacket } from '../wire/packet.js';
import { peerInfo } from './describe.js';
import { Inbox } from './inbox.js';
import { RelayLinks } from './relaylink.js';
import { Sends } from './sends.js';
import { type PeerInfo, reportError, type SocketEvents } from './types.js';
import { type OpenedSocket, Udp } from './udp.js';

/**
 * The pump: feeds datagrams and deadlines to the sans-I/O Endpoint, and
 * once per event-loop turn drains what it returns: events (turned into
 * socket events, deliveries, acknowledgements, trust-store writes), socket
 * commands, and datagrams to send. One OS timer, for the earliest deadline
 * of all sessions. Nothing on the per-datagram path allocates a closure.
 */

/** Turns in a row run at once for an already-due deadline before falling back to a timer. */
const MAX_DUE_TURNS = 4;

export interface DriverOptions {
  receiveQueueLimit: number;
  receiveQueueBytes: number;
}

export class Driver {
  readonly udp: Udp;
  readonly inbox: Inbox;
  readonly sends: Sends;
  /** TCP/TLS connections to relays reached by stream (RFC 8656 §12.5). */
  readonly links: RelayLinks;
  /** Checks run after every peer change (waitForPeer), and at close. */
  readonly peerWaiters = new Set<() => void>();
  /** Converts the monotonic clock the endpoint runs on to epoch milliseconds. */
  readonly epochOffset = Date.now() - performance.now();
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt: number | undefined;
  private flushScheduled = false;
  /** Consecutive turns run at once because a deadline was already due. */
  private dueTurns = 0;
  private pumping = false;
  /** Last PeerInfo reported per nick, so a 'removed' event can still describe the peer. */
  private readonly lastInfo = new Map<string, PeerInfo>();
  /** Trust-store writes in progress; close() waits for them. */
  private readonly writes = new Set<Promise<void>>();
  /** Called when our relay allocates (the socket republishes its discovery record). */
  onRelayAllocated: (() => void) | undefined;

  constructor(
    private readonly endpoint: Endpoint,
    private readonly emitter: EventEmitter<SocketEvents>,
    private readonly trust: TrustStore,
    opened: OpenedSocket,
    opts: DriverOptions,
  ) {
    this.udp = new Udp(opened, this.onDatagram, this.onSocketError);
    this.inbox = new Inbox(emitter, opts.receiveQueueLimit, opts.receiveQueueBytes);
    this.sends = new Sends(endpoint, this.scheduleFlush);
    this.links = new RelayLinks({
      frame: (data, server) => {
        if (this.closed && !this.draining) return;
        this.endpoint.handleRelayFrame(data, server, performance.now());
        this.scheduleFlush();
      },
      down: (server, reason) => {
        if (this.closed) return;
        this.endpoint.relayLinkDown(server, reason, performance.now());
        this.scheduleFlush();
      },
    });
  }

  /** The latest source address as dgram gave it, and normalised (see senderIp). */
  private lastRawIp = '';
  private lastIp = '';

  /**
   * normalizeIp of a datagram's source, remembered for the last one: a
   * dual-stack socket (the default) sees every IPv4 peer as ::ffff:a.b.c.d,
   * whose normalising took ≈ 0.1 µs and two strings per datagram; a run of
   * datagrams from one peer now costs one string comparison each.
   */
  private senderIp(raw: string): string {
    if (raw !== this.lastRawIp) {
      this.lastRawIp = raw;
      this.lastIp = normalizeIp(raw);
    }
    return this.lastIp;
  }

  /** Every datagram in, from the main socket or a probing one (`via`). */
  private readonly onDatagram = (data: Buffer, rinfo: dgram.RemoteInfo, via?: number): void => {
    if (this.closed && !this.draining) return;
    this.endpoint.handleDatagram(
      data,
      { address: this.senderIp(rinfo.address), port: rinfo.port },
      performance.now(),
      via,
    );
    if (this.draining) {
      // Closing: answer at once and let drainClosing() look again.
      this.flushTransmits();
      this.drainWake?.();
      return;
    }
    this.scheduleFlush();
  };

  /** While close() drains the closing state; drainWake ends its current wait. */
  private draining = false;
  private drainWake: (() => void) | undefined;

  /**
   * The closing state (RFC 9000 §10.2.1): until every peer answered our
   * CLOSE with its own, or CLOSE_DRAIN_MS passed, a peer whose CLOSE was
   * lost is sent it again (core/conn/closing.ts), so nobody waits 45 s to
   * see us gone. Quitting waits at most that long, and only while a peer is
   * silent.
   */
  private async drainClosing(): Promise<void> {
    this.draining = true;
    while (this.endpoint.closingPending) {
      const now = performance.now();
      const at = this.endpoint.nextDeadline() ?? now + CLOSE_DRAIN_MS;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(0, at - now));
        this.drainWake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.drainWake = undefined;
      this.endpoint.handleTimeout(performance.now());
      this.flushTransmits();
    }
    this.draining = false;
  }

  /** Errors on a UDP socket (e.g. ICMP unreachable as ECONNREFUSED) are the network's: report and carry on. */
  private readonly onSocketError = (err: Error): void => {
    reportError(this.emitter, new TransportError(`socket: ${err.message}`, 'socket'));
  };

  /** Coalesce: everything that happened in this callback goes out in one flush. */
  readonly scheduleFlush = (): void => {
    if (this.flushScheduled || this.pumping) return;
    this.flushScheduled = true;
    // Everything received or sent during this turn goes out together after
    // the poll phase: far fewer, fuller datagrams than flushing per callback
    // (measured: nextTick here halved bulk throughput).
    setImmediate(this.flushTurn);
  };

  /** scheduleFlush's callback, made once (not a closure per turn). */
  private readonly flushTurn = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    if (this.dueTurns > 0) this.endpoint.handleTimeout(performance.now());
    this.pump();
  };

  /** Drains the endpoint now: after an API call that changed it. */
  pump(): void {
    if (this.closed) return;
    // Events first: a hook or listener that answers at once (sends inside the
    // callback) gets its reply into this very flush, not the next turn's.
    this.pumping = true;
    try {
      for (let e = this.endpoint.pollEvent(); e; e = this.endpoint.pollEvent()) this.onEvent(e);
    } finally {
      this.pumping = false;
    }
    this.flushTransmits();
    this.armTimer();
    this.sends.wakeRoomWaiters();
  }

  private flushTransmits(): void {
    for (let c = this.endpoint.pollCommand(); c; c = this.endpoint.pollCommand()) {
      if (c.kind === 'close') this.udp.closeProbes(c.ids);
      else if (!this.closed) this.udp.openProbes(c.ids);
    }
    const now = performance.now();
    for (let t = this.endpoint.pollTransmit(now); t; t = this.endpoint.pollTransmit(now)) {
      // A datagram the socket is done with gives its packet memory back
      // (a stream link may still hold what it was given).
      if (t.stream) this.links.send(t);
      else if (this.udp.send(t)) releasePacket(t.data);
    }
  }

  private armTimer(): void {
    const at = this.endpoint.nextDeadline();
    // Already due (an ACK held for one turn, see Session.ackHeldForReply):
    // run it next turn rather than on a timer that fires >= 1 ms late. A few
    // turns in a row at most, so a deadline that stays due cannot spin us.
    if (at !== undefined && at <= performance.now() && this.dueTurns < MAX_DUE_TURNS) {
      this.dueTurns++;
      this.scheduleFlush();
      return;
    }
    this.dueTurns = 0;
    // Lazy: a timer already due no later than needed stays; waking early is
    // one cheap handleTimeout, while re-arming on every pump (the deadline
    // moves with each packet) costs a clearTimeout + setTimeout per turn.
    if (this.timerAt !== undefined && (at === undefined || this.timerAt <= at)) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === undefined) return;
    this.timer = setTimeout(this.onTimer, Math.max(0, at - performance.now()));
  }

  private readonly onTimer = (): void => {
    this.timer = undefined;
    this.timerAt = undefined;
    if (this.closed) return;
    this.endpoint.handleTimeout(performance.now());
    this.pump();
  };

  private onEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'message':
        this.inbox.deliver({
          content: e.data,
          peer: e.nick,
          timestamp: Date.now(),
          stream: e.stream,
        });
        return;
      case 'delivered':
        this.sends.delivered(e.id, e.peerId);
        return;
      case 'undeliverable':
        this.sends.undeliverable(e.id, e.nick, e.reason);
        return;
      case 'peer':
        this.onPeer(e);
        return;
      case 'unpinned':
        this.saveTrust(this.trust.delete(e.nick));
        return;
      case 'pinned':
        this.saveTrust(this.trust.set(e.nick, parseFingerprint(e.fingerprint)));
        return;
      case 'error':
        reportError(this.emitter, new TransportError(e.message, e.code));
        return;
      case 'relay':
        // Shown in stats(); a lost allocation also came as an 'error' event.
        // A new one (after an idle release: a new port) goes in our published record.
        if (e.state === 'allocated') this.onRelayAllocated?.();
        return;
      case 'stun':
        this.emitter.emit('stun', {
          publicAddress: e.publicAddress ? addrKey(e.publicAddress) : undefined,
          mapping: e.mapping,
          done: e.done,
        });
        return;
    }
  }

  private onPeer(e: Extract<EndpointEvent, { type: 'peer' }>): void {
    const snap = this.endpoint.peer(e.nick);
    // A removed peer is gone from the endpoint: report its last known state.
    let info = snap ? peerInfo(snap, this.epochOffset) : this.lastInfo.get(e.nick);
    if (info && !snap)
      info = {
        ...info,
        state: {
          kind: 'disconnected',
          since: Date.now(),
          reason: 'removed',
          cause: { kind: 'local', code: 0 },
        },
      };
    if (snap && info) this.lastInfo.set(e.nick, info);
    else this.lastInfo.delete(e.nick);
    if (e.previousNick) this.lastInfo.delete(e.previousNick);
    if (info) this.emitter.emit('peer', info, e.change);
    this.checkPeerWaiters();
  }

  private checkPeerWaiters(): void {
    for (const check of [...this.peerWaiters]) check();
  }

  /** A trust-store write in the background: failures are reported, close() waits for it. */
  private saveTrust(pending: Promise<void>): void {
    const write: Promise<void> = pending
      .catch((err: Error) => {
        reportError(
          this.emitter,
          new TransportError(`cannot save trust store: ${err.message}`, 'trust-store'),
        );
      })
      .finally(() => this.writes.delete(write));
    this.writes.add(write);
  }

  /**
   * Says goodbye to every peer (the endpoint's CLOSE frames go out now),
   * stops the pump and its timer, settles everything waiting (pending sends
   * reject, receive() gets null, waitForPeer rejects), then waits for trust
   * writes and the last datagrams before closing the sockets.
   */
  async close(): Promise<void> {
    this.endpoint.close(performance.now());
    this.flushTransmits();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.sends.close();
    this.inbox.close();
    this.checkPeerWaiters();
    await Promise.all([...this.writes]);
    await this.drainClosing();
    await Promise.all([this.udp.close(), this.links.close()]);
  }
}
