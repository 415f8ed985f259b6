import { fingerprint } from '../../crypto/identity.js';
import type { Mesh } from '../../nat/mesh.js';
import { CloseCode } from '../../wire/frames.js';
import { type Addr, sameAddr } from '../address.js';
import type { PeerSpec } from '../config.js';
import { UsageError } from '../errors.js';
import type { EndpointEvent } from '../events.js';
import type { Handshakes } from '../handshake/handshakes.js';
import { validateNick } from '../names.js';
import type { Dialer } from './dialer.js';
import type { Peer } from './peer.js';
import type { PeerRegistry } from './registry.js';

export interface TrustDeps {
  registry: PeerRegistry;
  dialer: Dialer;
  mesh: Mesh;
  handshakes: Handshakes;
  emit(event: EndpointEvent): void;
  touched(peer: Peer): void;
  /** A record is gone: drop its timers and pending flush. */
  unschedule(peer: Peer): void;
}

/**
 * The user's commands about names and keys: add, remove, block, trust, and
 * making room for strangers. The rules (readme, "Names and keys"): a key the
 * user gives is checked before anything is pinned; a stranger holding a name
 * the user adds moves aside; removing a name forgets its pin.
 */

export class Trust {
  constructor(private readonly deps: TrustDeps) {}

  /**
   * Adds (or re-addresses) a peer under a name the user chose. With a key
   * (an invite code or a fingerprint), only that key is accepted there;
   * without one, the name is pinned to whatever key answers at these
   * addresses first (or to a key already pinned). Every check runs before
   * anything changes.
   */
  add(nick: string, spec: PeerSpec, now: number): void {
    validateNick(nick);
    const key = spec.key ? Buffer.from(spec.key) : undefined;
    const noAddress = spec.addrs.length === 0 && (spec.relayed ?? []).length === 0;
    if (noAddress && !(spec.lookup && key)) throw new UsageError(`no address for ${nick}`);
    if (key) this.checkExpectedKey(nick, key);
    let peer = this.deps.registry.get(nick);
    if (peer?.unconfirmed && key) {
      // The key given is the one that answered: confirmed; another: the claimant moves aside.
      if (peer.key?.equals(key)) peer.unconfirmed = undefined;
      else this.demoteUnconfirmed(peer);
    }
    const here = key ? undefined : this.strangerAt(nick, spec.addrs);
    if (here) {
      // A stranger is connected from the very address given (no key): the
      // dial would reach it and the name would go to it (binding.ts,
      // bindDialed). It takes the name now, pinned to its key, instead of
      // moving aside and coming back a round trip later.
      if (peer && peer !== here) this.deps.registry.moveStrangerAside(nick);
      this.deps.registry.rename(here, nick);
      this.deps.registry.pinName(nick, here.key!);
      peer = here;
    } else if (peer && !peer.pinned && !(key && peer.key?.equals(key))) {
      // A stranger announced this name first: it keeps its session under another name.
      this.deps.registry.moveStrangerAside(nick);
      peer = undefined;
    }
    if (!peer) {
      const pinnedKey = key ?? this.deps.registry.pinnedKey(nick);
      const known = pinnedKey ? this.deps.registry.withKey(pinnedKey) : undefined;
      if (known && !known.pinned) {
        // The stranger is the very key the user means: it takes the name.
        this.deps.registry.rename(known, nick);
        peer = known;
      } else {
        peer = this.deps.registry.create(nick, true, [], now);
        if (pinnedKey) this.deps.registry.setKey(peer, pinnedKey);
      }
    }
    const wasStranger = !peer.pinned;
    peer.pinned = true;
    // Reported as a change: a stranger's record kept under its own name sends
    // no rename, and the chat must stop marking it (and its messages) a stranger's.
    if (wasStranger) peer.transition(peer.state, 'state');
    if (key) {
      this.deps.registry.pinName(nick, key);
      this.deps.registry.unmarkRemoved(key);
      if (spec.nat && spec.addrs[0]) this.deps.mesh.noteInvite(key, spec.nat, spec.addrs[0]);
    }
    if (noAddress) {
      // Key only: pinned above; discovery adds the addresses it finds.
      if (!peer.connected && peer.state.kind !== 'looking-up')
        peer.transition({ kind: 'looking-up', since: now });
      this.deps.touched(peer);
      return;
    }
    peer.dialing.setGiven(spec.addrs);
    peer.dialing.setRelayed(spec.relayed ?? []);
    if (!peer.connected) this.deps.dialer.start(peer, now);
    this.deps.touched(peer);
  }

