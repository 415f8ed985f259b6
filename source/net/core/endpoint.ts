import { randomBytes } from 'node:crypto';
import { fingerprint } from '../crypto/identity.js';
import { Birthday, type SocketCommand } from '../nat/birthday.js';
import { CONTROL_STREAM } from '../nat/introduce.js';
import { IntroductionPolicy } from '../nat/introductions.js';
import { Mesh } from '../nat/mesh.js';
import { isStun, StunMethod, stunMethod } from '../nat/stun-codec.js';
import { CloseCode } from '../wire/frames.js';
import { HelloFlag } from '../wire/hello.js';
import { decodePacket, isData, type Packet, PacketType, readDataHeader } from '../wire/packet.js';
import type { Addr } from './address.js';
import { EndpointCommands } from './commands.js';
import { type EndpointConfig, type Transmit, validMaxDatagram } from './config.js';
import { Closing } from './conn/closing.js';
import { BadPacket, type DropReason } from './errors.js';
import type { EndpointEvent, NatMapping } from './events.js';
import { createLocalNode, type LocalNode } from './handshake/handshake.js';
import { Handshakes } from './handshake/handshakes.js';
import { validateNick } from './names.js';
import { SessionBinder } from './peers/binding.js';
import { Dialer } from './peers/dialer.js';
import { DirtyPeers } from './peers/dirty.js';
import type { Peer, PeerHost } from './peers/peer.js';
import { MAX_PEERS, PeerRegistry } from './peers/registry.js';
import { Trust } from './peers/trust.js';
import { PublicAddress } from './publicaddr.js';
import { Fifo } from './queue.js';
import { Relay } from './relay.js';
import { type EndpointStats, emptyEndpointStats } from './stats.js';
import { earliest, TimerHeap } from './timerheap.js';

export type { EndpointConfig, PeerSpec, Transmit } from './config.js';
export { validateNick } from './names.js';
export { MAX_PEERS } from './peers/registry.js';
export type { DropCounts, EndpointStats, PeerSnapshot, PeerStats } from './stats.js';

/**
 * The sans-I/O heart of the transport (quinn-proto's `Endpoint`): it
 * demultiplexes datagrams, owns the peer registry and reports events. It
 * never reads a clock, opens a socket or sets a timer: callers pass `now`
 * (ms, any monotonic origin), drain `pollTransmit()` / `pollEvent()` and
 * call `handleTimeout()` at `nextDeadline()`. The rooms it delegates to:
 * handshake/ (both sides of Noise XX, cookies, resets), peers/ (records,
 * trust, dialing), conn/ (sessions and streams), ../nat (STUN, probing,
 * introductions); the user's commands and queries are in commands.ts.
 */

/** Reassembly memory all peers together may hold in us. */
const TOTAL_REASSEMBLY_LIMIT = 256 * 1024 * 1024;
const SWEEP_INTERVAL = 1000;

export class Endpoint extends EndpointCommands {
  readonly local: LocalNode;
  readonly fingerprint: string;
  readonly stats: EndpointStats = emptyEndpointStats();
  private dropTotal = 0;
  acceptStrangers: boolean;

  protected readonly registry: PeerRegistry;
  protected readonly handshakes: Handshakes;
  private readonly dialer: Dialer;
  /** Our public address and NAT mapping as STUN servers see them (publicaddr.ts). */
  protected readonly publicAddress: PublicAddress;
  /** Our TURN allocation: one more path to peers (relay.ts). */
  protected readonly relay: Relay;
  /** Set while a datagram from the relay is being unwrapped: it came out of the allocation. */
  private relayDelivered = false;
  private reassemblyBytes = 0;
  private readonly transmits = new Fifo<Transmit>();
  /** Sessions we closed, answered again for a short while (conn/closing.ts). */
  private readonly closing = new Closing();
  private readonly events = new Fifo<EndpointEvent>();
  private readonly timers = new TimerHeap<Peer>();
  protected readonly dirty = new DirtyPeers();
  private nextSweep: number | undefined;
  private readonly introductions: boolean;
  protected readonly introPolicy = new IntroductionPolicy();
  /** Many-port probing toward symmetric NATs (birthday.ts). */
  protected readonly birthday: Birthday;
  /** Introductions, NAT messages and probing (nat/mesh.ts). */
  private readonly mesh: Mesh;
  /** Completed handshakes to peer records (peers/binding.ts). */
  private readonly binder: SessionBinder;
  /** The user's commands about names and keys (peers/trust.ts). */
  protected readonly names: Trust;

