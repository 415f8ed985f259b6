import dgram from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { lookup } from 'node:dns/promises';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { type Addr, addrKey, normalizeIp, parseHostPort } from '../core/address.js';
import { MAX_MESSAGE_SIZE } from '../core/conn/stream.js';
import {
  Endpoint,
  type EndpointStats,
  type PeerSnapshot,
  type PeerStats,
  validateNick,
} from '../core/endpoint.js';
import { TransportError, UsageError } from '../core/errors.js';
import type { EndpointEvent, NatMapping, PeerChange, PeerState } from '../core/events.js';
import { type PeerAddress, parsePeerEntry } from '../core/peers/entry.js';
import type { CipherName } from '../crypto/cipher.js';
import {
  fingerprint as fingerprintOf,
  generateIdentity,
  type Identity,
  parseFingerprint,
} from '../crypto/identity.js';
import type { ProbingStats, SocketCommand } from '../nat/birthday.js';
import { encodeInvite } from '../nat/invite.js';
import { loadOrCreateIdentity } from '../store/identityfile.js';
import { TrustStore } from '../store/truststore.js';

/**
 * The public face of the transport and the only module that touches
 * `node:dgram`, DNS and timers: a pump that feeds the sans-I/O Endpoint and
 * flushes what it returns once per event-loop turn, with one OS timer for the
 * earliest deadline of all sessions.
 */

export interface BindOptions {
  nick: string;
  /** UDP port; 0 (default) picks a free one. */
  port?: number;
  /** Address to bind; default `::` (dual-stack), falling back to `0.0.0.0`. */
  host?: string;
  /** Peers to add at once: `{ nick: 'host:port' }`. */
  peers?: Record<string, PeerAddress>;
  /** Identity key file (created 0600 if missing). Without it (and `identity`) the identity is ephemeral. */
  identityPath?: string;
  identity?: Identity;
  /** JSON file of names pinned to keys. Without it pins live in memory only. */
  trustStore?: string;
  /** Per-packet cipher; both sides must choose the same. Default chacha20-poly1305. */
  cipher?: CipherName;
  /** Accept sessions from unknown keys (default true). */
  acceptStrangers?: boolean;
  /** Fingerprints to refuse. */
  blocked?: string[];
  /**
   * Introduce connected peers to each other, and accept introductions, so
   * joining one member connects you to the mesh (default true). Off keeps
   * your address from being passed around the mesh.
   */
  introductions?: boolean;
  /**
   * STUN servers (`host:port`) to ask for our public address from this very
   * socket. Default: none — the library never contacts a server you did not
   * name. Two or more also tell whether our NAT is symmetric.
   */
  stun?: string[];
  /** STUN retransmission timeout in ms (RFC 8489 default 500). */
  stunRto?: number;
  /** Messages kept for receive() when no hook or listener takes them (default 10,000). */
  receiveQueueLimit?: number;
  /**
   * Bytes of message content kept for receive() (default 32 MiB). Past this
   * or `receiveQueueLimit`, the oldest queued messages are discarded: counted
   * in stats (`queueDropped`, `queueDroppedBytes`) and reported once per
   * overflow as an 'error' event with code 'receive-queue-full'.
   */
  receiveQueueBytes?: number;
  /** Default send() timeout in ms (default 30,000). */
  sendTimeout?: number;
  /** Requested kernel receive buffer (default 4 MiB; Linux caps it at net.core.rmem_max). */
  receiveBufferSize?: number;
  /**
   * Largest datagram path-MTU discovery may use, 1200-1452 bytes (default
   * 1452). Each session starts at 1200 and probes up; 1200 turns probing off.
   */
  maxDatagramSize?: number;
}

export interface Message {
  content: Buffer;
  /** Nick of the sender, as this node names it. */
  peer: string;
  /** When we received it: ms since the epoch by our clock. */
  timestamp: number;
  stream: number;
}

export interface PeerInfo {
  nick: string;
  /** `host:port` of the current (or last known / dialed) path. */
  address: string | undefined;
  fingerprint: string | undefined;
  pinned: boolean;
  announcedNick: string | undefined;
  /** The nick of the peer whose introduction brought this one, if one did. */
  introducedBy?: string;
  state: PeerState;
  stats: PeerStats;
}

export interface SocketStats extends EndpointStats {
  localAddress: string;
  fingerprint: string;
  receiveBufferSize: number;
  sendBufferSize: number;
  /** Messages discarded because the receive() queue was full (in messages or bytes). */
  queueDropped: number;
  /** Content bytes of those messages. */
  queueDroppedBytes: number;
  /** Messages and content bytes waiting for receive() now. */
  queuedMessages: number;
  queuedBytes: number;
  /** Datagrams the OS refused to send (e.g. no route). */
  sendErrors: number;
  /** From STUN, when asked (see BindOptions.stun). */
  publicAddress: string | undefined;
  natMapping: NatMapping;
  /** Many-port probing (toward symmetric NATs): all zero unless it ever ran. */
  probing: ProbingStats;
  uptime: number;
}

