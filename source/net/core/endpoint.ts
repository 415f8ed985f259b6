import { randomBytes } from 'node:crypto';
import { fingerprint } from '../crypto/identity.js';
import { Birthday, type ProbingStats, type SocketCommand } from '../nat/birthday.js';
import { CONTROL_STREAM } from '../nat/introduce.js';
import { IntroductionPolicy } from '../nat/introductions.js';
import { Mesh, natFromFlags } from '../nat/mesh.js';
import { StunClient, type StunClientOptions, type StunSummary } from '../nat/stun.js';
import { isStun } from '../nat/stun-codec.js';
import { CloseCode } from '../wire/frames.js';
import { HelloFlag } from '../wire/hello.js';
import { decodePacket, type Packet, PacketType } from '../wire/packet.js';
import { type Addr, addrKey } from './address.js';
import { type EndpointConfig, type PeerSpec, type Transmit, validMaxDatagram } from './config.js';
import { Closing } from './conn/closing.js';
import { MAX_MESSAGE_SIZE } from './conn/stream.js';
import { BadPacket, type DropReason, UsageError } from './errors.js';
import type { EndpointEvent, NatMapping } from './events.js';
import { createLocalNode, type LocalNode } from './handshake/handshake.js';
import { Handshakes } from './handshake/handshakes.js';
import { validateNick } from './names.js';
import { SessionBinder } from './peers/binding.js';
import { Dialer } from './peers/dialer.js';
import type { Peer, PeerHost } from './peers/peer.js';
import { MAX_PEERS, PeerRegistry } from './peers/registry.js';
import { Trust } from './peers/trust.js';
import { Fifo } from './queue.js';
import { type EndpointStats, emptyEndpointStats, type PeerSnapshot, snapshot } from './stats.js';
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
 * introductions).
 */

/** Reassembly memory all peers together may hold in us. */
const TOTAL_REASSEMBLY_LIMIT = 256 * 1024 * 1024;
const SWEEP_INTERVAL = 1000;

export class Endpoint {
  readonly local: LocalNode;
  readonly fingerprint: string;
  readonly stats: EndpointStats = emptyEndpointStats();
  private dropTotal = 0;
  acceptStrangers: boolean;

  private readonly registry: PeerRegistry;
  private readonly handshakes: Handshakes;
  private readonly dialer: Dialer;
  private stun: StunClient | undefined;
  private reassemblyBytes = 0;
  private readonly transmits = new Fifo<Transmit>();
  /** Sessions we closed, answered again for a short while (conn/closing.ts). */
  private readonly closing = new Closing();
  private readonly events = new Fifo<EndpointEvent>();
  private readonly timers = new TimerHeap<Peer>();
  private readonly dirty = new Set<Peer>();
  private nextMessageId = 1;
  private nextSweep: number | undefined;
  private lastNow = 0;
  private readonly introductions: boolean;
  private readonly introPolicy = new IntroductionPolicy();
  /** Many-port probing toward symmetric NATs (birthday.ts). */
  private readonly birthday: Birthday;
  /** Introductions, NAT messages and probing (nat/mesh.ts). */
  private readonly mesh: Mesh;
  /** Completed handshakes to peer records (peers/binding.ts). */
  private readonly binder: SessionBinder;
  /** The user's commands about names and keys (peers/trust.ts). */
  private readonly names: Trust;

  constructor(config: EndpointConfig) {
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
    return this.stun?.summary().behaviour ?? 'unknown';
  }

  // ---- the sans-I/O surface -------------------------------------------------

