import type { SentPacket } from '../../recovery/sentlog.js';
import { CloseCode } from '../../wire/frames.js';
import { checkFrames } from '../../wire/framewalk.js';
import type { Addr } from '../address.js';
import { pingDue, takePing } from '../conn/pings.js';
import type { OutgoingMessage, SendStream } from '../conn/sendstream.js';
import type { SentFrames, Session } from '../conn/session.js';
import { BadPacket } from '../errors.js';
import { changeFor, type EndpointEvent, type PeerChange, type PeerState } from '../events.js';
import { earliest } from '../timerheap.js';
import { closePacket, PacketAssembler } from './assembler.js';
import { DialPlan } from './dialplan.js';
import { Inbound } from './inbound.js';
import { Outbound, type QueuedMessage } from './outbound.js';
import { Paths } from './paths.js';
import {
  PayloadWalk,
  WALK_CARRIED_DATA,
  WALK_ELICITING,
  WALK_PINGED,
  WALK_STOPPED,
} from './payloadwalk.js';
import {
  describeRemoteClose,
  type PeerTotals,
  SessionSet,
  SIMULTANEOUS_OPEN_WINDOW,
  wins,
} from './sessions.js';

export { closePacket } from './assembler.js';
export { PATH_CHALLENGE_TRIES } from './paths.js';
export type { PeerTotals } from './sessions.js';
/** Silence that ends a session (≥ 30 s so that a short blackout is survived). */
export const IDLE_TIMEOUT = 45_000;
export { MAX_PEER_GAPS, MAX_STREAMS, PEER_REASSEMBLY_LIMIT } from './inbound.js';

/** What a peer needs from the endpoint that owns it. */
export interface PeerHost {
  emit(event: EndpointEvent): void;
  transmit(to: Addr, data: Buffer): void;
  /** A session was dropped; the endpoint forgets its index. */
  forgetSession(session: Session): void;
  countDrop(reason: BadPacket['reason']): void;
  /** Accounts reassembly memory across all peers; false when the global cap is exceeded. */
  reserveReassembly(delta: number): boolean;
  /** The endpoint's injected randomness (path challenges). */
  random(n: number): Buffer;
}

/**
 * One remote node: a key (once known), the name we show for it, where to dial
 * it, its sessions and the streams that outlive any one session.
 */
export class Peer {
  key: Buffer | undefined;
  /** The remote's per-process static key: a new one means the peer restarted. */
  instance: Buffer | undefined;
  announcedNick: string | undefined;
  /** Where and when to dial it (given addresses, learned candidates, backoff). */
  readonly dialing: DialPlan;
  private currentState: PeerState;
  /** The current session and the other live one, if any (sessions.ts). */
  private readonly set: SessionSet;

  /** Send streams: queued, in flight, acknowledged (outbound.ts). */
  private readonly outbound = new Outbound();
  /** Receive streams and their reassembly budget (inbound.ts). */
  private readonly inbound: Inbound;
  /** Packet assembly: probes and pings owed, pacing (assembler.ts). */
  private readonly out: PacketAssembler;
  /** Path validation and anti-amplification (paths.ts). */
  private readonly paths: Paths;
  /** Each packet's frames, walked into this peer without per-frame objects. */
  private readonly walk: PayloadWalk;
  /** Reports one acknowledged message (made once: called per ack on the hot path). */
  private readonly delivered = (m: OutgoingMessage): void =>
    this.host.emit({ type: 'delivered', id: m.id, peerId: this.id, nick: this.nick });
  lastSeen: number | undefined;
  /** Listed for the next flush (DirtyPeers: a mark, not a Set's membership). */
  dirtyMark = false;
  /** The peer lets us introduce it to others (its Hello did not opt out). */
  introducible = false;
  /** Set when we learned of this peer through an introduction (nick of the introducer). */
  introducedBy: string | undefined;
  /**
   * The user added this name at an address without a key, and a session
   * announcing the name came from that address's IP on another port (a
   * symmetric NAT rewrote it): taken as this peer for the session, its key
   * held but NOT pinned, since anyone behind the same NAT could claim the
   * name. The user confirms it (`trust`); a key given later decides.
   */
  unconfirmed: { from: Addr } | undefined;

