import { encodeFinish, type Packet, PacketType, RejectReason } from '../../wire/packet.js';
import { type Addr, addrKey, sameAddr } from '../address.js';
import { Session } from '../conn/session.js';
import type { DropReason } from '../errors.js';
import type { EndpointEvent } from '../events.js';
import { closePacket, type Peer } from '../peers/peer.js';
import {
  type Completed,
  cipherFromId,
  initiatorFinish,
  type LocalNode,
  responderFinish,
} from './handshake.js';
import { Initiator } from './initiator.js';
import { Resets } from './reset.js';
import { Responder } from './responder.js';

/** A handshake completed: the endpoint binds the session to a peer record. */
export interface Established {
  session: Session;
  done: Completed;
  /** The record we dialed for (undefined: they dialed us). */
  dialed: Peer | undefined;
  from: Addr;
  now: number;
  /** The flags of the Hello we sent in this handshake. */
  sentFlags: number;
}

export interface HandshakesDeps {
  local: LocalNode;
  random: (n: number) => Buffer;
  randomIndex: () => number;
  rekeyInterval: number | undefined;
  maxDatagram: number;
  transmit(to: Addr, data: Buffer): void;
  drop(reason: DropReason): void;
  emit(event: EndpointEvent): void;
  /** Binds a completed handshake's session to a peer (undefined: refused). */
  established(e: Established): Peer | undefined;
  /** A valid stateless reset ended `peer`'s session, whose last path was `path`. */
  reset(peer: Peer, path: Addr, now: number): void;
  /** `peer` has packets or timers to look at. */
  touched(peer: Peer): void;
}

/**
 * Everything before and around a session: both sides of the Noise XX
 * handshake, the live sessions by our index (so a peer that changes
 * address is still found), and stateless resets.
 */
export class Handshakes {
  private readonly sessions = new Map<number, { peer: Peer; session: Session }>();
  private readonly initiator: Initiator;
  private readonly responder: Responder;
  private readonly resets: Resets;

  constructor(private readonly deps: HandshakesDeps) {
    this.initiator = new Initiator(deps.local);
    this.responder = new Responder(deps.local, deps, deps.random);
    this.resets = new Resets(deps.local);
  }

  get halfOpen(): number {
    return this.responder.size;
  }

  /** Handshakes in progress either way (for the sweep timer). */
  get pending(): number {
    return this.responder.size + this.initiator.size;
  }

  session(index: number): { peer: Peer; session: Session } | undefined {
    return this.sessions.get(index);
  }

  /** Every handshake-layer packet (all but DATA and PROBE). */
  handle(p: Packet, from: Addr, now: number): void {
    switch (p.type) {
      case PacketType.Init:
        this.responder.onInit(p.sender, p.cipher, p.cookie, p.noise, from, now, () =>
          this.newIndex(),
        );
        return;
      case PacketType.Cookie: {
        const init = this.initiator.onCookie(p.receiver, p.cookie, from, now);
        if (init) this.deps.transmit(from, init);
        else this.deps.drop('unknown-session');
        return;
      }
      case PacketType.Resp:
        this.onResp(p.sender, p.receiver, p.noise, from, now);
        return;
      case PacketType.Finish:
        this.onFinish(p.receiver, p.noise, from, now);
        return;
      case PacketType.Reject:
        this.onReject(p.receiver, p.reason, p.detail, from, now);
        return;
      case PacketType.Reset:
        this.onReset(p.token, now);
        return;
    }
  }

  /** Sends a fresh INIT for `peer` to `to`. */
  sendInit(peer: Peer, to: Addr, now: number): void {
    this.deps.transmit(to, this.initiator.start(peer, to, this.newIndex(), now));
  }

  /**
   * DATA for `index`, which no session holds: perhaps we restarted and the
   * peer still talks to our old session. A RESET tells it at once instead of
   * after the idle timeout — but never for an index a dial or a half-open
   * handshake holds (RFC 9000 §21.11): its token would then reach whoever
   * saw the index in clear and could later end the real session; and a
   * responder's half-open index is a session about to be born (its FINISH is
   * late or lost while the initiator already sends DATA): the token is the
   * one we announced for that very session, so a reset would kill it.
   */
  answerUnknownIndex(index: number, to: Addr, now: number): void {
    if (this.initiator.has(index) || this.responder.has(index)) return;
    const reset = this.resets.answer(index, now);
    if (reset) this.deps.transmit(to, reset);
  }

  /** A session now belongs to `peer`; its RESETs are recognised by `resetToken`. */
  bind(session: Session, peer: Peer, resetToken: Buffer): void {
    session.remoteResetToken = resetToken;
    this.resets.register(resetToken, session.localIndex);
    this.sessions.set(session.localIndex, { peer, session });
  }

  /** A session was dropped: forget its index and token. */
  forgetSession(s: Session): void {
    this.sessions.delete(s.localIndex);
    this.resets.unregister(s.remoteResetToken);
  }

  /** Ends a session we will not keep, telling the other side why (authenticated). */
  refuse(session: Session, code: number, reason: string, now: number): void {
    this.deps.transmit(session.path, closePacket(session, code, reason, now));
  }

