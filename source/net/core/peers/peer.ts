import { CONTROL_STREAM } from '../../nat/introduce.js';
import type { SentPacket } from '../../recovery/loss.js';
import { CloseCode, decodeFrames, PATH_DATA_LENGTH } from '../../wire/frames.js';
import { type Addr, sameAddr } from '../address.js';
import type { SentFrames, Session } from '../conn/session.js';
import { type OutgoingMessage, SendStream } from '../conn/stream.js';
import { BadPacket } from '../errors.js';
import type { EndpointEvent, PeerChange, PeerState } from '../events.js';
import { earliest } from '../timerheap.js';
import { closePacket, PacketAssembler } from './assembler.js';
import { DialPlan } from './dialplan.js';
import { Inbound } from './inbound.js';

export { closePacket, PATH_CHALLENGE_TRIES } from './assembler.js';

/** Send a PING when we have sent nothing for this long: holds NAT mappings (DESIGN.md). */
export const KEEPALIVE_INTERVAL = 15_000;
/** Silence that ends a session (≥ 30 s so that a short blackout is survived). */
export const IDLE_TIMEOUT = 45_000;
/** Window in which a second session from the same peer instance counts as simultaneous open. */
export const SIMULTANEOUS_OPEN_WINDOW = 5_000;
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

export interface PeerTotals {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  retransmits: number;
  ptoCount: number;
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
  current: Session | undefined;
  others: Session[] = [];

  private sendStreams = new Map<number, SendStream>();
  /** Receive streams and their reassembly budget (inbound.ts). */
  private readonly inbound: Inbound;
  /** Packet assembly: probes and pings owed, pacing, path frames (assembler.ts). */
  private readonly out: PacketAssembler;
  private lastAddr: Addr | undefined;
  /** Counters of sessions already retired, so stats survive a session switch. */
  private retired: PeerTotals = emptyTotals();
  lastSeen: number | undefined;
  /** The peer lets us introduce it to others (its Hello did not opt out). */
  introducible = false;
  /** Set when we learned of this peer through an introduction (nick of the introducer). */
  introducedBy: string | undefined;

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
    this.out = new PacketAssembler(host, () => this.sendStreams);
    this.currentState = { kind: 'connecting', since: now, attempt: 0 };
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

  get connected(): boolean {
    return this.current !== undefined;
  }

  /** The path of the last session that ended (authenticated: the peer spoke from there). */
  get lastPath(): Addr | undefined {
    return this.lastAddr;
  }

  get address(): Addr | undefined {
    return this.current?.path ?? this.lastAddr ?? this.dialing.targets()[0];
  }

  sessions(): Session[] {
    return this.current ? [this.current, ...this.others] : [...this.others];
  }

  // ---- sending ------------------------------------------------------------

  stream(id: number): SendStream {
    let s = this.sendStreams.get(id);
    if (!s) {
      s = new SendStream(id);
      this.sendStreams.set(id, s);
    }
    return s;
  }

  queueMessage(id: number, streamId: number, data: Uint8Array): void {
    this.stream(streamId).write(id, data);
  }

  /** Bytes queued or in flight, not yet acknowledged (for backpressure). */
  get unacknowledgedBytes(): number {
    let n = 0;
    for (const s of this.sendStreams.values()) n += s.unacknowledged;
    return n;
  }

  /** Asks for an ack-eliciting packet at the next flush (e.g. to confirm a handshake). */
  requestPing(): void {
    this.out.pingRequested = true;
  }

  /** Removes and returns every unacknowledged message (to move them to another record). */
  takeQueued(): { id: number; streamId: number; data: Uint8Array }[] {
    const out: { id: number; streamId: number; data: Uint8Array }[] = [];
    for (const s of this.sendStreams.values()) {
      for (const m of s.pendingMessages()) out.push({ id: m.id, streamId: s.id, data: m.data });
    }
    this.sendStreams = new Map();
    return out;
  }