  private recipientRecord: Readonly<{ id: number; nick: string }> | undefined;

  /**
   * This peer as a send's recipient, `{ id, nick }` as of the send: one
   * frozen record shared by every message until the nick changes (then a
   * new one; sends made before keep the old name), not one per message.
   */
  get recipient(): Readonly<{ id: number; nick: string }> {
    let r = this.recipientRecord;
    if (r === undefined || r.nick !== this.nick) {
      r = Object.freeze({ id: this.id, nick: this.nick });
      this.recipientRecord = r;
    }
    return r;
  }

  constructor(
    /** Stable for the life of this record, unlike the nick, which can be renamed. */
    readonly id: number,
    public nick: string,
    /** True when the user chose this name (addPeers): then it is pinned to a key. */
    public pinned: boolean,
    dialAddrs: Addr[],
    now: number,
    private readonly host: PeerHost,
  ) {
    this.dialing = new DialPlan(dialAddrs);
    this.inbound = new Inbound((delta) => host.reserveReassembly(delta));
    this.out = new PacketAssembler(host, () => this.outbound.streams);
    this.paths = new Paths(host, {
      direct: () => this.dialing.direct(),
      isRelayed: (a) => this.dialing.isRelayed(a),
    });
    this.set = new SessionSet({
      forget: (s) => host.forgetSession(s),
      requeue: (packets) => this.outbound.requeue(packets),
      isRelayed: (a) => this.dialing.isRelayed(a),
    });
    this.currentState = { kind: 'connecting', since: now, attempt: 0 };
    this.walk = new PayloadWalk({
      ack: (session, ranges, ackDelay, at) => this.onAck(session, ranges, ackDelay, at),
      stream: (streamId, offset, payload, start, length, at) =>
        this.onStream(streamId, offset, payload, start, length, at),
      challenge: (session, from, data) => this.paths.onChallenge(session, from, data),
      response: (session, from, data, at) => this.paths.onResponse(session, from, data, at),
      close: (session, code, reason, at) => {
        // Answer a clean close once, so a closer in its closing state
        // (conn/closing.ts) knows we heard it and stops resending.
        if (code === CloseCode.Normal && !session.exhausted)
          this.sendClose(session, CloseCode.Normal, 'closed', at);
        this.onRemoteClose(session, code, reason, at);
      },
    });
  }

  get state(): PeerState {
    return this.currentState;
  }

  /**
   * The only writer of the peer's state: every change is reported, once, as
   * a 'peer' event ('connected', 'restarted', 'disconnected', or 'state').
   */
  transition(next: PeerState, change: PeerChange = changeFor(next)): void {
    this.currentState = next;
    this.host.emit({ type: 'peer', nick: this.nick, change });
  }

  /** The session that sends data, if any. */
  get current(): Session | undefined {
    return this.set.current;
  }

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** The path of the last session that ended (authenticated: the peer spoke from there). */
  get lastPath(): Addr | undefined {
    return this.set.lastPath;
  }

  get address(): Addr | undefined {
    return this.current?.path ?? this.set.lastPath ?? this.dialing.targets()[0];
  }

  /**
   * True when the current session goes through a relay: our allocation, or
   * the peer's relayed address (which it gave us as such).
   */
  get relayed(): boolean {
    const path = this.current?.path;
    return path !== undefined && this.dialing.isRelayed(path);
  }

