import { randomBytes } from 'node:crypto';
import type { CipherName } from '../crypto/cipher.js';
import { fingerprint, type Identity, shortFingerprint } from '../crypto/identity.js';
import type { HandshakeState } from '../crypto/noise.js';
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
import { StunClient, type StunClientOptions, type StunSummary } from '../nat/stun.js';
import { BASE_PLPMTU, isValidMaxDatagram, MAX_PLPMTU } from '../recovery/pmtu.js';
import { CloseCode } from '../wire/frames.js';
import { HelloFlag } from '../wire/hello.js';
import {
  decodePacket,
  encodeCookie,
  encodeFinish,
  encodeInit,
  encodeReject,
  encodeReset,
  encodeResp,
  isStun,
  type Packet,
  PacketType,
  RejectReason,
} from '../wire/packet.js';
import { type Addr, addrKey, sameAddr } from './address.js';
import { Session } from './conn/session.js';
import { MAX_MESSAGE_SIZE } from './conn/stream.js';
import { BadPacket, type DropReason, UsageError } from './errors.js';
import type { EndpointEvent, NatMapping, PeerState } from './events.js';
import { CookieJar, TokenBucket } from './handshake/cookies.js';
import {
  type Completed,
  cipherFromId,
  cipherId,
  createLocalNode,
  initiatorFinish,
  type LocalNode,
  resetToken,
  respond,
  responderFinish,
  startInitiator,
} from './handshake/handshake.js';
import { closePacket, Peer, type PeerHost, type PeerTotals } from './peers/peer.js';
import { Fifo } from './queue.js';
import { earliest, TimerHeap } from './timerheap.js';

/**
 * The sans-I/O heart of the transport: demultiplexes datagrams to sessions
 * (by our session index, so a peer that changes address is still found),
 * runs handshakes, owns peers and their names, and reports events. It never
 * reads a clock, opens a socket or sets a timer: callers pass `now` (ms, any
 * monotonic origin), drain `pollTransmit()` / `pollEvent()` and call
 * `handleTimeout()` at `nextDeadline()`.
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
  /** For tests: Noise REKEY interval in packets. */
  rekeyInterval?: number;
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

export interface PeerStats extends PeerTotals {
  smoothedRtt: number | undefined;
  minRtt: number | undefined;
  rttVariance: number | undefined;
  lossRate: number;
  congestionWindow: number | undefined;
  bytesInFlight: number;
  recoveries: number;
  /** Datagram size in use on the current session's path (1200 until a larger probe is acked). */
  mtu: number | undefined;
  lastSeen: number | undefined;
  path: 'direct' | 'none';
}

export interface PeerSnapshot {
  id: number;
  nick: string;
  /** The user chose this name (addPeers); otherwise it is the peer's announced nick. */
  pinned: boolean;
  announcedNick: string | undefined;
  address: Addr | undefined;
  fingerprint: string | undefined;
  state: PeerState;
  stats: PeerStats;
}

export type DropCounts = Record<DropReason, number>;

export interface EndpointStats {
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: DropCounts;
  /** Handshake-layer packets (INIT, RESP, FINISH, COOKIE, RESET, REJECT) accepted for processing. */
  handshakePackets: number;
  /** STUN messages seen on the socket (answered by the STUN layer, when there is one). */
  stun: number;
}

/** Handshake attempts back off 0.5, 1, 2, 4, 8 s, then every 15 s. */
const DIAL_BACKOFF = [500, 1000, 2000, 4000, 8000];
const DIAL_RETRY = 15_000;
const ATTEMPTS_BEFORE_UNREACHABLE = DIAL_BACKOFF.length + 1;
/** Half-open handshakes we keep, and how long (bounded state under floods). */
const MAX_RESPONDING = 1024;
const RESPONDING_TTL = 10_000;
const DIAL_TTL = 20_000;
const SWEEP_INTERVAL = 1000;
/** A retransmitted INIT is answered again at most this many times. */
const MAX_RESP_RESENDS = 4;
/** Handshakes a second we answer without asking for a cookie (after a burst). */
const INIT_RATE = 200;
const INIT_BURST = 200;
/** Half-open handshakes per source IP, and in all, before cookies are demanded. */
const MAX_RESPONDING_PER_IP = 8;
const LOAD_HALF_OPEN = MAX_RESPONDING / 4;
/** Cookies we hold for servers that asked us for one. */
const MAX_COOKIES = 1024;
const COOKIE_TTL = 110_000;
/** Stateless resets we send: a burst, refilled at this rate per second. */
const RESET_BURST = 50;
const RESET_RATE = 50;
/** Punches towards an introduced address before giving up on it (bounded reflection). */
const INTRO_DIAL_ATTEMPTS = 5;
const INTRO_RATE_PER_MINUTE = 32;
/** Reassembly memory all peers together may hold in us. */
const TOTAL_REASSEMBLY_LIMIT = 256 * 1024 * 1024;
/** Most stranger records we keep (connected or recently seen). */
export const MAX_PEERS = 4096;

interface Dial {
  peer: Peer;
  state: HandshakeState;
  to: Addr;
  sentAt: number;
  /** The Noise message, kept to resend the INIT once with a cookie. */
  message: Buffer;
  cookieRetried: boolean;
}

interface Responding {
  state: HandshakeState;
  remoteIndex: number;
  from: Addr;
  resp: Buffer;
  createdAt: number;
  resends: number;
  origin: string;
  /** Our Hello flags in the RESP (so we know which NAT mapping that peer was told). */
  helloFlags: number;
}

const NICK_PATTERN = /^[\p{L}\p{N}_.-]{1,32}$/u;