export interface SendOptions {
  /** A nick or list of nicks; omitted = every connected peer. */
  recipient?: string | string[];
  /** ms to wait for every recipient's acknowledgement (default: the socket's sendTimeout). */
  timeout?: number;
}

export interface StunInfo {
  /** Our address as the STUN servers saw it (`host:port`), once known. */
  publicAddress: string | undefined;
  /** 'endpoint-dependent' means a symmetric NAT: direct punching will mostly fail. */
  mapping: NatMapping;
  /** Every server has answered or timed out. */
  done: boolean;
}

export interface SocketEvents {
  stun: [StunInfo];
  message: [Message];
  peer: [PeerInfo, PeerChange];
  stats: [SocketStats];
  error: [TransportError];
}

export const DEFAULT_SEND_TIMEOUT = 30_000;
export const DEFAULT_RECEIVE_QUEUE_LIMIT = 10_000;
/**
 * The queue's memory bound: the message count alone let 1,000 messages of
 * 1 MiB (each one acknowledged) hold a GiB outside the V8 heap. 32 maximum-
 * size messages; what one queued message retains is at most about twice its
 * content (stream.ts keepOrCopy), so the queue holds well under 100 MiB.
 */
export const DEFAULT_RECEIVE_QUEUE_BYTES = 32 * 1024 * 1024;
export const DEFAULT_WAIT_FOR_PEER_TIMEOUT = 10_000;
const STATS_INTERVAL = 250;
/** Turns in a row run at once for an already-due deadline before falling back to a timer. */
const MAX_DUE_TURNS = 4;
/** Unacknowledged bytes per peer, and in all, beyond which send() waits. */
export const MAX_QUEUED_PER_PEER = 16 * 1024 * 1024;
export const MAX_QUEUED_TOTAL = 64 * 1024 * 1024;

interface PendingSend {
  /** Recipients (endpoint peer id, nick) that have not acknowledged yet. */
  remaining: { id: number; nick: string }[];
  resolve: () => void;
  reject: (err: Error) => void;
  /** performance.now() past which the send rejects with 'timeout'. */
  deadline: number;
  timeout: number;
}

type Hook = (msg: Message) => void;

export class MultiHolepunchSocket extends EventEmitter<SocketEvents> {
  readonly fingerprint: string;
  private readonly endpoint: Endpoint;
  private readonly socket: dgram.Socket;
  /** Extra sockets the endpoint asked for (many-port probing), by its ids. */
  private readonly probeSockets = new Map<number, dgram.Socket>();
  private readonly family: 4 | 6;
  private readonly dualStack: boolean;
  private readonly trust: TrustStore;
  private readonly hooks: Hook[] = [];
  private readonly queue: Message[] = [];
  private readonly waiters: { resolve: (m: Message | null) => void; timer?: NodeJS.Timeout }[] = [];
  private readonly pending = new Map<number, PendingSend>();
  private readonly peerWaiters = new Set<() => void>();
  /** Last PeerInfo reported per nick, so a 'removed' event can still describe the peer. */
  private readonly lastInfo = new Map<string, PeerInfo>();
  /** Trust-store writes in progress; close() waits for them. */
  private readonly writes = new Set<Promise<void>>();
  /** Sends waiting for queue room; woken after every pump. */
  private roomWaiters: (() => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private sendTimerAt: number | undefined;
  private timerAt: number | undefined;
  private flushScheduled = false;
  /** Consecutive turns run at once because a deadline was already due. */
  private dueTurns = 0;
  private pumping = false;
  private statsTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private queueDropped = 0;
  private queueDroppedBytes = 0;
  /** Content bytes in `queue`. */
  private queueBytes = 0;
  /** An overflow was reported and the application has not read since. */
  private overflowReported = false;
  private sendErrors = 0;
  private sendsInFlight = 0;
  private onSendsDrained: (() => void) | undefined;
  private readonly startedAt = performance.now();
  /** Converts the monotonic clock the endpoint runs on to epoch milliseconds. */
  private readonly epochOffset = Date.now() - performance.now();
  private readonly queueLimit: number;
  private readonly queueByteLimit: number;
  private readonly sendTimeout: number;

  private constructor(
    socket: dgram.Socket,
    family: 4 | 6,
    dualStack: boolean,
    endpoint: Endpoint,
    trust: TrustStore,
    opts: BindOptions,
  ) {
    super();
    this.socket = socket;
    this.family = family;
    this.dualStack = dualStack;
    this.endpoint = endpoint;
    this.trust = trust;
    this.fingerprint = endpoint.fingerprint;
    this.queueLimit = opts.receiveQueueLimit ?? DEFAULT_RECEIVE_QUEUE_LIMIT;
    this.queueByteLimit = opts.receiveQueueBytes ?? DEFAULT_RECEIVE_QUEUE_BYTES;
    this.sendTimeout = opts.sendTimeout ?? DEFAULT_SEND_TIMEOUT;
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    // Errors on a UDP socket (e.g. ICMP unreachable surfacing as ECONNREFUSED)
    // are the network's: count and carry on.
    socket.on('error', (err) =>
      this.reportError(new TransportError(`socket: ${err.message}`, 'socket')),
    );
    this.statsTimer = setInterval(() => {
      if (this.listenerCount('stats') > 0) this.emit('stats', this.stats());
    }, STATS_INTERVAL);
    this.statsTimer.unref();
  }

  /**
   * Opens a socket. Bad options are UsageErrors; a busy port is a UsageError too.
   * (This static deliberately shadows Function.prototype.bind: the name is the
   * original library's API.)
   */
  static override async bind(opts: BindOptions): Promise<MultiHolepunchSocket> {
    validateNick(opts.nick);
    const port = opts.port ?? 0;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new UsageError(`bad port ${String(opts.port)}: use 0-65535`);
    }
    if (opts.receiveQueueLimit !== undefined && !(opts.receiveQueueLimit >= 0)) {
      throw new UsageError('receiveQueueLimit must be a non-negative number');
    }
    if (opts.receiveQueueBytes !== undefined && !(opts.receiveQueueBytes >= 0)) {
      throw new UsageError('receiveQueueBytes must be a non-negative number');
    }
    const identity =
      opts.identity ??
      (opts.identityPath ? await loadOrCreateIdentity(opts.identityPath) : generateIdentity());
    const trust = opts.trustStore ? await TrustStore.load(opts.trustStore) : TrustStore.memory();
    const blocked = (opts.blocked ?? []).map((fp) => parseFingerprint(fp));
    const endpoint = new Endpoint({
      identity,
      nick: opts.nick,
      ...(opts.cipher ? { cipher: opts.cipher } : {}),
      ...(opts.acceptStrangers !== undefined ? { acceptStrangers: opts.acceptStrangers } : {}),
      ...(opts.introductions !== undefined ? { introductions: opts.introductions } : {}),
      ...(opts.maxDatagramSize !== undefined ? { maxDatagramSize: opts.maxDatagramSize } : {}),
      blocked,
      pins: trust.entries(),
    });
    const { socket, family, dualStack } = await openSocket(opts.host, port);
    try {
      socket.setRecvBufferSize(opts.receiveBufferSize ?? 4 * 1024 * 1024);
      socket.setSendBufferSize(4 * 1024 * 1024);
    } catch {
      // Some platforms refuse; the stats report what we actually got.
    }
    endpoint.setLocalAddresses(hostAddresses(normalizeIp(socket.address().address)));
    const sock = new MultiHolepunchSocket(socket, family, dualStack, endpoint, trust, opts);
    try {
      if (opts.stun && opts.stun.length > 0) await sock.startStun(opts.stun, opts.stunRto);
      if (opts.peers) await sock.addPeers(opts.peers);
    } catch (err) {
      await sock.close();
      throw err;
    }
    return sock;
  }

