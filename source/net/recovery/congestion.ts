/**
 * Congestion control: NewReno as specified by RFC 9002 §7 and Appendix B, plus a token-bucket
 * pacer (§7.7). Sans I/O: every method takes the current time as a number of milliseconds.
 * All sizes are bytes of UDP payload (what we count against the window).
 */

import { BASE_PLPMTU } from '../wire/packet.js';

/** kLossReductionFactor (§7.3.2, B.1). */
const LOSS_REDUCTION_FACTOR = 0.5;

/** RFC 9406 §4.3: HyStart++ constants (ms, samples). */
const MIN_RTT_THRESH = 4;
const MAX_RTT_THRESH = 16;
const MIN_RTT_DIVISOR = 8;
const N_RTT_SAMPLE = 8;

export class NewReno {
  /** (Set by the constructor; a number from the start, see the note in rtt.ts.) */
  congestionWindow = 0;
  bytesInFlight = 0;
  /** Slow-start threshold; Infinity until the first congestion event (§7.3.1). */
  ssthresh = Number.POSITIVE_INFINITY;
  /** Times a recovery period was entered (for stats). */
  recoveryCount = 0;

  readonly #maxDatagramSize: number;
  readonly #minimumWindow: number;
  /**
   * congestion_recovery_start_time (B.2). -Infinity rather than the RFC's 0 because our clock may
   * legitimately start at 0; packets sent at or before this time belong to the last recovery
   * period and neither grow the window nor trigger another reduction (§7.3.2, B.6).
   */
  #recoveryStartTime = Number.NEGATIVE_INFINITY;
  /** True from a congestion event until a packet sent after it is acknowledged (§7.3.2). */
  #inRecovery = false;
  #appLimited = false;
  /** Bytes acknowledged in congestion avoidance since the window last grew (§7.3.3). */
  #avoidanceAcked = 0;
  /** Times HyStart++ ended the initial slow start on rising delay (for stats). */
  slowStartDelayExits = 0;
  /** HyStart++ rounds (RFC 9406 §4.2): a round ends when a packet sent after it began is acked. */
  #roundStart = Number.NEGATIVE_INFINITY;
  #lastRoundMinRtt = Number.POSITIVE_INFINITY;
  #currentRoundMinRtt = Number.POSITIVE_INFINITY;
  #rttSamples = 0;

  constructor(
    opts: {
      maxDatagramSize?: number;
      initialWindowPackets?: number;
      minimumWindowPackets?: number;
    } = {},
  ) {
    const mds = opts.maxDatagramSize ?? BASE_PLPMTU;
    this.#maxDatagramSize = mds;
    // §7.2: initial window of 10 datagrams (our datagrams are small enough that the 14720-byte
    // cap never binds), minimum window of 2 datagrams.
    this.congestionWindow = (opts.initialWindowPackets ?? 10) * mds;
    this.#minimumWindow = (opts.minimumWindowPackets ?? 2) * mds;
  }

