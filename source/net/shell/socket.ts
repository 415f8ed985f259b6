import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { type Addr, addrKey, normalizeIp } from '../core/address.js';
import { unknownPeers } from '../core/commands.js';
import { MAX_MESSAGE_SIZE } from '../core/conn/streamlimits.js';
import { Endpoint, validateNick } from '../core/endpoint.js';
import { TransportError, UsageError } from '../core/errors.js';
import { type PeerAddress, parsePeerEntry } from '../core/peers/entry.js';
import type { RelayServer } from '../core/relay.js';
import {
  fingerprint as fingerprintOf,
  generateIdentity,
  type Identity,
  parseFingerprint,
} from '../crypto/identity.js';
import { attachDiscovery, type SocketDiscovery } from '../discovery/attach.js';
import { encodeInvite } from '../nat/invite.js';
import { loadOrCreateIdentity, restoreIdentityFile } from '../store/identityfile.js';
import { TrustStore } from '../store/truststore.js';
import { describeState, peerInfo } from './describe.js';
import { Driver } from './driver.js';
import { DEFAULT_RECEIVE_QUEUE_BYTES, DEFAULT_RECEIVE_QUEUE_LIMIT, type Hook } from './inbox.js';
import { type ParsedRelay, parseRelays } from './relayuri.js';
import { hostAddresses, localCandidates, resolveHostPort } from './resolve.js';
import { DEFAULT_SEND_TIMEOUT } from './sends.js';
import type {
  BindOptions,
  Message,
  PeerInfo,
  SendOptions,
  SocketEvents,
  SocketStats,
  StunInfo,
} from './types.js';
import { DEFAULT_BUFFER_SIZE, type OpenedSocket, openSocket, requestBuffers } from './udp.js';

export {
  DEFAULT_RECEIVE_QUEUE_BYTES,
  DEFAULT_RECEIVE_QUEUE_LIMIT,
} from './inbox.js';
export { DEFAULT_SEND_TIMEOUT, MAX_QUEUED_PER_PEER, MAX_QUEUED_TOTAL } from './sends.js';
export type {
  BindOptions,
  Message,
  PeerInfo,
  RelayInfo,
  SendOptions,
  SocketEvents,
  SocketStats,
  StunInfo,
} from './types.js';

/**
 * The public face of the transport. The I/O lives beside it in shell/:
 * the pump and its one timer (driver.ts), the UDP sockets (udp.ts), names
 * and local addresses (resolve.ts), pending sends (sends.ts) and the
 * receive queue (inbox.ts); the class itself checks arguments and delegates.
 */

export const DEFAULT_WAIT_FOR_PEER_TIMEOUT = 10_000;
const STATS_INTERVAL = 250;

export class MultiHolepunchSocket extends EventEmitter<SocketEvents> {
  readonly fingerprint: string;
  private readonly endpoint: Endpoint;
  private readonly trust: TrustStore;
  private readonly driver: Driver;
  private readonly statsTimer: NodeJS.Timeout;
  private closed = false;
  private readonly startedAt = performance.now();
  private readonly sendTimeout: number;
  private discovery: SocketDiscovery | undefined;
  /** The identity file bound from, and its key: see keepIdentityFile. */
  private identityFile: { path: string; identity: Identity } | undefined;

