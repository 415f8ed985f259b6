import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { PeerEntry } from '../app/peersfile.js';
import type {
  Message,
  MultiHolepunchSocket,
  PeerChange,
  PeerInfo,
  SocketEvents,
} from '../index.js';
import { isInviteCode, type PeerAddress, UsageError } from '../index.js';
import {
  type Action,
  COMMANDS,
  type CommandContext,
  type ExecuteResult,
  runCommand,
} from './commands/index.js';
import { Deliveries, type DeliveryDeps } from './delivery.js';
import { type ChatLine, describeState, shortFp } from './format.js';
import { type AddedBy, unconfirmedNote } from './netformat.js';
import { decodeChat } from './protocol.js';

/**
 * The chat's behaviour, independent of any screen: runs Actions against a
 * socket (each command with its own handler, commands/; our own messages
 * through delivery.ts) and turns what the network says into ChatLines. The
 * front ends (line mode, the full-screen UI) only read input, parse it and
 * render the lines.
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
  | 'stats'
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
   * How each recipient of each own message fared, by the `id` on its
   * ChatLine. When given, the "delivered" system lines are left out: the
   * screen marks the message itself.
   */
  onDelivery?: DeliveryDeps['onDelivery'];
  /**
   * The user accepted `nick`'s new key with /trust (the transport has pinned
   * it): the known-peers store follows, so the key survives a restart.
   */
  onTrust?: (nick: string, fingerprint: string, address: string | undefined) => void;
  /** The user added a name (/add, /join): how, for the known-peers store (see CommandContext). */
  onAdded?: (nick: string, by: AddedBy, fingerprint?: string) => void;
  /** A name still being looked up by key was removed. */
  onForgotten?: (nick: string) => void;
  /** Longest a command (all but /wait) may run before it is reported as hung (ms). */
  commandTimeoutMs?: number;
}

/** Longest incoming message shown in full (characters); the rest is summarised. */
export const MAX_SHOWN_CHARS = 64 * 1024;
/** The same error from the network is shown at most once per this many ms. */
const ERROR_REPEAT_MS = 5000;

/**
 * Longest a command may take (ms) before the chat stops waiting for it and
 * says so. Front ends that run commands in order (line mode) would otherwise
 * swallow every later line behind one that never settles; a DNS lookup for
 * /add is the slowest honest case (resolv.conf's default: 5 s x 2 attempts).
 */
export const COMMAND_TIMEOUT_MS = 15_000;

