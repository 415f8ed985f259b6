import { createHash } from 'node:crypto';
import { type Addr, addrKey } from '../core/address.js';
import type { NatMapping } from '../core/events.js';
import { Fifo } from '../core/queue.js';
import { encodeProbe, PROBE_TOKEN_LENGTH } from '../wire/packet.js';

/**
 * Many-port ("birthday") probing, for a symmetric NAT on one side and a cone
 * or port-restricted NAT on the other, as Tailscale's "How NAT traversal
 * works" describes. Sans I/O, like the endpoint that owns it.
 *
 * - The hard side (our NAT's mapping is endpoint-dependent) asks the socket
 *   layer for PROBE_SOCKETS extra sockets and sends a small PROBE from each to
 *   the easy side's reflexive address E: that makes as many random mappings in
 *   its NAT, each admitting datagrams from E only.
 * - The easy side (endpoint-independent mapping, peer known to be symmetric)
 *   sprays PROBEs from its main socket to random ports of the hard side's
 *   public IP, paced (SPRAY_PER_TICK every SPRAY_INTERVAL ms, at most
 *   SPRAY_MAX), which opens its own NAT to each of those ports.
 * - A spray that lands on one of the mappings reaches that probing socket; a
 *   later probe from that socket now passes the easy NAT too. Whichever side
 *   sees a valid probe first answers with an ACK, so both learn of the hit:
 *   the hard side routes everything for E through the winning socket (its
 *   mapping is the one the easy NAT admits), the easy side dials the hard
 *   side's address:port it came from, and the Noise handshake runs over that
 *   path. On success the other sockets close; the winner stays as long as the
 *   session needs it.
 *
 * Chance of a hit after N sprays ≈ 1 − (1 − 256/64512)^N: 63 % at 252, 98 %
 * at 1024, 99.97 % at 2048 (Linux masquerade picks from 1024–65535).
 *
 * A probe carries a token only the two identities' holders are expected to
 * know (a hash of both identity keys, which travel in invite codes and in
 * introductions over encrypted sessions); a probe is accepted only with the
 * token of an attempt in progress, from the IP that attempt expects, on the
 * socket it expects. Nothing else can set a route. Probing starts only for a
 * peer we dial by invite code or by an introduction from a connected peer,
 * and is bounded in count, rate and time (and in concurrent attempts).
 */

export const PROBE_SOCKETS = 256;
export const SPRAY_MAX = 2048;
export const SPRAY_INTERVAL = 20;
export const SPRAY_PER_TICK = 5;
/** The easy side waits this long, so the hard side's mappings exist when the spray arrives. */
export const SPRAY_DELAY = 1000;
/** The hard side's probes go out this many per tick (one tick = SPRAY_INTERVAL ms). */
const PROBES_PER_TICK = 32;
/** The hard side re-probes from every socket this often while no hit (mappings and lost probes). */
const REPROBE_INTERVAL = 4000;
/** The easy side waits this long after its last spray for a late answer. */
const SPRAY_GRACE = 3000;
/** The hard side gives up this long after it started. */
export const HARD_TTL = SPRAY_DELAY + (SPRAY_MAX / SPRAY_PER_TICK) * SPRAY_INTERVAL + SPRAY_GRACE;
/** After a hit, the handshake must complete within this long, or the attempt fails (and frees its sockets). */
const HIT_TTL = 10_000;
/** ACKs answered per attempt (a lost ACK is answered again, a few times). */
const MAX_ACKS = 4;
/** Attempts at once: every hard one holds PROBE_SOCKETS sockets. */
const MAX_HARD_ATTEMPTS = 2;
const MAX_EASY_ATTEMPTS = 2;
/**
 * Spray rounds started per minute, in all: whoever feeds us introductions
 * can make us spray at most this many × SPRAY_MAX small datagrams a minute
 * (≈ 150 KB), never more than 2 × 250 a second.
 */
const EASY_STARTS_PER_MINUTE = 4;
/**
 * Hard-side rounds started per minute: at most this × PROBE_SOCKETS sockets
 * (NAT mappings) a minute (1,024), however many introductions arrive.
 */
export const HARD_STARTS_PER_MINUTE = 4;
/** A connected attempt's winning socket is released once its peer has been gone this long. */
const LINGER = 30_000;
const CHECK_INTERVAL = 5000;
const LOW_PORT = 1024;
const PORT_SPAN = 65536 - LOW_PORT;

export const ProbeKind = {
  /** Easy → a random port of the hard side's public IP, from the main socket. */
  Spray: 1,
  /** Hard → the easy side's address, from each probing socket. */
  Probe: 2,
  /** The answer to a probe that got through; never answered itself. */
  Ack: 3,
} as const;