  /** Starts a STUN round (see BindOptions.stun); results arrive as 'stun' events. */
  async startStun(servers: string[], rto?: number): Promise<void> {
    this.assertOpen();
    const addrs = (await Promise.all(servers.map((s) => this.resolve(s)))).map((list) => list[0]!);
    this.endpoint.startStun(addrs, performance.now(), rto ? { rto } : {});
    this.pump();
  }

  /** Our public address as STUN reported it, and how our NAT maps us. */
  stunInfo(): StunInfo | undefined {
    const sum = this.endpoint.stunSummary();
    if (!sum) return undefined;
    return {
      publicAddress: sum.mapped ? addrKey(sum.mapped) : undefined,
      mapping: sum.behaviour,
      done: sum.done,
    };
  }

  localAddress(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: normalizeIp(a.address), port: a.port };
  }

  // ---- peers ------------------------------------------------------------------

  /**
   * Adds peers and starts connecting; does not wait. Each value is an
   * address (`host:port`, hostnames resolved), an invite code, or
   * `{ address?, fingerprint? }`: with a fingerprint (the 52-character form)
   * only that key is accepted, and a different one is refused before
   * anything is pinned. Every entry is checked before any is added.
   */
  async addPeers(peers: Record<string, PeerAddress>): Promise<void> {
    this.assertOpen();
    const parsed = Object.entries(peers).map(([nick, value]) => parsePeerEntry(nick, value));
    const resolved = await Promise.all(
      parsed.map(async (p) => {
        const addrs: Addr[] = [...p.invited];
        for (const text of p.hosts) addrs.push(...(await this.resolve(text)));
        return { nick: p.nick, spec: { addrs, key: p.key, nat: p.nat } };
      }),
    );
    this.assertOpen();
    const now = performance.now();
    for (const { nick, spec } of resolved) this.endpoint.addPeer(nick, spec, now);
    this.pump();
  }

  private async resolve(text: string): Promise<Addr[]> {
    const { host, port } = parseHostPort(text);
    if (isIP(host)) return [{ address: normalizeIp(host), port }];
    let results: { address: string; family: number }[];
    try {
      results = await lookup(host, {
        all: true,
        ...(this.dualStack ? {} : { family: this.family }),
      });
    } catch (err) {
      throw new UsageError(
        `cannot resolve "${host}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    const addrs = results
      .filter((r) => this.dualStack || r.family === this.family)
      .map((r) => ({ address: normalizeIp(r.address), port }));
    if (addrs.length === 0) {
      throw new UsageError(
        `"${host}" has no IPv${this.family} address for this IPv${this.family} socket`,
      );
    }
    return addrs;
  }

  /**
   * A copy-pasteable code with our nick, identity key and candidate
   * addresses (the bound address, or every local interface address when
   * bound to a wildcard). `addPeers({ name: code })` on the other side
   * connects and pins our key.
   */
  invite(): string {
    const { address, port } = this.localAddress();
    const wildcard = address === '::' || address === '0.0.0.0';
    const local = wildcard
      ? localCandidates(port, this.family === 6 && this.dualStack)
      : [{ address, port }];
    // The STUN-reflexive address first: it is the one a peer elsewhere can reach.
    const summary = this.endpoint.stunSummary();
    const mapped = summary?.mapped;
    const addrs = mapped
      ? [mapped, ...local.filter((a) => addrKey(a) !== addrKey(mapped))].slice(0, 4)
      : local;
    return encodeInvite({
      identity: this.endpoint.local.identity.publicKey,
      nick: this.endpoint.local.nick,
      addrs,
      // How our NAT maps us, so a peer can tell when many-port probing is needed.
      ...(mapped && summary ? { nat: summary.behaviour } : {}),
    });
  }

  /** Resolves when `nick` is connected; rejects with a clear error on timeout. */
  waitForPeer(nick: string, opts: { timeout?: number } = {}): Promise<PeerInfo> {
    this.assertOpen();
    const timeout = opts.timeout ?? DEFAULT_WAIT_FOR_PEER_TIMEOUT;
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const p = this.endpoint.peer(nick);
        if (p?.state.kind === 'connected') {
          finish();
          resolve(this.info(p));
          return true;
        }
        if (this.closed) {
          finish();
          reject(new TransportError('socket closed', 'closed'));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        const p = this.endpoint.peer(nick);
        const why = !p ? 'no such peer' : describeState(p.state);
        reject(
          new TransportError(`${nick} did not connect within ${timeout} ms (${why})`, 'timeout'),
        );
      }, timeout);
      const finish = () => {
        clearTimeout(timer);
        this.peerWaiters.delete(checker);
      };
      const checker = () => {
        check();
      };
      if (!check()) this.peerWaiters.add(checker);
    });
  }

  peers(): PeerInfo[] {
    return this.endpoint.peers().map((p) => this.info(p));
  }

  removePeer(nick: string): void {
    this.assertOpen();
    this.endpoint.removePeer(nick, performance.now());
    this.pump();
  }

  /** Refuses a peer's key from now on (by nick or fingerprint). */
  block(nickOrFingerprint: string): void {
    this.assertOpen();
    const fp = this.endpoint.peer(nickOrFingerprint)?.fingerprint ?? nickOrFingerprint;
    this.endpoint.block(parseFingerprint(fp), performance.now());
    this.pump();
  }

  unblock(fingerprint: string): void {
    this.endpoint.unblock(parseFingerprint(fingerprint));
  }

  /** Whether a key (by fingerprint) is blocked: the transport is the one place blocks live. */
  isBlocked(fingerprint: string): boolean {
    return this.endpoint.isBlocked(parseFingerprint(fingerprint));
  }

  /**
   * The fingerprint `nick` is pinned to (an invite code, a fingerprint the
   * user gave, the trust store, or first use), if any: the one place pins
   * live, which the chat asks instead of keeping its own.
   */
  pinnedFingerprint(nick: string): string | undefined {
    const key = this.endpoint.pinnedKey(nick);
    return key ? fingerprintOf(key) : undefined;
  }

  /** Accepts the new key of a pinned nick whose key changed (after comparing fingerprints). */
  async trustNewKey(nick: string): Promise<void> {
    this.assertOpen();
    const p = this.endpoint.peer(nick);
    if (!p) throw new UsageError(`unknown peer "${nick}"`);
    if (p.state.kind !== 'key-mismatch') throw new UsageError(`${nick}'s key has not changed`);
    const key = parseFingerprint(p.state.got);
    this.endpoint.trust(nick, key, performance.now());
    await this.trust.set(nick, key);
    this.pump();
  }

  // ---- messages ---------------------------------------------------------------

  /**
   * Sends to the recipients and resolves when every one acknowledged. Unknown
   * nicks reject before anything is sent; silence past `timeout` rejects,
   * naming who did not acknowledge (delivery to them is then unknown).
   */
  send(content: string | Uint8Array, opts: SendOptions = {}): Promise<void> {
    // Not an async function: the usual send costs one promise, not three,
    // and its acknowledgement settles it without extra microtask hops. A
    // throw below still becomes a rejection, as it would in an async function.
    try {
      this.assertOpen();
      const data = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      if (data.length > MAX_MESSAGE_SIZE) {
        throw new UsageError(
          `message of ${data.length} bytes exceeds the maximum of ${MAX_MESSAGE_SIZE}`,
        );
      }
      const recipients =
        opts.recipient === undefined
          ? undefined
          : Array.isArray(opts.recipient)
            ? opts.recipient
            : [opts.recipient];
      const unknown = (recipients ?? []).filter((n) => !this.endpoint.hasPeer(n));
      if (unknown.length > 0) {
        throw new UsageError(`unknown peer${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`);
      }
      const timeout = opts.timeout ?? this.sendTimeout;
      const deadline = performance.now() + timeout;
      // With room (the usual case) the message is queued in this call, not a
      // promise hop later, so a send made inside a hook joins this turn's flush.
      if (this.hasRoom(recipients, data.length)) {
        const queued = this.endpoint.sendMessage(recipients, data, performance.now());
        return this.whenAcknowledged(queued, deadline, timeout);
      }
      return this.queueWhenRoom(recipients, data, deadline).then((queued) =>
        this.whenAcknowledged(queued, deadline, timeout),
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Settles when every recipient of a queued message acknowledged it, or at `deadline`. */
  private whenAcknowledged(
    queued: ReturnType<Endpoint['sendMessage']>,
    deadline: number,
    timeout: number,
  ): Promise<void> {
    if (queued.peers.length === 0) return Promise.resolve();
    this.scheduleFlush();
    return new Promise((resolve, reject) => {
      this.pending.set(queued.id, {
        remaining: queued.peers,
        resolve,
        reject,
        deadline,
        timeout,
      });
      this.armSendTimer(deadline);
    });
  }

  /**
   * One timer for every pending send, due at the earliest deadline (armed
   * lazily: a send acknowledged in time costs no timer of its own).
   */
  private armSendTimer(deadline: number): void {
    if (this.sendTimerAt !== undefined && this.sendTimerAt <= deadline) return;
    if (this.sendTimer) clearTimeout(this.sendTimer);
    this.sendTimerAt = deadline;
    this.sendTimer = setTimeout(
      () => this.expireSends(),
      Math.max(0, deadline - performance.now()),
    );
  }

  private expireSends(): void {
    this.sendTimer = undefined;
    this.sendTimerAt = undefined;
    const now = performance.now();
    let next: number | undefined;
    for (const [id, p] of this.pending) {
      if (p.deadline > now) {
        if (next === undefined || p.deadline < next) next = p.deadline;
        continue;
      }
      this.pending.delete(id);
      const who = p.remaining.map((r) => r.nick).join(', ');
      p.reject(
        new TransportError(
          `not acknowledged within ${p.timeout} ms by: ${who} (delivery unknown)`,
          'timeout',
        ),
      );
    }
    if (next !== undefined) this.armSendTimer(next);
  }

  /**
   * Backpressure: a send waits while a recipient already has
   * MAX_QUEUED_PER_PEER bytes unacknowledged (or all peers together
   * MAX_QUEUED_TOTAL), so a fast writer cannot grow our memory without bound.
   */
  private async queueWhenRoom(
    recipients: string[] | undefined,
    data: Uint8Array,
    deadline: number,
  ): Promise<ReturnType<Endpoint['sendMessage']>> {
    for (;;) {
      this.assertOpen();
      // Check and enqueue in one synchronous step: concurrent senders must
      // not all see room that only one of them may take.
      if (this.hasRoom(recipients, data.length)) {
        return this.endpoint.sendMessage(recipients, data, performance.now());
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TransportError(
          'send queue full: peers are not acknowledging fast enough',
          'backpressure',
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, left);
        function wake() {
          clearTimeout(timer);
          resolve();
        }
        this.roomWaiters.push(wake);
      });
    }
  }

  private hasRoom(recipients: string[] | undefined, size: number): boolean {
    const nicks = recipients ?? this.endpoint.connectedNicks();
    const total = this.endpoint.totalQueuedBytes();
    if (total > 0 && total + size * nicks.length > MAX_QUEUED_TOTAL) return false;
    for (const n of nicks) {
      const q = this.endpoint.queuedBytes(n);
      if (q > 0 && q + size > MAX_QUEUED_PER_PEER) return false;
    }
    return true;
  }

  /** The next queued message, or null after `timeout` ms (default: wait forever). */
  receive(opts: { timeout?: number } = {}): Promise<Message | null> {
    const next = this.queue.shift();
    if (next) {
      this.queueBytes -= next.content.length;
      // The application is reading again: a later overflow is news.
      this.overflowReported = false;
      return Promise.resolve(next);
    }
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve) => {
      const waiter: { resolve: (m: Message | null) => void; timer?: NodeJS.Timeout } = { resolve };
      if (opts.timeout !== undefined) {
        waiter.timer = setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        }, opts.timeout);
      }
      this.waiters.push(waiter);
    });
  }

  /** Runs `hook` for each incoming message; returns a function that removes it. */
  addHook(hook: Hook): () => void {
    this.hooks.push(hook);
    return () => {
      const i = this.hooks.indexOf(hook);
      if (i >= 0) this.hooks.splice(i, 1);
    };
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    for (;;) {
      const m = await this.receive();
      if (!m) return;
      yield m;
    }
  }

  stats(): SocketStats {
    const s = this.endpoint.stats;
    let rcv = 0;
    let snd = 0;
    try {
      rcv = this.socket.getRecvBufferSize();
      snd = this.socket.getSendBufferSize();
    } catch {
      // closed
    }
    return {
      ...s,
      dropped: { ...s.dropped },
      localAddress: addrKey(this.closed ? { address: '-', port: 0 } : this.localAddress()),
      fingerprint: this.fingerprint,
      receiveBufferSize: rcv,
      sendBufferSize: snd,
      queueDropped: this.queueDropped,
      queueDroppedBytes: this.queueDroppedBytes,
      queuedMessages: this.queue.length,
      queuedBytes: this.queueBytes,
      sendErrors: this.sendErrors,
      publicAddress: this.stunInfo()?.publicAddress,
      natMapping: this.stunInfo()?.mapping ?? 'unknown',
      probing: this.endpoint.probingStats(),
      uptime: performance.now() - this.startedAt,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.endpoint.close(performance.now());
    this.flushTransmits();
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.sendTimer) clearTimeout(this.sendTimer);
    for (const [, p] of this.pending) {
      p.reject(
        new TransportError(
          `socket closed before ${p.remaining.map((r) => r.nick).join(', ')} acknowledged`,
          'closed',
        ),
      );
    }
    this.pending.clear();
    for (const w of this.waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(null);
    }
    for (const check of [...this.peerWaiters]) check();
    for (const wake of this.roomWaiters.splice(0)) wake();
    await Promise.all([...this.writes]);
    // Let the CLOSE frames leave before the socket goes (dgram sends are async).
    if (this.sendsInFlight > 0) {
      await new Promise<void>((resolve) => {
        const cap = setTimeout(resolve, 500);
        this.onSendsDrained = () => {
          clearTimeout(cap);
          resolve();
        };
      });
    }
    for (const id of [...this.probeSockets.keys()]) this.closeProbeSocket(id);
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  // ---- the pump ---------------------------------------------------------------

  private assertOpen(): void {
    if (this.closed) throw new UsageError('socket is closed');
  }

  private onDatagram(data: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    this.endpoint.handleDatagram(
      data,
      { address: normalizeIp(rinfo.address), port: rinfo.port },
      performance.now(),
    );
    this.scheduleFlush();
  }

  /** Coalesce: everything that happened in this callback goes out in one flush. */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.pumping) return;
    this.flushScheduled = true;
    // Everything received or sent during this turn goes out together after
    // the poll phase: far fewer, fuller datagrams than flushing per callback
    // (measured: nextTick here halved bulk throughput).
    setImmediate(this.flushTurn);
  }

  /** scheduleFlush's callback, made once (not a closure per turn). */
  private readonly flushTurn = (): void => {
    this.flushScheduled = false;
    if (this.closed) return;
    if (this.dueTurns > 0) this.endpoint.handleTimeout(performance.now());
    this.pump();
  };

  private pump(): void {
    if (this.closed) return;
    // Events first: a hook or listener that answers at once (sends inside the
    // callback) gets its reply into this very flush, not the next turn's.
    this.pumping = true;
    try {
      this.drainEvents();
    } finally {
      this.pumping = false;
    }
    this.flushTransmits();
    this.armTimer();
    if (this.roomWaiters.length > 0) {
      const waiters = this.roomWaiters;
      this.roomWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private flushTransmits(): void {
    for (let c = this.endpoint.pollCommand(); c; c = this.endpoint.pollCommand()) this.onCommand(c);
    const now = performance.now();
    for (let t = this.endpoint.pollTransmit(now); t; t = this.endpoint.pollTransmit(now)) {
      const address =
        this.family === 6 && this.dualStack && isIP(t.to.address) === 4
          ? `::ffff:${t.to.address}`
          : t.to.address;
      if (t.via !== undefined) {
        // A probing socket: not waited for at close (it may close with sends queued).
        const probe = this.probeSockets.get(t.via);
        if (probe)
          probe.send(t.data, t.to.port, address, (err) => {
            if (err) this.sendErrors++;
          });
        else this.sendErrors++;
        continue;
      }
      this.sendsInFlight++;
      this.socket.send(t.data, t.to.port, address, this.onSent);
    }
  }

  /** Every main-socket send's callback, made once (not a closure per datagram). */
  private readonly onSent = (err: Error | null): void => {
    // Per-datagram send errors (EHOSTUNREACH, ENETUNREACH...) are the network's.
    if (err) this.sendErrors++;
    if (--this.sendsInFlight === 0) this.onSendsDrained?.();
  };

  /**
   * Many-port probing: open or close the extra sockets the endpoint asked
   * for. Each is bound to a fresh port on the main socket's address family,
   * and what it receives goes to the endpoint tagged with its id.
   */
  private onCommand(c: SocketCommand): void {
    if (c.kind === 'close') {
      for (const id of c.ids) this.closeProbeSocket(id);
      return;
    }
    if (this.closed) return;
    const type = this.family === 6 ? 'udp6' : 'udp4';
    const host = this.family === 6 && this.dualStack ? '::' : this.localAddress().address;
    for (const id of c.ids) {
      const s = dgram.createSocket({ type, ipv6Only: false });
      s.on('error', () => {
        // A probing socket that cannot bind or send only lowers the odds.
        this.sendErrors++;
        this.closeProbeSocket(id);
      });
      s.on('message', (data, rinfo) => {
        if (this.closed) return;
        this.endpoint.handleDatagram(
          data,
          { address: normalizeIp(rinfo.address), port: rinfo.port },
          performance.now(),
          id,
        );
        this.scheduleFlush();
      });
      // Sends before the bind completes are queued by dgram.
      s.bind(0, host);
      this.probeSockets.set(id, s);
    }
  }

  private closeProbeSocket(id: number): void {
    const s = this.probeSockets.get(id);
    if (!s) return;
    this.probeSockets.delete(id);
    try {
      s.close();
    } catch {
      // already closed after an error
    }
  }

  /** Extra (probing) sockets open now: 0 except while many-port probing runs or holds a path. */
  get probeSocketCount(): number {
    return this.probeSockets.size;
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
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = undefined;
        if (this.closed) return;
        this.endpoint.handleTimeout(performance.now());
        this.pump();
      },
      Math.max(0, at - performance.now()),
    );
  }

  private drainEvents(): void {
    for (let e = this.endpoint.pollEvent(); e; e = this.endpoint.pollEvent()) this.onEvent(e);
  }

  private onEvent(e: EndpointEvent): void {
    switch (e.type) {
      case 'message':
        this.deliver({
          content: e.data,
          peer: e.nick,
          timestamp: Date.now(),
          stream: e.stream,
        });
        return;
      case 'delivered':
      case 'undeliverable': {
        const p = this.pending.get(e.id);
        if (!p) return;
        if (e.type === 'undeliverable') {
          this.pending.delete(e.id);
          p.reject(
            new TransportError(`${e.nick}: ${e.reason} before acknowledging`, 'undeliverable'),
          );
          return;
        }
        const at = p.remaining.findIndex((r) => r.id === e.peerId);
        if (at >= 0) p.remaining.splice(at, 1);
        if (p.remaining.length === 0) {
          this.pending.delete(e.id);
          p.resolve();
        }
        return;
      }
      case 'peer': {
        const snap = this.endpoint.peer(e.nick);
        // A removed peer is gone from the endpoint: report its last known state.
        let info = snap ? this.info(snap) : this.lastInfo.get(e.nick);
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
        if (info) this.emit('peer', info, e.change);
        for (const check of [...this.peerWaiters]) check();
        return;
      }
      case 'unpinned': {
        const write: Promise<void> = this.trust
          .delete(e.nick)
          .catch((err: Error) => {
            this.reportError(
              new TransportError(`cannot save trust store: ${err.message}`, 'trust-store'),
            );
          })
          .finally(() => this.writes.delete(write));
        this.writes.add(write);
        return;
      }
      case 'pinned': {
        const key = parseFingerprint(e.fingerprint);
        const write: Promise<void> = this.trust
          .set(e.nick, key)
          .catch((err: Error) => {
            this.reportError(
              new TransportError(`cannot save trust store: ${err.message}`, 'trust-store'),
            );
          })
          .finally(() => this.writes.delete(write));
        this.writes.add(write);
        return;
      }
      case 'error':
        this.reportError(new TransportError(e.message, e.code));
        return;
      case 'stun':
        this.emit('stun', {
          publicAddress: e.publicAddress ? addrKey(e.publicAddress) : undefined,
          mapping: e.mapping,
          done: e.done,
        });
        return;
    }
  }

  /** Network-caused errors go to 'error' listeners if any; never thrown. */
  private reportError(err: TransportError): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /**
   * Hooks and 'message' listeners take messages when present (and then they
   * are not queued); otherwise they wait in a bounded queue for receive().
   */
  private deliver(msg: Message): void {
    if (this.hooks.length > 0 || this.listenerCount('message') > 0) {
      for (const hook of [...this.hooks]) hook(msg);
      this.emit('message', msg);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.resolve(msg);
      return;
    }
    this.queue.push(msg);
    this.queueBytes += msg.content.length;
    this.boundQueue();
  }

  /**
   * Keeps the receive() queue within its message and byte limits by
   * discarding the oldest. Every message here was already acknowledged to
   * its sender (its transport delivery succeeded), so a discard is never
   * silent: it is counted, and reported as an error once per overflow.
   */
  private boundQueue(): void {
    let dropped = 0;
    let bytes = 0;
    let from: string | undefined;
    while (this.queue.length > this.queueLimit || this.queueBytes > this.queueByteLimit) {
      const old = this.queue.shift()!;
      this.queueBytes -= old.content.length;
      dropped++;
      bytes += old.content.length;
      from ??= old.peer;
    }
    if (dropped === 0) return;
    this.queueDropped += dropped;
    this.queueDroppedBytes += bytes;
    if (this.overflowReported) return;
    this.overflowReported = true;
    this.reportError(
      new TransportError(
        `receive() queue full (${this.queueLimit} messages / ${this.queueByteLimit} bytes): ` +
          `discarded acknowledged messages, the oldest from ${from}; see stats().queueDropped`,
        'receive-queue-full',
      ),
    );
  }

  private info(p: PeerSnapshot): PeerInfo {
    return {
      nick: p.nick,
      address: p.address ? addrKey(p.address) : undefined,
      fingerprint: p.fingerprint,
      pinned: p.pinned,
      announcedNick: p.announcedNick,
      ...(p.introducedBy !== undefined ? { introducedBy: p.introducedBy } : {}),
      // The endpoint runs on a monotonic clock; users get epoch milliseconds.
      state: { ...p.state, since: p.state.since + this.epochOffset },
      stats: {
        ...p.stats,
        lastSeen: p.stats.lastSeen === undefined ? undefined : p.stats.lastSeen + this.epochOffset,
      },
    };
  }
}