  /**
   * The peer told us its relayed addresses anew (its new allocation): they
   * replace those it gave before, and a fallback path that led to one it
   * gave up leads to the first new one.
   */
  replaceRelayed(addrs: readonly Addr[]): void {
    const before = [...this.dialing.relayed];
    this.dialing.setRelayed(addrs);
    const to = addrs[0];
    if (!to) return;
    const same = (a: Addr, b: Addr) => a.address === b.address && a.port === b.port;
    this.paths.retarget(
      (a) => before.some((b) => same(a, b)) && !addrs.some((n) => same(a, n)),
      to,
    );
  }

  /** Times the session moved between the relay and a direct path. */
  get pathSwitches(): number {
    return this.paths.switches;
  }

  sessions(): Session[] {
    return this.set.all();
  }

  // ---- sending ------------------------------------------------------------

  stream(id: number): SendStream {
    return this.outbound.stream(id);
  }

  queueMessage(id: number, streamId: number, data: Uint8Array): void {
    this.outbound.queue(id, streamId, data);
  }

  /** Bytes queued or in flight, not yet acknowledged (for backpressure). */
  get unacknowledgedBytes(): number {
    return this.outbound.unacknowledgedBytes;
  }

  /** True when application messages (not control traffic) wait for acknowledgement. */
  get hasQueuedMessages(): boolean {
    return this.outbound.hasQueuedMessages;
  }

  /** Asks for an ack-eliciting packet at the next flush (e.g. to confirm a handshake). */
  requestPing(): void {
    this.out.pingRequested = true;
  }

  /** Removes and returns every unacknowledged message (to move them to another record). */
  takeQueued(): QueuedMessage[] {
    return this.outbound.take();
  }

  pendingMessageIds(): number[] {
    return this.outbound.pendingMessageIds();
  }

  // ---- sessions -----------------------------------------------------------

  /**
   * Adopts a freshly completed session. A new remote instance (restart) resets
   * the streams and re-sends what was never acknowledged; a second session
   * from the same instance inside the simultaneous-open window is settled by
   * a tie-break both sides compute alike.
   */
  adoptSession(
    session: Session,
    instance: Buffer,
    now: number,
  ): 'connected' | 'restarted' | 'extra' {
    this.lastSeen = now;
    if (this.instance && !this.instance.equals(instance)) {
      for (const s of this.sessions()) this.retireSession(s, false);
      this.set.current = session;
      this.instance = instance;
      // A new instance: its receive state is gone, ours goes too (memory back to the account).
      this.inbound.release();
      this.outbound.restart();
      this.markConnected(now, 'restarted');
      return 'restarted';
    }
    this.instance = instance;
    const cur = this.current;
    if (!cur) {
      this.set.current = session;
      this.markConnected(now, 'connected');
      return 'connected';
    }
    const simultaneous = now - cur.createdAt < SIMULTANEOUS_OPEN_WINDOW;
    if (simultaneous && wins(cur, session)) {
      this.set.keepAsOther(session);
    } else {
      this.set.switchTo(session);
    }
    return 'extra';
  }

  /** Declared lost on `s`: data goes again, a lost MTU probe narrows the search. */
  private onLost(s: Session, packets: SentPacket<SentFrames>[], now: number): void {
    for (const p of packets) if (p.pmtuProbe) s.pmtu.onProbeLost(p.size, now);
    this.outbound.requeue(packets);
  }

  private markConnected(now: number, change: 'connected' | 'restarted'): void {
    this.out.probesPending = 0;
    this.transition({ kind: 'connected', since: now }, change);
  }

  /** A valid stateless reset ended `session`: another live session takes over if there is one. */
  onReset(session: Session): void {
    this.set.retireAndPromote(session);
  }

  /** Drops one session, keeping its counters. */
  retireSession(session: Session, requeue: boolean): void {
    this.set.retire(session, requeue);
  }