/** What the socket layer must do: open or close extra sockets (ids chosen here). */
export type SocketCommand = { kind: 'open'; ids: number[] } | { kind: 'close'; ids: number[] };

export type BirthdayRole = 'hard' | 'easy';

export interface ProbeTransmit {
  to: Addr;
  data: Buffer;
  /** The extra socket to send from; undefined = the main socket. */
  via?: number;
}

/** A probe that got through: dial `addr` (the hard side routes it through its winning socket). */
export interface ProbeHit {
  key: string;
  addr: Addr;
}

type AttemptState = 'running' | 'hit' | 'connected' | 'failed';

interface Attempt {
  key: string;
  role: BirthdayRole;
  token: Buffer;
  data: { probe: Buffer; ack: Buffer; spray: Buffer };
  /** Hard: the easy side's address E. Easy: the hard side's public address (its IP is used). */
  target: Addr;
  state: AttemptState;
  startedAt: number;
  hitAt: number | undefined;
  endedAt: number | undefined;
  acks: number;
  next: number | undefined;
  // hard
  sockets: number[];
  cursor: number;
  winner: number | undefined;
  // easy
  sprayed: number;
  ports: Set<number>;
  hitAddr: Addr | undefined;
  lastConnected: number;
}

/** What many-port probing has done since the endpoint started (the socket's stats). */
export interface ProbingStats {
  /** Hard side: probes sent from probing sockets. */
  probesSent: number;
  /** Easy side: sprays sent to random ports of a symmetric NAT. */
  spraysSent: number;
  /** Probing sockets open (or being opened) now. */
  socketsOpen: number;
  attemptsStarted: number;
  /** A probe got through and the peer's session came up. */
  attemptsSucceeded: number;
  /** Gave up: no probe got through in time, or no handshake over the path one opened. */
  attemptsFailed: number;
}

/** The probe token for two identities (order-free, so both sides derive the same). */
export function probeToken(a: Uint8Array, b: Uint8Array): Buffer {
  const [lo, hi] = Buffer.compare(Buffer.from(a), Buffer.from(b)) <= 0 ? [a, b] : [b, a];
  return createHash('sha256')
    .update('srmudp-tui birthday probe v1\0')
    .update(lo)
    .update(hi)
    .digest()
    .subarray(0, PROBE_TOKEN_LENGTH);
}

/** Which side of many-port probing we are, given both NATs' mapping behaviour; undefined = none. */
export function birthdayRole(ours: NatMapping, theirs: NatMapping): BirthdayRole | undefined {
  if (ours === 'endpoint-dependent' && theirs === 'endpoint-independent') return 'hard';
  if (ours === 'endpoint-independent' && theirs === 'endpoint-dependent') return 'easy';
  return undefined;
}

export class Birthday {
  private readonly attempts = new Map<string, Attempt>();
  private readonly byToken = new Map<string, Attempt>();
  private readonly bySocket = new Map<number, Attempt>();
  private readonly routes = new Map<string, number>();
  private readonly commands = new Fifo<SocketCommand>();
  private nextSocketId = 1;
  private nextCheck: number | undefined;
  /** When recent spray rounds started (EASY_STARTS_PER_MINUTE). */
  private easyStarts: number[] = [];
  /** When recent hard-side rounds started (HARD_STARTS_PER_MINUTE). */
  private hardStarts: number[] = [];
  /**
   * Counters for stats(). An attempt that ends any other way (its peer
   * connected by a plain punch first, was removed, the endpoint closed) is
   * started but neither succeeded nor failed.
   */
  private readonly counts = {
    probesSent: 0,
    spraysSent: 0,
    attemptsStarted: 0,
    attemptsSucceeded: 0,
    attemptsFailed: 0,
  };

  constructor(
    private readonly send: (t: ProbeTransmit) => void,
    /** Uniform in [0, 1): which ports to spray. */
    private readonly random: () => number,
  ) {}