  private constructor(
    endpoint: Endpoint,
    trust: TrustStore,
    opened: OpenedSocket,
    opts: BindOptions,
  ) {
    super();
    this.endpoint = endpoint;
    this.trust = trust;
    this.fingerprint = endpoint.fingerprint;
    this.sendTimeout = opts.sendTimeout ?? DEFAULT_SEND_TIMEOUT;
    this.driver = new Driver(endpoint, this, trust, opened, {
      receiveQueueLimit: opts.receiveQueueLimit ?? DEFAULT_RECEIVE_QUEUE_LIMIT,
      receiveQueueBytes: opts.receiveQueueBytes ?? DEFAULT_RECEIVE_QUEUE_BYTES,
    });
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
    if (opts.relayRto !== undefined && !(Number.isInteger(opts.relayRto) && opts.relayRto > 0)) {
      throw new UsageError('relayRto must be a positive whole number of ms');
    }
    if (opts.receiveQueueBytes !== undefined && !(opts.receiveQueueBytes >= 0)) {
      throw new UsageError('receiveQueueBytes must be a non-negative number');
    }
    const relays = opts.relays ? parseRelays(opts.relays) : [];
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
    const opened = await openSocket(opts.host, port);
    requestBuffers(opened.socket, opts.receiveBufferSize ?? DEFAULT_BUFFER_SIZE);
    endpoint.setLocalAddresses(hostAddresses(normalizeIp(opened.socket.address().address)));
    const sock = new MultiHolepunchSocket(endpoint, trust, opened, opts);
    if (opts.identityPath && !opts.identity) {
      sock.identityFile = { path: opts.identityPath, identity };
    }
    try {
      if (opts.stun && opts.stun.length > 0) await sock.startStun(opts.stun, opts.stunRto);
      if (relays.length > 0) await sock.startRelays(relays, opts.relayRto);
      // After the relays: our first published record carries the relayed candidate.
      await sock.startDiscovery(opts);
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
    this.driver.pump();
  }

  /**
   * Allocates on the relays (see BindOptions.relays): over UDP from the peer
   * socket, falling back to TCP on the same port; or over TCP / TLS.
   */
  private async startRelays(relays: readonly ParsedRelay[], rto?: number): Promise<void> {
    const servers = await Promise.all(
      relays.map(async (r): Promise<RelayServer> => {
        const { host, port, transport, secure } = r.uri;
        const [server] = await this.resolve(`${host.includes(':') ? `[${host}]` : host}:${port}`);
        this.driver.links.configure({ server: server!, host, tls: secure, pin: r.pin });
        return {
          server: server!,
          username: r.username,
          password: r.password,
          transport: transport === 'udp' ? 'udp' : 'stream',
          fallback: transport === 'udp',
          ...(rto !== undefined ? { rto } : {}),
        };
      }),
    );
    this.endpoint.startRelay(servers, performance.now());
    this.driver.pump();
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
    return this.driver.udp.localAddress();
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
    const discovery = this.discovery !== undefined;
    const parsed = Object.entries(peers).map(([nick, value]) =>
      parsePeerEntry(nick, value, { discovery }),
    );
    for (const p of parsed) if (p.byKey) this.discovery?.check(p.nick, p.key!);
    const resolved = await Promise.all(
      parsed
        .filter((p) => !p.byKey)
        .map(async (p) => {
          const addrs: Addr[] = [...p.invited];
          for (const text of p.hosts) addrs.push(...(await this.resolve(text)));
          return { nick: p.nick, spec: { addrs, key: p.key, nat: p.nat, relayed: p.relayed } };
        }),
    );
    this.assertOpen();
    const now = performance.now();
    for (const { nick, spec } of resolved) this.endpoint.addPeer(nick, spec, now);
    // Key only: the name is pinned to the key at once (no stranger can take
    // it meanwhile); discovery looks the key up and dials what it finds.
    for (const p of parsed) {
      if (!p.byKey) continue;
      this.endpoint.addPeer(p.nick, { addrs: [], key: p.key, lookup: true }, now);
      this.discovery?.find(p.nick, p.key!);
    }
    this.driver.pump();
  }

  /** DHT and LAN discovery (discovery/attach.ts), when bind asks for them. */
  private async startDiscovery(opts: BindOptions): Promise<void> {
    this.discovery = await attachDiscovery(
      {
        endpoint: this.endpoint,
        pump: () => this.driver.pump(),
        isClosed: () => this.closed,
        invite: () => this.invite(),
        hasPublicAddress: () => !!this.stunInfo()?.publicAddress,
        localAddress: () => this.localAddress(),
        hostAddresses: () => hostAddresses(normalizeIp(this.localAddress().address)),
        onPeer: (listener) => this.on('peer', listener),
      },
      opts,
      process.env,
    );
    // The first record goes out before STUN answers (host candidates only);
    // publish the reflexive address as soon as we learn it, not at the next
    // periodic refresh seconds later (seen in the NAT lab: ~7 s to connect by key).
    if (this.discovery) this.on('stun', () => this.discovery?.refresh());
    // Likewise our relayed address, at bind and whenever it changes (a new
    // allocation after an idle release has a new port).
    if (this.discovery) this.driver.onRelayAllocated = () => this.discovery?.refresh();
  }

  private resolve(text: string): Promise<Addr[]> {
    return resolveHostPort(text, this.driver.udp);
  }

  /**
   * A copy-pasteable code with our nick, identity key and candidate
   * addresses (the bound address, or every local interface address when
   * bound to a wildcard). `addPeers({ name: code })` on the other side
   * connects and pins our key. `{ addresses: false }`: a key-only code
   * (nick and key), which a peer with discovery on resolves by DHT or LAN
   * and which never goes stale.
   */
  invite(opts: { addresses?: boolean } = {}): string {
    if (opts.addresses === false) {
      // Key only: nothing that goes stale; the holder finds us by discovery.
      return encodeInvite({
        identity: this.endpoint.local.identity.publicKey,
        nick: this.endpoint.local.nick,
        addrs: [],
      });
    }
    const { address, port } = this.localAddress();
    const udp = this.driver.udp;
    const wildcard = address === '::' || address === '0.0.0.0';
    const local = wildcard
      ? localCandidates(port, udp.family === 6 && udp.dualStack)
      : [{ address, port }];
    // The STUN-reflexive address first: it is the one a peer elsewhere can reach.
    const summary = this.endpoint.stunSummary();
    const mapped = summary?.mapped;
    const addrs = mapped
      ? [mapped, ...local.filter((a) => addrKey(a) !== addrKey(mapped))].slice(0, 4)
      : local;
    const relayed = this.endpoint.relayedAddress();
    return encodeInvite({
      identity: this.endpoint.local.identity.publicKey,
      nick: this.endpoint.local.nick,
      addrs,
      // Our TURN allocation: where a peer no direct path reaches finds us.
      ...(relayed ? { relayed: [relayed] } : {}),
      // How our NAT maps us, so a peer can tell when many-port probing is needed.
      ...(mapped && summary ? { nat: summary.behaviour } : {}),
    });
  }

  /** Resolves when `nick` is connected; rejects with a clear error on timeout. */
  waitForPeer(nick: string, opts: { timeout?: number } = {}): Promise<PeerInfo> {
    this.assertOpen();
    const timeout = opts.timeout ?? DEFAULT_WAIT_FOR_PEER_TIMEOUT;
    const waiters = this.driver.peerWaiters;
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
        waiters.delete(checker);
      };
      const checker = () => {
        check();
      };
      if (!check()) waiters.add(checker);
    });
  }

  peers(): PeerInfo[] {
    return this.endpoint.peers().map((p) => this.info(p));
  }

  removePeer(nick: string): void {
    this.assertOpen();
    // A name still being looked up by key is not in the endpoint yet.
    if (this.discovery?.forget(nick) && !this.endpoint.hasPeer(nick)) return;
    this.endpoint.removePeer(nick, performance.now());
    this.driver.pump();
  }

  /** Refuses a peer's key from now on (by nick or fingerprint). */
  block(nickOrFingerprint: string): void {
    this.assertOpen();
    const fp = this.endpoint.peer(nickOrFingerprint)?.fingerprint ?? nickOrFingerprint;
    this.endpoint.block(parseFingerprint(fp), performance.now());
    this.driver.pump();
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

  /**
   * Accepts the new key of a pinned nick whose key changed (after comparing
   * fingerprints), or pins the key of an unconfirmed peer (see
   * PeerInfo.unconfirmed): the key its session proved.
   */
  async trustNewKey(nick: string): Promise<void> {
    this.assertOpen();
    const p = this.endpoint.peer(nick);
    if (!p) throw new UsageError(`unknown peer "${nick}"`);
    if (p.unconfirmed && p.fingerprint) {
      this.endpoint.confirm(nick);
      await this.trust.set(nick, parseFingerprint(p.fingerprint));
      this.driver.pump();
      return;
    }
    if (p.state.kind !== 'key-mismatch') throw new UsageError(`${nick}'s key has not changed`);
    const key = parseFingerprint(p.state.got);
    this.endpoint.trust(nick, key, performance.now());
    await this.trust.set(nick, key);
    this.driver.pump();
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
      // One nick goes down as itself, not in an array of one (issue 16).
      const recipients = opts.recipient;
      // Checked by a loop: the list of unknown names (a filter's array and
      // closure per send) is only built to say who was unknown.
      if (recipients !== undefined && !this.allKnown(recipients)) {
        throw unknownPeers(recipients, (n) => this.endpoint.hasPeer(n));
      }
      return this.driver.sends.send(recipients, data, opts.timeout ?? this.sendTimeout);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private allKnown(nicks: string | readonly string[]): boolean {
    if (typeof nicks === 'string') return this.endpoint.hasPeer(nicks);
    for (let i = 0; i < nicks.length; i++) if (!this.endpoint.hasPeer(nicks[i]!)) return false;
    return true;
  }

  /** The next queued message, or null after `timeout` ms (default: wait forever). */
  receive(opts: { timeout?: number } = {}): Promise<Message | null> {
    return this.driver.inbox.receive(opts.timeout);
  }

  /** Runs `hook` for each incoming message; returns a function that removes it. */
  addHook(hook: Hook): () => void {
    return this.driver.inbox.addHook(hook);
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
    const { udp, inbox } = this.driver;
    const buffers = udp.bufferSizes();
    const stun = this.stunInfo();
    return {
      ...s,
      dropped: { ...s.dropped },
      localAddress: addrKey(this.closed ? { address: '-', port: 0 } : this.localAddress()),
      fingerprint: this.fingerprint,
      receiveBufferSize: buffers.receive,
      sendBufferSize: buffers.send,
      queueDropped: inbox.dropped,
      queueDroppedBytes: inbox.droppedBytes,
      queuedMessages: inbox.queuedMessages,
      queuedBytes: inbox.queuedBytes,
      sendErrors: udp.sendErrors,
      publicAddress: stun?.publicAddress,
      natMapping: stun?.mapping ?? 'unknown',
      probing: this.endpoint.probingStats(),
      relay: this.relayInfo(),
      uptime: performance.now() - this.startedAt,
      discovery: this.discovery?.stats(),
    };
  }

  private relayInfo(): SocketStats['relay'] {
    const r = this.endpoint.relayStats();
    if (r.state === 'none') return undefined;
    return {
      server: r.server ? addrKey(r.server) : undefined,
      state: r.state,
      transport:
        r.transport === 'stream' && r.server ? this.driver.links.transportOf(r.server) : 'udp',
      reason: r.reason,
      relayed: r.relayed ? addrKey(r.relayed) : undefined,
      bytesSent: r.bytesSent,
      bytesReceived: r.bytesReceived,
      dropped: r.dropped,
      droppedBy: r.droppedBy,
    };
  }

  /** Extra (probing) sockets open now: 0 except while many-port probing runs or holds a path. */
  get probeSocketCount(): number {
    return this.driver.udp.probeCount;
  }

  /**
   * Writes the key back to `identityPath` if that file is gone (its
   * directory deleted while bound): otherwise the next start would make a
   * new key and every friend would see a key change. A file found there is
   * never replaced. True when it wrote the file; false without an
   * `identityPath`.
   */
  async keepIdentityFile(): Promise<boolean> {
    if (!this.identityFile) return false;
    return restoreIdentityFile(this.identityFile.path, this.identityFile.identity);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Set first: waitForPeer checks run during the close and must see it.
    this.closed = true;
    clearInterval(this.statsTimer);
    await Promise.all([this.driver.close(), this.discovery?.close()]);
  }

  private assertOpen(): void {
    if (this.closed) throw new UsageError('socket is closed');
  }

  private info(p: Parameters<typeof peerInfo>[0]): PeerInfo {
    return peerInfo(p, this.driver.epochOffset);
  }
}
