import { type Addr, addrKey, sameAddr } from '../core/address.js';
import { BadPacket, type DropReason } from '../core/errors.js';
import type { NatMapping } from '../core/events.js';
import type { LocalNode } from '../core/handshake/handshake.js';
import type { Dialer } from '../core/peers/dialer.js';
import type { Peer } from '../core/peers/peer.js';
import type { PeerRegistry } from '../core/peers/registry.js';
import { HelloFlag } from '../wire/hello.js';
import { type Birthday, birthdayRole, probeToken } from './birthday.js';
import {
  CONTROL_STREAM,
  type ControlMessage,
  decodeControl,
  encodeIntroduction,
  encodeNatMapping,
  type Introduction,
} from './introduce.js';
import type { IntroductionPolicy } from './introductions.js';

export interface MeshDeps {
  local: LocalNode;
  registry: PeerRegistry;
  dialer: Dialer;
  birthday: Birthday;
  policy: IntroductionPolicy;
  /** Introduce peers to each other, and act on introductions (EndpointConfig.introductions). */
  introductions: boolean;
  acceptStrangers(): boolean;
  /** Forgets the oldest disconnected stranger to make room; false when none can go. */
  makeRoom(now: number): boolean;
  /** How our NAT maps us (STUN), 'unknown' before an answer. */
  ourMapping(): NatMapping;
  /** Our relayed transport address (TURN allocation), while we hold one. */
  ourRelayed(): Addr | undefined;
  drop(reason: DropReason): void;
  /** `peer` has data to send. */
  touched(peer: Peer): void;
  nextMessageId(): number;
}

/**
 * Joining one member of a chat connects you to the mesh: introductions on
 * the control stream, each side's NAT mapping (so an introducer can pass it
 * on), and many-port probing (birthday.ts) when one side's NAT is symmetric.
 * All of it is third-party input, bounded by the IntroductionPolicy.
 */
export class Mesh {
  /** Peers' NAT mapping (from invite codes, introductions, Hellos) and address to probe, by key hex. */
  private readonly remoteNat = new Map<string, { mapping: NatMapping; addr: Addr | undefined }>();
  /** The NAT mapping each connected peer last heard from us (Hello flags or a control message). */
  private readonly natTold = new WeakMap<Peer, NatMapping>();
  /** The relayed address each connected peer last heard from us (`host:port`). */
  private readonly relayedTold = new WeakMap<Peer, string>();

  constructor(private readonly deps: MeshDeps) {}

  /** An invite code said how the peer's NAT maps it, at `addr` (its reflexive address). */
  noteInvite(key: Buffer, nat: NatMapping, addr: Addr | undefined): void {
    if (nat === 'unknown') return;
    const hex = key.toString('hex');
    this.remoteNat.set(hex, { mapping: nat, addr });
    this.deps.birthday.reset(hex);
  }

  /** The user removed the peer with `key`. */
  forget(key: Buffer): void {
    const hex = key.toString('hex');
    this.deps.birthday.end(hex);
    this.remoteNat.delete(hex);
  }

  /**
   * A session with `peer` was established: what its Hello said of its NAT,
   * introductions around it (a new or restarted peer), and our NAT mapping
   * if its Hello from us (`sentFlags`) did not carry it.
   */
  onEstablished(
    peer: Peer,
    helloFlags: number,
    from: Addr,
    now: number,
    sentFlags: number,
    fresh: boolean,
  ): void {
    const hex = peer.key!.toString('hex');
    const theirNat = natFromFlags(helloFlags);
    if (theirNat !== 'unknown')
      this.remoteNat.set(hex, { mapping: theirNat, addr: this.remoteNat.get(hex)?.addr ?? from });
    this.deps.birthday.connected(hex, now);
    if (fresh) {
      this.introduceAround(peer);
      // A new instance of the peer knows nothing we told the last one.
      this.relayedTold.delete(peer);
    }
    this.tellNat(peer, natFromFlags(sentFlags));
    this.tellRelayed(peer);
  }

  /**
   * We allocated on a relay (at bind, or again after an idle release, when
   * the relay most likely gave a new port): every connected peer hears our
   * relayed address, so a fallback to the relay finds us there instead of
   * at the released address its invite code named (issue 17).
   */
  onOwnRelayedChanged(): void {
    for (const p of this.deps.registry.values()) if (p.connected) this.tellRelayed(p);
  }