/**
 * This host's addresses as the introduction policy needs them (nat/targets.ts):
 * the bound address, or every non-loopback interface address for a wildcard.
 */
function hostAddresses(bound: string): string[] {
  if (bound !== '0.0.0.0' && bound !== '::') return [bound];
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces()))
    for (const i of list ?? []) if (!i.internal) out.push(normalizeIp(i.address));
  return out;
}

/** Interface addresses a peer might reach us at, global ones first (at most 4). */
function localCandidates(port: number, includeV6: boolean): Addr[] {
  const all: Addr[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      if (i.family === 'IPv6' && (!includeV6 || i.address.startsWith('fe80'))) continue;
      all.push({ address: normalizeIp(i.address), port });
    }
  }
  const loopback = (a: Addr) => a.address === '::1' || a.address.startsWith('127.');
  return [...all.filter((a) => !loopback(a)), ...all.filter(loopback)].slice(0, 4);
}

function describeState(s: PeerState): string {
  switch (s.kind) {
    case 'connecting':
      return `still connecting, ${s.attempt} attempt${s.attempt === 1 ? '' : 's'}`;
    case 'connected':
      return 'connected';
    case 'unreachable':
      return `unreachable: ${s.reason}`;
    case 'disconnected':
      return `disconnected: ${s.reason}`;
    case 'key-mismatch':
      return `key mismatch: expected ${s.expected.slice(0, 8)}, got ${s.got.slice(0, 8)}`;
  }
}

