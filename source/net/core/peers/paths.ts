import { TAG_LENGTH } from '../../crypto/cipher.js';
import { PATH_DATA_LENGTH, writePathFrame } from '../../wire/frames.js';
import { DATA_HEADER_LENGTH, MAX_DATAGRAM } from '../../wire/packet.js';
import { type Addr, addrKey, sameAddr } from '../address.js';
import type { Session } from '../conn/session.js';

/** PATH_CHALLENGEs sent to a new address before giving up on it. */
export const PATH_CHALLENGE_TRIES = 3;
/** Path responses a session may owe at once; more challenges wait for the next ones. */
const MAX_OWED_RESPONSES = 4;
/** Candidate addresses whose anti-amplification credit we remember. */
const MAX_CREDITED = 4;

/** What path validation needs from its peer's host. */
export interface PathHost {
  transmit(to: Addr, data: Buffer): void;
  /** The endpoint's injected randomness (challenge data). */
  random(n: number): Buffer;
}

/**
 * Path validation for one peer (RFC 9000 §8.2, §9): an authenticated packet
 * from a new address starts a PATH_CHALLENGE there; the session's path moves
 * only when the matching PATH_RESPONSE comes back from that address. Until
 * then what we send to it is bounded by what came from it (§8.1).
 */
export class Paths {
  /**
   * Anti-amplification towards addresses not yet validated (RFC 9000 §8.1,
   * §9.3): what we send there is at most three times what arrived from
   * there, so a spoofed source cannot turn us into a reflector. In payload
   * bytes on both sides (headers and tags are the same size both ways).
   */
  private readonly unvalidatedCredit = new Map<string, number>();

  constructor(private readonly host: PathHost) {}

  /**
   * An authenticated packet of `bytes` payload came from `from`. A new
   * address on the newest packet starts path validation (a late, reordered
   * packet never does). One probe at a time: a replayed packet from yet
   * another address must not keep restarting the validation of a genuine move.
   */
  onArrival(session: Session, from: Addr, bytes: number, newest: boolean, now: number): void {
    if (sameAddr(from, session.path)) return;
    if (newest && !session.probe) {
      session.probe = {
        addr: from,
        data: this.host.random(PATH_DATA_LENGTH),
        tries: 0,
        deadline: now,
      };
    }
    this.credit(from, bytes);
  }

  /**
   * A PATH_CHALLENGE: owe a response to where it came from. One per packet,
   * however many challenges it carries (RFC 9000 §8.2.2 lets us answer only
   * the last), and at most a few owed. False when it was not taken.
   */
  onChallenge(session: Session, from: Addr, data: Uint8Array): boolean {
    if (session.pathResponses.length >= MAX_OWED_RESPONSES) return false;
    session.pathResponses.push({ to: from, data: Buffer.from(data) });
    return true;
  }

  /** A PATH_RESPONSE: the probed address answered from there with our data, so the path moves. */
  onResponse(session: Session, from: Addr, data: Uint8Array): void {
    const probe = session.probe;
    if (probe && sameAddr(probe.addr, from) && probe.data.equals(data)) {
      session.path = from;
      session.probe = undefined;
      session.pmtu.reset();
    }
  }

  /**
   * Only the current session sends PATH_CHALLENGEs (flush); a probe another
   * one started (a replay from a new address) would leave its deadline due
   * forever: a spinning timer.
   */
  expireIdle(s: Session, now: number): void {
    if (s.probe && s.probe.deadline <= now) s.probe = undefined;
  }

  /** PATH_RESPONSEs we owe and a due PATH_CHALLENGE, each in its own small packet. */
  flush(s: Session, now: number): void {
    if (s.pathResponses.length > 0)
      for (const r of s.pathResponses.splice(0)) this.sendControl(s, now, r.to, true, r.data);
    const probe = s.probe;
    if (!probe || probe.deadline > now) return;
    if (probe.tries >= PATH_CHALLENGE_TRIES) {
      // Never answered: stay where we are (RFC 9000 §8.2.4).
      s.probe = undefined;
      return;
    }
    probe.tries++;
    probe.deadline = now + Math.max(3 * s.loss.rtt.smoothedRtt, 100) * 2 ** (probe.tries - 1);
    this.sendControl(s, now, probe.addr, false, probe.data);
  }

  private sendControl(s: Session, now: number, to: Addr, response: boolean, data: Buffer): void {
    const buf = Buffer.allocUnsafe(MAX_DATAGRAM);
    const pos = writePathFrame(buf, DATA_HEADER_LENGTH, response, data);
    const payloadLength = pos - DATA_HEADER_LENGTH;
    if (!sameAddr(to, s.path) && !this.spend(to, payloadLength)) return;
    s.seal(buf, payloadLength, now);
    // Not tracked for loss: a lost challenge is simply sent again, a lost
    // response is re-solicited by the next challenge.
    this.host.transmit(to, buf.subarray(0, DATA_HEADER_LENGTH + payloadLength + TAG_LENGTH));
  }

  private credit(from: Addr, bytes: number): void {
    const key = addrKey(from);
    const credit = (this.unvalidatedCredit.get(key) ?? 0) + 3 * bytes;
    this.unvalidatedCredit.delete(key);
    this.unvalidatedCredit.set(key, credit);
    // A handful of candidate paths at most: forget the oldest.
    if (this.unvalidatedCredit.size > MAX_CREDITED) {
      const [oldest] = this.unvalidatedCredit.keys();
      this.unvalidatedCredit.delete(oldest!);
    }
  }

  private spend(to: Addr, bytes: number): boolean {
    const key = addrKey(to);
    const credit = this.unvalidatedCredit.get(key) ?? 0;
    if (credit < bytes) return false;
    this.unvalidatedCredit.set(key, credit - bytes);
    return true;
  }
}
