import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadPeersFile, type PeerEntry, savePeersFile } from '../app/peersfile.js';
import type {
  Message,
  MultiHolepunchSocket,
  PeerChange,
  PeerInfo,
  SocketEvents,
  StunInfo,
} from '../index.js';
import { decodeInvite, isInviteCode, UsageError, validateNick } from '../index.js';
import { type Action, COMMANDS, isFingerprint } from './commands.js';
import {
  type ChatLine,
  describeState,
  formatPeerTable,
  formatTime,
  formatWhois,
  shortFp,
} from './format.js';
import { decodeChat, encodeChat } from './protocol.js';

/**
 * The chat's behaviour, independent of any screen: runs Actions against a
 * socket and reports everything worth showing as ChatLines. The line-mode
 * front end (and later the full-screen one) only reads input, parses it and
 * renders the lines.
 */

/**
 * Subscribing to the socket's events, as both MultiHolepunchSocket and the
 * worker-backed socket (source/app/remotesocket.ts) offer it.
 */
export interface SocketEventSource {
  on<E extends keyof SocketEvents>(event: E, listener: (...args: SocketEvents[E]) => void): unknown;
  off<E extends keyof SocketEvents>(
    event: E,
    listener: (...args: SocketEvents[E]) => void,
  ): unknown;
}

/** The part of the socket the chat uses (a fake in tests). */
export type ChatSocket = SocketEventSource & ChatSocketMethods;
type ChatSocketMethods = Pick<
  MultiHolepunchSocket,
  | 'send'
  | 'peers'
  | 'addPeers'
  | 'removePeer'
  | 'block'
  | 'unblock'
  | 'trustNewKey'
  | 'close'
  | 'fingerprint'
  | 'invite'
  | 'stunInfo'
  | 'pinnedFingerprint'
  | 'isBlocked'
>;

export interface ControllerOptions {
  /** Our own nick, for echoing what we send. */
  nick: string;
  /** Where lines go. */
  print: (line: ChatLine) => void;
  verbose?: boolean;
  /** Relative /save and /load paths resolve against this (default: process.cwd()). */
  cwd?: string;
  now?: () => number;
  /**
   * How each own message ended, by the `id` on its ChatLine. When given, the
   * "delivered" system lines are left out: the screen marks the message itself.
   */
  onDelivery?: (id: number, state: 'delivered' | 'failed', detail?: string) => void;
  /**
   * The user accepted `nick`'s new key with /trust (the transport has pinned
   * it): the known-peers store follows, so the key survives a restart.
   */
  onTrust?: (nick: string, fingerprint: string, address: string | undefined) => void;
  /** Longest a command (all but /wait) may run before it is reported as hung (ms). */
  commandTimeoutMs?: number;
}

/** Longest incoming message shown in full (characters); the rest is summarised. */
export const MAX_SHOWN_CHARS = 64 * 1024;
/** The same error from the network is shown at most once per this many ms. */
const ERROR_REPEAT_MS = 5000;
/** Longest /invite waits for a STUN round still in progress, ms. */
export const INVITE_STUN_WAIT_MS = 3000;

/**
 * Longest a command may take (ms) before the chat stops waiting for it and
 * says so. Front ends that run commands in order (line mode) would otherwise
 * swallow every later line behind one that never settles; a DNS lookup for
 * /add is the slowest honest case (resolv.conf's default: 5 s x 2 attempts).
 */
export const COMMAND_TIMEOUT_MS = 15_000;

export type ExecuteResult = 'quit' | 'clear' | 'bell' | undefined;