  /**
   * Tells a connected peer our relayed address, unless it already heard it:
   * an introduction of ourselves (the one format every version decodes; an
   * older one ignores it, since we are connected). At most one message per
   * allocation per peer.
   */
  private tellRelayed(peer: Peer): void {
    const relayed = this.deps.ourRelayed();
    if (!relayed || !peer.key) return;
    const told = addrKey(relayed);
    if (this.relayedTold.get(peer) === told) return;
    this.relayedTold.set(peer, told);
    const self: Introduction = {
      identity: this.deps.local.identity.publicKey,
      nick: this.deps.local.nick,
      addrs: [],
      nat: this.deps.ourMapping(),
      relayed: [{ address: relayed.address, port: relayed.port }],
    };
    peer.queueMessage(this.deps.nextMessageId(), CONTROL_STREAM, encodeIntroduction(self));
    this.deps.touched(peer);
  }

  /**
   * A connected peer named its own relayed address (a new allocation):
   * authenticated by the session, so for a name the user added it replaces
   * the relayed candidates an invite code gave, which are stale by now; a
   * stranger's is a learned candidate with a few tries. The relayed address
   * the session runs on, if any, stays until the session leaves it.
   */
  private onSelfAnnounced(from: Peer, intro: Introduction): void {
    const named = this.deps.policy.targets(intro.relayed ?? [], from.current?.path);
    if (named.length === 0) return;
    if (!from.pinned) {
      for (const r of named) from.dialing.learnRelayed(r);
      return;
    }
    const path = from.current?.path;
    const keep =
      path && !path.relay && from.dialing.relayed.some((r) => sameAddr(r, path)) ? [path] : [];
    from.replaceRelayed([...named, ...keep.filter((k) => !named.some((n) => sameAddr(n, k)))]);
  }

  /** Our NAT mapping changed (STUN): tell every connected peer, once per change. */
  onOwnMappingChanged(): void {
    for (const p of this.deps.registry.values()) if (p.connected) this.tellNat(p, undefined);
  }

  /** A message on the control stream from a connected peer. */
  onControl(from: Peer, data: Buffer, now: number): void {
    let msg: ControlMessage;
    try {
      msg = decodeControl(data);
    } catch (err) {
      if (!(err instanceof BadPacket)) throw err;
      this.deps.drop('protocol');
      return;
    }
    if (msg.type === 'unknown') {
      // A later version's message: ignore it, keep the session.
      this.deps.drop('unknown-type');
      return;
    }
    if (msg.type === 'nat-mapping') {
      this.onNatMapping(from, msg.nat);
      return;
    }
    if (from.key && msg.intro.identity.equals(from.key)) {
      // About itself, not a third party: not an introduction to act on.
      this.onSelfAnnounced(from, msg.intro);
      return;
    }
    if (!this.deps.introductions) return;
    if (!this.deps.policy.admit(from, now)) {
      this.deps.drop('rate-limited');
      return;
    }
    this.onIntroduction(from, msg.intro, now);
  }

  /** Starts many-port probing toward `peer` when one side's NAT is symmetric and the other's is not. */
  considerBirthday(peer: Peer, now: number): void {
    if (!peer.key || peer.connected) return;
    const hex = peer.key.toString('hex');
    const theirs = this.remoteNat.get(hex);
    if (!theirs?.addr) return;
    const role = birthdayRole(this.deps.ourMapping(), theirs.mapping);
    if (!role) return;
    const token = probeToken(this.deps.local.identity.publicKey, peer.key);
    this.deps.birthday.start(hex, role, token, theirs.addr, now);
  }

  /** True while many-port probing toward `peer` is running or has a hit being dialed. */
  probing(peer: Peer): boolean {
    if (!peer.key) return false;
    const state = this.deps.birthday.state(peer.key.toString('hex'));
    return state === 'running' || state === 'hit';
  }

  /** What the NATs on both sides make of a failed dial, in words (undefined: nothing known). */
  natFailure(peer: Peer): string | undefined {
    if (!peer.key) return undefined;
    const hex = peer.key.toString('hex');
    if (
      this.deps.ourMapping() === 'endpoint-dependent' &&
      this.remoteNat.get(hex)?.mapping === 'endpoint-dependent'
    )
      return 'both sides are behind symmetric NATs: a relay is needed';
    const failed = this.deps.birthday.failure(hex);
    return failed ? `${failed}: a relay is needed` : undefined;
  }

  /** A PROBE: a hit means a path through a symmetric NAT is open: dial through it now. */
  onProbe(kind: number, token: Uint8Array, from: Addr, via: number | undefined, now: number): void {
    const r = this.deps.birthday.onProbe(kind, token, from, via, now);
    if (r === 'drop') {
      this.deps.drop('unknown-session');
      return;
    }
    if (r === 'ok') return;
    const peer = this.deps.registry.withKey(r.key);
    if (!peer || peer.connected || peer.state.kind === 'key-mismatch') return;
    peer.dialing.learn(r.addr, 'probe');
    this.deps.dialer.start(peer, now);
  }

