import { CloseCode, decodeFrames } from '../../wire/frames.js';
import type { Addr } from '../address.js';
import { BadPacket } from '../errors.js';
import { closePacket } from '../peers/peer.js';
import type { Session } from './session.js';

/** How long we stay in the closing state after close(): a peer is answered again until then. */
export const CLOSE_DRAIN_MS = 1000;
/** CLOSE resends, at 100, 200, 400 ms, until the peer's own CLOSE answers. */
const CLOSE_RESENDS = 3;
const FIRST_RESEND_MS = 100;
/** A peer that keeps sending gets our CLOSE at most this often. */
const ANSWER_INTERVAL_MS = 50;

interface Record {
  session: Session;
  to: Addr;
  until: number;
  resendAt: number | undefined;
  tries: number;
  answeredAt: number;
}

/**
 * The closing state of RFC 9000 §10.2.1: sessions we ended with a CLOSE
 * are kept, keys and all, for CLOSE_DRAIN_MS, so that a peer whose CLOSE was
 * lost hears it again — resent on a short backoff, and again whenever the
 * peer's packets show it has not heard (at most every 50 ms). A CLOSE from
 * the peer (the answer to ours) ends the record: then every peer knows at
 * once, not after its 45 s idle timeout.
 */
export class Closing {
  private readonly records = new Map<number, Record>();

  /** `session` was just closed by us (its CLOSE already sent). */
  add(session: Session, now: number): void {
    this.records.set(session.localIndex, {
      session,
      to: session.path,
      until: now + CLOSE_DRAIN_MS,
      resendAt: now + FIRST_RESEND_MS,
      tries: 0,
      answeredAt: now,
    });
  }

  get pending(): boolean {
    return this.records.size > 0;
  }

  has(index: number): boolean {
    return this.records.has(index);
  }

  /**
   * DATA for a closing session. Returns the CLOSE to send again, if the
   * packet shows the peer has not heard ours; a CLOSE from it ends the record.
   */
  onData(
    index: number,
    pn: number,
    datagram: Uint8Array,
    now: number,
  ): { to: Addr; packet: Buffer } | undefined {
    const r = this.records.get(index);
    if (!r) return undefined;
    const opened = r.session.openPacket(datagram, pn, now);
    if (!opened.ok) return undefined;
    let frames: ReturnType<typeof decodeFrames>;
    try {
      frames = decodeFrames(opened.payload);
    } catch (err) {
      if (err instanceof BadPacket) return undefined;
      throw err;
    }
    if (frames.some((f) => f.type === 'close')) {
      this.records.delete(index);
      return undefined;
    }
    if (now - r.answeredAt < ANSWER_INTERVAL_MS) return undefined;
    r.answeredAt = now;
    return this.resend(r, now);
  }

  nextDeadline(): number | undefined {
    let d: number | undefined;
    for (const r of this.records.values()) {
      const at = r.resendAt ?? r.until;
      if (d === undefined || at < d) d = at;
    }
    return d;
  }

  /** Resends due CLOSEs and forgets expired records; what to send. */
  handleTimeout(now: number): { to: Addr; packet: Buffer }[] {
    const out: { to: Addr; packet: Buffer }[] = [];
    for (const [index, r] of this.records) {
      if (now >= r.until) {
        this.records.delete(index);
        continue;
      }
      if (r.resendAt === undefined || r.resendAt > now) continue;
      r.tries++;
      r.resendAt = r.tries < CLOSE_RESENDS ? now + FIRST_RESEND_MS * 2 ** r.tries : undefined;
      const again = this.resend(r, now);
      if (again) out.push(again);
    }
    return out;
  }

  clear(): void {
    this.records.clear();
  }

  private resend(r: Record, now: number): { to: Addr; packet: Buffer } | undefined {
    // A session out of packet numbers may never seal again (RFC 9000 §12.3).
    if (r.session.exhausted) return undefined;
    return { to: r.to, packet: closePacket(r.session, CloseCode.Normal, 'closed', now) };
  }
}