export type { ExecuteResult };

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
  /** How each name was added (for /whois's "found by"). */
  private readonly addedBy = new Map<string, AddedBy>();
  private readonly deliveries: Deliveries;
  private readonly context: CommandContext;
  private closed: Promise<void> | undefined;

  /** Nicks of peers the user never added (strangers), to mark their lines. */
  private readonly strangers = new Set<string>();
  /**
   * The last nick seen for each key: a 'renamed' event carries only the new
   * one, and "a peer is now known as bob-uutjrkec" left the user guessing which.
   */
  private readonly nickOfKey = new Map<string, string>();
  private readonly onMessage = (m: Message) => this.handleMessage(m);
  private readonly onPeer = (p: PeerInfo, c: PeerChange) => this.handlePeer(p, c);
  private readonly onError = (e: Error) => this.handleError(e);

  constructor(socket: ChatSocket, opts: ControllerOptions) {
    this.socket = socket;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.deliveries = new Deliveries({
      socket,
      nick: opts.nick,
      print: opts.print,
      system: (t) => this.system(t),
      error: (t) => this.error(t),
      verbose: (t) => this.verbose(t),
      now: this.now,
      requirePeer: (n) => this.requirePeer(n),
      onDelivery: opts.onDelivery,
    });
    this.context = this.makeContext();
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
    const spec = this.entrySpec(e);
    if (typeof spec === 'string') {
      this.error(`${e.nick} not added: ${spec}`);
      return false;
    }
    try {
      await this.socket.addPeers({ [e.nick]: spec.address });
      this.addedBy.set(e.nick, spec.by);
      return true;
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      this.error(`${e.nick} not added: ${err.message}`);
      return false;
    }
  }

  /**
   * What to give the transport for an entry. One first found by key is
   * looked up by key again (its remembered address may be stale: that is
   * why it was added by key), unless discovery is off and an address is
   * remembered.
   */
  private entrySpec(e: PeerEntry): { address: PeerAddress; by: AddedBy } | string {
    const d = this.socket.stats().discovery;
    const discovery = d !== undefined && (d.dht || d.mdns);
    if (e.lookup && e.fingerprint && (discovery || e.address === undefined)) {
      if (!discovery)
        return 'it was added by key, and finding peers by key is off (--no-dht, --no-mdns)';
      return { address: { fingerprint: e.fingerprint }, by: 'key' };
    }
    if (e.address === undefined) return 'no address';
    const by: AddedBy = isInviteCode(e.address) ? 'invite' : 'address';
    return {
      address: e.fingerprint ? { address: e.address, fingerprint: e.fingerprint } : e.address,
      by,
    };
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
    return this.deliveries.unsent;
  }

  private async run(action: Action): Promise<ExecuteResult> {
    switch (action.type) {
      case 'none':
        return undefined;
      case 'error':
        this.error(action.message);
        return undefined;
      case 'broadcast':
        this.deliveries.send(action.text);
        return undefined;
      default:
        return runCommand(action, this.context);
    }
  }

  /** What a command's handler may use (commands/command.ts). */
  private makeContext(): CommandContext {
    const connectedAt = this.connectedAt;
    return {
      socket: this.socket,
      commands: COMMANDS,
      system: (t) => this.system(t),
      error: (t) => this.error(t),
      now: this.now,
      requirePeer: (n) => this.requirePeer(n),
      resolvePath: (file) => resolve(this.opts.cwd ?? process.cwd(), file),
      addEntries: (entries) => this.addEntries(entries),
      sendMessage: (text, to) => this.deliveries.send(text, to),
      connectedSince: (nick) => connectedAt.get(nick),
      trusting: this.trusting,
      blockedNicks: this.blockedNicks,
      addedBy: this.addedBy,
      onAdded: this.opts.onAdded,
      onForgotten: this.opts.onForgotten,
      onTrust: this.opts.onTrust,
    };
  }

  private requirePeer(nick: string): PeerInfo {
    const p = this.socket.peers().find((x) => x.nick === nick);
    if (!p) throw new Error(`unknown peer "${nick}": /list shows the peers you have`);
    return p;
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
    const before = p.fingerprint ? this.nickOfKey.get(p.fingerprint) : undefined;
    if (p.fingerprint) {
      if (change === 'removed') this.nickOfKey.delete(p.fingerprint);
      else this.nickOfKey.set(p.fingerprint, p.nick);
    }
    // Before the line saying it: what the peer never acknowledged is known
    // now. Only on the change itself: a message sent while the peer was
    // already away waits for it to come back.
    if (change === 'disconnected' || change === 'removed') {
      this.deliveries.peerGone(p, change === 'removed');
    }
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
        this.addedBy.delete(p.nick);
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
        this.system(
          before !== undefined && before !== p.nick
            ? `${before} is now known as ${p.nick}`
            : `a peer is now known as ${p.nick}`,
        );
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
    const unconfirmed = unconfirmedNote(p);
    const how = unconfirmed
      ? ` (${unconfirmed})`
      : p.pinned
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
    // The peer's 'key-mismatch' state says it, with both fingerprints and
    // what to do (see onPeer): the transport's error beside it was a second
    // warning line for the same key change.
    if (code === 'key-mismatch') return;
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
    return this.deliveries.waiting;
  }

  /**
   * Waits up to `graceMs` for unacknowledged sends, then closes the socket.
   * Idempotent.
   */
  shutdown(graceMs = 0): Promise<void> {
    this.closed ??= (async () => {
      if (graceMs > 0 && this.deliveries.waiting > 0) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          this.deliveries.settled(),
          new Promise<void>((r) => {
            timer = setTimeout(r, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }
      await this.socket.close();
      await this.deliveries.settled();
      this.socket.off('message', this.onMessage);
      this.socket.off('peer', this.onPeer);
      this.socket.off('error', this.onError);
    })();
    return this.closed;
  }
}