/** Nicks name peers in commands (`/msg bob hi`): letters, digits, `_ . -`, 1-32 long. */
export function validateNick(nick: string): string {
  if (!NICK_PATTERN.test(nick)) {
    throw new UsageError(
      `bad nickname "${nick}": use 1-32 letters, digits, "_", "." or "-" (no spaces)`,
    );
  }
  return nick;
}

function emptyDrops(): DropCounts {
  return {
    truncated: 0,
    malformed: 0,
    version: 0,
    'unknown-type': 0,
    'unknown-session': 0,
    decrypt: 0,
    replay: 0,
    handshake: 0,
    'rate-limited': 0,
    blocked: 0,
    stranger: 0,
    protocol: 0,
  };
}

export class Endpoint {
  readonly local: LocalNode;
  readonly fingerprint: string;
  readonly stats: EndpointStats = {
    datagramsIn: 0,
    datagramsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    dropped: emptyDrops(),
    handshakePackets: 0,
    stun: 0,
  };
  private dropTotal = 0;
  acceptStrangers: boolean;

  private readonly byNick = new Map<string, Peer>();
  private readonly byKey = new Map<string, Peer>();
  private readonly pins = new Map<string, Buffer>();
  private readonly blocked = new Set<string>();
  private readonly sessions = new Map<number, { peer: Peer; session: Session }>();
  private readonly dials = new Map<number, Dial>();
  /** Peers' reset tokens (hex) → our session index, to verify RESET packets in O(1). */
  private readonly resetTokens = new Map<string, number>();
  private stun: StunClient | undefined;
  private readonly cookieJar = new CookieJar();
  private readonly initBucket = new TokenBucket(INIT_RATE, INIT_BURST);
  /** Cookies servers gave us, by their address. */
  private readonly cookies = new Map<string, { cookie: Buffer; at: number }>();
  private readonly respondingPerIp = new Map<string, number>();
  private readonly reportedMismatch = new Set<string>();
  private resetBudget = RESET_BURST;
  private reassemblyBytes = 0;
  private resetBudgetAt = 0;
  private readonly responding = new Map<number, Responding>();
  private readonly respondingByOrigin = new Map<string, number>();
  private readonly transmits = new Fifo<Transmit>();
  private readonly events = new Fifo<EndpointEvent>();
  private readonly timers = new TimerHeap<Peer>();
  private readonly dirty = new Set<Peer>();
  private nextPeerId = 1;
  private nextMessageId = 1;
  private nextSweep: number | undefined;
  private lastNow = 0;
  private readonly rekeyInterval: number | undefined;
  private readonly maxDatagram: number;
  private readonly maxPeers: number;
  private readonly introductions: boolean;
  /** Introductions each peer may send us: a burst, then a slow refill. */
  private readonly introBudgets = new WeakMap<Peer, TokenBucket>();
  /** Keys the user removed: introductions about them are ignored. */
  private readonly removedKeys = new Set<string>();
  private readonly randomIndex: () => number;
  private readonly host: PeerHost;
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
    for (const k of config.blocked ?? []) this.blocked.add(Buffer.from(k).toString('hex'));
    for (const [nick, key] of config.pins ?? []) this.pins.set(nick, Buffer.from(key));
    this.rekeyInterval = config.rekeyInterval;
    this.maxDatagram = validMaxDatagram(config.maxDatagramSize);
    this.maxPeers = config.maxPeers ?? MAX_PEERS;
    this.randomIndex = config.randomIndex ?? (() => randomBytes(4).readUInt32BE(0));
    this.birthday = new Birthday((t) => {
      this.stats.datagramsOut++;
      this.stats.bytesOut += t.data.length;
      this.transmits.push(t);
    }, config.randomUnit);
    this.host = {
      emit: (e) => {
        // The control stream is ours, not the application's.
        if (e.type === 'message' && e.stream === CONTROL_STREAM) this.onControl(e.nick, e.data);
        else this.events.push(e);
      },
      transmit: (to, data) => this.transmit(to, data),
      forgetSession: (s) => {
        this.sessions.delete(s.localIndex);
        if (s.remoteResetToken) this.resetTokens.delete(s.remoteResetToken.toString('hex'));
      },
      countDrop: (r) => this.drop(r),
      reserveReassembly: (delta) => {
        this.reassemblyBytes += delta;
        return this.reassemblyBytes <= TOTAL_REASSEMBLY_LIMIT;
      },
    };
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
      else this.dispatch(packet, from, now);
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
      const died = peer.onTimeout(now);
      if (died !== undefined) {
        this.events.push({ type: 'peer', nick: peer.nick, change: 'disconnected' });
        if (peer.pinned && peer.dialAddrs.length > 0) this.scheduleDial(peer, now, 0);
      }
      if (peer.nextDialAt !== undefined && peer.nextDialAt <= now) this.dial(peer, now);
      this.dirty.add(peer);
    }
    if (this.nextSweep !== undefined && this.nextSweep <= now) this.sweep(now);
    const birthdayAt = this.birthday.nextDeadline();
    if (birthdayAt !== undefined && birthdayAt <= now)
      this.birthday.handleTimeout(now, (key) => this.byKey.get(key)?.connected === true);
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
      for (const p of this.byNick.values()) if (p.connected) this.tellNat(p, undefined);
    this.events.push({
      type: 'stun',
      publicAddress: sum.mapped,
      mapping: sum.behaviour,
      done: sum.done,
    });
  }

  // ---- commands ---------------------------------------------------------------

  /**
   * Adds (or re-addresses) a peer under a name the user chose. The name is
   * pinned to whatever key answers there first (or to a key already pinned).
   */
  addPeer(
    nick: string,
    addrs: Addr[],
    now: number,
    expectedKey?: Uint8Array,
    /** From an invite code: how the peer's NAT maps it (its first address is then the reflexive one). */
    nat?: NatMapping,
  ): void {
    this.lastNow = now;
    validateNick(nick);
    if (addrs.length === 0) throw new UsageError(`no address for ${nick}`);
    if (expectedKey) this.pinFromInvite(nick, Buffer.from(expectedKey));
    if (expectedKey && nat && nat !== 'unknown') {
      const hex = Buffer.from(expectedKey).toString('hex');
      this.remoteNat.set(hex, { mapping: nat, addr: addrs[0] });
      this.birthday.reset(hex);
    }
    let peer = this.byNick.get(nick);
    if (!peer) {
      const pinnedKey = this.pins.get(nick);
      const known = pinnedKey ? this.byKey.get(pinnedKey.toString('hex')) : undefined;
      if (known) {
        this.rename(known, nick);
        peer = known;
      } else {
        peer = new Peer(this.nextPeerId++, nick, true, addrs, now, this.host);
        if (pinnedKey) this.setKey(peer, pinnedKey);
        this.byNick.set(nick, peer);
      }
      this.events.push({ type: 'peer', nick, change: 'added' });
    }
    peer.pinned = true;
    peer.dialAddrs = addrs;
    if (!peer.connected && peer.state.kind !== 'key-mismatch') {
      peer.state = { kind: 'connecting', since: now, attempt: 0 };
      peer.dialAttempt = 0;
      this.dial(peer, now);
    }
    this.dirty.add(peer);
  }

  /**
   * An invite code names the key to expect: pin it, unless the name is
   * already pinned to another key (that is reported, never silently taken).
   */
  private pinFromInvite(nick: string, key: Buffer): void {
    const pinned = this.pins.get(nick) ?? this.byNick.get(nick)?.key;
    if (pinned && !pinned.equals(key)) {
      throw new UsageError(
        `${nick} is pinned to key ${shortFingerprint(pinned)}, but the invite code carries ${shortFingerprint(key)}: if the key really changed, remove ${nick} first`,
      );
    }
    const keyed = this.byKey.get(key.toString('hex'));
    if (keyed && keyed.nick !== nick && keyed.pinned) {
      throw new UsageError(`the key in that invite code is already known as ${keyed.nick}`);
    }
    if (!pinned) {
      this.pins.set(nick, key);
      this.events.push({ type: 'pinned', nick, fingerprint: fingerprint(key) });
    }
  }

  removePeer(nick: string, now: number): void {
    this.lastNow = now;
    const peer = this.byNick.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    // Someone else's introduction must not bring back a peer the user removed.
    if (peer.key) {
      if (this.removedKeys.size >= 1024)
        this.removedKeys.delete(this.removedKeys.values().next().value!);
      this.removedKeys.add(peer.key.toString('hex'));
    }
    this.forget(peer, 'removed', now, CloseCode.Normal);
  }

  private forget(peer: Peer, reason: string, now: number, code: number): void {
    for (const id of peer.pendingMessageIds()) {
      this.events.push({ type: 'undeliverable', id, peerId: peer.id, nick: peer.nick, reason });
    }
    peer.disconnect(reason, now, { code });
    peer.nextDialAt = undefined;
    this.byNick.delete(peer.nick);
    if (peer.key) {
      this.byKey.delete(peer.key.toString('hex'));
      this.birthday.end(peer.key.toString('hex'));
      this.remoteNat.delete(peer.key.toString('hex'));
    }
    for (const [index, dial] of this.dials) if (dial.peer === peer) this.dials.delete(index);
    this.timers.set(peer, undefined);
    this.dirty.delete(peer);
    this.events.push({ type: 'peer', nick: peer.nick, change: 'removed' });
  }

  /** Refuses this key from now on; a connected peer with it is dropped. */
  block(key: Uint8Array, now: number): void {
    const hex = Buffer.from(key).toString('hex');
    this.blocked.add(hex);
    const peer = this.byKey.get(hex);
    if (peer) this.forget(peer, 'blocked', now, CloseCode.Blocked);
  }

  unblock(key: Uint8Array): void {
    this.blocked.delete(Buffer.from(key).toString('hex'));
  }

  /** Accepts a changed key for a pinned name (after the user compared fingerprints). */
  trust(nick: string, key: Uint8Array, now: number): void {
    const peer = this.byNick.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    this.pins.set(nick, Buffer.from(key));
    if (peer.key) this.byKey.delete(peer.key.toString('hex'));
    peer.key = undefined;
    this.setKey(peer, Buffer.from(key));
    peer.state = { kind: 'connecting', since: now, attempt: 0 };
    peer.dialAttempt = 0;
    this.dial(peer, now);
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
      targets = [...this.byNick.values()].filter((p) => p.connected);
    } else {
      const only = recipients.length === 1 ? this.byNick.get(recipients[0]!) : undefined;
      if (only)
        targets = [only]; // the common unicast: no filter, Set or map
      else {
        const unknown = recipients.filter((n) => !this.byNick.has(n));
        if (unknown.length > 0)
          throw new UsageError(
            `unknown peer${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
          );
        targets = [...new Set(recipients)].map((n) => this.byNick.get(n)!);
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
    for (const peer of this.byNick.values()) {
      peer.disconnect('closed', now, { code: CloseCode.Normal });
      peer.nextDialAt = undefined;
      this.timers.set(peer, undefined);
    }
    this.dirty.clear();
    this.dials.clear();
    this.responding.clear();
    this.respondingByOrigin.clear();
    this.respondingPerIp.clear();
    this.nextSweep = undefined;
    this.birthday.closeAll();
  }

  /** Bytes queued for a peer and not yet acknowledged (0 for an unknown nick). */
  queuedBytes(nick: string): number {
    return this.byNick.get(nick)?.unacknowledgedBytes ?? 0;
  }

  /** Unacknowledged bytes queued for all peers together. */
  totalQueuedBytes(): number {
    let n = 0;
    for (const p of this.byNick.values()) n += p.unacknowledgedBytes;
    return n;
  }

  connectedNicks(): string[] {
    const out: string[] = [];
    for (const p of this.byNick.values()) if (p.connected) out.push(p.nick);
    return out;
  }

  /** Reassembly memory held for all peers. */
  get reassemblyBytesHeld(): number {
    return this.reassemblyBytes;
  }

  /** Half-open handshakes held (bounded; see MAX_RESPONDING). */
  get halfOpenCount(): number {
    return this.responding.size;
  }

  peers(): PeerSnapshot[] {
    return [...this.byNick.values()].map((p) => this.snapshot(p));
  }

  hasPeer(nick: string): boolean {
    return this.byNick.has(nick);
  }

  peer(nick: string): PeerSnapshot | undefined {
    const p = this.byNick.get(nick);
    return p && this.snapshot(p);
  }

  private snapshot(p: Peer): PeerSnapshot {
    const s = p.current;
    const totals = p.totals();
    return {
      id: p.id,
      nick: p.nick,
      pinned: p.pinned,
      announcedNick: p.announcedNick,
      address: p.address,
      fingerprint: p.key ? fingerprint(p.key) : undefined,
      state: p.state,
      stats: {
        ...totals,
        smoothedRtt: s?.loss.rtt.hasSample ? s.loss.rtt.smoothedRtt : undefined,
        minRtt: s?.loss.rtt.hasSample ? s.loss.rtt.minRtt : undefined,
        rttVariance: s?.loss.rtt.hasSample ? s.loss.rtt.rttVar : undefined,
        lossRate: totals.packetsSent > 0 ? totals.packetsLost / totals.packetsSent : 0,
        congestionWindow: s?.loss.cc.congestionWindow,
        bytesInFlight: s?.loss.cc.bytesInFlight ?? 0,
        recoveries: s?.loss.cc.recoveryCount ?? 0,
        mtu: s?.pmtu.size,
        lastSeen: p.lastSeen,
        path: s ? 'direct' : 'none',
      },
    };
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

  private newIndex(): number {
    for (;;) {
      const i = this.randomIndex() >>> 0;
      if (!this.sessions.has(i) && !this.dials.has(i) && !this.responding.has(i)) return i;
    }
  }

  private armSweep(now: number): void {
    this.nextSweep ??= now + SWEEP_INTERVAL;
  }

  /** Expires half-open handshakes and old dial attempts. */
  private sweep(now: number): void {
    for (const [index, r] of this.responding) {
      if (now - r.createdAt < RESPONDING_TTL) break; // insertion order = age order
      this.forgetResponding(index);
    }
    for (const [index, d] of this.dials) if (now - d.sentAt >= DIAL_TTL) this.dials.delete(index);
    this.nextSweep = this.responding.size + this.dials.size > 0 ? now + SWEEP_INTERVAL : undefined;
  }

  private scheduleDial(peer: Peer, now: number, delay: number): void {
    peer.nextDialAt = now + delay;
    this.dirty.add(peer);
  }

  /** Sends a fresh INIT to every address we know for the peer. */
  private dial(peer: Peer, now: number): void {
    if (peer.connected || peer.dialAddrs.length === 0) {
      peer.nextDialAt = undefined;
      return;
    }
    if (peer.maxDialAttempts !== undefined && peer.dialAttempt >= peer.maxDialAttempts) {
      // An introduced address that never answered: stop, and say why.
      peer.nextDialAt = undefined;
      peer.state = {
        kind: 'unreachable',
        since: now,
        reason: this.natFailure(peer)
          ? `no answer from any candidate (introduced by ${peer.introducedBy ?? 'a peer'}); ${this.natFailure(peer)}`
          : this.stun?.summary().behaviour === 'endpoint-dependent'
            ? `no answer from any candidate (introduced by ${peer.introducedBy ?? 'a peer'}); this node is behind a symmetric NAT (STUN): a relay is needed`
            : `no answer from any candidate (introduced by ${peer.introducedBy ?? 'a peer'}); both sides may be behind NATs that need a relay`,
      };
      this.events.push({ type: 'peer', nick: peer.nick, change: 'state' });
      return;
    }
    peer.dialAttempt++;
    if (peer.state.kind === 'connecting') peer.state = { ...peer.state, attempt: peer.dialAttempt };
    if (peer.dialAttempt === ATTEMPTS_BEFORE_UNREACHABLE && peer.state.kind === 'connecting') {
      const symmetric = this.stun?.summary().behaviour === 'endpoint-dependent';
      const natWhy = this.natFailure(peer);
      peer.state = {
        kind: 'unreachable',
        since: now,
        reason: natWhy
          ? `no answer from any address; ${natWhy}`
          : symmetric
            ? 'no answer from any address; this node is behind a symmetric NAT (STUN), so the other side must be reachable or a relay is needed'
            : 'no answer from any address',
      };
      this.events.push({ type: 'peer', nick: peer.nick, change: 'state' });
      this.events.push({
        type: 'error',
        code: 'unreachable',
        message: `${peer.nick}: no answer from ${peer.dialAddrs.map(addrKey).join(', ')}; still trying every ${DIAL_RETRY / 1000} s`,
        nick: peer.nick,
      });
    }
    this.considerBirthday(peer, now);
    for (const to of peer.dialAddrs) {
      const index = this.newIndex();
      const { state, message } = startInitiator(this.local);
      this.dials.set(index, { peer, state, to, sentAt: now, message, cookieRetried: false });
      const jar = this.cookies.get(addrKey(to));
      const cookie = jar && now - jar.at < COOKIE_TTL ? jar.cookie : undefined;
      this.transmit(to, encodeInit(index, cipherId(this.local.cipher), message, cookie));
    }
    const delay = DIAL_BACKOFF[peer.dialAttempt - 1] ?? DIAL_RETRY;
    peer.nextDialAt = now + delay;
    this.armSweep(now);
    this.dirty.add(peer);
  }

  private dispatch(p: Packet, from: Addr, now: number): void {
    switch (p.type) {
      case PacketType.Data:
        this.onData(p.receiver, p.pn, p.header, p.sealed, from, now);
        return;
      case PacketType.Init:
        this.onInit(p.sender, p.cipher, p.cookie, p.noise, from, now);
        return;
      case PacketType.Cookie:
        this.onCookie(p.receiver, p.cookie, from, now);
        return;
      case PacketType.Resp:
        this.onResp(p.sender, p.receiver, p.noise, from, now);
        return;
      case PacketType.Finish:
        this.onFinish(p.receiver, p.noise, from, now);
        return;
      case PacketType.Reject:
        this.onReject(p.receiver, p.reason, p.detail, from);
        return;
      case PacketType.Reset:
        this.onReset(p.token, from, now);
        return;
    }
  }

  private onData(
    index: number,
    pn: number,
    header: Uint8Array,
    sealed: Uint8Array,
    from: Addr,
    now: number,
  ): void {
    const entry = this.sessions.get(index);
    if (!entry) {
      this.drop('unknown-session');
      // A half-open handshake on this index is no dead session: its FINISH is late or lost and
      // the initiator already sends DATA. A RESET (its token is the one we announced for this
      // very session) would kill the session about to be born (RFC 9000 §10.3: resets are for
      // connections we have no state for).
      if (!this.responding.has(index)) this.sendReset(index, from, now);
      return;
    }
    const { peer, session } = entry;
    const opened = session.open(header, pn, sealed, now);
    if (!opened.ok) {
      this.drop(opened.reason);
      return;
    }
    peer.onPayload(session, pn, opened.payload, from, now, opened.newest);
    if (!peer.connected && peer.state.kind === 'disconnected') {
      this.events.push({ type: 'peer', nick: peer.nick, change: 'disconnected' });
      if (peer.pinned && peer.dialAddrs.length > 0) {
        // Refused outright: ask again only slowly.
        const refused = peer.state.reason.includes('not accepted');
        this.scheduleDial(peer, now, refused ? DIAL_RETRY : DIAL_BACKOFF[0]!);
      }
    }
    this.dirty.add(peer);
  }

  /**
   * DATA for a session we do not have: perhaps we restarted and the peer
   * still talks to our old session. A RESET (smaller than the DATA that
   * triggered it, and rate-limited) tells it at once instead of after the
   * idle timeout. Its token is derived from our identity and that index, so
   * only we can make it, even after a restart (RFC 9000 §10.3).
   */
  private sendReset(index: number, to: Addr, now: number): void {
    this.resetBudget = Math.min(
      RESET_BURST,
      this.resetBudget + ((now - this.resetBudgetAt) * RESET_RATE) / 1000,
    );
    this.resetBudgetAt = now;
    if (this.resetBudget < 1) return;
    this.resetBudget--;
    this.transmit(to, encodeReset(index, resetToken(this.local, index)));
  }

  private onReset(token: Uint8Array, from: Addr, now: number): void {
    const index = this.resetTokens.get(Buffer.from(token).toString('hex'));
    const entry = index === undefined ? undefined : this.sessions.get(index);
    if (!entry) {
      this.drop('unknown-session');
      return;
    }
    const { peer, session } = entry;
    peer.retireSession(session, true);
    if (peer.connected) return;
    peer.connectedSince = undefined;
    peer.state = {
      kind: 'disconnected',
      since: now,
      reason: 'the peer no longer has this session (stateless reset: it restarted or dropped it)',
    };
    this.events.push({ type: 'peer', nick: peer.nick, change: 'disconnected' });
    // Reconnect at once: where the user told us, else where the reset came from.
    if (peer.dialAddrs.length === 0) peer.dialAddrs = [from];
    peer.dialAttempt = 0;
    this.dial(peer, now);
  }

  private onInit(
    sender: number,
    cipher: number,
    cookie: Uint8Array,
    noise: Uint8Array,
    from: Addr,
    now: number,
  ): void {
    const theirs = cipherFromId(cipher);
    if (theirs !== this.local.cipher) {
      this.transmit(
        from,
        encodeReject(sender, RejectReason.CipherMismatch, cipherId(this.local.cipher)),
      );
      // Reported once per address: a flood of such INITs must not flood events.
      const key = addrKey(from);
      if (!this.reportedMismatch.has(key) && this.reportedMismatch.size < 256) {
        this.reportedMismatch.add(key);
        this.events.push({
          type: 'error',
          code: 'cipher-mismatch',
          message: `${key} offered ${theirs ?? `unknown cipher ${cipher}`}, but this node uses ${this.local.cipher}`,
          address: from,
        });
      }
      this.drop('handshake');
      return;
    }
    const origin = `${addrKey(from)}/${sender}`;
    const existing = this.respondingByOrigin.get(origin);
    if (existing !== undefined) {
      // A retransmitted INIT: our RESP was lost. Answer again, a bounded number of times.
      const r = this.responding.get(existing);
      if (r && r.resends < MAX_RESP_RESENDS) {
        r.resends++;
        this.transmit(from, r.resp);
      }
      return;
    }
    const perIp = this.respondingPerIp.get(from.address) ?? 0;
    const underLoad =
      this.responding.size >= LOAD_HALF_OPEN ||
      perIp >= MAX_RESPONDING_PER_IP ||
      !this.initBucket.take(now);
    if (underLoad && !this.cookieJar.verify(cookie, from, now)) {
      // Stateless: 22 bytes back for 320 in, and nothing remembered.
      this.transmit(from, encodeCookie(sender, this.cookieJar.make(from, now)));
      this.drop('rate-limited');
      return;
    }
    if (perIp >= MAX_RESPONDING_PER_IP) {
      this.drop('rate-limited');
      return;
    }
    const index = this.newIndex();
    const { state, message } = respond(this.local, noise, index);
    if (this.responding.size >= MAX_RESPONDING) {
      const [oldest] = this.responding.keys();
      this.forgetResponding(oldest!);
    }
    const resp = encodeResp(index, sender, message);
    this.responding.set(index, {
      state,
      remoteIndex: sender,
      from,
      resp,
      createdAt: now,
      resends: 0,
      origin,
      helloFlags: this.local.flags,
    });
    this.respondingByOrigin.set(origin, index);
    this.respondingPerIp.set(from.address, perIp + 1);
    this.armSweep(now);
    this.transmit(from, resp);
  }

  private forgetResponding(index: number): void {
    const r = this.responding.get(index);
    if (!r) return;
    this.responding.delete(index);
    this.respondingByOrigin.delete(r.origin);
    const n = (this.respondingPerIp.get(r.from.address) ?? 1) - 1;
    if (n > 0) this.respondingPerIp.set(r.from.address, n);
    else this.respondingPerIp.delete(r.from.address);
  }

  /** The server is under load and wants proof of our address: resend once with its cookie. */
  private onCookie(receiver: number, cookie: Uint8Array, from: Addr, now: number): void {
    const dial = this.dials.get(receiver);
    if (!dial || dial.cookieRetried || !sameAddr(dial.to, from)) {
      this.drop('unknown-session');
      return;
    }
    dial.cookieRetried = true;
    const key = addrKey(from);
    if (!this.cookies.has(key) && this.cookies.size >= MAX_COOKIES) {
      const [oldest] = this.cookies.keys();
      this.cookies.delete(oldest!);
    }
    this.cookies.set(key, { cookie: Buffer.from(cookie), at: now });
    this.transmit(from, encodeInit(receiver, cipherId(this.local.cipher), dial.message, cookie));
  }

  private onResp(
    sender: number,
    receiver: number,
    noise: Uint8Array,
    from: Addr,
    now: number,
  ): void {
    const dial = this.dials.get(receiver);
    if (!dial) {
      // Our FINISH was lost and the responder re-sent RESP: resend FINISH.
      const entry = this.sessions.get(receiver);
      if (entry?.session.finish && !entry.session.confirmed)
        this.transmit(entry.session.path, entry.session.finish);
      else this.drop('unknown-session');
      return;
    }
    const done = initiatorFinish(this.local, dial.state, noise, receiver);
    this.dials.delete(receiver);
    const session = this.newSession(done, receiver, sender, true, from, now, dial.sentAt);
    session.finish = encodeFinish(sender, done.message);
    session.finishDeadline = now + Math.max(3 * session.loss.rtt.smoothedRtt, 100);
    this.transmit(from, session.finish);
    // initiatorFinish wrote our Hello just now, with the current flags.
    this.established(session, done, dial.peer, from, now, this.local.flags);
  }

  /** A session from a completed handshake, begun (our INIT sent, or theirs received) at `startedAt`. */
  private newSession(
    done: Completed,
    localIndex: number,
    remoteIndex: number,
    initiator: boolean,
    from: Addr,
    now: number,
    startedAt: number,
  ): Session {
    const session = new Session({
      localIndex,
      remoteIndex,
      initiator,
      initiatorStatic: initiator ? this.local.staticKey.publicKey : done.remoteStatic,
      remoteStatic: done.remoteStatic,
      sendKey: done.sendKey,
      recvKey: done.recvKey,
      path: from,
      now,
      ...(this.rekeyInterval ? { rekeyInterval: this.rekeyInterval } : {}),
      maxDatagram: this.maxDatagram,
    });
    // The handshake round trip is a genuine RTT sample (RFC 9002 §5.1 allows any).
    session.loss.rtt.update(Math.max(now - startedAt, 0.01), 0, 0);
    return session;
  }

  private onFinish(receiver: number, noise: Uint8Array, from: Addr, now: number): void {
    const r = this.responding.get(receiver);
    if (!r) {
      const entry = this.sessions.get(receiver);
      if (entry) {
        // A re-sent FINISH: our confirmation was lost; send another.
        entry.peer.requestPing();
        this.dirty.add(entry.peer);
      } else this.drop('unknown-session');
      return;
    }
    const done = responderFinish(this.local, r.state, noise);
    this.forgetResponding(receiver);
    const session = this.newSession(done, receiver, r.remoteIndex, false, from, now, r.createdAt);
    const peer = this.established(session, done, undefined, from, now, r.helloFlags);
    // Confirm at once, so the initiator stops re-sending FINISH.
    peer?.requestPing();
  }

  private onReject(receiver: number, reason: number, detail: number, from: Addr): void {
    const dial = this.dials.get(receiver);
    // Unauthenticated and advisory: it can only explain a failure, never cause one.
    if (!dial || !sameAddr(dial.to, from)) {
      this.drop('unknown-session');
      return;
    }
    if (reason === RejectReason.CipherMismatch) {
      const theirs = cipherFromId(detail) ?? `unknown cipher ${detail}`;
      const message = `${dial.peer.nick} at ${addrKey(from)} uses ${theirs}, but this node uses ${this.local.cipher}: both sides must choose the same cipher`;
      if (dial.peer.state.kind !== 'unreachable' || dial.peer.state.reason !== message) {
        dial.peer.state = { kind: 'unreachable', since: this.lastNow, reason: message };
        this.events.push({
          type: 'error',
          code: 'cipher-mismatch',
          message,
          nick: dial.peer.nick,
          address: from,
        });
        this.events.push({ type: 'peer', nick: dial.peer.nick, change: 'state' });
      }
    }
  }

  /** Binds a completed session to the right peer record (see DESIGN.md "Names"). */
  private established(
    session: Session,
    done: Completed,
    dialed: Peer | undefined,
    from: Addr,
    now: number,
    /** The flags of the Hello we sent in this handshake. */
    sentFlags: number,
  ): Peer | undefined {
    const key = done.hello.identity;
    const hex = key.toString('hex');
    if (key.equals(this.local.identity.publicKey)) {
      // One of the candidates is this very node (e.g. a loopback address in
      // an invite): drop that candidate only; the others may be the peer.
      if (dialed) {
        dialed.dialAddrs = dialed.dialAddrs.filter((a) => !sameAddr(a, from));
        if (dialed.dialAddrs.length === 0 && !dialed.connected) {
          dialed.state = {
            kind: 'unreachable',
            since: now,
            reason: 'that address is this node itself',
          };
          dialed.nextDialAt = undefined;
          this.events.push({ type: 'peer', nick: dialed.nick, change: 'state' });
          this.events.push({
            type: 'error',
            code: 'self-connect',
            message: `${addrKey(from)} is this node itself`,
            address: from,
          });
        }
      }
      return undefined;
    }
    if (this.blocked.has(hex)) {
      this.drop('blocked');
      this.transmit(from, closePacket(session, CloseCode.Blocked, 'not accepted', now));
      return undefined;
    }
    let peer: Peer | undefined;
    if (dialed) {
      peer = this.bindDialed(dialed, key, from, now);
      if (!peer) {
        // A key we refuse: end its side of the session too.
        this.transmit(
          from,
          closePacket(session, CloseCode.NotAccepted, 'not accepted: key mismatch', now),
        );
        return undefined;
      }
      if (dialed.pinned) this.removedKeys.delete(hex);
    } else {
      peer = this.byKey.get(hex) ?? this.unkeyedAt(from);
      if (!peer) {
        if (
          !this.acceptStrangers ||
          (this.byNick.size >= this.maxPeers && !this.evictStranger(now))
        ) {
          this.drop('stranger');
          // Tell it, so it does not believe it is connected.
          this.transmit(from, closePacket(session, CloseCode.NotAccepted, 'not accepted', now));
          return undefined;
        }
        peer = new Peer(
          this.nextPeerId++,
          this.strangerNick(done.hello.nick, key),
          false,
          [],
          now,
          this.host,
        );
        this.byNick.set(peer.nick, peer);
        this.events.push({ type: 'peer', nick: peer.nick, change: 'added' });
      }
      if (!peer.key) this.pin(peer, key);
    }
    peer.announcedNick = done.hello.nick;
    peer.introducible = ((done.hello.flags ?? 0) & HelloFlag.NoIntroductions) === 0;
    const theirNat = natFromFlags(done.hello.flags ?? 0);
    if (theirNat !== 'unknown')
      this.remoteNat.set(hex, { mapping: theirNat, addr: this.remoteNat.get(hex)?.addr ?? from });
    this.birthday.connected(hex, now);
    session.remoteResetToken = done.hello.resetToken;
    this.resetTokens.set(done.hello.resetToken.toString('hex'), session.localIndex);
    const outcome = peer.adoptSession(session, done.remoteStatic, now);
    this.sessions.set(session.localIndex, { peer, session });
    peer.nextDialAt = undefined;
    peer.dialAttempt = 0;
    if (outcome !== 'extra') this.events.push({ type: 'peer', nick: peer.nick, change: outcome });
    peer.maxDialAttempts = undefined;
    if (outcome !== 'extra') this.introduceAround(peer);
    this.tellNat(peer, natFromFlags(sentFlags));
    this.dirty.add(peer);
    return peer;
  }

  /** A session we dialed for `dialed` completed with `key`: pin or refuse. */
  private bindDialed(dialed: Peer, key: Buffer, from: Addr, now: number): Peer | undefined {
    const hex = key.toString('hex');
    if (dialed.key && !dialed.key.equals(key)) {
      const expected = fingerprint(dialed.key);
      const got = fingerprint(key);
      if (dialed.state.kind !== 'key-mismatch') {
        dialed.state = { kind: 'key-mismatch', since: now, expected, got };
        this.events.push({ type: 'peer', nick: dialed.nick, change: 'state' });
        this.events.push({
          type: 'error',
          code: 'key-mismatch',
          message: `${dialed.nick} at ${addrKey(from)} answered with a different key (${shortFingerprint(key)}, pinned ${shortFingerprint(dialed.key)}): refused. Compare fingerprints with them, then trust the new key explicitly if it is really them.`,
          nick: dialed.nick,
          address: from,
        });
      }
      dialed.nextDialAt = undefined;
      return undefined;
    }
    const other = this.byKey.get(hex);
    if (other && other !== dialed) {
      // The key already has a record: a stranger who connected first takes the
      // user's name; a second user name for the same key stays separate and
      // hands its queue over.
      for (const m of dialed.takeQueued()) other.queueMessage(m.id, m.streamId, m.data);
      this.byNick.delete(dialed.nick);
      for (const [index, d] of this.dials) if (d.peer === dialed) this.dials.delete(index);
      this.timers.set(dialed, undefined);
      if (!other.pinned) {
        this.rename(other, dialed.nick);
        other.pinned = true;
      } else {
        this.events.push({ type: 'peer', nick: dialed.nick, change: 'removed' });
      }
      other.dialAddrs = [
        ...other.dialAddrs,
        ...dialed.dialAddrs.filter((a) => !other.dialAddrs.some((b) => sameAddr(a, b))),
      ];
      return other;
    }
    if (!dialed.key) this.pin(dialed, key);
    return dialed;
  }

  private pin(peer: Peer, key: Buffer): void {
    this.setKey(peer, key);
    if (peer.pinned) {
      this.pins.set(peer.nick, key);
      this.events.push({ type: 'pinned', nick: peer.nick, fingerprint: fingerprint(key) });
    }
  }

  private setKey(peer: Peer, key: Buffer): void {
    peer.key = key;
    this.byKey.set(key.toString('hex'), peer);
  }

  /**
   * Makes room for a new stranger by forgetting the one disconnected the
   * longest (never a pinned peer, never one with messages still queued).
   */
  private evictStranger(now: number): boolean {
    let victim: Peer | undefined;
    for (const p of this.byNick.values()) {
      if (p.pinned || p.connected || p.hasQueuedMessages) continue;
      if (!victim || p.state.since < victim.state.since) victim = p;
    }
    if (!victim) return false;
    this.forget(victim, 'evicted to make room for a new peer', now, CloseCode.Normal);
    return true;
  }

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
    for (const other of this.byNick.values()) {
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
    const from = this.byNick.get(fromNick);
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
    let budget = this.introBudgets.get(from);
    if (!budget) {
      budget = new TokenBucket(INTRO_RATE_PER_MINUTE / 60, INTRO_RATE_PER_MINUTE);
      this.introBudgets.set(from, budget);
    }
    if (!budget.take(this.lastNow)) {
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
   * identity (so nobody else can answer for it), a handful of attempts, and
   * then a reason in its state. The introduced peer is told about us at the
   * same time and punches back, which opens both NATs.
   */
  private onIntroduction(from: Peer, intro: Introduction, now: number): void {
    const hex = intro.identity.toString('hex');
    if (intro.identity.equals(this.local.identity.publicKey) || this.blocked.has(hex)) return;
    if (intro.addrs.length === 0 || this.removedKeys.has(hex)) return;
    let peer = this.byKey.get(hex);
    if (peer?.connected) return;
    // A peer that closed its session with us said goodbye; a third party's
    // mention is no reason to call it back.
    if (peer?.state.kind === 'disconnected' && peer.state.reason.startsWith('closed by peer'))
      return;
    if (!peer) {
      // A name the user gave, still dialing one of these addresses: punch
      // from that record. Its key comes only from its own handshake; an
      // introduction never pins a key to a user's name.
      const named = intro.addrs.map((a) => this.unkeyedAt(a)).find((p) => p !== undefined);
      if (named) {
        named.dialAttempt = 0;
        this.dial(named, now);
        return;
      }
      if (!this.acceptStrangers) return;
      if (this.byNick.size >= this.maxPeers && !this.evictStranger(now)) return;
      peer = new Peer(
        this.nextPeerId++,
        this.strangerNick(intro.nick, intro.identity),
        false,
        [],
        now,
        this.host,
      );
      this.byNick.set(peer.nick, peer);
      this.setKey(peer, intro.identity);
      this.events.push({ type: 'peer', nick: peer.nick, change: 'added' });
    }
    if (intro.nat && intro.nat !== 'unknown') {
      this.remoteNat.set(hex, { mapping: intro.nat, addr: intro.addrs[0] });
      this.birthday.reset(hex);
    }
    for (const a of intro.addrs)
      if (!peer.dialAddrs.some((b) => sameAddr(a, b))) peer.dialAddrs.push(a);
    peer.dialAddrs = peer.dialAddrs.slice(-4);
    if (!peer.pinned) {
      peer.introducedBy = from.nick;
      peer.maxDialAttempts = INTRO_DIAL_ATTEMPTS;
    }
    peer.state = { kind: 'connecting', since: now, attempt: 0 };
    peer.dialAttempt = 0;
    this.dial(peer, now);
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
    const peer = this.byKey.get(r.key);
    if (!peer || peer.connected || peer.state.kind === 'key-mismatch') return;
    peer.dialAddrs = [r.addr, ...peer.dialAddrs.filter((a) => !sameAddr(a, r.addr))].slice(0, 4);
    if (peer.state.kind !== 'connecting') {
      peer.state = { kind: 'connecting', since: now, attempt: 0 };
      this.events.push({ type: 'peer', nick: peer.nick, change: 'state' });
    }
    peer.dialAttempt = 0;
    this.dial(peer, now);
  }

  /** A user-added record with no key yet, dialed at exactly this address. */
  private unkeyedAt(from: Addr): Peer | undefined {
    for (const p of this.byNick.values()) {
      if (!p.key && p.dialAddrs.some((a) => sameAddr(a, from))) return p;
    }
    return undefined;
  }

  private rename(peer: Peer, nick: string): void {
    const previousNick = peer.nick;
    if (previousNick === nick) return;
    this.byNick.delete(previousNick);
    peer.nick = nick;
    this.byNick.set(nick, peer);
    if (peer.key && peer.pinned) this.pins.set(nick, peer.key);
    this.events.push({ type: 'peer', nick, change: 'renamed', previousNick });
  }

  /**
   * A stranger's self-chosen nick, made safe to type and never colliding with
   * a name in use: a taken name gets a short-fingerprint suffix.
   */
  private strangerNick(announced: string, key: Buffer): string {
    let base = [...announced.normalize('NFC')]
      .map((c) => (/^[\p{L}\p{N}_.-]$/u.test(c) ? c : '_'))
      .join('')
      .slice(0, 23);
    if (base.length === 0) base = 'peer';
    if (!this.byNick.has(base) && !this.pins.has(base)) return base;
    const suffixed = `${base}-${shortFingerprint(key)}`;
    if (!this.byNick.has(suffixed)) return suffixed;
    return `${base}-${fingerprint(key).slice(0, 20)}`;
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