  /**
   * The connected stranger whose session comes from one of `addrs`, when
   * `nick` may go to it: no record of the user's holds the name, and no
   * other key is pinned to it.
   */
  private strangerAt(nick: string, addrs: readonly Addr[]): Peer | undefined {
    const named = this.deps.registry.get(nick);
    if (named?.pinned) return undefined;
    const pinned = this.deps.registry.pinnedKey(nick);
    for (const p of this.deps.registry.values()) {
      const path = p.current?.path;
      if (p.pinned || !p.key || !p.connected || !path) continue;
      if (pinned && !pinned.equals(p.key)) continue;
      if (addrs.some((a) => sameAddr(a, path))) return p;
    }
    return undefined;
  }

  /**
   * A key the user expects for `nick` must agree with what is pinned, and
   * must not already belong to another of the user's names.
   */
  private checkExpectedKey(nick: string, key: Buffer): void {
    const named = this.deps.registry.get(nick);
    // An unconfirmed key is no pin: the key the user gives now decides.
    const pinned =
      this.deps.registry.pinnedKey(nick) ??
      (named?.pinned && !named.unconfirmed ? named.key : undefined) ??
      undefined;
    if (pinned && !pinned.equals(key)) {
      throw new UsageError(
        `${nick} is pinned to key ${fingerprint(pinned)}, but you gave ${fingerprint(key)}: if the key really changed, remove ${nick} first`,
      );
    }
    const keyed = this.deps.registry.withKey(key);
    if (keyed && keyed.nick !== nick && keyed.pinned) {
      throw new UsageError(`the key ${fingerprint(key)} is already known as ${keyed.nick}`);
    }
  }

  /**
   * The user gave a key for a name held by an unconfirmed claim with
   * another key: the claimant keeps its session as a stranger, under a
   * suffixed name, and stops being dialed at the user's addresses.
   */
  private demoteUnconfirmed(peer: Peer): void {
    peer.unconfirmed = undefined;
    peer.pinned = false;
    peer.dialing.setGiven([]);
    peer.dialing.stop();
    peer.transition(peer.state, 'state');
    this.deps.touched(peer);
  }

  /**
   * The user confirms an unconfirmed peer (issue 17 item 7): the key its
   * session proved is pinned to the name from now on.
   */
  confirm(nick: string): void {
    const peer = this.deps.registry.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    if (!peer.unconfirmed || !peer.key) throw new UsageError(`${nick} is not unconfirmed`);
    peer.unconfirmed = undefined;
    this.deps.registry.pinName(nick, peer.key);
    // Reported as a change, so the chat drops its "unconfirmed" mark.
    peer.transition(peer.state, 'state');
    this.deps.touched(peer);
  }

  remove(nick: string, now: number): void {
    const peer = this.deps.registry.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    // Someone else's introduction must not bring back a peer the user removed.
    if (peer.key) this.deps.registry.markRemoved(peer.key);
    this.deps.registry.unpin(nick);
    this.forget(peer, 'removed', now, CloseCode.Normal);
  }

  forget(peer: Peer, reason: string, now: number, code: number): void {
    for (const id of peer.pendingMessageIds()) {
      this.deps.emit({ type: 'undeliverable', id, peerId: peer.id, nick: peer.nick, reason });
    }
    peer.disconnect(reason, code, now, 'removed');
    peer.dialing.stop();
    this.deps.registry.delete(peer);
    if (peer.key) this.deps.mesh.forget(peer.key);
    this.deps.handshakes.forgetPeer(peer);
    this.deps.unschedule(peer);
  }

  /** Refuses this key from now on; a connected peer with it is dropped. */
  block(key: Uint8Array, now: number): void {
    this.deps.registry.block(key);
    const peer = this.deps.registry.withKey(key);
    if (peer) this.forget(peer, 'blocked', now, CloseCode.Blocked);
  }

  /** Accepts a changed key for a pinned name (after the user compared fingerprints). */
  trust(nick: string, key: Uint8Array, now: number): void {
    const peer = this.deps.registry.get(nick);
    if (!peer) throw new UsageError(`unknown peer "${nick}"`);
    const k = Buffer.from(key);
    this.deps.registry.pinName(nick, k);
    this.deps.registry.setKey(peer, k);
    this.deps.dialer.start(peer, now);
    this.deps.touched(peer);
  }

  /**
   * Makes room for a new stranger by forgetting the one disconnected the
   * longest (never a pinned peer, never one with messages still queued).
   */
  evictStranger(now: number): boolean {
    const victim = this.deps.registry.evictionCandidate();
    if (!victim) return false;
    this.forget(victim, 'evicted to make room for a new peer', now, CloseCode.Normal);
    return true;
  }
}
