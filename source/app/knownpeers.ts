import { readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import Conf from 'conf';
import type { SocketEventSource } from '../chat/controller.js';
import type { MultiHolepunchSocket, PeerChange, PeerInfo } from '../index.js';
import { UsageError, validateNick } from '../index.js';
import type { PeerEntry } from './peersfile.js';

/**
 * The peers this profile knows (nick, last address, pinned fingerprint),
 * kept through `conf` in <data dir>/known-peers.json so the chat reconnects
 * to them at the next start. Only peers we named ourselves (/add, a peers
 * file) are kept; a stranger who added us is not.
 *
 * Which key a name has is the transport's decision (its trust store); this
 * store only follows it: a key is remembered when the peer connects (or
 * restarts) with the pinned key, or when the user trusts a new one, and at
 * start a pin in the trust store wins over the key remembered here.
 *
 * A malformed file is never rewritten: opening it throws a UsageError that
 * names it, and the chat stops before touching it.
 */

export const KNOWN_PEERS_VERSION = 1;

interface KnownPeer {
  /** Where it was last connected; absent for a peer added by key and never found. */
  address?: string;
  fingerprint?: string;
  /** Added by key alone: looked up by key again at start (its address may have moved). */
  lookup?: true;
}

interface Shape {
  version: number;
  peers: Record<string, KnownPeer>;
}

export class KnownPeers {
  readonly path: string;
  private readonly conf: Conf<Shape>;
  /** The entries as last read or written: what restore() puts back. */
  private readonly held: Map<string, KnownPeer>;

  private constructor(conf: Conf<Shape>) {
    this.conf = conf;
    this.path = conf.path;
    this.held = new Map(Object.entries(conf.get('peers') ?? {}));
  }

  /**
   * The data directory was deleted while the chat ran: conf reads a missing
   * file as empty, so every entry it held is written back (an entry written
   * since wins).
   */
  restore(): void {
    for (const [nick, entry] of Object.entries(this.conf.get('peers') ?? {})) {
      this.held.set(nick, entry);
    }
    this.conf.set('version', KNOWN_PEERS_VERSION);
    this.conf.set('peers', Object.fromEntries(this.held));
  }

  /** Opens (not creating until something is stored) `<dir>/<file>`. */
  static open(path: string): KnownPeers {
    // Checked here, before conf reads it: conf would take e.g. `[]` as an empty
    // store and write over it at the next change.
    let raw: string | undefined;
    try {
      raw = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new UsageError(`cannot read known-peers store ${path}: ${(err as Error).message}`);
      }
    }
    if (raw !== undefined) {
      let problem: string | undefined;
      try {
        problem = check(JSON.parse(raw));
      } catch (err) {
        problem = `not JSON (${(err as Error).message.split('\n')[0]})`;
      }
      if (problem) {
        throw new UsageError(
          `malformed known-peers store ${path}: ${problem} (fix or remove the file)`,
        );
      }
    }
    const name = basename(path).replace(/\.json$/, '');
    let conf: Conf<Shape>;
    try {
      conf = new Conf<Shape>({
        cwd: dirname(path),
        configName: name,
        projectName: 'srmudp-tui',
        clearInvalidConfig: false,
        // Our own check below says what is wrong; no migrations, no watching.
        watch: false,
      });
    } catch (err) {
      throw new UsageError(
        `malformed known-peers store ${path}: ${(err as Error).message.split('\n')[0]} (fix or remove the file)`,
      );
    }
    const problem = check(conf.store);
    if (problem)
      throw new UsageError(
        `malformed known-peers store ${conf.path}: ${problem} (fix or remove the file)`,
      );
    return new KnownPeers(conf);
  }

  entries(): PeerEntry[] {
    const peers = this.conf.get('peers') ?? {};
    return Object.entries(peers).map(([nick, p]) => ({
      nick,
      ...(p.address !== undefined ? { address: p.address } : {}),
      ...(p.fingerprint ? { fingerprint: p.fingerprint } : {}),
      ...(p.lookup ? { lookup: true } : {}),
    }));
  }

  fingerprint(nick: string): string | undefined {
    return this.conf.get('peers')?.[nick]?.fingerprint;
  }

  /**
   * The entries to reconnect at start, each with the key the transport has
   * pinned for it when it has one (the store is updated to match): a key
   * trusted with /trust whose peer never reconnected must not come back as
   * the old one and be refused.
   */
  entriesFollowing(transport: Pick<MultiHolepunchSocket, 'pinnedFingerprint'>): PeerEntry[] {
    return this.entries().map((e) => {
      const pinned = transport.pinnedFingerprint(e.nick);
      if (!pinned || pinned === e.fingerprint) return e;
      try {
        this.store(e.nick, e.address, pinned, e.lookup === true);
      } catch {
        // A read-only disk must not stop the chat: the pin is used all the same.
      }
      return { ...e, fingerprint: pinned };
    });
  }

  remember(p: PeerInfo): void {
    if (!p.pinned || !p.address) return;
    const old = this.conf.get('peers')?.[p.nick];
    this.store(p.nick, p.address, p.fingerprint ?? old?.fingerprint, old?.lookup === true);
  }

  /**
   * `nick` was added by key alone (/add <nick> <fingerprint>): kept at once,
   * before discovery finds it, so a restart looks it up again.
   */
  byKey(nick: string, fingerprint: string): void {
    const old = this.conf.get('peers')?.[nick];
    this.store(nick, old?.fingerprint === fingerprint ? old.address : undefined, fingerprint, true);
  }

  /** `nick` was added again at an address: reconnected there, no longer looked up by key. */
  byAddress(nick: string): void {
    const old = this.conf.get('peers')?.[nick];
    if (!old?.lookup) return;
    if (old.address === undefined) this.forget(nick);
    else this.store(nick, old.address, old.fingerprint, false);
  }

  /** The user trusted `nick`'s new key (/trust): it replaces the remembered one. */
  trusted(nick: string, fingerprint: string, address: string | undefined): void {
    const old = this.conf.get('peers')?.[nick];
    const at = address ?? old?.address;
    if (at) this.store(nick, at, fingerprint, old?.lookup === true);
  }

  private store(
    nick: string,
    address: string | undefined,
    fingerprint: string | undefined,
    lookup: boolean,
  ): void {
    const old = this.conf.get('peers')?.[nick];
    if (
      old &&
      old.address === address &&
      old.fingerprint === fingerprint &&
      (old.lookup === true) === lookup
    )
      return;
    this.conf.set('version', KNOWN_PEERS_VERSION);
    const entry: KnownPeer = {
      ...(address !== undefined ? { address } : {}),
      ...(fingerprint ? { fingerprint } : {}),
      ...(lookup ? { lookup: true } : {}),
    };
    this.conf.set(`peers.${escapeKey(nick)}`, entry);
    this.held.set(nick, entry);
  }

  forget(nick: string): void {
    if (this.conf.get('peers')?.[nick] === undefined) return;
    this.conf.delete(`peers.${escapeKey(nick)}`);
    this.held.delete(nick);
  }

  /**
   * Keeps the store in step with the socket; returns the unsubscribe. A
   * session counts only with the key the transport pinned for the name
   * ('restarted' too: after /trust the new key's session is one).
   */
  follow(
    socket: SocketEventSource & Pick<MultiHolepunchSocket, 'pinnedFingerprint'>,
    /** Told when a write fails (once, until one succeeds again). */
    onError?: (err: Error) => void,
  ): () => void {
    let failing = false;
    const onPeer = (p: PeerInfo, change: PeerChange) => {
      try {
        if (change === 'removed') this.forget(p.nick);
        // A stranger the user adds while connected keeps its session: the
        // transport renames it (to the name, pinned) and sends no 'connected'.
        else if (
          change === 'connected' ||
          change === 'restarted' ||
          (change === 'renamed' && p.state.kind === 'connected')
        ) {
          if (p.fingerprint && p.fingerprint === socket.pinnedFingerprint(p.nick)) this.remember(p);
        }
        failing = false;
      } catch (err) {
        // A read-only disk (or a deleted data directory with a file in its
        // place) must not end the chat, but the user must hear that peers
        // are no longer remembered.
        if (!failing) {
          onError?.(
            new Error(`cannot save known peers to ${this.path}: ${(err as Error).message}`),
          );
        }
        failing = true;
      }
    };
    socket.on('peer', onPeer);
    return () => socket.off('peer', onPeer);
  }
}