  /** `via`: the extra (probing) socket it arrived on, if not the main one. */
  handleDatagram(data: Buffer, from: Addr, now: number, via?: number): void {
    this.lastNow = now;
    this.stats.datagramsIn++;
    this.stats.bytesIn += data.length;
    if (isStun(data)) {
      // STUN shares the socket (RFC 7983 §7): answers to our Binding requests.
      this.stats.stun++;
      if (this.stun?.handleResponse(data, from, now) === 'answered') this.drainStun();
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
      else if (packet.type === PacketType.Data) this.onData(packet, from, now);
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
    const stunAt = this.stun?.nextDeadline();
    if (stunAt !== undefined && stunAt <= now) {
      this.stun!.handleTimeout(now);
      this.drainStun();
    }
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
    const stun = this.stun?.pollTransmit();
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
    d = earliest(d, this.stun?.nextDeadline());
    d = earliest(d, this.closing.nextDeadline());
    return earliest(d, this.birthday.nextDeadline());
  }

  /**
   * Asks STUN servers (RFC 8489 Binding) for our public address, from the
   * same socket as the peer traffic so the mapping is the one peers see.
   * Two or more servers also tell a symmetric NAT from a cone one.
   */
  startStun(servers: Addr[], now: number, opts: StunClientOptions = {}): void {
    this.lastNow = now;
    this.stun = new StunClient(opts);
    this.stun.start(servers, now);
  }

  /** What STUN has told us so far (undefined before any STUN round). */
  stunSummary(): StunSummary | undefined {
    return this.stun?.summary();
  }

  /** Many-port probing's counters (birthday.ts). */
  probingStats(): ProbingStats {
    return this.birthday.stats();
  }

  /** Third-party dials and targets refused by the introduction policy. */
  introductionStats(): { refusedDials: number; refusedTargets: number } {
    return {
      refusedDials: this.introPolicy.refusedDials,
      refusedTargets: this.introPolicy.refusedTargets,
    };
  }

  /** This host's addresses (the shell learns them from the OS). */
  setLocalAddresses(addresses: readonly string[]): void {
    this.introPolicy.setLocalAddresses(addresses);
  }

  private drainStun(): void {
    const stun = this.stun;
    if (!stun) return;
    let changed = false;
    for (let r = stun.pollResult(); r; r = stun.pollResult()) {
      changed = true;
      if (r.kind !== 'mapped') {
        const why =
          r.kind === 'timeout'
            ? `no answer after ${r.transmits} tries`
            : r.kind === 'error'
              ? `error ${r.code} ${r.reason}`
              : r.reason;
        this.events.push({
          type: 'error',
          code: 'stun',
          message: `STUN server ${addrKey(r.server)}: ${why}`,
          address: r.server,
        });
      }
    }
    if (!changed) return;
    const sum = stun.summary();
    const before = natFromFlags(this.local.flags);
    // Our Hello tells peers how our NAT maps us, so introducers can pass it on.
    const natBits =
      sum.behaviour === 'endpoint-independent'
        ? HelloFlag.NatIndependent
        : sum.behaviour === 'endpoint-dependent'
          ? HelloFlag.NatDependent
          : 0;
    this.local.flags =
      (this.local.flags & ~(HelloFlag.NatIndependent | HelloFlag.NatDependent)) | natBits;
    // Peers that connected before this was known heard "unknown" (or an older
    // answer) in our Hello: tell them now, once per change.
    if (sum.behaviour !== before) this.mesh.onOwnMappingChanged();
    this.events.push({
      type: 'stun',
      publicAddress: sum.mapped,
      mapping: sum.behaviour,
      done: sum.done,
    });
  }

  // ---- commands ---------------------------------------------------------------

  /**
   * Adds (or re-addresses) a peer under a name the user chose; see
   * peers/trust.ts for the rules. Every check runs before anything changes.
   */
  addPeer(nick: string, spec: PeerSpec, now: number): void {
    this.lastNow = now;
    this.names.add(nick, spec, now);
  }

  /** Forgets a peer the user removed, its pin included. */
  removePeer(nick: string, now: number): void {
    this.lastNow = now;
    this.names.remove(nick, now);
  }

  /** Refuses this key from now on; a connected peer with it is dropped. */
  block(key: Uint8Array, now: number): void {
    this.names.block(key, now);
  }

  unblock(key: Uint8Array): void {
    this.registry.unblock(key);
  }

  isBlocked(key: Uint8Array): boolean {
    return this.registry.isBlocked(key);
  }

  /** The key pinned for a name (trust store or first use), if any. */
  pinnedKey(nick: string): Buffer | undefined {
    return this.registry.pinnedKey(nick);
  }

  /** Accepts a changed key for a pinned name (after the user compared fingerprints). */
  trust(nick: string, key: Uint8Array, now: number): void {
    this.names.trust(nick, key, now);
  }

  /**
   * Queues one message for each recipient (nicks; undefined = every connected
   * peer). Unknown nicks reject the whole call before anything is queued.
   */
  sendMessage(
    recipients: readonly string[] | undefined,
    data: Uint8Array,
    now: number,
    streamId = 0,
  ): { id: number; peers: { id: number; nick: string }[] } {
    this.lastNow = now;
    if (data.length > MAX_MESSAGE_SIZE) {
      throw new UsageError(
        `message of ${data.length} bytes exceeds the maximum of ${MAX_MESSAGE_SIZE}`,
      );
    }
    let targets: Peer[];
    if (recipients === undefined) {
      targets = [...this.registry.values()].filter((p) => p.connected);
    } else {
      const only = recipients.length === 1 ? this.registry.get(recipients[0]!) : undefined;
      if (only)
        targets = [only]; // the common unicast: no filter, Set or map
      else {
        const unknown = recipients.filter((n) => !this.registry.has(n));
        if (unknown.length > 0)
          throw new UsageError(
            `unknown peer${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
          );
        targets = [...new Set(recipients)].map((n) => this.registry.get(n)!);
      }
    }
    const id = this.nextMessageId++;
    for (const peer of targets) {
      peer.queueMessage(id, streamId, data);
      this.dirty.add(peer);
    }
    return { id, peers: targets.map((p) => ({ id: p.id, nick: p.nick })) };
  }

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
  }

  /** Bytes queued for a peer and not yet acknowledged (0 for an unknown nick). */
  queuedBytes(nick: string): number {
    return this.registry.get(nick)?.unacknowledgedBytes ?? 0;
  }

  /** Unacknowledged bytes queued for all peers together. */
  totalQueuedBytes(): number {
    let n = 0;
    for (const p of this.registry.values()) n += p.unacknowledgedBytes;
    return n;
  }

  connectedNicks(): string[] {
    const out: string[] = [];
    for (const p of this.registry.values()) if (p.connected) out.push(p.nick);
    return out;
  }

  /** True while sessions we closed may still need their CLOSE again (the closing state). */
  get closingPending(): boolean {
    return this.closing.pending;
  }

  /** Reassembly memory held for all peers. */
  get reassemblyBytesHeld(): number {
    return this.reassemblyBytes;
  }

  /** Half-open handshakes held (bounded; see MAX_RESPONDING). */
  get halfOpenCount(): number {
    return this.handshakes.halfOpen;
  }

  peers(): PeerSnapshot[] {
    return [...this.registry.values()].map(snapshot);
  }

  hasPeer(nick: string): boolean {
    return this.registry.has(nick);
  }

  peer(nick: string): PeerSnapshot | undefined {
    const p = this.registry.get(nick);
    return p && snapshot(p);
  }

  // ---- internals ------------------------------------------------------------

  private drop(reason: DropReason): void {
    this.stats.dropped[reason]++;
    this.dropTotal++;
  }

  private transmit(to: Addr, data: Buffer): void {
    this.stats.datagramsOut++;
    this.stats.bytesOut += data.length;
    this.transmits.push({ to, data });
  }

  private flushDirty(now: number): void {
    if (this.dirty.size === 0) return;
    for (const peer of this.dirty) {
      peer.flush(now);
      this.timers.set(peer, peer.deadline());
    }
    this.dirty.clear();
  }

  private armSweep(now: number): void {
    if (this.handshakes.pending > 0) this.nextSweep ??= now + SWEEP_INTERVAL;
  }

  private onData(
    p: Extract<Packet, { type: typeof PacketType.Data }>,
    from: Addr,
    now: number,
  ): void {
    const entry = this.handshakes.session(p.receiver);
    if (!entry && this.closing.has(p.receiver)) {
      const again = this.closing.onData(p.receiver, p.header, p.pn, p.sealed, now);
      if (again) this.transmit(again.to, again.packet);
      return;
    }
    if (!entry) {
      this.drop('unknown-session');
      this.handshakes.answerUnknownIndex(p.receiver, from, now);
      return;
    }
    const { peer, session } = entry;
    const opened = session.open(p.header, p.pn, p.sealed, now);
    if (!opened.ok) {
      this.drop(opened.reason);
      return;
    }
    const open = peer.onPayload(session, p.pn, opened.payload, from, now, opened.newest);
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