  constructor(config: EndpointConfig) {
    super();
    validateNick(config.nick);
    this.introductions = config.introductions ?? true;
    this.local = createLocalNode(
      config.identity,
      config.nick,
      config.cipher ?? 'chacha20-poly1305',
      this.introductions ? 0 : HelloFlag.NoIntroductions,
    );
    this.fingerprint = fingerprint(config.identity.publicKey);
    this.acceptStrangers = config.acceptStrangers ?? true;
    const random = config.random ?? randomBytes;
    const randomIndex = config.randomIndex ?? (() => random(4).readUInt32BE(0));
    this.introPolicy.setLocalAddresses(config.localAddresses ?? []);
    this.birthday = new Birthday(
      (t) => {
        this.stats.datagramsOut++;
        this.stats.bytesOut += t.data.length;
        this.transmits.push(t);
      },
      config.randomUnit ?? (() => random(4).readUInt32BE(0) / 2 ** 32),
    );
    const host: PeerHost = {
      emit: (e) => {
        // The control stream is ours, not the application's.
        if (e.type === 'message' && e.stream === CONTROL_STREAM) {
          const from = this.registry.get(e.nick);
          if (from) this.mesh.onControl(from, e.data, this.lastNow);
        } else this.events.push(e);
      },
      transmit: (to, data) => this.transmit(to, data),
      forgetSession: (s) => this.handshakes.forgetSession(s),
      countDrop: (r) => this.drop(r),
      reserveReassembly: (delta) => {
        this.reassemblyBytes += delta;
        return this.reassemblyBytes <= TOTAL_REASSEMBLY_LIMIT;
      },
      random,
    };
    this.registry = new PeerRegistry(
      host,
      (e) => this.events.push(e),
      config.maxPeers ?? MAX_PEERS,
      config.pins,
      config.blocked,
      config.nick,
    );
    this.handshakes = new Handshakes({
      local: this.local,
      random,
      randomIndex,
      rekeyInterval: config.rekeyInterval,
      maxDatagram: validMaxDatagram(config.maxDatagramSize),
      transmit: (to, data) => this.transmit(to, data),
      drop: (r) => this.drop(r),
      emit: (e) => this.events.push(e),
      established: (e) => this.binder.bind(e),
      reset: (peer, path, now) => this.onReset(peer, path, now),
      touched: (peer) => this.dirty.add(peer),
    });
    this.dialer = new Dialer({
      handshakes: this.handshakes,
      policy: this.introPolicy,
      emit: (e) => this.events.push(e),
      natFailure: (peer) => this.mesh.natFailure(peer),
      ourMapping: () => this.ourMapping(),
      beforeDial: (peer, now) => this.mesh.considerBirthday(peer, now),
      probing: (peer) => this.mesh.probing(peer),
      permit: (addr, now) => this.relay.permit(addr.address, now),
      relayReady: () => this.relay.need(this.lastNow),
      relayFailure: () => this.relay.failure(),
      touched: (peer) => {
        this.dirty.add(peer);
        this.armSweep(this.lastNow);
      },
    });
    this.mesh = new Mesh({
      local: this.local,
      registry: this.registry,
      dialer: this.dialer,
      birthday: this.birthday,
      policy: this.introPolicy,
      introductions: this.introductions,
      acceptStrangers: () => this.acceptStrangers,
      makeRoom: (now) => this.names.evictStranger(now),
      ourMapping: () => this.ourMapping(),
      ourRelayed: () => this.relay.relayed,
      drop: (r) => this.drop(r),
      touched: (peer) => this.dirty.add(peer),
      nextMessageId: () => this.nextMessageId++,
    });
    this.names = new Trust({
      registry: this.registry,
      dialer: this.dialer,
      mesh: this.mesh,
      handshakes: this.handshakes,
      emit: (e) => this.events.push(e),
      touched: (peer) => this.dirty.add(peer),
      unschedule: (peer) => {
        this.timers.set(peer, undefined);
        this.dirty.delete(peer);
      },
    });
    this.publicAddress = new PublicAddress({
      local: this.local,
      emit: (e) => this.events.push(e),
      mappingChanged: () => this.mesh.onOwnMappingChanged(),
    });
    this.relay = new Relay({
      emit: (e) => {
        this.events.push(e);
        // A new allocation (a new port after an idle release): connected peers hear it.
        if (e.type === 'relay' && e.state === 'allocated') this.mesh.onOwnRelayedChanged();
        // Every relay failed: peers shown unreachable say so (issue 17 item 8).
        if (e.type === 'error' && e.code === 'relay' && this.relay.failure())
          for (const p of this.registry.values()) this.dialer.relayFailed(p, this.lastNow);
      },
      deliver: (data, from, now) => {
        this.relayDelivered = true;
        this.receive(data, from, now, undefined);
      },
      random,
    });
    this.binder = new SessionBinder({
      local: this.local,
      registry: this.registry,
      dialer: this.dialer,
      handshakes: this.handshakes,
      mesh: this.mesh,
      acceptStrangers: () => this.acceptStrangers,
      makeRoom: (now) => this.names.evictStranger(now),
      drop: (r) => this.drop(r),
      emit: (e) => this.events.push(e),
      touched: (peer) => this.dirty.add(peer),
      unschedule: (peer) => this.timers.set(peer, undefined),
    });
  }

