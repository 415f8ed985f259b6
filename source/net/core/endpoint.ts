import { randomBytes } from 'node:crypto';
import type { CipherName } from '../crypto/cipher.js';
import { fingerprint, type Identity } from '../crypto/identity.js';
import {
  Birthday,
  birthdayRole,
  type ProbingStats,
  probeToken,
  type SocketCommand,
} from '../nat/birthday.js';
import {
  CONTROL_STREAM,
  type ControlMessage,
  decodeControl,
  encodeIntroduction,
  encodeNatMapping,
  type Introduction,
} from '../nat/introduce.js';
import { IntroductionPolicy } from '../nat/introductions.js';
import { StunClient, type StunClientOptions, type StunSummary } from '../nat/stun.js';
import { isStun } from '../nat/stun-codec.js';
import { BASE_PLPMTU, isValidMaxDatagram, MAX_PLPMTU } from '../recovery/pmtu.js';
import { CloseCode } from '../wire/frames.js';
import { HelloFlag } from '../wire/hello.js';
import { decodePacket, type Packet, PacketType } from '../wire/packet.js';
import { type Addr, addrKey } from './address.js';
import { MAX_MESSAGE_SIZE } from './conn/stream.js';
import { BadPacket, type DropReason, UsageError } from './errors.js';
import type { EndpointEvent, NatMapping } from './events.js';
import { createLocalNode, type LocalNode } from './handshake/handshake.js';
import { type Established, Handshakes } from './handshake/handshakes.js';
import { validateNick } from './names.js';
import { Dialer } from './peers/dialer.js';
import type { Peer, PeerHost } from './peers/peer.js';
import { MAX_PEERS, PeerRegistry } from './peers/registry.js';
import { Fifo } from './queue.js';
import { type EndpointStats, emptyEndpointStats, type PeerSnapshot, snapshot } from './stats.js';
import { earliest, TimerHeap } from './timerheap.js';

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

export interface EndpointConfig {
  identity: Identity;
  nick: string;
  cipher?: CipherName;
  /** Accept sessions from keys we do not know (default true, as the original). */
  acceptStrangers?: boolean;
  /** Identity keys whose handshakes are refused. */
  blocked?: Iterable<Uint8Array>;
  /** Known name → key pins (from a trust store). */
  pins?: Iterable<[string, Uint8Array]>;
  /**
   * Introduce connected peers to each other so that joining one member of a
   * chat connects you to the mesh (default true). Off: we neither introduce
   * nor accept introductions, and our Hello asks peers not to introduce us
   * (introductions reveal an address to the whole mesh).
   */
  introductions?: boolean;
  /** Most peer records kept (default MAX_PEERS); old disconnected strangers make room. */
  maxPeers?: number;
  /**
   * Largest datagram path-MTU discovery may use, in [1200, 1452] (default
   * 1452). Sessions start at 1200 bytes and probe upward (recovery/pmtu.ts);
   * 1200 turns the search off.
   */
  maxDatagramSize?: number;
  /** This host's addresses: what a third party may point us at is judged against them (nat/targets.ts). */
  localAddresses?: readonly string[];
  /** For tests: Noise REKEY interval in packets. */
  rekeyInterval?: number;
  /** The one source of randomness the core uses (secrets, challenges); default: the system CSPRNG. */
  random?: (n: number) => Buffer;
  /** For deterministic tests: source of random session indices. */
  randomIndex?: () => number;
  /** For deterministic tests: uniform in [0, 1), which ports many-port probing sprays. */
  randomUnit?: () => number;
}

export interface Transmit {
  to: Addr;
  data: Buffer;
  /** An extra (probing) socket to send from, opened by a SocketCommand; undefined = the main socket. */
  via?: number;
}

