/**
 * Loss detection, RFC 9002 §6 and Appendix A, for a single packet-number space (our handshake
 * runs separately, so there are no Initial/Handshake spaces and the session is always
 * "handshake confirmed"): A.7 ack processing with §5.1 RTT sampling, A.10 loss detection by
 * packet (§6.1.1) and time threshold (§6.1.2), the §6.2 probe timeout with its backoff, and
 * §7.6 persistent congestion, feeding the congestion controller (congestion.ts, Appendix B).
 * Sans I/O: callers pass `now` in milliseconds, arm one timer at `deadline()` and call
 * `onTimeout` when it fires. The packets themselves are kept in a SentLog (sentlog.ts).
 *
 * Allocation (issue 16): onAck / onTimeout answer in objects shared by every detector,
 * overwritten by the next call (as Session.open's): read the answer before calling any
 * detector again.
 */

import { NewReno } from './congestion.js';
import { RangeSet } from './rangeset.js';
import { GRANULARITY, RttEstimator } from './rtt.js';
import { ACKED, LIVE, LOST, SentLog, type SentPacket } from './sentlog.js';

export interface AckResult<F> {
  acked: SentPacket<F>[];
  lost: SentPacket<F>[];
  rttUpdated: boolean;
  persistentCongestion: boolean;
}

export interface TimeoutResult<F> {
  lost: SentPacket<F>[];
  /** 0, or the number of ack-eliciting probe packets the caller must send now (§6.2.4). */
  probes: number;
  persistentCongestion: boolean;
}

/** kPersistentCongestionThreshold (§7.6.1). */
const PERSISTENT_CONGESTION_THRESHOLD = 3;
/** §6.2.4: a sender may send up to two probes; two survives a single loss of a probe. */
const PTO_PROBES = 2;
/** Beyond this, 2^pto_count would only overflow toward Infinity; the idle timeout ends it first. */
const MAX_BACKOFF_EXPONENT = 30;
/**
 * Longest backed-off PTO interval unless the caller sets `maxPto` (ours, not RFC 9002's).
 * Doubling without bound puts the next probe past a 45 s idle timeout after a few seconds
 * of silence, so the session dies instead of recovering. 15 s is the keepalive interval:
 * a silent path is probed at least as often as it is kept alive. Sessions use less (1 s).
 */
export const DEFAULT_MAX_PTO = 15_000;
/** How many disjoint ranges of recently lost packet numbers to remember for spurious-loss stats. */
const MAX_LOST_RANGES = 64;

/**
 * onAck's and onTimeout's answers, one each for every detector (see the
 * header): callers read an answer before anything calls a detector again, and
 * a 1,000-peer hub does not hold three objects and three arrays per session.
 */
const ACK_RESULT: AckResult<unknown> = {
  acked: [],
  lost: [],
  rttUpdated: false,
  persistentCongestion: false,
};
const TIMEOUT_RESULT: TimeoutResult<unknown> = { lost: [], probes: 0, persistentCongestion: false };

/** Empties an array that is reused, keeping its backing store (length = 0 would free it). */
function emptyArray(a: unknown[]): void {
  while (a.length > 0) a.pop();
}

/**
 * An open candidate for a persistent-congestion period (§7.6.2): ack-eliciting packets declared
 * lost, starting with one sent at `startTime`, the latest being `lastPn`, with no packet in
 * between acknowledged. `minAckedAbove` is the smallest acknowledged packet number above
 * `lastPn`: a later loss at or beyond it cannot extend the period.
 */
interface CongestionRun {
  startTime: number;
  lastPn: number;
  minAckedAbove: number;
}

/** `packets.some(p => p.ackEliciting)` without a closure per ACK. */
function anyAckEliciting<F>(packets: readonly SentPacket<F>[]): boolean {
  for (let i = 0; i < packets.length; i++) if (packets[i]!.ackEliciting) return true;
  return false;
}

export class LossDetector<F> {
  readonly rtt: RttEstimator;
  readonly cc: NewReno;
  stats: { packetsLost: number; ptoCount: number; spuriousLosses?: number } = {
    packetsLost: 0,
    ptoCount: 0,
    spuriousLosses: 0,
  };