  private ourMapping(): NatMapping {
    return this.publicAddress.mapping();
  }

  // ---- the sans-I/O surface -------------------------------------------------

  /** `via`: the extra (probing) socket it arrived on, if not the main one. */
  handleDatagram(data: Buffer, from: Addr, now: number, via?: number): void {
    this.lastNow = now;
    this.stats.datagramsIn++;
    this.stats.bytesIn += data.length;
    if (via === undefined && this.relay.configured && this.relay.owns(from)) {
      // Our relay's TURN messages and ChannelData share the socket too (RFC 7983 §7);
      // what it carries from peers goes through receive() below, counted there.
      // A Binding answer is the STUN client's (the relay may be our STUN server too).
      if (isStun(data) && stunMethod(data) === StunMethod.Binding) {
        this.stats.stun++;
        this.publicAddress.handle(data, from, now);
        return;
      }
      this.relayDelivered = false;
      if (this.relay.handleDatagram(data, from, now)) {
        if (!this.relayDelivered) this.stats.stun++;
        return;
      }
      if (isStun(data))
        this.stats.stun++; // not one of ours: counted, ignored
      else this.receive(data, from, now, via);
      return;
    }
    if (isStun(data)) {
      // STUN shares the socket (RFC 7983 §7): answers to our Binding requests.
      this.stats.stun++;
      this.publicAddress.handle(data, from, now);
      return;
    }
    this.receive(data, from, now, via);
  }

  /**
   * A message framed off our TCP/TLS connection to relay `server` (RFC 8656
   * §12.5, nat/turn-stream.ts): TURN only, never our wire or a Binding answer.
   */
  handleRelayFrame(data: Buffer, server: Addr, now: number): void {
    this.lastNow = now;
    this.stats.bytesIn += data.length;
    this.relayDelivered = false;
    // The framer passes only STUN and ChannelData; what the client drops it counts.
    this.relay.handleDatagram(data, server, now, true);
    if (!this.relayDelivered) this.stats.stun++;
  }