  get state(): 'slow-start' | 'recovery' | 'congestion-avoidance' {
    if (this.#inRecovery) return 'recovery';
    return this.congestionWindow < this.ssthresh ? 'slow-start' : 'congestion-avoidance';
  }

  canSend(bytes: number): boolean {
    return this.bytesInFlight + bytes <= this.congestionWindow;
  }

  /** B.4: only packets that count as in flight (ack-eliciting or padding) are passed here. */
  onPacketSent(bytes: number): void {
    this.bytesInFlight += bytes;
  }

  /**
   * RFC 9406 (HyStart++), during the initial slow start only: a new RTT sample, from an ACK
   * whose largest newly acknowledged packet was sent at `largestAckedSent`. When a round's
   * minimum RTT rises by a clamped eighth over the previous round's, a queue is building
   * (on a fast path, in the receiver's socket buffer, which then drops whole bursts): leave
   * slow start before the losses do it. Simplified: no Conservative Slow Start phase (§4.2
   * CSS) — congestion avoidance follows directly, which only grows more cautiously.
   */
  onRttSample(latestRtt: number, largestAckedSent: number, now: number): void {
    if (this.ssthresh !== Number.POSITIVE_INFINITY || this.#inRecovery) return;
    if (largestAckedSent > this.#roundStart) {
      this.#lastRoundMinRtt = this.#currentRoundMinRtt;
      this.#currentRoundMinRtt = Number.POSITIVE_INFINITY;
      this.#rttSamples = 0;
      this.#roundStart = now;
    }
    if (latestRtt < this.#currentRoundMinRtt) this.#currentRoundMinRtt = latestRtt;
    this.#rttSamples++;
    const last = this.#lastRoundMinRtt;
    if (this.#rttSamples < N_RTT_SAMPLE || last === Number.POSITIVE_INFINITY) return;
    const thresh = Math.min(MAX_RTT_THRESH, Math.max(MIN_RTT_THRESH, last / MIN_RTT_DIVISOR));
    if (this.#currentRoundMinRtt >= last + thresh) {
      this.ssthresh = this.congestionWindow;
      this.slowStartDelayExits++;
    }
  }

  /** B.5: an in-flight packet was acknowledged. */
  onPacketAcked(bytes: number, timeSent: number, _now: number): void {
    this.#dropFromFlight(bytes);
    // §7.3.2: the window does not grow for packets sent before recovery started.
    if (timeSent <= this.#recoveryStartTime) return;
    // §7.3.2: a packet sent during recovery being acknowledged ends the recovery period.
    this.#inRecovery = false;
    // §7.8: when the sender is not using its window, acks say nothing about the path's capacity.
    if (this.#appLimited) return;
    if (this.congestionWindow < this.ssthresh) {
      // §7.3.1: slow start grows the window by the number of bytes acknowledged.
      this.congestionWindow += bytes;
      return;
    }
    // §7.3.3: at most one max datagram per congestion window acknowledged. Counting bytes
    // (rather than the B.5 fractional increment) keeps the window an integer.
    this.#avoidanceAcked += bytes;
    while (this.#avoidanceAcked >= this.congestionWindow) {
      this.#avoidanceAcked -= this.congestionWindow;
      this.congestionWindow += this.#maxDatagramSize;
    }
  }

  /**
   * B.8 / B.6: in-flight packets totalling `lostBytes` were declared lost; the newest of them was
   * sent at `largestLostTimeSent`.
   */
  onPacketsLost(lostBytes: number, largestLostTimeSent: number, now: number): void {
    this.#dropFromFlight(lostBytes);
    if (lostBytes <= 0) return;
    // B.6: losses of packets sent before the current recovery started belong to the same
    // congestion event, so the window is reduced at most once per round trip.
    if (largestLostTimeSent <= this.#recoveryStartTime) return;
    this.#recoveryStartTime = now;
    this.#inRecovery = true;
    this.recoveryCount++;
    // §7.3.2: halve, but never below the minimum window (§7.2).
    this.ssthresh = Math.max(
      Math.floor(this.congestionWindow * LOSS_REDUCTION_FACTOR),
      this.#minimumWindow,
    );
    this.congestionWindow = this.ssthresh;
    this.#avoidanceAcked = 0;
  }

  /**
   * §7.6.2 / B.8: collapse to the minimum window. Recovery is cleared so the window can grow again
   * in slow start (ssthresh keeps the value set by the congestion event that preceded this).
   */
  onPersistentCongestion(): void {
    this.congestionWindow = this.#minimumWindow;
    this.#recoveryStartTime = Number.NEGATIVE_INFINITY;
    this.#inRecovery = false;
    this.#avoidanceAcked = 0;
  }

  /** B.9: a packet left the network's books without being acked or lost (state discarded). */
  removeFromFlight(bytes: number): void {
    this.#dropFromFlight(bytes);
  }

  /** §7.8: set while the application (or flow control) leaves the window under-used. */
  setAppLimited(limited: boolean): void {
    this.#appLimited = limited;
  }

  #dropFromFlight(bytes: number): void {
    // Clamp: a double removal is a caller bug, but a negative in-flight count would wedge canSend
    // open forever, which is worse than the bug itself.
    this.bytesInFlight = Math.max(0, this.bytesInFlight - bytes);
  }
}

/** §7.7: pace at N = 1.25 times cwnd/srtt so pacing alone never limits the window's throughput. */
const PACING_GAIN = 1.25;
/** Burst allowance, in datagrams (§7.7 suggests limiting bursts to the initial window). */
const BURST_DATAGRAMS = 10;
/**
 * Real timers cannot wake more often than about once a millisecond (and often later). The bucket
 * therefore holds at least this much time's worth of sending at the pacing rate, so a timer that
 * fires late still finds enough tokens and the pacer never becomes the bottleneck; with a tiny
 * srtt (loopback) this makes the burst a full congestion window, i.e. effectively no pacing.
 */
const TIMER_GRANULARITY_MS = 2;
/** Slack for floating-point error so `nextSendTime` at its own answer says "now". */
const EPSILON_BYTES = 1e-6;

/**
 * Token-bucket pacer (§7.7): rate = 1.25 * cwnd / smoothedRtt bytes per ms, burst up to 10
 * datagrams (more when the rate covers more than that in a timer tick, never more than a window).
 * A wait is never longer than `bytes` at the current rate (for one full datagram at the minimum
 * window of 2 datagrams that is 0.4 * srtt), because the bucket never goes negative.
 */
export class Pacer {
  readonly #maxDatagramSize: number;
  #tokens = 0;
  /**
   * When the bucket was last refilled, once #started. A flag beside a
   * number rather than `number | undefined`: a field that may hold
   * undefined is stored tagged, and each time written per packet was a new
   * HeapNumber (see the note in rtt.ts).
   */
  #lastTime = 0;
  #started = false;

  constructor(maxDatagramSize: number = BASE_PLPMTU) {
    this.#maxDatagramSize = maxDatagramSize;
  }

  /** Earliest time `bytes` may be sent given cwnd and srtt; returns `now` if it may go now. */
  nextSendTime(bytes: number, cwnd: number, smoothedRtt: number, now: number): number {
    const rate = pacingRate(cwnd, smoothedRtt);
    if (rate === undefined) return now;
    this.#refill(rate, cwnd, now);
    const deficit = bytes - this.#tokens;
    if (deficit <= EPSILON_BYTES) return now;
    return now + deficit / rate;
  }

  onPacketSent(bytes: number, cwnd: number, smoothedRtt: number, now: number): void {
    const rate = pacingRate(cwnd, smoothedRtt);
    if (rate === undefined) return;
    this.#refill(rate, cwnd, now);
    // Never below zero: a packet sent against the pacer's advice (e.g. a PTO probe, which §7.5
    // says must not be blocked) should not push every later packet further back.
    this.#tokens = Math.max(0, this.#tokens - bytes);
  }

  #capacity(rate: number, cwnd: number): number {
    return Math.max(
      BURST_DATAGRAMS * this.#maxDatagramSize,
      Math.min(cwnd, rate * TIMER_GRANULARITY_MS),
    );
  }

  #refill(rate: number, cwnd: number, now: number): void {
    const capacity = this.#capacity(rate, cwnd);
    if (!this.#started) {
      // A fresh sender may burst (up to the initial window, §7.7).
      this.#tokens = capacity;
    } else if (now > this.#lastTime) {
      this.#tokens = Math.min(capacity, this.#tokens + (now - this.#lastTime) * rate);
    } else {
      this.#tokens = Math.min(capacity, this.#tokens);
    }
    // Time going backwards (a caller bug) must not rewind the bucket's clock.
    if (!this.#started || now > this.#lastTime) {
      this.#lastTime = now;
      this.#started = true;
    }
  }
}

/** Bytes per ms, or undefined when there is nothing sensible to pace by (no pacing then). */
function pacingRate(cwnd: number, smoothedRtt: number): number | undefined {
  if (!(cwnd > 0) || !(smoothedRtt > 0) || !Number.isFinite(smoothedRtt)) return undefined;
  const rate = (PACING_GAIN * cwnd) / smoothedRtt;
  return Number.isFinite(rate) ? rate : undefined;
}