/** Conf reads dotted paths; a nick may contain dots. */
const escapeKey = (nick: string) => nick.replaceAll('.', '\\.');

function check(store: unknown): string | undefined {
  if (typeof store !== 'object' || store === null || Array.isArray(store))
    return 'not a JSON object';
  const s = store as Record<string, unknown>;
  if (Object.keys(s).length === 0) return undefined;
  if (s.version !== KNOWN_PEERS_VERSION) return `unknown version ${JSON.stringify(s.version)}`;
  if (typeof s.peers !== 'object' || s.peers === null || Array.isArray(s.peers)) {
    return '"peers" is not an object';
  }
  for (const [nick, p] of Object.entries(s.peers as Record<string, unknown>)) {
    try {
      validateNick(nick);
    } catch {
      return `bad nick ${JSON.stringify(nick).slice(0, 40)}`;
    }
    const e = p as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) return `peer ${nick} is not an object`;
    if (e.fingerprint !== undefined && typeof e.fingerprint !== 'string')
      return `peer ${nick} has a bad fingerprint`;
    if (e.lookup !== undefined && e.lookup !== true) return `peer ${nick} has a bad "lookup"`;
    // A peer is found at its address, or looked up by its key: one of the two.
    const byKey = e.lookup === true && typeof e.fingerprint === 'string';
    if (typeof e.address !== 'string' && !(byKey && e.address === undefined))
      return `peer ${nick} has no address`;
  }
  return undefined;
}

/**
 * The peers to add at start: a peers file's (-c) first, then the known peers
 * the file did not add — also those it named but that were refused (say, for
 * naming another key than the pin), so a pinned peer is still reconnected.
 */
export async function startPeers(
  known: KnownPeers,
  transport: Pick<MultiHolepunchSocket, 'pinnedFingerprint'>,
  file: readonly PeerEntry[],
  add: (entries: readonly PeerEntry[]) => Promise<string[]>,
): Promise<{ loaded: string[]; reconnecting: string[] }> {
  const loaded = file.length > 0 ? await add(file) : [];
  const rest = known.entriesFollowing(transport).filter((e) => !loaded.includes(e.nick));
  const reconnecting = rest.length > 0 ? await add(rest) : [];
  return { loaded, reconnecting };
}