  /**
   * Starts probing toward a peer (idempotent; a failed attempt is not retried
   * until `reset`). Returns false when it could not start (limits).
   */
  start(key: string, role: BirthdayRole, token: Buffer, target: Addr, now: number): boolean {
    if (this.attempts.has(key)) return true;
    let count = 0;
    for (const a of this.attempts.values())
      if (a.role === role && (a.state === 'running' || a.state === 'hit')) count++;
    if (count >= (role === 'hard' ? MAX_HARD_ATTEMPTS : MAX_EASY_ATTEMPTS)) return false;
    // Rounds per minute, each side: a stream of introductions cannot make us
    // spray a third party's ports (easy side) or open NAT mappings by the
    // thousand (hard side: PROBE_SOCKETS sockets a round, which a
    // carrier-grade NAT counts against a per-user quota).
    const starts = role === 'easy' ? this.easyStarts : this.hardStarts;
    const fresh = starts.filter((t) => now - t < 60_000);
    if (fresh.length >= (role === 'easy' ? EASY_STARTS_PER_MINUTE : HARD_STARTS_PER_MINUTE))
      return false;
    fresh.push(now);
    if (role === 'easy') this.easyStarts = fresh;
    else this.hardStarts = fresh;
    const a: Attempt = {
      key,
      role,
      token: Buffer.from(token),
      data: {
        probe: encodeProbe(ProbeKind.Probe, token),
        ack: encodeProbe(ProbeKind.Ack, token),
        spray: encodeProbe(ProbeKind.Spray, token),
      },
      target,
      state: 'running',
      startedAt: now,
      hitAt: undefined,
      endedAt: undefined,
      acks: 0,
      next: role === 'hard' ? now : now + SPRAY_DELAY,
      sockets: [],
      cursor: 0,
      winner: undefined,
      sprayed: 0,
      ports: new Set(),
      hitAddr: undefined,
      lastConnected: now,
    };
    if (role === 'hard') {
      for (let i = 0; i < PROBE_SOCKETS; i++) {
        const id = this.nextSocketId++;
        a.sockets.push(id);
        this.bySocket.set(id, a);
      }
      this.commands.push({ kind: 'open', ids: [...a.sockets] });
    }
    this.attempts.set(key, a);
    this.byToken.set(a.token.toString('hex'), a);
    this.counts.attemptsStarted++;
    return true;
  }

  /** Forgets a finished attempt so a new invite or introduction may start another. */
  reset(key: string): void {
    const a = this.attempts.get(key);
    if (a && a.state === 'failed') this.remove(a);
  }

  state(key: string): AttemptState | undefined {
    return this.attempts.get(key)?.state;
  }

  /** Why the attempt failed, in words (undefined unless it failed). */
  failure(key: string): string | undefined {
    const a = this.attempts.get(key);
    if (a?.state !== 'failed') return undefined;
    if (a.hitAt !== undefined)
      return 'many-port probing opened a path through the symmetric NAT, but no handshake completed over it';
    return a.role === 'easy'
      ? `many-port probing found no open port of the peer's symmetric NAT after ${a.sprayed} probes`
      : `many-port probing through ${PROBE_SOCKETS} ports of this node's symmetric NAT got no answer`;
  }

  /**
   * A PROBE datagram from `from`, on extra socket `via` (undefined: the main
   * socket). Returns a hit the first time a probe gets through, 'ok' for an
   * expected but unremarkable probe, 'drop' for anything else.
   */
  onProbe(
    kind: number,
    token: Uint8Array,
    from: Addr,
    via: number | undefined,
    now: number,
  ): ProbeHit | 'ok' | 'drop' {
    const a = this.byToken.get(Buffer.from(token).toString('hex'));
    if (!a || a.state === 'failed' || from.address !== a.target.address) return 'drop';
    if (a.role === 'hard') {
      if (via === undefined || this.bySocket.get(via) !== a) return 'drop';
      if (kind !== ProbeKind.Spray && kind !== ProbeKind.Ack) return 'drop';
      if (a.state === 'running') {
        a.state = 'hit';
        a.hitAt = now;
        a.winner = via;
        a.next = now + HIT_TTL;
        this.routes.set(addrKey(from), via);
        if (kind === ProbeKind.Spray) this.ack(a, from, via);
        return { key: a.key, addr: from };
      }
      if (via === a.winner && kind === ProbeKind.Spray) this.ack(a, from, via);
      return 'ok';
    }
    if (via !== undefined) return 'drop';
    if (kind !== ProbeKind.Probe && kind !== ProbeKind.Ack) return 'drop';
    if (a.state === 'running') {
      a.state = 'hit';
      a.hitAt = now;
      a.hitAddr = from;
      a.next = now + HIT_TTL;
      if (kind === ProbeKind.Probe) this.ack(a, from, undefined);
      return { key: a.key, addr: from };
    }
    if (kind === ProbeKind.Probe && a.hitAddr && addrKey(a.hitAddr) === addrKey(from))
      this.ack(a, from, undefined);
    return 'ok';
  }

  /** The session with this peer is up: close the probing sockets that did not win. */
  connected(key: string, now: number): void {
    const a = this.attempts.get(key);
    if (!a || a.state === 'connected') return;
    if (a.hitAt !== undefined && a.state !== 'failed') this.counts.attemptsSucceeded++;
    a.state = 'connected';
    a.next = undefined;
    a.lastConnected = now;
    const losers = a.sockets.filter((id) => id !== a.winner);
    this.closeSockets(a, losers);
    this.nextCheck ??= now + CHECK_INTERVAL;
  }