  /**
   * We end every session (the peer is removed, blocked, evicted, closing, or
   * broke the protocol): a CLOSE with `code` tells it why.
   */
  disconnect(
    reason: string,
    code: number,
    now: number,
    change: 'disconnected' | 'removed' = 'disconnected',
  ): void {
    // Every session hears it: after a simultaneous open the peer may hold the
    // other one as its current, and a CLOSE on ours alone would leave it
    // talking to a ghost until its idle timeout.
    for (const s of this.sessions()) {
      if (!s.exhausted) this.sendClose(s, code, reason, now);
      this.retireSession(s, true);
    }
    this.transition(
      { kind: 'disconnected', since: now, reason, cause: { kind: 'local', code } },
      change,
    );
    // The next session may come from a new instance; a half-received message
    // from this one can never complete.
    this.inbound.release();
  }

  private sendClose(s: Session, code: number, reason: string, now: number): void {
    this.host.transmit(s.path, closePacket(s, code, reason, now));
  }

  // ---- receiving ----------------------------------------------------------

  /**
   * Handles the decrypted payload of packet `pn` on `session`. Returns false
   * when the peer closed the session.
   */
  onPayload(
    session: Session,
    pn: number,
    payload: Uint8Array,
    from: Addr,
    now: number,
    newest = true,
  ): boolean {
    try {
      checkFrames(payload);
    } catch (err) {
      if (err instanceof BadPacket) {
        this.host.countDrop('protocol');
        return true;
      }
      throw err;
    }
    this.lastSeen = now;
    // The path moves only when a new address answers a challenge (paths.ts).
    this.paths.onArrival(session, from, payload.length, newest, now);
    const walked = this.walk.run(session, from, payload, now);
    if (walked === WALK_STOPPED) return false;
    const eliciting = (walked & WALK_ELICITING) !== 0;
    const carriedData = (walked & WALK_CARRIED_DATA) !== 0;
    session.onPacketReceived(pn, eliciting, now, carriedData, (walked & WALK_PINGED) !== 0);
    // Data arriving on the session the tie-break prefers moves us onto it, so
    // both sides converge after a simultaneous open.
    if (eliciting && session !== this.current && this.current && wins(session, this.current)) {
      this.set.switchTo(session);
    }
    return true;
  }

  private onRemoteClose(session: Session, code: number, reason: string, now: number): void {
    if (this.set.retireAndPromote(session)) return;
    if (!this.current && this.state.kind !== 'disconnected') {
      this.transition({
        kind: 'disconnected',
        since: now,
        reason: describeRemoteClose(code, reason),
        cause: { kind: 'remote', code },
      });
    }
  }

  private onAck(
    session: Session,
    ranges: readonly [number, number][],
    ackDelay: number,
    now: number,
  ): void {
    const result = session.loss.onAck(ranges, ackDelay, now);
    for (const p of result.acked) {
      if (p.pmtuProbe) session.pmtu.onProbeAcked(p.size, now);
      this.outbound.onAcked(p.frames, this.delivered);
      if (p.frames.ackLargest >= 0) session.forgetAcksBelow(p.frames.ackLargest + 1);
    }
    this.onLost(session, result.lost, now);
  }

  private onStream(
    streamId: number,
    offset: number,
    payload: Uint8Array,
    start: number,
    length: number,
    now: number,
  ): boolean {
    const messages = this.inbound.onStream(streamId, offset, payload, start, length);
    if (!messages) {
      this.protocolViolation(this.inbound.violation, now);
      return false;
    }
    for (let i = 0; i < messages.length; i++) {
      this.host.emit({ type: 'message', nick: this.nick, stream: streamId, data: messages[i]! });
    }
    return true;
  }

  private protocolViolation(reason: string, now: number): void {
    this.host.countDrop('protocol');
    this.host.emit({
      type: 'error',
      code: 'protocol',
      message: `${this.nick}: ${reason}`,
      nick: this.nick,
    });
    this.disconnect(`protocol violation: ${reason}`, CloseCode.ProtocolViolation, now);
  }

  // ---- timers -------------------------------------------------------------

