import { fingerprint, shortFingerprint } from '../../crypto/identity.js';
import { type Addr, sameAddr } from '../address.js';
import type { EndpointEvent } from '../events.js';
import { confusableWith, sanitizeAnnouncedNick } from '../names.js';
import { Peer, type PeerHost } from './peer.js';

/** Most stranger records we keep (connected or recently seen). */
export const MAX_PEERS = 4096;
/** Removed keys remembered (so an introduction cannot bring them back). */
const MAX_REMOVED = 1024;

const hex = (key: Uint8Array): string => Buffer.from(key).toString('hex');

/**
 * Every peer record, by name and by key, and the trust decisions about
 * keys: which name is pinned to which key, which keys are blocked, which
 * the user removed. The one source of truth for trust: the socket persists
 * what it reports ('pinned' / 'unpinned' events) and the chat asks it.
 */
export class PeerRegistry {
  private readonly byNick = new Map<string, Peer>();
  private readonly byKey = new Map<string, Peer>();
  private readonly pins = new Map<string, Buffer>();
  private readonly blocked = new Set<string>();
  private readonly removedKeys = new Set<string>();
  private nextPeerId = 1;

  constructor(
    private readonly host: PeerHost,
    private readonly emit: (e: EndpointEvent) => void,
    readonly maxPeers: number,
    pins: Iterable<[string, Uint8Array]> = [],
    blocked: Iterable<Uint8Array> = [],
    /** Our own nick: a stranger announcing it (or a look-alike) is suffixed too. */
    private readonly ownNick = '',
  ) {
    for (const [nick, key] of pins) this.pins.set(nick, Buffer.from(key));
    for (const k of blocked) this.blocked.add(hex(k));
  }

  // ---- lookup -------------------------------------------------------------

  get(nick: string): Peer | undefined {
    return this.byNick.get(nick);
  }

  has(nick: string): boolean {
    return this.byNick.has(nick);
  }

  withKey(key: Uint8Array | string): Peer | undefined {
    return this.byKey.get(typeof key === 'string' ? key : hex(key));
  }

  values(): IterableIterator<Peer> {
    return this.byNick.values();
  }

  get size(): number {
    return this.byNick.size;
  }

  /** A user-added record with no key yet, dialed at exactly this address. */
  unkeyedAt(from: Addr): Peer | undefined {
    for (const p of this.byNick.values()) {
      if (!p.key && p.dialing.givenAddrs.some((a) => sameAddr(a, from))) return p;
    }
    return undefined;
  }

  /**
   * A user-added record with no key yet whose name `announced` is, dialed
   * at `from`'s IP on another port: a symmetric NAT rewrote the port the
   * user gave (issue 17 item 7). Only the IP vouches for it, so the caller
   * binds it unconfirmed, never pinned. Never through a relay (the IP would
   * be the relay's).
   */
  unkeyedOnHost(from: Addr, announced: string): Peer | undefined {
    if (from.relay) return undefined;
    const wanted = sanitizeAnnouncedNick(announced).toLowerCase();
    for (const p of this.byNick.values()) {
      if (p.key || !p.pinned || p.nick.toLowerCase() !== wanted) continue;
      if (p.dialing.givenAddrs.some((a) => !a.relay && a.address === from.address)) return p;
    }
    return undefined;
  }

  // ---- records ------------------------------------------------------------

  /** A new record under `nick` (free: callers make room first). */
  create(nick: string, pinned: boolean, addrs: Addr[], now: number): Peer {
    const peer = new Peer(this.nextPeerId++, nick, pinned, addrs, now, this.host);
    this.byNick.set(nick, peer);
    this.emit({ type: 'peer', nick, change: 'added' });
    return peer;
  }

  /** Forgets a record (its sessions are the caller's to end first). */
  delete(peer: Peer): void {
    if (this.byNick.get(peer.nick) === peer) this.byNick.delete(peer.nick);
    if (peer.key && this.byKey.get(hex(peer.key)) === peer) this.byKey.delete(hex(peer.key));
  }

  setKey(peer: Peer, key: Buffer): void {
    if (peer.key && this.byKey.get(hex(peer.key)) === peer) this.byKey.delete(hex(peer.key));
    peer.key = key;
    this.byKey.set(hex(key), peer);
  }

  /** The record's key (an unconfirmed claim) is dropped: it has none again. */
  forgetKey(peer: Peer): void {
    if (peer.key && this.byKey.get(hex(peer.key)) === peer) this.byKey.delete(hex(peer.key));
    peer.key = undefined;
  }