export class ChatController {
  private readonly socket: ChatSocket;
  private readonly opts: ControllerOptions;
  private readonly now: () => number;
  /**
   * Which key /block blocked for a nick, only so /unblock <nick> works after
   * the peer is gone: whether a key is blocked is the transport's to say.
   */
  private readonly blockedNicks = new Map<string, string>();
  /** Nicks whose new key was just trusted: their next session is a connection, not a restart. */
  private readonly trusting = new Set<string>();
  /** Last state kind reported per nick, so repeats are not. */
  private readonly reported = new Map<string, string>();
  private readonly recentErrors = new Map<string, number>();
  /** When each peer last connected, by our clock (the transport's is monotonic). */
  private readonly connectedAt = new Map<string, number>();
  private readonly pending = new Set<Promise<void>>();
  /** Own messages not sent (nobody to send to) or not acknowledged. */
  private unsentCount = 0;
  private closed: Promise<void> | undefined;
  private nextId = 1;

  /** Nicks of peers the user never added (strangers), to mark their lines. */
  private readonly strangers = new Set<string>();
  private readonly onMessage = (m: Message) => this.handleMessage(m);
  private readonly onPeer = (p: PeerInfo, c: PeerChange) => this.handlePeer(p, c);
  private readonly onError = (e: Error) => this.handleError(e);

  constructor(socket: ChatSocket, opts: ControllerOptions) {
    this.socket = socket;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    socket.on('message', this.onMessage);
    socket.on('peer', this.onPeer);
    socket.on('error', this.onError);
  }

  private system(text: string): void {
    this.opts.print({ kind: 'system', time: this.now(), text });
  }

  private error(text: string): void {
    this.opts.print({ kind: 'error', time: this.now(), text });
  }

  private verbose(text: string): void {
    if (this.opts.verbose) this.system(text);
  }

