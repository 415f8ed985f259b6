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
/** While relayed, a round of challenges to the direct candidates starts this long after the last. */
export const UPGRADE_PROBE_PAUSE = 1000;
/**
 * Back to the relay when a direct path has had a probe timeout (RFC 9002
 * §6.2: nothing acknowledged) and nothing at all has arrived for
 * FALLBACK_SILENCE since our oldest unacknowledged packet left. Each PTO
 * sends probes, so that is a dozen packets or their ACKs lost in a row: under
 * 5 % loss it does not happen by chance, and a lossy direct path is kept.
 * Not "three PTOs": a sender with a message every 50 ms restarts the PTO with
 * each (§6.2.1 counts it from the last ack-eliciting packet), so the count
 * stayed at one until the congestion window filled, 10 s later in the lab.
 */
export const FALLBACK_PTOS = 1;
export const FALLBACK_SILENCE = 1000;
/**
 * Following the peer from a direct path back onto the relay waits longer
 * than one upgrade round (UPGRADE_PROBE_PAUSE plus the challenge's retries):
 * the peer may validate the direct path a round after we did, and following
 * it back meanwhile made both sides flap (3 switches in the NAT lab).
 */
export const FOLLOW_SILENCE = 3000;
/** After falling back, direct paths are not tried again for this long (at most one switch a minute). */
export const UPGRADE_HOLD_DOWN = 60_000;

/** What path validation needs from its peer's host. */
export interface PathHost {
  transmit(to: Addr, data: Buffer): void;
  /** The endpoint's injected randomness (challenge data). */
  random(n: number): Buffer;
}

/** What the peer tells its paths about where it may be. */
export interface PathCandidates {
  /** Direct candidates (given and learned addresses): where an upgrade may go. */
  direct(): readonly Addr[];
  /** True when `a` goes through a relay (our allocation, or the peer's relayed address). */
  isRelayed(a: Addr): boolean;
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
  /** The relayed path this peer's session last used: where a dead direct path falls back to. */
  private relayPath: Addr | undefined;
  /** The direct candidate the current challenge tests (our choice, so no amplification credit). */
  private candidate: Addr | undefined;
  /** Next direct candidate to challenge, and when the next round of challenges may start. */
  private nextCandidate = 0;
  private nextRoundAt = 0;
  /** No upgrade before this (hold-down after a fallback). */
  private holdUntil = 0;
  /** When a packet last arrived on the current session's path. */
  private heardOnPath = 0;
  /** Times the current session moved between relayed and direct paths. */
  switches = 0;

  constructor(
    private readonly host: PathHost,
    private readonly where: PathCandidates,
  ) {}