  readonly #maxAckDelay: number;
  readonly #packetThreshold: number;
  readonly #timeThreshold: number;

  readonly #log = new SentLog<F>();

  #largestSent = -1;
  #largestAcked: number | undefined;
  #ptoCount = 0;
  readonly #maxPto: number;
  /** loss_time (A.3): when the earliest pending packet crosses the time threshold. */
  #lossTime: number | undefined;
  #timeOfLastAckEliciting = 0;
  /**
   * When the last PTO expired. The PTO counts from the later of this and the last
   * ack-eliciting send: once `maxPto` caps the interval, doubling no longer moves the
   * deadline, and without this every call before the probes went out was a new expiry.
   */
  #lastPtoTime = Number.NEGATIVE_INFINITY;
  /** first_rtt_sample (A.3): persistent congestion only counts packets sent after it. */
  #firstRttSampleTime: number | undefined;
  #run: CongestionRun | undefined;
  #recentlyLost = new RangeSet();
  /** #detectAndRemoveLost's second answer (a field, not a result object per ACK). */
  #persistentCongestion = false;

  constructor(
    opts: {
      maxAckDelay?: number;
      initialRtt?: number;
      packetThreshold?: number;
      timeThreshold?: number;
      cc?: NewReno;
      /** Upper bound on one backed-off PTO interval, ms (default DEFAULT_MAX_PTO). */
      maxPto?: number;
    } = {},
  ) {
    this.#maxPto = opts.maxPto ?? DEFAULT_MAX_PTO;
    // RFC 9000 §18.2: max_ack_delay defaults to 25 ms.
    this.#maxAckDelay = opts.maxAckDelay ?? 25;
    // §6.1.1 kPacketThreshold = 3; §6.1.2 kTimeThreshold = 9/8.
    this.#packetThreshold = opts.packetThreshold ?? 3;
    this.#timeThreshold = opts.timeThreshold ?? 9 / 8;
    this.rtt = new RttEstimator(opts.initialRtt);
    this.cc = opts.cc ?? new NewReno();
  }

  /** Largest packet number passed to `onPacketSent`, -1 before the first. */
  get largestSent(): number {
    return this.#largestSent;
  }

  /** largest_acked_packet (A.3), only counting packet numbers we actually sent. */
  get largestAcked(): number | undefined {
    return this.#largestAcked;
  }

  /** Consecutive PTO expirations without an ACK (the backoff exponent, §6.2.1). */
  get ptoCount(): number {
    return this.#ptoCount;
  }

  /** Tracked packets that count toward bytes in flight and are neither acked nor lost. */
  get inFlightCount(): number {
    return this.#log.inFlightCount;
  }

  /** A.5. Packet numbers must strictly increase and `timeSent` must not go backwards. */
  onPacketSent(p: SentPacket<F>): void {
    if (!Number.isSafeInteger(p.pn) || p.pn <= this.#largestSent) {
      throw new RangeError(`packet number ${p.pn} not above ${this.#largestSent}`);
    }
    this.#largestSent = p.pn;
    this.#log.append(p);
    if (p.inFlight) this.cc.onPacketSent(p.size);
    if (p.ackEliciting) this.#timeOfLastAckEliciting = p.timeSent;
  }