  rename(peer: Peer, nick: string): void {
    const previousNick = peer.nick;
    if (previousNick === nick) return;
    this.byNick.delete(previousNick);
    peer.nick = nick;
    this.byNick.set(nick, peer);
    if (peer.key && peer.pinned && !peer.unconfirmed) this.pinName(nick, peer.key);
    this.emit({ type: 'peer', nick, change: 'renamed', previousNick });
  }

  /**
   * A stranger's self-chosen nick, made safe to type (names.ts) and never
   * colliding with — or looking like (UTS #39 skeleton) — a name in use,
   * pinned or our own: such a name gets a fingerprint suffix, so `bоb` (Cyrillic о)
   * beside a pinned `bob` shows as `bоb-xxxxxxxx`.
   */
  strangerNick(announced: string, key: Buffer): string {
    const base = sanitizeAnnouncedNick(announced);
    if (confusableWith(base, this.namesInUse()) === undefined) return base;
    const suffixed = `${base}-${shortFingerprint(key)}`;
    if (!this.byNick.has(suffixed)) return suffixed;
    // MAX_NICK_CHARS (32) at most: 11 + 1 + 20.
    return `${base.slice(0, 11)}-${fingerprint(key).slice(0, 20)}`;
  }

  /**
   * The name the user pinned `key` to, when that name has no record now (a
   * trust store kept from an earlier run whose peers were not added again).
   * Linear in the pins, which only the user adds.
   */
  pinnedNameWithoutRecord(key: Buffer): string | undefined {
    for (const [nick, pinned] of this.pins) {
      if (pinned.equals(key) && !this.byNick.has(nick)) return nick;
    }
    return undefined;
  }

  private *namesInUse(): Iterable<string> {
    if (this.ownNick) yield this.ownNick;
    yield* this.byNick.keys();
    yield* this.pins.keys();
  }

  /**
   * The user claims `nick`: a stranger holding it (its own announced name,
   * never confirmed by the user) moves aside to a suffixed name and keeps
   * its session as a stranger.
   */
  moveStrangerAside(nick: string): void {
    const holder = this.byNick.get(nick);
    if (!holder || holder.pinned || !holder.key) return;
    // The name is taken (by the holder itself), so this yields a suffixed one.
    this.rename(holder, this.strangerNick(nick, holder.key));
  }

  /** The disconnected stranger gone longest, with nothing queued: the one to forget for room. */
  evictionCandidate(): Peer | undefined {
    let victim: Peer | undefined;
    for (const p of this.byNick.values()) {
      if (p.pinned || p.connected || p.hasQueuedMessages) continue;
      if (!victim || p.state.since < victim.state.since) victim = p;
    }
    return victim;
  }

  // ---- trust --------------------------------------------------------------

  pinnedKey(nick: string): Buffer | undefined {
    return this.pins.get(nick);
  }

  /** Pins `nick` to `key` and reports it (the socket persists pins). */
  pinName(nick: string, key: Buffer): void {
    const was = this.pins.get(nick);
    if (was?.equals(key)) return;
    this.pins.set(nick, key);
    this.emit({ type: 'pinned', nick, fingerprint: fingerprint(key) });
  }

  /** Forgets the pin of a name the user removed. */
  unpin(nick: string): void {
    if (!this.pins.delete(nick)) return;
    this.emit({ type: 'unpinned', nick });
  }

  isBlocked(key: Uint8Array | string): boolean {
    return this.blocked.has(typeof key === 'string' ? key : hex(key));
  }

  block(key: Uint8Array): void {
    this.blocked.add(hex(key));
  }

  unblock(key: Uint8Array): void {
    this.blocked.delete(hex(key));
  }

  blockedKeys(): Buffer[] {
    return [...this.blocked].map((h) => Buffer.from(h, 'hex'));
  }

  /** The user removed this key: introductions about it are ignored from now on. */
  markRemoved(key: Uint8Array): void {
    if (this.removedKeys.size >= MAX_REMOVED)
      this.removedKeys.delete(this.removedKeys.values().next().value!);
    this.removedKeys.add(hex(key));
  }

  unmarkRemoved(key: Uint8Array): void {
    this.removedKeys.delete(hex(key));
  }

  wasRemoved(key: Uint8Array): boolean {
    return this.removedKeys.has(hex(key));
  }
}