  pendingMessageIds(): number[] {
    const ids: number[] = [];
    for (const s of this.sendStreams.values()) for (const m of s.pendingMessages()) ids.push(m.id);
    return ids;
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
      this.current = session;
      this.instance = instance;
      this.restartStreams();
      this.markConnected(now, 'restarted');
      return 'restarted';
    }
    this.instance = instance;
    const cur = this.current;
    if (!cur) {
      this.current = session;
      this.markConnected(now, 'connected');
      return 'connected';
    }
    const simultaneous = now - cur.createdAt < SIMULTANEOUS_OPEN_WINDOW;
    if (simultaneous && wins(cur, session)) {
      this.keepAsOther(session);
    } else {
      this.switchTo(session);
    }
    return 'extra';
  }

  private keepAsOther(session: Session): void {
    this.others.push(session);
    while (this.others.length > 1) this.retireSession(this.others[0]!, true);
  }

  /** Makes `session` current; in-flight data of the old one is re-sent on it. */
  private switchTo(session: Session): void {
    const old = this.current;
    this.others = this.others.filter((s) => s !== session);
    this.current = session;
    if (old) {
      this.requeue(old.loss.discardAll());
      this.keepAsOther(old);
    }
  }

  /** Declared lost on `s`: data goes again, a lost MTU probe narrows the search. */
  private onLost(s: Session, packets: SentPacket<SentFrames>[], now: number): void {
    for (const p of packets) if (p.pmtuProbe) s.pmtu.onProbeLost(p.size, now);
    this.requeue(packets);
  }

  private requeue(packets: SentPacket<SentFrames>[]): void {
    for (const p of packets) this.requeueFrames(p.frames);
  }

  private requeueFrames(frames: SentFrames): void {
    const t = frames.streams;
    for (let i = 0; i < t.length; i += 3) this.sendStreams.get(t[i]!)?.onLost(t[i + 1]!, t[i + 2]!);
  }

  private restartStreams(): void {
    const old = [...this.sendStreams.values()];
    this.sendStreams = new Map();
    this.releaseReassembly();
    for (const s of old) {
      for (const m of s.pendingMessages()) this.queueMessage(m.id, s.id, m.data);
    }
  }

  /** Drops every receive stream and returns its memory to the global account. */
  private releaseReassembly(): void {
    this.inbound.release();
  }

  private markConnected(now: number, change: 'connected' | 'restarted'): void {
    this.out.probesPending = 0;
    this.transition({ kind: 'connected', since: now }, change);
  }

  /** A valid stateless reset ended `session`: another live session takes over if there is one. */
  onReset(session: Session): void {
    const wasCurrent = this.current === session;
    this.retireSession(session, true);
    if (wasCurrent && this.others.length > 0) this.current = this.others.shift();
  }

  /** Drops one session, keeping its counters. */
  retireSession(session: Session, requeue: boolean): void {
    const packets = session.loss.discardAll();
    if (requeue) this.requeue(packets);
    this.retired.packetsSent += session.packetsSent;
    this.retired.packetsReceived += session.packetsReceived;
    this.retired.bytesSent += session.bytesSent;
    this.retired.bytesReceived += session.bytesReceived;
    this.retired.packetsLost += session.loss.stats.packetsLost;
    this.retired.ptoCount += session.loss.stats.ptoCount;
    this.lastAddr = session.path;
    if (this.current === session) this.current = undefined;
    this.others = this.others.filter((s) => s !== session);
    this.host.forgetSession(session);
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
    this.releaseReassembly();
  }

  private sendClose(s: Session, code: number, reason: string, now: number): void {
    this.host.transmit(s.path, closePacket(s, code, reason, now));
  }

  /** True when application messages (not control traffic) wait for acknowledgement. */
  get hasQueuedMessages(): boolean {
    for (const s of this.sendStreams.values()) {
      if (s.id !== CONTROL_STREAM && s.unacknowledged > 0) return true;
    }
    return false;
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
    let frames: ReturnType<typeof decodeFrames>;
    try {
      frames = decodeFrames(payload);
    } catch (err) {
      if (err instanceof BadPacket) {
        this.host.countDrop('protocol');
        return true;
      }
      throw err;
    }
    this.lastSeen = now;
    // A new address on the newest packet starts path validation (a late,
    // reordered packet never does); the path moves only when it answers.
    // One probe at a time: a replayed packet from yet another address must
    // not keep restarting the validation of a genuine move.
    if (newest && !sameAddr(from, session.path) && !session.probe) {
      session.probe = {
        addr: from,
        data: this.host.random(PATH_DATA_LENGTH),
        tries: 0,
        deadline: now,
      };
    }
    let eliciting = false;
    let carriedData = false;
    let challenged = false;
    if (!sameAddr(from, session.path)) this.out.creditUnvalidated(from, payload.length);
    for (const f of frames) {
      switch (f.type) {
        case 'ping':
          eliciting = true;
          break;
        case 'ack':
          this.onAck(session, f.ranges, f.ackDelayMicros / 1000, now);
          break;
        case 'stream':
          eliciting = true;
          carriedData = true;
          if (!this.onStream(f.streamId, f.offset, f.data, now)) return false;
          break;
        case 'path-challenge':
          eliciting = true;
          // One response per packet, however many challenges it carries
          // (RFC 9000 §8.2.2 lets us answer only the last), and at most a few owed.
          if (!challenged && session.pathResponses.length < 4) {
            session.pathResponses.push({ to: from, data: Buffer.from(f.data) });
            challenged = true;
          }
          break;
        case 'path-response':
          if (
            session.probe &&
            sameAddr(session.probe.addr, from) &&
            session.probe.data.equals(f.data)
          ) {
            session.path = from;
            session.probe = undefined;
            session.pmtu.reset();
          }
          break;
        case 'close':
          // Answer a clean close once, so a closer in its closing state
          // (conn/closing.ts) knows we heard it and stops resending.
          if (f.code === CloseCode.Normal && !session.exhausted)
            this.sendClose(session, CloseCode.Normal, 'closed', now);
          this.onRemoteClose(session, f.code, f.reason, now);
          return false;
      }
    }
    session.onPacketReceived(pn, eliciting, now, carriedData);
    // Data arriving on the session the tie-break prefers moves us onto it, so
    // both sides converge after a simultaneous open.
    if (eliciting && session !== this.current && this.current && wins(session, this.current)) {
      this.switchTo(session);
    }
    return true;
  }

  private onRemoteClose(session: Session, code: number, reason: string, now: number): void {
    const wasCurrent = this.current === session;
    this.retireSession(session, true);
    if (wasCurrent && this.others.length > 0) {
      this.current = this.others.shift();
      return;
    }
    if (!this.current && this.state.kind !== 'disconnected') {
      this.transition({
        kind: 'disconnected',
        since: now,
        reason: describeRemoteClose(code, reason),
        cause: { kind: 'remote', code },
      });
    }
  }

  private onAck(session: Session, ranges: [number, number][], ackDelay: number, now: number): void {
    const result = session.loss.onAck(ranges, ackDelay, now);
    for (const p of result.acked) {
      if (p.pmtuProbe) session.pmtu.onProbeAcked(p.size, now);
      const t = p.frames.streams;
      for (let i = 0; i < t.length; i += 3) {
        const stream = this.sendStreams.get(t[i]!);
        if (!stream) continue;
        this.delivered(stream.onAcked(t[i + 1]!, t[i + 2]!));
      }
      if (p.frames.ackLargest >= 0) session.forgetAcksBelow(p.frames.ackLargest + 1);
    }
    this.onLost(session, result.lost, now);
  }

  private delivered(messages: readonly OutgoingMessage[]): void {
    for (const m of messages)
      this.host.emit({ type: 'delivered', id: m.id, peerId: this.id, nick: this.nick });
  }

  private onStream(streamId: number, offset: number, data: Uint8Array, now: number): boolean {
    const messages = this.inbound.onStream(streamId, offset, data);
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
      d = earliest(d, cur.lastSent + KEEPALIVE_INTERVAL);
      const pacing = this.out.pacingDeadline;
      if (pacing !== undefined && this.out.hasStreamData()) d = earliest(d, pacing);
    }
    for (const s of this.others) d = earliest(d, sessionDeadline(s));
    return d;
  }

  /** Runs expired timers. True when the last session just died of silence. */
  onTimeout(now: number): boolean {
    for (const s of this.sessions()) {
      // Compare the very sums deadline() returns: `now - t >= d` can round to false at
      // now === t + d (fractional clocks), leaving the timer due and firing back to back.
      if (now >= s.lastReceived + IDLE_TIMEOUT) {
        const wasCurrent = s === this.current;
        this.retireSession(s, true);
        if (wasCurrent && this.others.length > 0) this.current = this.others.shift();
        continue;
      }
      // Only the current session sends PATH_CHALLENGEs (flush); a probe another one started
      // (a replay from a new address) would leave its deadline due forever: a spinning timer.
      if (s !== this.current && s.probe && s.probe.deadline <= now) s.probe = undefined;
      const lossDeadline = s.loss.deadline();
      if (lossDeadline !== undefined && lossDeadline <= now) {
        const r = s.loss.onTimeout(now);
        this.onLost(s, r.lost, now);
        if (r.probes > 0) s.pmtu.onPto(s.loss.ptoCount, now);
        if (r.probes > 0 && s === this.current) {
          this.out.probesPending = Math.max(this.out.probesPending, r.probes);
          // A probe should carry data if there is any (RFC 9002 §6.2.4).
          for (const p of s.loss.unacked()) {
            this.requeueFrames(p.frames);
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
    if (cur && now >= cur.lastSent + KEEPALIVE_INTERVAL) this.out.pingRequested = true;
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
    for (const s of this.others) {
      if (s.exhausted) continue;
      this.out.flushOther(s, now);
    }
    const s = this.current;
    if (!s) return;
    if (s.exhausted) {
      this.retireExhausted(s, now);
      return;
    }
    this.out.flushCurrent(s, now);
  }

  /**
   * A session whose packet numbers are used up must never seal again (a
   * nonce would repeat; RFC 9000 §12.3): it ends here, its data goes to the
   * next session, and a pinned peer is dialed again at once.
   */
  private retireExhausted(s: Session, now: number): void {
    this.retireSession(s, true);
    if (this.others.length > 0) {
      this.current = this.others.shift();
      return;
    }
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
    const t = { ...this.retired, retransmits: this.out.retransmits };
    for (const s of this.sessions()) {
      t.packetsSent += s.packetsSent;
      t.packetsReceived += s.packetsReceived;
      t.bytesSent += s.bytesSent;
      t.bytesReceived += s.bytesReceived;
      t.packetsLost += s.loss.stats.packetsLost;
      t.ptoCount += s.loss.stats.ptoCount;
    }
    return t;
  }
}

function changeFor(next: PeerState): PeerChange {
  if (next.kind === 'connected') return 'connected';
  if (next.kind === 'disconnected') return 'disconnected';
  return 'state';
}

/**
 * The words for a peer's CLOSE. The code decides; the peer's free text is
 * shown only for codes that carry a detail (a protocol violation it saw).
 */
export function describeRemoteClose(code: number, reason: string): string {
  switch (code) {
    case CloseCode.Normal:
      return 'closed by peer';
    case CloseCode.Blocked:
      return 'blocked by the peer';
    case CloseCode.NotAccepted:
      return 'not accepted by the peer';
    case CloseCode.IdleTimeout:
      return 'the peer timed out';
    case CloseCode.Replaced:
      return 'replaced by a newer session';
    case CloseCode.ProtocolViolation:
      return reason
        ? `the peer saw a protocol violation: ${reason}`
        : 'the peer saw a protocol violation';
    default:
      return `closed by peer (code ${code})`;
  }
}

/** A session's own timers, or the moment its silence ends it. */
function sessionDeadline(s: Session): number | undefined {
  return earliest(s.deadline(), s.lastReceived + IDLE_TIMEOUT);
}

/**
 * Simultaneous-open tie-break: the session whose initiator has the lower
 * static key wins. Both sides see the same two keys, so they agree.
 */
export function wins(a: Session, b: Session): boolean {
  return Buffer.compare(a.initiatorStatic, b.initiatorStatic) < 0;
}

function emptyTotals(): PeerTotals {
  return {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    packetsLost: 0,
    retransmits: 0,
    ptoCount: 0,
  };
}