  forgetPeer(peer: Peer): void {
    this.initiator.forgetPeer(peer);
  }

  /** Expires half-open handshakes and old dials; true while some remain. */
  sweep(now: number): boolean {
    const responding = this.responder.sweep(now);
    const dialing = this.initiator.sweep(now);
    return responding || dialing;
  }

  clear(): void {
    this.initiator.clear();
    this.responder.clear();
  }

  private newIndex(): number {
    for (;;) {
      const i = this.deps.randomIndex() >>> 0;
      if (!this.sessions.has(i) && !this.initiator.has(i) && !this.responder.has(i)) return i;
    }
  }

  private onResp(
    sender: number,
    receiver: number,
    noise: Uint8Array,
    from: Addr,
    now: number,
  ): void {
    const dial = this.initiator.get(receiver);
    if (!dial) {
      // Our FINISH was lost and the responder re-sent RESP: resend FINISH.
      const entry = this.sessions.get(receiver);
      if (entry?.session.finish && !entry.session.confirmed)
        this.deps.transmit(entry.session.path, entry.session.finish);
      else this.deps.drop('unknown-session');
      return;
    }
    const done = initiatorFinish(this.deps.local, dial.state, noise, receiver);
    this.initiator.take(receiver);
    const session = this.newSession(done, receiver, sender, true, from, now, dial.sentAt);
    session.finish = encodeFinish(sender, done.message);
    session.finishDeadline = now + Math.max(3 * session.loss.rtt.smoothedRtt, 100);
    this.deps.transmit(from, session.finish);
    // initiatorFinish wrote our Hello just now, with the current flags.
    this.deps.established({
      session,
      done,
      dialed: dial.peer,
      from,
      now,
      sentFlags: this.deps.local.flags,
    });
  }

  private onFinish(receiver: number, noise: Uint8Array, from: Addr, now: number): void {
    if (!this.responder.has(receiver)) {
      const entry = this.sessions.get(receiver);
      if (entry) {
        // A re-sent FINISH: our confirmation was lost; send another.
        entry.peer.requestPing();
        this.deps.touched(entry.peer);
      } else this.deps.drop('unknown-session');
      return;
    }
    // responderFinish throws BadPacket on a bad FINISH: the half-open state stays until it expires.
    const r = this.responder.get(receiver)!;
    const done = responderFinish(this.deps.local, r.state, noise);
    this.responder.take(receiver);
    const session = this.newSession(done, receiver, r.remoteIndex, false, from, now, r.createdAt);
    const peer = this.deps.established({
      session,
      done,
      dialed: undefined,
      from,
      now,
      sentFlags: r.helloFlags,
    });
    // Confirm at once, so the initiator stops re-sending FINISH.
    peer?.requestPing();
  }

  private onReject(
    receiver: number,
    reason: number,
    detail: number,
    from: Addr,
    now: number,
  ): void {
    const dial = this.initiator.get(receiver);
    // Unauthenticated and advisory: it can only explain a failure, never cause one.
    if (!dial || !sameAddr(dial.to, from)) {
      this.deps.drop('unknown-session');
      return;
    }
    if (reason !== RejectReason.CipherMismatch) return;
    const theirs = cipherFromId(detail) ?? `unknown cipher ${detail}`;
    const peer = dial.peer;
    const message = `${peer.nick} at ${addrKey(from)} uses ${theirs}, but this node uses ${this.deps.local.cipher}: both sides must choose the same cipher`;
    if (peer.state.kind === 'unreachable' && peer.state.reason === message) return;
    peer.transition({ kind: 'unreachable', since: now, reason: message });
    this.deps.emit({
      type: 'error',
      code: 'cipher-mismatch',
      message,
      nick: peer.nick,
      address: from,
    });
  }

  private onReset(token: Uint8Array, now: number): void {
    const index = this.resets.lookup(token);
    const entry = index === undefined ? undefined : this.sessions.get(index);
    if (!entry) {
      this.deps.drop('unknown-session');
      return;
    }
    const { peer, session } = entry;
    peer.onReset(session);
    this.deps.reset(peer, session.path, now);
  }

  /** A session from a completed handshake, begun (our INIT sent, or theirs received) at `startedAt`. */
  private newSession(
    done: Completed,
    localIndex: number,
    remoteIndex: number,
    initiator: boolean,
    from: Addr,
    now: number,
    startedAt: number,
  ): Session {
    const local = this.deps.local;
    const session = new Session({
      localIndex,
      remoteIndex,
      initiator,
      initiatorStatic: initiator ? local.staticKey.publicKey : done.remoteStatic,
      remoteStatic: done.remoteStatic,
      sendKey: done.sendKey,
      recvKey: done.recvKey,
      path: from,
      now,
      ...(this.deps.rekeyInterval ? { rekeyInterval: this.deps.rekeyInterval } : {}),
      maxDatagram: this.deps.maxDatagram,
    });
    // The handshake round trip sets the PTO until the first acknowledgement
    // gives a real sample (see RttEstimator.provisional).
    session.loss.rtt.provisional(Math.max(now - startedAt, 0.01));
    return session;
  }
}
