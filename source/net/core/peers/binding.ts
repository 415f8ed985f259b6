import type { Mesh } from '../../nat/mesh.js';
import { CloseCode } from '../../wire/frames.js';
import { HelloFlag } from '../../wire/hello.js';
import { type Addr, sameAddr } from '../address.js';
import type { DropReason } from '../errors.js';
import type { EndpointEvent } from '../events.js';
import type { LocalNode } from '../handshake/handshake.js';
import type { Established, Handshakes } from '../handshake/handshakes.js';
import type { Dialer } from './dialer.js';
import type { Peer } from './peer.js';
import type { PeerRegistry } from './registry.js';

export interface BinderDeps {
  local: LocalNode;
  registry: PeerRegistry;
  dialer: Dialer;
  handshakes: Handshakes;
  mesh: Mesh;
  acceptStrangers(): boolean;
  /** Forgets the oldest disconnected stranger to make room; false when none can go. */
  makeRoom(now: number): boolean;
  drop(reason: DropReason): void;
  emit(event: EndpointEvent): void;
  touched(peer: Peer): void;
  /** A record is gone: drop its timers. */
  unschedule(peer: Peer): void;
}

/**
 * Binds each completed handshake to the right peer record: the trust
 * decision. A dialed record accepts only its pinned key (or pins the first
 * key that answers where the user said); an incoming session finds its
 * record by key, or becomes a stranger (when strangers are accepted).
 */
export class SessionBinder {
  constructor(private readonly deps: BinderDeps) {}

  /** Binds a completed session to the right peer record (readme, "Names and trust"). */
  bind(e: Established): Peer | undefined {
    const { session, done, dialed, from, now, sentFlags } = e;
    const key = done.hello.identity;
    const hex = key.toString('hex');
    if (key.equals(this.deps.local.identity.publicKey)) {
      if (dialed) this.deps.dialer.selfAnswered(dialed, from, now);
      return undefined;
    }
    if (this.deps.registry.isBlocked(hex)) {
      this.deps.drop('blocked');
      this.deps.handshakes.refuse(session, CloseCode.Blocked, 'not accepted', now);
      return undefined;
    }
    let peer: Peer | undefined;
    if (dialed) {
      peer = this.bindDialed(dialed, key, from, now);
      if (!peer) {
        // A key we refuse: end its side of the session too.
        this.deps.handshakes.refuse(
          session,
          CloseCode.NotAccepted,
          'not accepted: key mismatch',
          now,
        );
        return undefined;
      }
      if (dialed.pinned) this.deps.registry.unmarkRemoved(key);
    } else {
      peer = this.deps.registry.withKey(hex) ?? this.deps.registry.unkeyedAt(from);
      const onHost = peer ? undefined : this.deps.registry.unkeyedOnHost(from, done.hello.nick);
      if (onHost) {
        // The user's name, from the IP they gave on another port: this
        // session is taken as that peer, its key held but not pinned.
        this.deps.registry.setKey(onHost, key);
        onHost.unconfirmed = { from };
        peer = onHost;
      }
      // A key the user pinned a name to is no stranger, even with no record
      // for that name (a trust store from an earlier run): it gets the name.
      const pinnedAs = peer ? undefined : this.deps.registry.pinnedNameWithoutRecord(key);
      if (pinnedAs) peer = this.deps.registry.create(pinnedAs, true, [], now);
      if (!peer) {
        if (
          !this.deps.acceptStrangers() ||
          (this.deps.registry.size >= this.deps.registry.maxPeers && !this.deps.makeRoom(now))
        ) {
          this.deps.drop('stranger');
          // Tell it, so it does not believe it is connected.
          this.deps.handshakes.refuse(session, CloseCode.NotAccepted, 'not accepted', now);
          return undefined;
        }
        peer = this.deps.registry.create(
          this.deps.registry.strangerNick(done.hello.nick, key),
          false,
          [],
          now,
        );
      }
      if (!peer.key) this.pin(peer, key);
    }
    peer.announcedNick = done.hello.nick;
    peer.introducible = ((done.hello.flags ?? 0) & HelloFlag.NoIntroductions) === 0;
    this.deps.handshakes.bind(session, peer, done.hello.resetToken);
    const outcome = peer.adoptSession(session, done.remoteStatic, now);
    peer.dialing.stop();
    peer.dialing.restart();
    this.deps.mesh.onEstablished(
      peer,
      done.hello.flags ?? 0,
      from,
      now,
      sentFlags,
      outcome !== 'extra',
    );
    this.deps.touched(peer);
    return peer;
  }

  /** A session we dialed for `dialed` completed with `key`: pin or refuse. */
  private bindDialed(dialed: Peer, key: Buffer, from: Addr, now: number): Peer | undefined {
    if (dialed.key && !dialed.key.equals(key)) {
      if (!dialed.unconfirmed) {
        this.deps.dialer.keyMismatch(dialed, key, from, now);
        return undefined;
      }
      // The address the user gave answered, with another key than the
      // unconfirmed claim from its IP: the given address wins (first use, as
      // if the claim had never been); the claimant's session ends.
      this.dropUnconfirmed(dialed, now);
    } else if (dialed.unconfirmed && dialed.dialing.givenAddrs.some((a) => sameAddr(a, from))) {
      // The same key answered at the very address the user gave: first use pins it.
      dialed.unconfirmed = undefined;
      if (dialed.pinned) this.deps.registry.pinName(dialed.nick, key);
    }
    const other = this.deps.registry.withKey(key);
    if (other && other !== dialed) {
      // The key already has a record: a stranger who connected first takes the
      // user's name (it answered where the user said); a second user name for
      // the same key stays separate and hands its queue over.
      for (const m of dialed.takeQueued()) other.queueMessage(m.id, m.streamId, m.data);
      this.deps.registry.delete(dialed);
      this.deps.handshakes.forgetPeer(dialed);
      this.deps.unschedule(dialed);
      if (!other.pinned) {
        other.pinned = true;
        this.deps.registry.rename(other, dialed.nick);
      } else {
        this.deps.emit({ type: 'peer', nick: dialed.nick, change: 'removed' });
      }
      const moved = dialed.dialing.givenAddrs;
      const own = other.dialing.givenAddrs;
      other.dialing.setGiven([...other.dialing.givenAddrs, ...moved]);
      // What a record named stays a record's on its new owner: its INITs keep
      // spending the node-wide third-party budget (security item 5).
      other.dialing.markFound(
        moved.filter((a) => dialed.dialing.isFound(a) && !own.some((o) => sameAddr(o, a))),
        true,
      );
      return other;
    }
    if (!dialed.key) this.pin(dialed, key);
    return dialed;
  }

  /** Ends an unconfirmed claim on `peer`: its sessions close, its key is forgotten. */
  private dropUnconfirmed(peer: Peer, now: number): void {
    peer.disconnect('another key answered at the address you gave', CloseCode.NotAccepted, now);
    this.deps.registry.forgetKey(peer);
    peer.unconfirmed = undefined;
    // The next session is a new peer to this record, not a restart of the claimant.
    peer.instance = undefined;
  }

  /** First use: a record learns its key; a user's name is pinned to it. */
  private pin(peer: Peer, key: Buffer): void {
    this.deps.registry.setKey(peer, key);
    if (peer.pinned) this.deps.registry.pinName(peer.nick, key);
  }
}