  /**
   * An authenticated packet of `bytes` payload came from `from`. A new
   * address on the newest packet starts path validation (a late, reordered
   * packet never does). One probe at a time: a replayed packet from yet
   * another address must not keep restarting the validation of a genuine move.
   * From a direct path to a relayed one only once the direct path has been
   * silent FOLLOW_SILENCE: following the peer there while direct packets
   * still arrive made both sides chase each other between the two paths for
   * ever (each moving on the other's packets in flight on the old one).
   */
  onArrival(session: Session, from: Addr, bytes: number, newest: boolean, now: number): void {
    if (sameAddr(from, session.path)) {
      this.heardOnPath = now;
      return;
    }
    const early =
      this.where.isRelayed(from) &&
      !this.where.isRelayed(session.path) &&
      now - this.heardOnPath < FOLLOW_SILENCE;
    if (newest && !early && (!session.probe || this.outrankedByArrival(session, from))) {
      this.candidate = undefined;
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
   * A relayed session's upgrade round may be challenging a candidate that
   * never answers (a LAN address of the peer's) when the peer's packets start
   * arriving from a direct address: the peer has a path to us there, so that
   * address is challenged at once instead of after the round. Waiting out the
   * round left the peer on the direct path alone for seconds, long enough to
   * follow us back to the relay (FOLLOW_SILENCE) and flap. Only our own
   * candidate's probe gives way, and only once: a probe started by an arrival
   * is never replaced, so replays from other addresses cannot keep
   * restarting a validation.
   */
  private outrankedByArrival(session: Session, from: Addr): boolean {
    const probe = session.probe;
    return (
      probe !== undefined &&
      this.candidate !== undefined &&
      sameAddr(probe.addr, this.candidate) &&
      !sameAddr(from, probe.addr) &&
      this.where.isRelayed(session.path) &&
      !this.where.isRelayed(from)
    );
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
  onResponse(session: Session, from: Addr, data: Uint8Array, now: number): void {
    const probe = session.probe;
    if (probe && sameAddr(probe.addr, from) && probe.data.equals(data)) {
      const old = session.path;
      const wasRelayed = this.where.isRelayed(old);
      if (wasRelayed !== this.where.isRelayed(from)) this.switches++;
      if (wasRelayed) this.relayPath = old;
      session.path = from;
      session.probe = undefined;
      this.candidate = undefined;
      this.heardOnPath = now;
      session.pmtu.reset();
    }
  }

  /**
   * A direct path that stays unanswered (fallbackAt) goes back to the relay
   * it came from: the session (keys, packet numbers, streams) is the same,
   * only `path` changes, and what was in flight is retransmitted there by
   * loss recovery. The peer sees our packets arrive from the relay and
   * validates that path in turn. Checked at every flush of the current
   * session, which also follows each of its probe timeouts.
   */
  fallBackIfDead(s: Session, now: number): void {
    const at = this.fallbackAt(s);
    const back = this.relayPath;
    if (at === undefined || now < at || !back) return;
    s.path = back;
    s.probe = undefined;
    s.pmtu.reset();
    this.candidate = undefined;
    this.switches++;
    this.holdUntil = now + UPGRADE_HOLD_DOWN;
  }

  /**
   * The peer named new relayed addresses (a new allocation after an idle
   * release): a fallback path that led to one it gave up (`stale`) leads to
   * `to` instead, by the same way (from our socket, or through our own
   * allocation). Falling back to the released address found nobody there.
   */
  retarget(stale: (a: Addr) => boolean, to: Addr): void {
    const back = this.relayPath;
    if (!back || !stale(back)) return;
    this.relayPath = back.relay
      ? { address: to.address, port: to.port, relay: true }
      : { address: to.address, port: to.port };
  }

  /**
   * When a direct path we came to from the relay is declared dead (see
   * FALLBACK_PTOS): undefined while it has no probe timeout outstanding.
   */
  private fallbackAt(s: Session): number | undefined {
    if (!this.relayPath || this.where.isRelayed(s.path) || s.loss.ptoCount < FALLBACK_PTOS)
      return undefined;
    let oldest = s.lastReceived;
    for (const p of s.loss.unacked()) {
      oldest = Math.max(oldest, p.timeSent);
      break;
    }
    return oldest + FALLBACK_SILENCE;
  }

  /**
   * When a relayed session next challenges a direct candidate, or a direct
   * one falls back to the relay (undefined: neither is pending).
   */
  deadline(s: Session): number | undefined {
    const fallback = this.fallbackAt(s);
    if (fallback !== undefined) return fallback;
    if (s.probe || !this.where.isRelayed(s.path)) return undefined;
    return Math.max(this.nextRoundAt, this.holdUntil);
  }

  /**
   * While relayed, keep looking for a direct path (issue 17): one candidate
   * at a time gets a PATH_CHALLENGE (with its retries, below); a round over
   * all of them starts every UPGRADE_PROBE_PAUSE. Both sides do it, so each
   * side's challenges open its own NAT to the other's (hole punching); the
   * first response to come back moves the path (onResponse).
   */
  private upgrade(s: Session, now: number): void {
    if (s.probe || !this.where.isRelayed(s.path)) return;
    this.relayPath = s.path;
    if (now < this.nextRoundAt || now < this.holdUntil) return;
    const direct = this.where.direct();
    let addr: Addr | undefined;
    for (let i = 0; i < direct.length && !addr; i++) {
      const a = direct[(this.nextCandidate + i) % direct.length]!;
      if (!this.where.isRelayed(a)) {
        addr = a;
        this.nextCandidate = (this.nextCandidate + i + 1) % direct.length;
      }
    }
    if (!addr || this.nextCandidate === 0) this.nextRoundAt = now + UPGRADE_PROBE_PAUSE;
    if (!addr) return;
    this.candidate = addr;
    s.probe = { addr, data: this.host.random(PATH_DATA_LENGTH), tries: 0, deadline: now };
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
    // The fallback deadline is one of ours (deadline()): it is met here, as
    // the PTO cannot be relied on to come (see FALLBACK_PTOS).
    this.fallBackIfDead(s, now);
    this.upgrade(s, now);
    if (s.pathResponses.length > 0)
      for (const r of s.pathResponses.splice(0)) this.sendControl(s, now, r.to, true, r.data);
    const probe = s.probe;
    if (!probe || probe.deadline > now) return;
    if (probe.tries >= PATH_CHALLENGE_TRIES) {
      // Never answered: stay where we are (RFC 9000 §8.2.4).
      s.probe = undefined;
      this.candidate = undefined;
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
    // A direct candidate we chose is probed like a dial (ICE's connectivity
    // checks): bounded by the round pause, not by what it sent us.
    const ours = !response && this.candidate !== undefined && sameAddr(to, this.candidate);
    if (!sameAddr(to, s.path) && !ours && !this.spend(to, payloadLength)) return;
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
