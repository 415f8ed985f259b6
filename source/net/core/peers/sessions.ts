import type { SentPacket } from '../../recovery/sentlog.js';
import { CloseCode } from '../../wire/frames.js';
import type { Addr } from '../address.js';
import type { SentFrames, Session } from '../conn/session.js';

/** Window in which a second session from the same peer instance counts as simultaneous open. */
export const SIMULTANEOUS_OPEN_WINDOW = 5_000;

export interface PeerTotals {
  packetsSent: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  packetsLost: number;
  retransmits: number;
  ptoCount: number;
}

/** What the session set needs from its peer. */
export interface SessionSetHost {
  /** A session was dropped; the endpoint forgets its index. */
  forget(session: Session): void;
  /** Packets abandoned with a session: their data goes again on the next. */
  requeue(packets: SentPacket<SentFrames>[]): void;
  /** True when `a` goes through a relay. */
  isRelayed(a: Addr): boolean;
}

/**
 * A peer's sessions: the current one (which sends data) and at most one
 * other (after a simultaneous open or a rekeying handshake, until it is
 * idle), with the counters of those already retired so the peer's stats
 * survive a switch. Streams are not here: they live on the peer.
 */
export class SessionSet {
  current: Session | undefined;
  others: Session[] = [];
  /** The path of the last session that ended (authenticated: the peer spoke from there). */
  lastPath: Addr | undefined;
  /** Counters of sessions already retired. */
  private readonly retired: PeerTotals = emptyTotals();

  constructor(private readonly host: SessionSetHost) {}

  all(): Session[] {
    return this.current ? [this.current, ...this.others] : [...this.others];
  }

  keepAsOther(session: Session): void {
    this.others.push(session);
    while (this.others.length > 1) this.retire(this.others[0]!, true);
  }

  /** Makes `session` current; in-flight data of the old one is re-sent on it. */
  switchTo(session: Session): void {
    const old = this.current;
    this.others = this.others.filter((s) => s !== session);
    this.current = session;
    if (old && !this.host.isRelayed(old.path) && this.host.isRelayed(session.path)) {
      // The same peer, authenticated on both: a direct path the old session
      // validated serves the new one too, instead of a detour by the relay
      // (a simultaneous open through relayed candidates, issue 17).
      session.path = old.path;
      session.probe = undefined;
    }
    if (old) {
      this.host.requeue(old.loss.discardAll());
      this.keepAsOther(old);
    }
  }

  /** Drops one session, keeping its counters. */
  retire(session: Session, requeue: boolean): void {
    const packets = session.loss.discardAll();
    if (requeue) this.host.requeue(packets);
    this.retired.packetsSent += session.packetsSent;
    this.retired.packetsReceived += session.packetsReceived;
    this.retired.bytesSent += session.bytesSent;
    this.retired.bytesReceived += session.bytesReceived;
    this.retired.packetsLost += session.loss.stats.packetsLost;
    this.retired.ptoCount += session.loss.stats.ptoCount;
    this.lastPath = session.path;
    if (this.current === session) this.current = undefined;
    this.others = this.others.filter((s) => s !== session);
    this.host.forget(session);
  }

  /**
   * Retires `session` (its data requeued); if it was the current one, the
   * other live session takes over. True when one did.
   */
  retireAndPromote(session: Session): boolean {
    const wasCurrent = this.current === session;
    this.retire(session, true);
    if (!wasCurrent || this.others.length === 0) return false;
    this.current = this.others.shift();
    return true;
  }

  /** Counters over every session this peer has had. */
  totals(retransmits: number): PeerTotals {
    const t = { ...this.retired, retransmits };
    for (const s of this.all()) {
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

/**
 * Simultaneous-open tie-break: the session whose initiator has the lower
 * static key wins. Both sides see the same two keys, so they agree.
 */
export function wins(a: Session, b: Session): boolean {
  return Buffer.compare(a.initiatorStatic, b.initiatorStatic) < 0;
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