  /** Tells a newly connected peer about every other connected peer, and them about it. */
  private introduceAround(peer: Peer): void {
    if (!this.deps.introductions || !peer.introducible) return;
    const intro = this.about(peer);
    if (!intro) return;
    for (const other of this.deps.registry.values()) {
      if (other === peer || !other.connected || !other.introducible) continue;
      const otherIntro = this.about(other);
      if (!otherIntro) continue;
      peer.queueMessage(this.deps.nextMessageId(), CONTROL_STREAM, encodeIntroduction(otherIntro));
      other.queueMessage(this.deps.nextMessageId(), CONTROL_STREAM, encodeIntroduction(intro));
      this.deps.touched(other);
    }
    this.deps.touched(peer);
  }

  private about(p: Peer): Introduction | undefined {
    if (!p.key || !p.current) return undefined;
    const path = p.current.path;
    // A path through our allocation still names where the peer is (its
    // address as the relay saw it); a path to its relayed address is one of
    // its relayed candidates, which go in their own list (issue 17).
    const direct = p.dialing.relayed.some((r) => sameAddr(r, path))
      ? []
      : [{ address: path.address, port: path.port }];
    return {
      identity: p.key,
      nick: p.announcedNick ?? p.nick,
      addrs: direct,
      nat: this.remoteNat.get(p.key.toString('hex'))?.mapping ?? 'unknown',
      relayed: [...p.dialing.relayed],
    };
  }

  /**
   * Tells a connected peer our NAT mapping on the control stream, unless it
   * already has it: `hello` is what the Hello of a session just established
   * said (undefined otherwise). At most one message per change per peer.
   */
  private tellNat(peer: Peer, hello: NatMapping | undefined): void {
    const ours = natFromFlags(this.deps.local.flags);
    // A Hello without NAT bits leaves what the peer knew from us unchanged (see onNatMapping).
    const heard = hello !== undefined && hello !== 'unknown' ? hello : this.natTold.get(peer);
    if ((heard ?? 'unknown') !== ours) {
      peer.queueMessage(this.deps.nextMessageId(), CONTROL_STREAM, encodeNatMapping(ours));
      this.deps.touched(peer);
    }
    this.natTold.set(peer, ours);
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
   * identity (so nobody else can answer for it), its addresses as learned
   * candidates with a few attempts each (never replacing what the user
   * gave), within the node-wide budget, and then a reason in its state. The
   * introduced peer is told about us at the same time and punches back,
   * which opens both NATs.
   */
  private onIntroduction(from: Peer, intro: Introduction, now: number): void {
    const { registry, local } = this.deps;
    const hex = intro.identity.toString('hex');
    if (intro.identity.equals(local.identity.publicKey) || registry.isBlocked(hex)) return;
    if (registry.wasRemoved(intro.identity)) return;
    const targets = this.deps.policy.targets(intro.addrs, from.current?.path);
    const relayed = this.deps.policy.targets(intro.relayed ?? [], from.current?.path);
    if (targets.length === 0 && relayed.length === 0) return;
    let peer = registry.withKey(hex);
    if (peer?.connected) return;
    // A peer that closed its session with us said goodbye; a third party's
    // mention is no reason to call it back.
    if (peer?.state.kind === 'disconnected' && peer.state.cause.kind === 'remote') return;
    if (!peer) {
      // A name the user gave, still dialing one of these addresses: punch
      // from that record. Its key comes only from its own handshake; an
      // introduction never pins a key to a user's name.
      const named = targets.map((a) => registry.unkeyedAt(a)).find((p) => p !== undefined);
      if (named) {
        this.deps.dialer.start(named, now);
        return;
      }
      if (!this.deps.acceptStrangers()) return;
      if (registry.size >= registry.maxPeers && !this.deps.makeRoom(now)) return;
      peer = registry.create(registry.strangerNick(intro.nick, intro.identity), false, [], now);
      registry.setKey(peer, intro.identity);
      peer.introducedBy = from.nick;
    }
    // What the user (an invite) said of a friend's NAT is not replaced by a third party.
    if (intro.nat && intro.nat !== 'unknown' && (!peer.pinned || !this.remoteNat.has(hex))) {
      this.remoteNat.set(hex, { mapping: intro.nat, addr: targets[0] });
      this.deps.birthday.reset(hex);
    }
    for (const a of targets) peer.dialing.learn(a, 'introduction');
    for (const r of relayed) peer.dialing.learnRelayed(r);
    this.deps.dialer.start(peer, now);
  }
}

export function natFromFlags(flags: number): NatMapping {
  if (flags & HelloFlag.NatDependent) return 'endpoint-dependent';
  if (flags & HelloFlag.NatIndependent) return 'endpoint-independent';
  return 'unknown';
}