  /**
   * A code made while STUN is still asking would lack our public address and
   * our NAT's kind (which decides whether many-port probing is needed), so
   * /invite waits for STUN a little first — never long: a code with local
   * addresses is still useful on a LAN.
   */
  private async stunSettled(ms: number): Promise<void> {
    const info = this.socket.stunInfo();
    if (!info || info.done) return;
    this.system('asking STUN for your public address first...');
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.socket.off('stun', onStun);
        resolve();
      };
      const onStun = (s: StunInfo) => {
        if (s.done) finish();
      };
      const timer = setTimeout(finish, ms);
      this.socket.on('stun', onStun);
    });
  }

  /** Nicks for tab completion. */
  nicks(): string[] {
    return this.socket.peers().map((p) => p.nick);
  }

  /**
   * Adds the peers of a peers file (or the known-peers store), each on its
   * own: a refused entry is an error line and the others are still added.
   * Resolves to the nicks added.
   */
  async addEntries(entries: readonly PeerEntry[]): Promise<string[]> {
    const added = await Promise.all(entries.map((e) => this.addEntry(e)));
    return entries.filter((_, i) => added[i]).map((e) => e.nick);
  }

  /**
   * A fingerprint goes to the transport with the address, so only that key is
   * accepted there and another one is refused before anything is pinned (an
   * impostor's key never reaches trust.json). A key that disagrees with the
   * name's pin is refused here with a clearer line; the transport would throw
   * a UsageError too.
   */
  private async addEntry(e: PeerEntry): Promise<boolean> {
    if (e.nick === this.opts.nick || e.fingerprint === this.socket.fingerprint) {
      this.system(
        `skipping ${e.nick}: ${e.nick === this.opts.nick ? 'that is your own nick' : 'that is your own key'}`,
      );
      return false;
    }
    const pinned = this.socket.pinnedFingerprint(e.nick);
    if (pinned && e.fingerprint && pinned !== e.fingerprint) {
      this.error(
        `the peers file names key ${e.fingerprint} for ${e.nick}, but ${pinned} is pinned: keeping the pinned key (compare fingerprints; if the key really changed, /remove ${e.nick} and load the file again)`,
      );
      return false;
    }
    const address = e.fingerprint ? { address: e.address, fingerprint: e.fingerprint } : e.address;
    try {
      await this.socket.addPeers({ [e.nick]: address });
      return true;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      this.error(`${e.nick} not added: ${err.message}`);
      return false;
    }
  }

  /**
   * Runs one action. Never throws: failures become error lines. Never hangs
   * either: a command still running after the timeout is reported and left
   * to finish on its own (/wait carries its own limit).
   */
  async execute(action: Action): Promise<ExecuteResult> {
    const running = this.run(action);
    const limit =
      action.type === 'wait' ? undefined : (this.opts.commandTimeoutMs ?? COMMAND_TIMEOUT_MS);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const late = new Promise<ExecuteResult>((res) => {
      if (limit === undefined) return;
      timer = setTimeout(() => {
        timedOut = true;
        this.error(
          `/${action.type} did not finish within ${limit / 1000} s; it goes on in the background, the chat does not wait for it`,
        );
        res(undefined);
      }, limit);
    });
    try {
      return await Promise.race([running, late]);
    } catch (err) {
      this.error((err as Error).message);
      return undefined;
    } finally {
      clearTimeout(timer);
      // A command given up on still says how it ended, if it fails.
      if (timedOut) running.catch((err: Error) => this.error(`/${action.type}: ${err.message}`));
    }
  }

  /** Own messages that could not be sent or were not acknowledged, so far. */
  get unsent(): number {
    return this.unsentCount;
  }

  private async run(action: Action): Promise<ExecuteResult> {
    switch (action.type) {
      case 'none':
        return undefined;
      case 'error':
        this.error(action.message);
        return undefined;
      case 'help':
        this.help(action.command);
        return undefined;
      case 'wait':
        await this.wait(action.nick, action.seconds);
        return undefined;
      case 'clear':
        return 'clear';
      case 'bell':
        return 'bell';
      case 'quit':
        return 'quit';
      case 'broadcast':
        this.broadcast(action.text);
        return undefined;
      case 'msg':
        this.privateMessage(action.nick, action.text);
        return undefined;
      case 'list':
        this.list();
        return undefined;
      case 'whois':
        this.whois(action.nick);
        return undefined;
      case 'add': {
        await this.socket.addPeers({ [action.nick]: action.address });
        const where = isInviteCode(action.address)
          ? 'with an invite code (key pinned from it)'
          : `at ${action.address}`;
        this.system(`connecting to ${action.nick} ${where}`);
        return undefined;
      }
      case 'invite':
        await this.stunSettled(INVITE_STUN_WAIT_MS);
        this.system('your invite code (give it to someone; they type /join <code>):');
        this.system(this.socket.invite());
        return undefined;
      case 'join': {
        const nick = decodeInvite(action.code).nick;
        try {
          validateNick(nick);
        } catch {
          this.error(`the code's nick is not usable here: use /add <nick> <code>`);
          return undefined;
        }
        await this.socket.addPeers({ [nick]: action.code });
        this.system(`connecting to ${nick} with an invite code (key pinned from it)`);
        return undefined;
      }
      case 'remove':
        this.requirePeer(action.nick);
        this.socket.removePeer(action.nick);
        return undefined;
      case 'trust':
        await this.trust(action.nick);
        return undefined;
      case 'block':
        this.block(action.nick);
        return undefined;
      case 'unblock':
        this.unblock(action.nick);
        return undefined;
      case 'save':
        await this.save(action.file);
        return undefined;
      case 'load':
        await this.load(action.file);
        return undefined;
    }
  }

  private help(command: string | undefined): void {
    const one = COMMANDS.find((c) => c.name === command);
    if (one) {
      this.system(`${one.usage}  ${one.description}`);
      for (const a of one.aliases) this.system(`  also /${a}`);
      return;
    }
    this.system('plain text goes to every connected peer; start it with // to send a leading /');
    const width = Math.max(...COMMANDS.map((c) => c.usage.length));
    for (const c of COMMANDS) this.system(`  ${c.usage.padEnd(width)}  ${c.description}`);
  }

  /**
   * Resolves once `nick` is connected (it may be a peer that has yet to dial
   * us), or throws after `seconds`: a script's next line can then rely on it.
   */
  private async wait(nick: string, seconds: number): Promise<void> {
    const isUp = (p: PeerInfo) => p.nick === nick && p.state.kind === 'connected';
    if (this.socket.peers().some(isUp)) {
      this.system(`${nick} is connected`);
      return;
    }
    this.system(`waiting up to ${seconds} s for ${nick} to connect...`);
    const connected = await new Promise<boolean>((res) => {
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        this.socket.off('peer', onPeer);
        res(ok);
      };
      const onPeer = (p: PeerInfo) => {
        if (isUp(p)) finish(true);
      };
      const timer = setTimeout(() => finish(false), seconds * 1000);
      this.socket.on('peer', onPeer);
    });
    if (!connected) throw new Error(`${nick} did not connect within ${seconds} s`);
  }

  private requirePeer(nick: string): PeerInfo {
    const p = this.socket.peers().find((x) => x.nick === nick);
    if (!p) throw new Error(`unknown peer "${nick}": /list shows the peers you have`);
    return p;
  }

  /** Keeps a send's promise for shutdown and reports how it ended. */
  private track(send: Promise<void>, ok: () => void, fail: (err: Error) => void): void {
    const p: Promise<void> = send
      .then(ok, fail)
      .catch(() => undefined)
      .finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private broadcast(text: string): void {
    const connected = this.socket.peers().filter((p) => p.state.kind === 'connected');
    if (connected.length === 0) {
      this.unsentCount++;
      this.error('nobody is connected: message not sent (add a peer with /add <nick> <host:port>)');
      return;
    }
    const id = this.nextId++;
    this.opts.print({
      kind: 'message',
      id,
      time: this.now(),
      from: this.opts.nick,
      text,
      private: false,
      own: true,
    });
    const n = connected.length;
    const done = this.opts.onDelivery;
    this.track(
      this.socket.send(encodeChat({ text, private: false })),
      () =>
        done ? done(id, 'delivered') : this.verbose(`delivered to ${n} peer${n === 1 ? '' : 's'}`),
      (err) => {
        this.unsentCount++;
        done?.(id, 'failed', err.message);
        this.error(`not delivered: ${err.message}`);
      },
    );
  }

  private privateMessage(nick: string, text: string): void {
    const peer = this.socket.peers().find((x) => x.nick === nick);
    if (!peer) {
      this.unsentCount++;
      this.requirePeer(nick);
      return;
    }
    const id = this.nextId++;
    this.opts.print({
      kind: 'message',
      id,
      time: this.now(),
      from: this.opts.nick,
      text,
      private: true,
      own: true,
      to: nick,
    });
    if (peer.state.kind !== 'connected') {
      this.system(`${nick} is ${describeState(peer.state)}; the message waits until it connects`);
    }
    const done = this.opts.onDelivery;
    this.track(
      this.socket.send(encodeChat({ text, private: true }), { recipient: nick }),
      () => (done ? done(id, 'delivered') : this.system(`delivered to ${nick}`)),
      (err) => {
        this.unsentCount++;
        done?.(id, 'failed', err.message);
        this.error(`message to ${nick} failed: ${err.message}`);
      },
    );
  }

  private list(): void {
    const peers = this.socket.peers();
    if (peers.length === 0) {
      this.system('no peers yet: /add <nick> <host:port>');
      return;
    }
    for (const row of formatPeerTable(peers)) this.system(row);
  }

  private whois(nick: string): void {
    const p = this.requirePeer(nick);
    for (const row of formatWhois(p, this.now())) this.system(row);
    const since = this.connectedAt.get(nick);
    if (since !== undefined && p.state.kind === 'connected') {
      this.system(`  connected    since ${formatTime(since)}`);
    }
    // Both keys in full: comparing fingerprints is how the user decides.
    const s = p.state;
    if (s.kind === 'key-mismatch') {
      this.system(`  pinned key   ${s.expected}`);
      this.system(`  offered key  ${s.got} (refused: /trust ${nick} if ${nick} confirms it)`);
      return;
    }
    const pinned = this.socket.pinnedFingerprint(nick);
    if (pinned && pinned !== p.fingerprint) this.system(`  pinned key   ${pinned}`);
  }

  private async trust(nick: string): Promise<void> {
    const p = this.requirePeer(nick);
    // Marked first: the new key's session can complete while the trust store is written.
    this.trusting.add(nick);
    try {
      await this.socket.trustNewKey(nick);
    } catch (err) {
      this.trusting.delete(nick);
      throw err;
    }
    const pinned = this.socket.pinnedFingerprint(nick);
    if (pinned) this.opts.onTrust?.(nick, pinned, p.address);
    this.system(`trusting ${nick}'s new key${pinned ? ` ${pinned}` : ''}; reconnecting`);
  }

  private block(target: string): void {
    const peer = this.socket.peers().find((p) => p.nick === target);
    const fp = peer ? peer.fingerprint : isFingerprint(target) ? target : undefined;
    if (!fp) {
      throw new Error(
        peer
          ? `cannot block ${target} yet: its key is not known (it never connected)`
          : `unknown peer "${target}": give a nick from /list or a fingerprint`,
      );
    }
    if (peer) this.blockedNicks.set(peer.nick, fp);
    if (this.socket.isBlocked(fp)) {
      this.system(`key ${shortFp(fp)} is already blocked`);
      return;
    }
    this.socket.block(fp);
    this.system(`blocked ${peer ? `${peer.nick} ` : ''}(key ${shortFp(fp)})`);
  }

  private unblock(target: string): void {
    const fp = this.blockedNicks.get(target) ?? (isFingerprint(target) ? target : undefined);
    if (!fp) throw new Error(`"${target}" was not blocked here: give its fingerprint`);
    this.blockedNicks.delete(target);
    if (!this.socket.isBlocked(fp)) throw new Error(`key ${shortFp(fp)} is not blocked`);
    this.socket.unblock(fp);
    this.system(`unblocked key ${shortFp(fp)}; /add the peer again to reconnect`);
  }

  private resolvePath(file: string): string {
    return resolve(this.opts.cwd ?? process.cwd(), file);
  }

  private async save(file: string): Promise<void> {
    const path = this.resolvePath(file);
    // The directory must exist: /save makes no directories. (Node's recursive
    // mkdir, which the atomic write uses, never returns for a directory that
    // cannot be made under an existing parent, e.g. /proc/nope: it retries.)
    const dir = dirname(path);
    const info = await stat(dir).catch(() => undefined);
    if (!info?.isDirectory()) {
      throw new Error(`cannot write peers file ${path}: ${dir} is not a directory`);
    }
    const entries: PeerEntry[] = [];
    let skipped = 0;
    for (const p of this.socket.peers()) {
      if (!p.address) {
        skipped++;
        continue;
      }
      const fingerprint = this.socket.pinnedFingerprint(p.nick) ?? p.fingerprint;
      entries.push({ nick: p.nick, address: p.address, ...(fingerprint ? { fingerprint } : {}) });
    }
    await savePeersFile(path, entries);
    const note = skipped > 0 ? ` (${skipped} without a known address left out)` : '';
    this.system(`saved ${entries.length} peer${entries.length === 1 ? '' : 's'} to ${path}${note}`);
  }

  private async load(file: string): Promise<void> {
    const path = this.resolvePath(file);
    const entries = await loadPeersFile(path);
    const n = (await this.addEntries(entries)).length;
    const of = n === entries.length ? '' : ` of ${entries.length}`;
    this.system(`loaded ${n}${of} peer${entries.length === 1 ? '' : 's'} from ${path}`);
  }

  // ---- what the network tells us ----------------------------------------------

  private handleMessage(m: Message): void {
    const payload = decodeChat(m.content);
    let text = payload.text;
    if (text.length > MAX_SHOWN_CHARS) {
      text = `${text.slice(0, MAX_SHOWN_CHARS)}… (${payload.text.length - MAX_SHOWN_CHARS} more characters not shown)`;
    }
    this.opts.print({
      kind: 'message',
      time: m.timestamp,
      from: m.peer,
      text,
      private: payload.private,
      own: false,
      ...(this.strangers.has(m.peer) ? { stranger: true } : {}),
    });
  }

  private handlePeer(p: PeerInfo, change: PeerChange): void {
    // Names the user never added: their lines are marked (a look-alike or a
    // name taken first must never pass for a friend's).
    if (p.pinned || change === 'removed') this.strangers.delete(p.nick);
    else this.strangers.add(p.nick);
    const last = this.reported.get(p.nick);
    this.reported.set(p.nick, p.state.kind);
    switch (change) {
      case 'connected':
        this.trusting.delete(p.nick);
        this.connected(p);
        return;
      case 'disconnected':
        // The transport's reason ("closed by peer", "the peer timed out") is
        // the whole story; "disconnected:" before it would say it twice.
        this.system(
          `${p.nick} left: ${p.state.kind === 'disconnected' ? p.state.reason : describeState(p.state)}`,
        );
        return;
      case 'removed':
        this.reported.delete(p.nick);
        this.connectedAt.delete(p.nick);
        this.trusting.delete(p.nick);
        this.system(`${p.nick} removed`);
        return;
      case 'restarted':
        // After /trust the session with the new key is news, not a restart.
        if (this.trusting.delete(p.nick)) this.connected(p);
        else {
          this.connectedAt.set(p.nick, this.now());
          this.system(`${p.nick} restarted`);
        }
        return;
      case 'renamed':
        this.system(`a peer is now known as ${p.nick}`);
        return;
      case 'added':
        this.verbose(`${p.nick} added (${describeState(p.state)})`);
        return;
      case 'state':
        if (p.state.kind === 'key-mismatch') {
          if (last === 'key-mismatch') return;
          this.error(
            `WARNING: ${p.nick}'s key changed! expected ${p.state.expected}, got ${p.state.got}. Someone may be impersonating ${p.nick}. If ${p.nick} confirms the new fingerprint, /trust ${p.nick}`,
          );
        } else if (p.state.kind === 'unreachable') {
          if (last !== 'unreachable') this.error(`${p.nick} ${describeState(p.state)}`);
        } else {
          this.verbose(`${p.nick}: ${describeState(p.state)}`);
        }
        return;
    }
  }

  private connected(p: PeerInfo): void {
    this.connectedAt.set(p.nick, this.now());
    // Unpinned means we never added it: an introduction brought it, or it dialed us.
    const how = p.pinned
      ? ''
      : p.introducedBy !== undefined
        ? ` (introduced by ${p.introducedBy})`
        : ' (it added us)';
    this.system(
      `${p.nick} connected from ${p.address ?? '?'}${how}, key ${shortFp(p.fingerprint)}`,
    );
  }

  private handleError(err: Error): void {
    const code = (err as { code?: unknown }).code;
    const text =
      this.opts.verbose && typeof code === 'string' ? `${err.message} [${code}]` : err.message;
    const now = performance.now();
    const last = this.recentErrors.get(text);
    if (last !== undefined && now - last < ERROR_REPEAT_MS) return;
    this.recentErrors.set(text, now);
    if (this.recentErrors.size > 100) {
      for (const [k, t] of this.recentErrors)
        if (now - t >= ERROR_REPEAT_MS) this.recentErrors.delete(k);
    }
    this.error(text);
  }

  // ---- ending -------------------------------------------------------------------

  /** Sends still waiting for acknowledgement. */
  get pendingSends(): number {
    return this.pending.size;
  }

  /**
   * Waits up to `graceMs` for unacknowledged sends, then closes the socket.
   * Idempotent.
   */
  shutdown(graceMs = 0): Promise<void> {
    this.closed ??= (async () => {
      if (graceMs > 0 && this.pending.size > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          Promise.all([...this.pending]),
          new Promise<void>((r) => {
            timer = setTimeout(r, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }
      await this.socket.close();
      await Promise.all([...this.pending]);
      this.socket.off('message', this.onMessage);
      this.socket.off('peer', this.onPeer);
      this.socket.off('error', this.onError);
    })();
    return this.closed;
  }
}