/**
 * dgram resolves every destination through `lookup`, and dns.lookup answers
 * even an IP literal a process.nextTick later. We only ever send to
 * literals: answering at once lets send() reach the kernel in the call,
 * without a tick and a closure per datagram.
 */
function literalLookup(
  hostname: string,
  options: LookupOneOptions,
  callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void,
): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, options, callback);
}

async function openSocket(
  host: string | undefined,
  port: number,
): Promise<{ socket: dgram.Socket; family: 4 | 6; dualStack: boolean }> {
  const attempt = (type: 'udp4' | 'udp6', address: string) =>
    new Promise<dgram.Socket>((resolve, reject) => {
      const socket = dgram.createSocket({
        type,
        ipv6Only: false,
        reuseAddr: false,
        lookup: literalLookup,
      });
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(err);
      };
      socket.once('error', onError);
      socket.bind(port, address, () => {
        socket.off('error', onError);
        resolve(socket);
      });
    });
  const explain = (err: NodeJS.ErrnoException, address: string) => {
    if (err.code === 'EADDRINUSE')
      return new UsageError(`port ${port} is already in use on ${address}`);
    if (err.code === 'EADDRNOTAVAIL')
      return new UsageError(`cannot bind ${address}: no such local address`);
    if (err.code === 'EACCES') return new UsageError(`no permission to bind port ${port}`);
    return new UsageError(`cannot bind ${address}:${port}: ${err.message}`);
  };
  if (host !== undefined) {
    const family = isIP(host);
    if (family === 0) throw new UsageError(`bad bind address "${host}": give an IP address`);
    const h = normalizeIp(host);
    try {
      const socket = await attempt(family === 6 ? 'udp6' : 'udp4', h);
      return {
        socket,
        family: family === 6 ? 6 : 4,
        dualStack: family === 6 && (h === '::' || h === '::0'),
      };
    } catch (err) {
      throw explain(err as NodeJS.ErrnoException, h);
    }
  }
  try {
    return { socket: await attempt('udp6', '::'), family: 6, dualStack: true };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE')
      throw explain(err as NodeJS.ErrnoException, '::');
  }
  try {
    return { socket: await attempt('udp4', '0.0.0.0'), family: 4, dualStack: false };
  } catch (err) {
    throw explain(err as NodeJS.ErrnoException, '0.0.0.0');
  }
}