  /**
   * A.7. `ranges` are acknowledged [start, end) ranges (any order; the wire gives them
   * descending), `ackDelay` is the peer's reported delay in ms. The answer is shared (see the
   * header), overwritten by the next onAck of any detector.
   */
  onAck(ranges: Iterable<[number, number]>, ackDelay: number, now: number): AckResult<F> {
    const result = ACK_RESULT as AckResult<F>;
    const acked = result.acked;
    emptyArray(acked);
    emptyArray(result.lost);
    result.rttUpdated = false;
    result.persistentCongestion = false;
    let largestInFrame = -1;
    let sorted = true;
    for (const [rawStart, rawEnd] of ranges) {
      // Packet numbers we never sent cannot be acknowledged; ignore them (the caller may treat
      // an ACK above `largestSent` as a protocol violation).
      const start = Math.max(0, rawStart);
      const end = Math.min(rawEnd, this.#largestSent + 1);
      if (!(start < end)) continue;
      if (end - 1 > largestInFrame) largestInFrame = end - 1;
      this.#noteSpurious(start, end);
      // §7.6.2: an acknowledgment anywhere above the open run's last loss ends that run.
      const run = this.#run;
      if (run !== undefined && end - 1 > run.lastPn) {
        run.minAckedAbove = Math.min(run.minAckedAbove, Math.max(start, run.lastPn + 1));
      }
      const log = this.#log;
      const packets = log.packets;
      const states = log.states;
      const tail = log.tail;
      const before = acked.length;
      for (let i = log.lowerBound(start); i < tail; i++) {
        const p = packets[i]!;
        if (p.pn >= end) break;
        if (states[i] !== LIVE) continue;
        log.settle(i, ACKED);
        acked.push(p);
      }
      const prev = acked[before - 1];
      if (prev !== undefined && acked.length > before && acked[before]!.pn < prev.pn) {
        sorted = false;
      }
    }
    if (largestInFrame >= 0 && (this.#largestAcked ?? -1) < largestInFrame) {
      this.#largestAcked = largestInFrame;
    }
    // A.7: an ACK that acknowledges nothing new changes nothing else (no RTT sample, no loss
    // detection, no PTO reset).
    if (acked.length === 0) return result;
    // Ranges arrive descending; callers want oldest first.
    if (!sorted) acked.sort((a, b) => a.pn - b.pn);

    // §5.1: sample RTT only when the largest acknowledged is newly acknowledged (so the sample
    // measures this ACK's delay) and something ack-eliciting was newly acknowledged (otherwise
    // the peer may have delayed the ACK arbitrarily).
    let rttUpdated = false;
    const newest = acked[acked.length - 1]!;
    if (newest.pn === largestInFrame && anyAckEliciting(acked)) {
      this.rtt.update(now - newest.timeSent, ackDelay, this.#maxAckDelay);
      this.cc.onRttSample(now - newest.timeSent, newest.timeSent, now);
      if (this.#firstRttSampleTime === undefined && this.rtt.hasSample) {
        this.#firstRttSampleTime = now;
      }
      rttUpdated = this.rtt.hasSample;
    }

    // A.7: losses are processed before acknowledgments so that acks of packets sent before a
    // new recovery period do not grow the window (B.5, B.6).
    const lost = this.#detectAndRemoveLost(now, result.lost);
    const persistentCongestion = this.#persistentCongestion;
    this.#onLost(lost, persistentCongestion, now);
    for (let i = 0; i < acked.length; i++) {
      const p = acked[i]!;
      if (p.inFlight) this.cc.onPacketAcked(p.size, p.timeSent, now);
    }
    // A.7: a peer that acknowledges is alive; the PTO backoff restarts (we have no address
    // validation concerns: the handshake already completed).
    this.#ptoCount = 0;
    this.#log.compact();
    result.rttUpdated = rttUpdated;
    result.persistentCongestion = persistentCongestion;
    return result;
  }

  /** When the last ack-eliciting packet was sent (0: none yet). */
  get lastAckElicitingSent(): number {
    return this.#timeOfLastAckEliciting;
  }

  /**
   * A.8: the loss detection timer. The time-threshold loss time wins if set; otherwise the PTO
   * (§6.2.1) counted from the last ack-eliciting packet sent, with exponential backoff; undefined
   * when nothing ack-eliciting is outstanding.
   */
  deadline(): number | undefined {
    if (this.#lossTime !== undefined) return this.#lossTime;
    if (this.#log.ackElicitingOutstanding === 0) return undefined;
    const backoff = 2 ** Math.min(this.#ptoCount, MAX_BACKOFF_EXPONENT);
    // §6.2.1: max_ack_delay is included (and backed off) for the application data space.
    // The cap is ours, not RFC 9002's: after a long blackout the next probe
    // must not be many seconds away, or recovery lags the network by that much.
    const interval = Math.min((this.rtt.ptoBase() + this.#maxAckDelay) * backoff, this.#maxPto);
    return Math.max(this.#timeOfLastAckEliciting, this.#lastPtoTime) + interval;
  }

  /**
   * A.9. Does nothing if called before `deadline()`. The answer is shared (see the header),
   * overwritten by the next onTimeout of any detector.
   */
  onTimeout(now: number): TimeoutResult<F> {
    const result = TIMEOUT_RESULT as TimeoutResult<F>;
    emptyArray(result.lost);
    result.probes = 0;
    result.persistentCongestion = false;
    const deadline = this.deadline();
    if (deadline === undefined || now < deadline) return result;
    if (this.#lossTime !== undefined) {
      // §6.1.2: time-threshold losses; this is not a PTO, so no probes and no backoff.
      const lost = this.#detectAndRemoveLost(now, result.lost);
      const persistentCongestion = this.#persistentCongestion;
      this.#onLost(lost, persistentCongestion, now);
      this.#log.compact();
      result.persistentCongestion = persistentCongestion;
      return result;
    }
    // §6.2.4: a PTO declares nothing lost; it sends probes and backs off the next PTO.
    this.#ptoCount++;
    this.stats.ptoCount++;
    this.#lastPtoTime = now;
    result.probes = PTO_PROBES;
    return result;
  }

  /** Outstanding ack-eliciting packets, oldest first. Do not call other methods mid-iteration. */
  *unacked(): Iterable<SentPacket<F>> {
    const log = this.#log;
    const packets = log.packets;
    const states = log.states;
    for (let i = log.head; i < log.tail; i++) {
      const p = packets[i]!;
      if (states[i] === LIVE && p.ackEliciting) yield p;
    }
  }

  /**
   * §6.4 in spirit: the state these packets were sent under is gone, so they are neither acked
   * nor lost; they leave bytes in flight (B.9) and are returned oldest first for requeueing.
   * RTT estimates, the congestion window and packet numbering carry over.
   */
  discardAll(): SentPacket<F>[] {
    const out: SentPacket<F>[] = [];
    const log = this.#log;
    const packets = log.packets;
    for (let i = log.head; i < log.tail; i++) {
      if (log.states[i] !== LIVE) continue;
      const p = packets[i]!;
      if (p.inFlight) this.cc.removeFromFlight(p.size);
      out.push(p);
    }
    log.clear();
    this.#lossTime = undefined;
    this.#ptoCount = 0;
    this.#run = undefined;
    this.#recentlyLost.clear();
    return out;
  }

  /**
   * A.10 DetectAndRemoveLostPackets: a packet at or below the largest acknowledged is lost once
   * kPacketThreshold later packets are acknowledged (§6.1.1) or it was sent more than
   * kTimeThreshold * max(smoothed_rtt, latest_rtt) ago (§6.1.2); otherwise it sets the loss time.
   */
  #detectAndRemoveLost(now: number, lost: SentPacket<F>[]): SentPacket<F>[] {
    this.#lossTime = undefined;
    let persistentCongestion = false;
    this.#persistentCongestion = false;
    const largestAcked = this.#largestAcked;
    if (largestAcked === undefined) return lost;
    const rtt = this.rtt;
    const lossDelay = Math.max(
      this.#timeThreshold * Math.max(rtt.latestRtt, rtt.smoothedRtt),
      GRANULARITY,
    );
    // §7.6.1: (smoothed_rtt + max(4 * rttvar, kGranularity) + max_ack_delay) * threshold.
    const pcDuration = (rtt.ptoBase() + this.#maxAckDelay) * PERSISTENT_CONGESTION_THRESHOLD;
    const log = this.#log;
    const packets = log.packets;
    const states = log.states;
    for (let i = log.head; i < log.tail; i++) {
      const p = packets[i]!;
      if (p.pn > largestAcked) break;
      const state = states[i];
      if (state === ACKED) {
        const run = this.#run;
        if (run !== undefined && p.pn > run.lastPn && p.pn < run.minAckedAbove) {
          run.minAckedAbove = p.pn;
        }
        continue;
      }
      if (state !== LIVE) continue;
      // Compare as `timeSent + lossDelay <= now`, the same sum the loss time is set to, so a
      // timer fired exactly at the loss time always finds the packet lost (no float drift).
      const lossAt = p.timeSent + lossDelay;
      if (lossAt <= now || largestAcked >= p.pn + this.#packetThreshold) {
        log.settle(i, LOST);
        lost.push(p);
        if (!p.pmtuProbe && this.#extendRun(p, pcDuration)) persistentCongestion = true;
      } else if (this.#lossTime === undefined || lossAt < this.#lossTime) {
        this.#lossTime = lossAt;
      }
    }
    this.#persistentCongestion = persistentCongestion;
    return lost;
  }

  /**
   * §7.6.2: persistent congestion needs two ack-eliciting packets declared lost, both sent after
   * the first RTT sample, more than the persistent congestion duration apart, with nothing sent
   * between them acknowledged. Losses are declared in packet-number order, so one open run is
   * enough to find such a pair. Returns true when the run establishes persistent congestion.
   */
  #extendRun(p: SentPacket<F>, pcDuration: number): boolean {
    const firstSample = this.#firstRttSampleTime;
    if (!p.ackEliciting || firstSample === undefined || p.timeSent <= firstSample) return false;
    const run = this.#run;
    if (run === undefined || p.pn >= run.minAckedAbove) {
      this.#run = { startTime: p.timeSent, lastPn: p.pn, minAckedAbove: Number.POSITIVE_INFINITY };
      return false;
    }
    run.lastPn = p.pn;
    if (p.timeSent - run.startTime > pcDuration) {
      // Declared once; later losses start looking for a fresh period.
      this.#run = undefined;
      return true;
    }
    return false;
  }

  /** A.10 OnPacketsLost / B.8: feed the congestion controller and the stats. */
  #onLost(lost: SentPacket<F>[], persistentCongestion: boolean, now: number): void {
    if (lost.length === 0) return;
    let lostBytes = 0;
    let newestLostTime = Number.NEGATIVE_INFINITY;
    let counted = 0;
    for (let i = 0; i < lost.length; i++) {
      const p = lost[i]!;
      if (p.pmtuProbe) {
        if (p.inFlight) this.cc.removeFromFlight(p.size);
        continue;
      }
      counted++;
      this.#recentlyLost.insert(p.pn, p.pn + 1);
      if (!p.inFlight) continue;
      lostBytes += p.size;
      if (p.timeSent > newestLostTime) newestLostTime = p.timeSent;
    }
    this.stats.packetsLost += counted;
    this.#boundRecentlyLost();
    // B.8: only losses of in-flight packets are a congestion signal.
    if (lostBytes > 0) this.cc.onPacketsLost(lostBytes, newestLostTime, now);
    if (persistentCongestion) this.cc.onPersistentCongestion();
  }

  /** A lost packet acknowledged later was a spurious loss (reordering or a late ACK). */
  #noteSpurious(start: number, end: number): void {
    const set = this.#recentlyLost;
    const min = set.min;
    const max = set.max;
    if (min === undefined || max === undefined || start > max || end <= min) return;
    const hits: [number, number][] = [];
    let count = 0;
    for (const [s, e] of set.ranges()) {
      if (e <= start) continue;
      if (s >= end) break;
      const a = Math.max(s, start);
      const b = Math.min(e, end);
      hits.push([a, b]);
      count += b - a;
    }
    for (const [a, b] of hits) set.remove(a, b);
    this.stats.spuriousLosses = (this.stats.spuriousLosses ?? 0) + count;
  }

  #boundRecentlyLost(): void {
    const set = this.#recentlyLost;
    let excess = set.size - MAX_LOST_RANGES;
    if (excess <= 0) return;
    for (const [s] of set.ranges()) {
      if (excess-- === 0) {
        set.removeBelow(s);
        return;
      }
    }
  }
}