  /** Ends everything for this peer: sockets (the winner too), route, state. */
  end(key: string): void {
    const a = this.attempts.get(key);
    if (a) this.remove(a);
  }

  /** Ends every attempt (the endpoint is closing). */
  closeAll(): void {
    for (const a of [...this.attempts.values()]) this.remove(a);
    this.nextCheck = undefined;
  }

  /** The extra socket datagrams to `to` must leave from, if any. */
  routeFor(to: Addr): number | undefined {
    return this.routes.size === 0 ? undefined : this.routes.get(addrKey(to));
  }

  get hasRoutes(): boolean {
    return this.routes.size > 0;
  }

  /** Extra sockets open (or being opened) now. */
  get openSockets(): number {
    return this.bySocket.size;
  }

  stats(): ProbingStats {
    return { ...this.counts, socketsOpen: this.bySocket.size };
  }

  pollCommand(): SocketCommand | undefined {
    return this.commands.shift();
  }

  nextDeadline(): number | undefined {
    let d = this.nextCheck;
    for (const a of this.attempts.values())
      if (a.next !== undefined && (d === undefined || a.next < d)) d = a.next;
    return d;
  }

  /** `isConnected(key)` tells whether the peer still has a session. */
  handleTimeout(now: number, isConnected: (key: string) => boolean): void {
    for (const a of [...this.attempts.values()]) {
      if (a.next === undefined || a.next > now) continue;
      if (a.state === 'hit') this.fail(a, now);
      else if (a.role === 'hard') this.tickHard(a, now);
      else this.tickEasy(a, now);
    }
    if (this.nextCheck !== undefined && this.nextCheck <= now) {
      this.nextCheck = undefined;
      for (const a of [...this.attempts.values()]) {
        if (a.state !== 'connected') continue;
        if (isConnected(a.key)) a.lastConnected = now;
        else if (now - a.lastConnected >= LINGER) {
          this.remove(a);
          continue;
        }
        this.nextCheck = now + CHECK_INTERVAL;
      }
    }
  }

  private tickHard(a: Attempt, now: number): void {
    if (now - a.startedAt >= HARD_TTL) {
      this.fail(a, now);
      return;
    }
    const end = Math.min(a.cursor + PROBES_PER_TICK, a.sockets.length);
    for (; a.cursor < end; a.cursor++) {
      this.counts.probesSent++;
      this.send({ to: a.target, data: a.data.probe, via: a.sockets[a.cursor]! });
    }
    if (a.cursor >= a.sockets.length) {
      a.cursor = 0;
      a.next = Math.min(now + REPROBE_INTERVAL, a.startedAt + HARD_TTL);
    } else a.next = now + SPRAY_INTERVAL;
  }

  private tickEasy(a: Attempt, now: number): void {
    if (a.sprayed >= SPRAY_MAX) {
      this.fail(a, now);
      return;
    }
    for (let i = 0; i < SPRAY_PER_TICK && a.sprayed < SPRAY_MAX; i++) {
      let port = LOW_PORT + Math.floor(this.random() * PORT_SPAN);
      // Without repeats (a repeat would waste a probe), in a bounded number of draws.
      for (let tries = 0; a.ports.has(port) && tries < 8; tries++)
        port = LOW_PORT + Math.floor(this.random() * PORT_SPAN);
      a.ports.add(port);
      a.sprayed++;
      this.counts.spraysSent++;
      this.send({ to: { address: a.target.address, port }, data: a.data.spray });
    }
    a.next = a.sprayed >= SPRAY_MAX ? now + SPRAY_GRACE : now + SPRAY_INTERVAL;
  }

  private ack(a: Attempt, to: Addr, via: number | undefined): void {
    if (a.acks >= MAX_ACKS) return;
    a.acks++;
    this.send(via === undefined ? { to, data: a.data.ack } : { to, data: a.data.ack, via });
  }

  private fail(a: Attempt, now: number): void {
    this.counts.attemptsFailed++;
    a.state = 'failed';
    a.next = undefined;
    a.endedAt = now;
    a.ports.clear();
    this.closeSockets(a, a.sockets);
  }

  private closeSockets(a: Attempt, ids: number[]): void {
    if (ids.length === 0) return;
    for (const id of ids) this.bySocket.delete(id);
    const closing = new Set(ids);
    a.sockets = a.sockets.filter((id) => !closing.has(id));
    if (a.winner !== undefined && closing.has(a.winner)) {
      for (const [k, v] of this.routes) if (v === a.winner) this.routes.delete(k);
      a.winner = undefined;
    }
    this.commands.push({ kind: 'close', ids });
  }

  private remove(a: Attempt): void {
    this.closeSockets(a, a.sockets);
    this.attempts.delete(a.key);
    this.byToken.delete(a.token.toString('hex'));
  }
}