  /** Earliest time this peer needs `onTimeout`. */
  deadline(): number | undefined {
    // Called for every dirty peer on every flush: no closures, no arrays.
    let d = this.dialing.nextAt;
    const cur = this.current;
    if (cur) {
      d = earliest(d, sessionDeadline(cur));
      d = earliest(d, pingDue(cur));
      const pacing = this.out.pacingDeadline;
      if (pacing !== undefined && this.out.hasStreamData()) d = earliest(d, pacing);
      d = earliest(d, this.paths.deadline(cur));
    }
    for (const s of this.set.others) d = earliest(d, sessionDeadline(s));
    return d;
  }

  /** Runs expired timers. True when the last session just died of silence. */
  onTimeout(now: number): boolean {
    for (const s of this.sessions()) {
      // Compare the very sums deadline() returns: `now - t >= d` can round to false at
      // now === t + d (fractional clocks), leaving the timer due and firing back to back.
      if (now >= s.lastReceived + IDLE_TIMEOUT) {
        this.set.retireAndPromote(s);
        continue;
      }
      if (s !== this.current) this.paths.expireIdle(s, now);
      const lossDeadline = s.loss.deadline();
      if (lossDeadline !== undefined && lossDeadline <= now) {
        const r = s.loss.onTimeout(now);
        this.onLost(s, r.lost, now);
        if (r.probes > 0) s.pmtu.onPto(s.loss.ptoCount, now);
        if (r.probes > 0 && s === this.current) {
          // A dead direct path falls back in the flush that follows (paths.ts).
          this.out.probesPending = Math.max(this.out.probesPending, r.probes);
          // A probe should carry data if there is any (RFC 9002 §6.2.4).
          for (const p of s.loss.unacked()) {
            this.outbound.requeueFrames(p.frames);
            break;
          }
        } else if (r.probes > 0) {
          this.retireSession(s, true);
        }
      }
      if (s.finishDeadline !== undefined && s.finishDeadline <= now && s.finish) {
        this.host.transmit(s.path, s.finish);
        s.finishAttempts++;
        s.finishDeadline = now + Math.min(250 * 2 ** s.finishAttempts, 4000);
      }
    }
    const cur = this.current;
    if (cur && takePing(cur, now)) this.out.pingRequested = true;
    if (!this.current && this.state.kind === 'connected') {
      this.transition({
        kind: 'disconnected',
        since: now,
        reason: `no answer for ${IDLE_TIMEOUT / 1000} s (idle timeout)`,
        cause: { kind: 'idle-timeout' },
      });
      return true;
    }
    return false;
  }

  // ---- packet assembly (assembler.ts) --------------------------------------

  /** Builds and hands to the host every packet that may go now. */
  flush(now: number): void {
    for (const s of this.set.others) {
      if (s.exhausted) continue;
      this.out.flushOther(s, now);
    }
    const s = this.current;
    if (!s) return;
    if (s.exhausted) {
      this.retireExhausted(s, now);
      return;
    }
    this.paths.flush(s, now);
    this.out.flushCurrent(s, now);
  }

  /**
   * A session whose packet numbers are used up must never seal again (a
   * nonce would repeat; RFC 9000 §12.3): it ends here, its data goes to the
   * next session, and a pinned peer is dialed again at once.
   */
  private retireExhausted(s: Session, now: number): void {
    if (this.set.retireAndPromote(s)) return;
    this.transition({
      kind: 'disconnected',
      since: now,
      reason: 'the session used up its packet numbers; reconnecting',
      cause: { kind: 'local', code: CloseCode.Normal },
    });
    if (this.pinned && this.dialing.hasGiven) {
      this.dialing.restart();
      this.dialing.schedule(now, 0);
    }
  }

  // ---- stats --------------------------------------------------------------

  totals(): PeerTotals {
    return this.set.totals(this.out.retransmits);
  }
}

/** A session's own timers, or the moment its silence ends it. */
function sessionDeadline(s: Session): number | undefined {
  return earliest(s.deadline(), s.lastReceived + IDLE_TIMEOUT);
}