/** What the user tells us about a peer: where it is, and optionally which key it must have. */
export interface PeerSpec {
  addrs: Addr[];
  /** The identity it must prove (an invite code's or a fingerprint the user gave). */
  key?: Uint8Array | undefined;
  /** From an invite code: how the peer's NAT maps it (its first address is then the reflexive one). */
  nat?: NatMapping | undefined;
}

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
  /** Peers' NAT mapping (from invite codes, introductions, Hellos) and address to probe, by key hex. */
  private readonly remoteNat = new Map<string, { mapping: NatMapping; addr: Addr | undefined }>();
  /** The NAT mapping each connected peer last heard from us (Hello flags or a control message). */
  private readonly natTold = new WeakMap<Peer, NatMapping>();

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
        if (e.type === 'message' && e.stream === CONTROL_STREAM) this.onControl(e.nick, e.data);
        else this.events.push(e);
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
      established: (e) => this.established(e),
      reset: (peer, path, now) => this.onReset(peer, path, now),
      touched: (peer) => this.dirty.add(peer),
    });
    this.dialer = new Dialer({
      handshakes: this.handshakes,
      policy: this.introPolicy,
      emit: (e) => this.events.push(e),
      natFailure: (peer) => this.natFailure(peer),
      ourMapping: () => this.stun?.summary().behaviour ?? 'unknown',
      beforeDial: (peer, now) => this.considerBirthday(peer, now),
      touched: (peer) => {
        this.dirty.add(peer);
        this.armSweep(this.lastNow);
      },
    });
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
      if (packet.type === PacketType.Probe) this.onProbe(packet.kind, packet.token, from, via, now);
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
    if (sum.behaviour !== before)
      for (const p of this.registry.values()) if (p.connected) this.tellNat(p, undefined);
    this.events.push({
      type: 'stun',
      publicAddress: sum.mapped,
      mapping: sum.behaviour,
      done: sum.done,
    });
  }

  // ---- commands ---------------------------------------------------------------

  /**
   * Adds (or re-addresses) a peer under a name the user chose. With a key
   * (an invite code or a fingerprint), only that key is accepted there;
   * without one, the name is pinned to whatever key answers at these
   * addresses first (or to a key already pinned). Every check runs before
   * anything changes.
   */
  addPeer(nick: string, spec: PeerSpec, now: number): void {
    this.lastNow = now;
    validateNick(nick);
    if (spec.addrs.length === 0) throw new UsageError(`no address for ${nick}`);
    const key = spec.key ? Buffer.from(spec.key) : undefined;
    if (key) this.checkExpectedKey(nick, key);
    let peer = this.registry.get(nick);
    if (peer && !peer.pinned && !(key && peer.key?.equals(key))) {
      // A stranger announced this name first: it keeps its session under another name.
      this.registry.moveStrangerAside(nick);
      peer = undefined;
    }
    if (!peer) {
      const pinnedKey = key ?? this.registry.pinnedKey(nick);
      const known = pinnedKey ? this.registry.withKey(pinnedKey) : undefined;
      if (known && !known.pinned) {
        // The stranger is the very key the user means: it takes the name.
        this.registry.rename(known, nick);
        peer = known;
      } else {
        peer = this.registry.create(nick, true, [], now);
        if (pinnedKey) this.registry.setKey(peer, pinnedKey);
      }
    }
    peer.pinned = true;
    if (key) {
      this.registry.pinName(nick, key);
      this.registry.unmarkRemoved(key);
      if (spec.nat && spec.nat !== 'unknown') {
        const hex = key.toString('hex');
        this.remoteNat.set(hex, { mapping: spec.nat, addr: spec.addrs[0] });
        this.birthday.reset(hex);
      }
    }
    peer.dialing.setGiven(spec.addrs);
    if (!peer.connected) this.dialer.start(peer, now);
    this.dirty.add(peer);
  }

  /**
   * A key the user expects for `nick` must agree with what is pinned, and
   * must not already belong to another of the user's names.
   */
  private checkExpectedKey(nick: string, key: Buffer): void {
    const named = this.registry.get(nick);
    const pinned =
      this.registry.pinnedKey(nick) ?? (named?.pinned ? named.key : undefined) ?? undefined;
    if (pinned && !pinned.equals(key)) {
      throw new UsageError(
        `${nick} is pinned to key ${fingerprint(pinned)}, but you gave ${fingerprint(key)}: if the key really changed, remove ${nick} first`,
      );
    }
    const keyed = this.registry.withKey(key);
    if (keyed && keyed.nick !== nick && keyed.pinned) {
      throw new UsageError(`the key ${fingerprint(key)} is already known as ${keyed.nick}`);
    }
  }

  removePeer(nick: string, now: number): void {
    this.lastNow = now;
    const peer = this.registry.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    // Someone else's introduction must not bring back a peer the user removed.
    if (peer.key) this.registry.markRemoved(peer.key);
    this.registry.unpin(nick);
    this.forget(peer, 'removed', now, CloseCode.Normal);
  }

  private forget(peer: Peer, reason: string, now: number, code: number): void {
    for (const id of peer.pendingMessageIds()) {
      this.events.push({ type: 'undeliverable', id, peerId: peer.id, nick: peer.nick, reason });
    }
    peer.disconnect(reason, code, now, 'removed');
    peer.dialing.stop();
    this.registry.delete(peer);
    if (peer.key) {
      this.birthday.end(peer.key.toString('hex'));
      this.remoteNat.delete(peer.key.toString('hex'));
    }
    this.handshakes.forgetPeer(peer);
    this.timers.set(peer, undefined);
    this.dirty.delete(peer);
  }

  /** Refuses this key from now on; a connected peer with it is dropped. */
  block(key: Uint8Array, now: number): void {
    this.registry.block(key);
    const peer = this.registry.withKey(key);
    if (peer) this.forget(peer, 'blocked', now, CloseCode.Blocked);
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
    const peer = this.registry.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    const k = Buffer.from(key);
    this.registry.pinName(nick, k);
    this.registry.setKey(peer, k);
    this.dialer.start(peer, now);
    this.dirty.add(peer);
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
      if (peer.connected) peer.disconnect('closed', CloseCode.Normal, now);
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

  // ---- binding a session to a peer -------------------------------------------

  /** Binds a completed session to the right peer record (readme, "Names and trust"). */
  private established(e: Established): Peer | undefined {
    const { session, done, dialed, from, now, sentFlags } = e;
    const key = done.hello.identity;
    const hex = key.toString('hex');
    if (key.equals(this.local.identity.publicKey)) {
      if (dialed) this.dialer.selfAnswered(dialed, from, now);
      return undefined;
    }
    if (this.registry.isBlocked(hex)) {
      this.drop('blocked');
      this.handshakes.refuse(session, CloseCode.Blocked, 'not accepted', now);
      return undefined;
    }
    let peer: Peer | undefined;
    if (dialed) {
      peer = this.bindDialed(dialed, key, from, now);
      if (!peer) {
        // A key we refuse: end its side of the session too.
        this.handshakes.refuse(session, CloseCode.NotAccepted, 'not accepted: key mismatch', now);
        return undefined;
      }
      if (dialed.pinned) this.registry.unmarkRemoved(key);
    } else {
      peer = this.registry.withKey(hex) ?? this.registry.unkeyedAt(from);
      if (!peer) {
        if (
          !this.acceptStrangers ||
          (this.registry.size >= this.registry.maxPeers && !this.evictStranger(now))
        ) {
          this.drop('stranger');
          // Tell it, so it does not believe it is connected.
          this.handshakes.refuse(session, CloseCode.NotAccepted, 'not accepted', now);
          return undefined;
        }
        peer = this.registry.create(
          this.registry.strangerNick(done.hello.nick, key),
          false,
          [],
          now,
        );
      }
      if (!peer.key) this.pin(peer, key);
    }
    peer.announcedNick = done.hello.nick;
    peer.introducible = ((done.hello.flags ?? 0) & HelloFlag.NoIntroductions) === 0;
    const theirNat = natFromFlags(done.hello.flags ?? 0);
    if (theirNat !== 'unknown')
      this.remoteNat.set(hex, { mapping: theirNat, addr: this.remoteNat.get(hex)?.addr ?? from });
    this.birthday.connected(hex, now);
    this.handshakes.bind(session, peer, done.hello.resetToken);
    const outcome = peer.adoptSession(session, done.remoteStatic, now);
    peer.dialing.stop();
    peer.dialing.restart();
    if (outcome !== 'extra') this.introduceAround(peer);
    this.tellNat(peer, natFromFlags(sentFlags));
    this.dirty.add(peer);
    return peer;
  }

  /** A session we dialed for `dialed` completed with `key`: pin or refuse. */
  private bindDialed(dialed: Peer, key: Buffer, from: Addr, now: number): Peer | undefined {
    if (dialed.key && !dialed.key.equals(key)) {
      this.dialer.keyMismatch(dialed, key, from, now);
      return undefined;
    }
    const other = this.registry.withKey(key);
    if (other && other !== dialed) {
      // The key already has a record: a stranger who connected first takes the
      // user's name (it answered where the user said); a second user name for
      // the same key stays separate and hands its queue over.
      for (const m of dialed.takeQueued()) other.queueMessage(m.id, m.streamId, m.data);
      this.registry.delete(dialed);
      this.handshakes.forgetPeer(dialed);
      this.timers.set(dialed, undefined);
      if (!other.pinned) {
        other.pinned = true;
        this.registry.rename(other, dialed.nick);
      } else {
        this.events.push({ type: 'peer', nick: dialed.nick, change: 'removed' });
      }
      other.dialing.setGiven([...other.dialing.givenAddrs, ...dialed.dialing.givenAddrs]);
      return other;
    }
    if (!dialed.key) this.pin(dialed, key);
    return dialed;
  }

  /** First use: a record learns its key; a user's name is pinned to it. */
  private pin(peer: Peer, key: Buffer): void {
    this.registry.setKey(peer, key);
    if (peer.pinned) this.registry.pinName(peer.nick, key);
  }

  /**
   * Makes room for a new stranger by forgetting the one disconnected the
   * longest (never a pinned peer, never one with messages still queued).
   */
  private evictStranger(now: number): boolean {
    const victim = this.registry.evictionCandidate();
    if (!victim) return false;
    this.forget(victim, 'evicted to make room for a new peer', now, CloseCode.Normal);
    return true;
  }

  // ---- introductions and NAT messages (the control stream) ------------------

  /** Tells a newly connected peer about every other connected peer, and them about it. */
  private introduceAround(peer: Peer): void {
    if (!this.introductions || !peer.introducible) return;
    const about = (p: Peer): Introduction | undefined =>
      p.key && p.current
        ? {
            identity: p.key,
            nick: p.announcedNick ?? p.nick,
            addrs: [p.current.path],
            nat: this.remoteNat.get(p.key.toString('hex'))?.mapping ?? 'unknown',
          }
        : undefined;
    const intro = about(peer);
    if (!intro) return;
    for (const other of this.registry.values()) {
      if (other === peer || !other.connected || !other.introducible) continue;
      const otherIntro = about(other);
      if (!otherIntro) continue;
      peer.queueMessage(this.nextMessageId++, CONTROL_STREAM, encodeIntroduction(otherIntro));
      other.queueMessage(this.nextMessageId++, CONTROL_STREAM, encodeIntroduction(intro));
      this.dirty.add(other);
    }
    this.dirty.add(peer);
  }

  /**
   * Tells a connected peer our NAT mapping on the control stream, unless it
   * already has it: `hello` is what the Hello of a session just established
   * said (undefined otherwise). At most one message per change per peer.
   */
  private tellNat(peer: Peer, hello: NatMapping | undefined): void {
    const ours = natFromFlags(this.local.flags);
    // A Hello without NAT bits leaves what the peer knew from us unchanged (see onNatMapping).
    const heard = hello !== undefined && hello !== 'unknown' ? hello : this.natTold.get(peer);
    if ((heard ?? 'unknown') !== ours) {
      peer.queueMessage(this.nextMessageId++, CONTROL_STREAM, encodeNatMapping(ours));
      this.dirty.add(peer);
    }
    this.natTold.set(peer, ours);
  }

  /** A control message from a connected peer. */
  private onControl(fromNick: string, data: Buffer): void {
    const from = this.registry.get(fromNick);
    if (!from) return;
    let msg: ControlMessage;
    try {
      msg = decodeControl(data);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      this.drop('protocol');
      return;
    }
    if (msg.type === 'unknown') {
      // A later version's message: ignore it, keep the session.
      this.drop('unknown-type');
      return;
    }
    if (msg.type === 'nat-mapping') {
      this.onNatMapping(from, msg.nat);
      return;
    }
    if (!this.introductions) return;
    if (!this.introPolicy.admit(from, this.lastNow)) {
      this.drop('rate-limited');
      return;
    }
    this.onIntroduction(from, msg.intro, this.lastNow);
  }

  /**
   * A connected peer's NAT mapping, learned after its Hello: recorded as the
   * Hello flags would have been, so our introductions pass it on. Only a
   * field changes, however often a peer repeats it.
   */
  private onNatMapping(from: Peer, nat: NatMapping): void {
    if (!from.key || !from.connected) return;
    const hex = from.key.toString('hex');
    const known = this.remoteNat.get(hex);
    if (nat === 'unknown' && !known) return;
    this.remoteNat.set(hex, { mapping: nat, addr: known?.addr ?? from.current?.path });
  }

  /**
   * Punch towards an introduced peer: a record keyed to the introduced
   * identity (so nobody else can answer for it), its addresses as learned
   * candidates with a few attempts each (never replacing what the user
   * gave), within the node-wide budget, and then a reason in its state. The
   * introduced peer is told about us at the same time and punches back,
   * which opens both NATs.
   */
  private onIntroduction(from: Peer, intro: Introduction, now: number): void {
    const hex = intro.identity.toString('hex');
    if (intro.identity.equals(this.local.identity.publicKey) || this.registry.isBlocked(hex))
      return;
    if (this.registry.wasRemoved(intro.identity)) return;
    const targets = this.introPolicy.targets(intro.addrs, from.current?.path);
    if (targets.length === 0) return;
    let peer = this.registry.withKey(hex);
    if (peer?.connected) return;
    // A peer that closed its session with us said goodbye; a third party's
    // mention is no reason to call it back.
    if (peer?.state.kind === 'disconnected' && peer.state.cause.kind === 'remote') return;
    if (!peer) {
      // A name the user gave, still dialing one of these addresses: punch
      // from that record. Its key comes only from its own handshake; an
      // introduction never pins a key to a user's name.
      const named = targets.map((a) => this.registry.unkeyedAt(a)).find((p) => p !== undefined);
      if (named) {
        this.dialer.start(named, now);
        return;
      }
      if (!this.acceptStrangers) return;
      if (this.registry.size >= this.registry.maxPeers && !this.evictStranger(now)) return;
      peer = this.registry.create(
        this.registry.strangerNick(intro.nick, intro.identity),
        false,
        [],
        now,
      );
      this.registry.setKey(peer, intro.identity);
      peer.introducedBy = from.nick;
    }
    if (intro.nat && intro.nat !== 'unknown' && (!peer.pinned || !this.remoteNat.has(hex))) {
      this.remoteNat.set(hex, { mapping: intro.nat, addr: targets[0] });
      this.birthday.reset(hex);
    }
    for (const a of targets) peer.dialing.learn(a, 'introduction');
    this.dialer.start(peer, now);
  }

  // ---- many-port probing (birthday.ts) ----------------------------------------

  /** Starts many-port probing toward `peer` when one side's NAT is symmetric and the other's is not. */
  private considerBirthday(peer: Peer, now: number): void {
    if (!peer.key || peer.connected) return;
    const hex = peer.key.toString('hex');
    const theirs = this.remoteNat.get(hex);
    if (!theirs?.addr) return;
    const role = birthdayRole(this.stun?.summary().behaviour ?? 'unknown', theirs.mapping);
    if (!role) return;
    const token = probeToken(this.local.identity.publicKey, peer.key);
    this.birthday.start(hex, role, token, theirs.addr, now);
  }

  /** What the NATs on both sides make of a failed dial, in words (undefined: nothing known). */
  private natFailure(peer: Peer): string | undefined {
    if (!peer.key) return undefined;
    const hex = peer.key.toString('hex');
    const ours = this.stun?.summary().behaviour;
    if (ours === 'endpoint-dependent' && this.remoteNat.get(hex)?.mapping === 'endpoint-dependent')
      return 'both sides are behind symmetric NATs: a relay is needed';
    const failed = this.birthday.failure(hex);
    return failed ? `${failed}: a relay is needed` : undefined;
  }

  /** A PROBE: a hit means a path through a symmetric NAT is open: dial through it now. */
  private onProbe(
    kind: number,
    token: Uint8Array,
    from: Addr,
    via: number | undefined,
    now: number,
  ): void {
    const r = this.birthday.onProbe(kind, token, from, via, now);
    if (r === 'drop') {
      this.drop('unknown-session');
      return;
    }
    if (r === 'ok') return;
    const peer = this.registry.withKey(r.key);
    if (!peer || peer.connected || peer.state.kind === 'key-mismatch') return;
    peer.dialing.learn(r.addr, 'probe');
    this.dialer.start(peer, now);
  }
}

function natFromFlags(flags: number): NatMapping {
  if (flags & HelloFlag.NatDependent) return 'endpoint-dependent';
  if (flags & HelloFlag.NatIndependent) return 'endpoint-independent';
  return 'unknown';
}

function validMaxDatagram(size: number | undefined): number {
  if (size === undefined) return MAX_PLPMTU;
  if (!isValidMaxDatagram(size)) {
    throw new UsageError(
      `maxDatagramSize must be a whole number of bytes from ${BASE_PLPMTU} to ${MAX_PLPMTU}, not ${size}`,
    );
  }
  return size;
}