  /** One datagram of our protocol, from `from` (relay-tagged when it came out of our allocation). */
  private receive(data: Buffer, from: Addr, now: number, via: number | undefined): void {
    if (isData(data)) {
      this.receiveData(data, from, now);
      return;
    }
    let packet: Packet;
    try {
      packet = decodePacket(data);
    } catch (err) {
      if (err instanceof BadPacket) {
        this.drop(err.reason);
        return;
      }
      throw err;
    }
    const droppedBefore = this.dropTotal;
    try {
      if (packet.type === PacketType.Probe)
        this.mesh.onProbe(packet.kind, packet.token, from, via, now);
      else if (packet.type === PacketType.Data)
        this.onData(packet.receiver, packet.pn, data, from, now);
      else {
        this.handshakes.handle(packet, from, now);
        this.armSweep(now);
      }
    } catch (err) {
      if (err instanceof BadPacket) {
        this.drop(err.reason);
        return;
      }
      throw err;
    }
    // Every datagram is accounted for: dropped by reason, authenticated data
    // (per-peer packetsReceived), or a handshake-layer packet.
    if (packet.type !== PacketType.Data && this.dropTotal === droppedBefore)
      this.stats.handshakePackets++;
  }

  handleTimeout(now: number): void {
    this.lastNow = now;
    for (const peer of this.timers.popDue(now)) {
      if (peer.onTimeout(now) && peer.pinned && peer.dialing.hasGiven) {
        // Its last session died of silence: look for it again at once.
        peer.dialing.restart();
        peer.dialing.schedule(now, 0);
      }
      const due = peer.dialing.nextAt;
      if (due !== undefined && due <= now) this.dialer.dial(peer, now);
      this.dirty.add(peer);
    }
    const closingAt = this.closing.nextDeadline();
    if (closingAt !== undefined && closingAt <= now)
      for (const t of this.closing.handleTimeout(now)) this.transmit(t.to, t.packet);
    if (this.nextSweep !== undefined && this.nextSweep <= now) {
      this.nextSweep = this.handshakes.sweep(now) ? now + SWEEP_INTERVAL : undefined;
    }
    const birthdayAt = this.birthday.nextDeadline();
    if (birthdayAt !== undefined && birthdayAt <= now)
      this.birthday.handleTimeout(now, (key) => this.registry.withKey(key)?.connected === true);
    this.publicAddress.handleTimeout(now);
    this.relay.handleTimeout(now);
    this.flushDirty(now);
  }

  /**
   * The next datagram to send. Pass `now` when the caller is about to send
   * (the socket's flush): packets assembled here are stamped with it, and an
   * RTT sample must start when the datagram leaves, not when the message was
   * queued (in the chat, a render can run in between).
   */
  pollTransmit(now?: number): Transmit | undefined {
    if (now !== undefined && now > this.lastNow) this.lastNow = now;
    this.flushDirty(this.lastNow);
    const stun = this.publicAddress.pollTransmit() ?? this.relay.pollTransmit();
    if (stun) {
      this.stats.datagramsOut++;
      this.stats.bytesOut += stun.data.length;
      return stun;
    }
    const t = this.transmits.shift();
    // A peer reached through many-port probing: its datagrams leave from the winning socket.
    if (t && t.via === undefined && this.birthday.hasRoutes) {
      const via = this.birthday.routeFor(t.to);
      if (via !== undefined) t.via = via;
    }
    return t;
  }

  /** Extra sockets to open or close (many-port probing); the socket layer drains these before transmits. */
  pollCommand(): SocketCommand | undefined {
    return this.birthday.pollCommand();
  }

  pollEvent(): EndpointEvent | undefined {
    return this.events.shift();
  }

  nextDeadline(): number | undefined {
    this.flushDirty(this.lastNow);
    // Asked after every pump: no array per call.
    let d = earliest(this.timers.peekTime(), this.nextSweep);
    d = earliest(d, this.publicAddress.nextDeadline());
    d = earliest(d, this.relay.nextDeadline());
    d = earliest(d, this.closing.nextDeadline());
    return earliest(d, this.birthday.nextDeadline());
  }

  // ---- lifecycle ----------------------------------------------------------------

  /** Closes every session politely (CLOSE frames go out with the next poll). */
  close(now: number): void {
    this.lastNow = now;
    for (const peer of this.registry.values()) {
      const sessions = peer.sessions();
      if (peer.connected) peer.disconnect('closed', CloseCode.Normal, now);
      for (const s of sessions) if (!s.exhausted) this.closing.add(s, now);
      peer.dialing.stop();
      this.timers.set(peer, undefined);
    }
    this.dirty.clear();
    this.handshakes.clear();
    this.nextSweep = undefined;
    this.birthday.closeAll();
    this.relay.close(now);
  }

  /** True while sessions we closed may still need their CLOSE again (the closing state). */
  get closingPending(): boolean {
    return this.closing.pending;
  }

  /** Reassembly memory held for all peers. */
  get reassemblyBytesHeld(): number {
    return this.reassemblyBytes;
  }

  // ---- internals ------------------------------------------------------------

  private drop(reason: DropReason): void {
    this.stats.dropped[reason]++;
    this.dropTotal++;
  }

  private transmit(to: Addr, data: Buffer): void {
    // Through our allocation: the TURN client wraps it (counted when polled).
    if (to.relay) {
      this.relay.send(to, data, this.lastNow);
      return;
    }
    this.stats.datagramsOut++;
    this.stats.bytesOut += data.length;
    this.transmits.push({ to, data });
  }

  private flushDirty(now: number): void {
    if (this.dirty.size === 0) return;
    for (let peer = this.dirty.next(); peer; peer = this.dirty.next()) {
      peer.flush(now);
      this.timers.set(peer, peer.deadline());
    }
    this.dirty.clear();
  }

  private armSweep(now: number): void {
    if (this.handshakes.pending > 0) this.nextSweep ??= now + SWEEP_INTERVAL;
  }

  /**
   * DATA, nearly every datagram: its header read into a shared object and
   * the datagram opened in place, with no packet object (issue 16).
   */
  private receiveData(data: Buffer, from: Addr, now: number): void {
    try {
      const h = readDataHeader(data);
      this.onData(h.receiver, h.pn, data, from, now);
    } catch (err) {
      if (err instanceof BadPacket) {
        this.drop(err.reason);
        return;
      }
      throw err;
    }
  }

  private onData(receiver: number, pn: number, datagram: Buffer, from: Addr, now: number): void {
    const entry = this.handshakes.session(receiver);
    if (!entry && this.closing.has(receiver)) {
      const again = this.closing.onData(receiver, pn, datagram, now);
      if (again) this.transmit(again.to, again.packet);
      return;
    }
    if (!entry) {
      this.drop('unknown-session');
      this.handshakes.answerUnknownIndex(receiver, from, now);
      return;
    }
    const { peer, session } = entry;
    const opened = session.openPacket(datagram, pn, now);
    if (!opened.ok) {
      this.drop(opened.reason);
      return;
    }
    const open = peer.onPayload(session, pn, opened.payload, from, now, opened.newest);
    if (!open && !peer.connected && peer.state.kind === 'disconnected' && peer.pinned) {
      // Refused outright: ask again only slowly; otherwise look for it again soon.
      const cause = peer.state.cause;
      const refused =
        cause.kind === 'remote' &&
        (cause.code === CloseCode.NotAccepted || cause.code === CloseCode.Blocked);
      this.dialer.retry(peer, now, refused);
    }
    this.dirty.add(peer);
  }

  /** A valid RESET ended `peer`'s session: find it again where it is known to be. */
  private onReset(peer: Peer, path: Addr, now: number): void {
    if (peer.connected) return;
    peer.transition({
      kind: 'disconnected',
      since: now,
      reason: 'the peer no longer has this session (stateless reset: it restarted or dropped it)',
      cause: { kind: 'reset' },
    });
    // At the given addresses, or the authenticated last path — never where
    // the RESET came from: anyone can send one from anywhere.
    if (!peer.dialing.hasGiven) peer.dialing.learn(path, 'last-path');
    peer.dialing.restart();
    this.dialer.dial(peer, now);
  }
}
