/**
 * Round-trip time estimation, RFC 9002 §5. All values are milliseconds (fractional allowed).
 */

/** RFC 9002 §6.2.2 recommends 333 ms before any sample exists. */
export const INITIAL_RTT = 333;
/** kGranularity (§6.1.2): the timer granularity we assume; keeps PTO and loss delay above zero. */
export const GRANULARITY = 1;
/**
 * Most a sample may exceed min_rtt by, ms. Not RFC 9002's: a receiver whose
 * event loop was busy for seconds (a datagram flood) reads ACKs late, and
 * those samples measure its backlog, not the path. Node cannot read the
 * kernel's receive timestamp, so we bound the damage instead: a sample counts
 * as at most min_rtt + 1 s. 1 s is the longest wait between probes (MAX_PTO
 * in conn/session.ts), so no timer built on the estimate (loss delay, PTO,
 * persistent congestion) can stretch much past what the probe cap allows,
 * while genuine queueing (bufferbloat adds hundreds of ms) is followed as is.
 */
export const MAX_RTT_EXCESS = 1000;
/** 1 / the EWMA gain of smoothed_rtt (§5.3: 1/8). */
const SRTT_WINDOW = 8;

export class RttEstimator {
  /** Most recent raw sample (§5.1), 0 until the first sample. */
  latestRtt = 0;
  /*
   * Every numeric field written per packet or per ACK starts as a number,
   * here rather than only in the constructor: a field declared without a
   * value is defined as undefined first (ES2022 class fields), which makes
   * V8 store it tagged, and every double written to it then allocates a
   * 16-byte HeapNumber (issue 16; the same applies in congestion.ts).
   */
  smoothedRtt = 0;
  rttVar = 0;
  /** Minimum raw sample over the connection (§5.2), 0 until the first sample (as in §A.4). */
  minRtt = 0;
  hasSample = false;
  /** Samples taken so far (update() calls that counted). */
  samples = 0;
  /** The first SRTT_WINDOW samples, while they are taken (see update); then dropped. */
  #firstSamples: number[] | undefined = [];

  readonly #maxExcess: number;

  constructor(initialRtt: number = INITIAL_RTT, maxExcess: number = MAX_RTT_EXCESS) {
    this.#maxExcess = maxExcess;
    // §5.3 / §A.4: before the first sample, smoothed_rtt = kInitialRtt, rttvar = kInitialRtt / 2.
    this.smoothedRtt = initialRtt;
    this.rttVar = initialRtt / 2;
  }

  /**
   * The handshake's round trip, used until the first acknowledgement gives a
   * real sample. It includes the responder's Noise work (three DH) and any
   * event-loop delay on either side, which no ack delay corrects for; taken
   * as the first sample (§5.3) it would set smoothed_rtt several times too
   * high and take dozens of samples to decay, on an idle link minutes. So it
   * shapes the PTO like kInitialRtt does (§6.2.2) and the first
   * acknowledged packet initialises the estimate as §5.3 says.
   */
  provisional(rawRtt: number): void {
    if (this.hasSample || !Number.isFinite(rawRtt) || rawRtt <= 0) return;
    this.latestRtt = rawRtt;
    this.smoothedRtt = rawRtt;
    this.rttVar = rawRtt / 2;
  }

  /**
   * Feed one RTT sample (§5.3). `ackDelay` is the peer's reported delay already converted to ms;
   * `maxAckDelay` is the peer's max_ack_delay. Samples that are negative or not finite (a caller
   * bug or a clock step) are ignored rather than poisoning the estimate; samples above
   * min_rtt + MAX_RTT_EXCESS count as that much (latest_rtt too, so the loss delay is bounded).
   */
  update(rawRtt: number, ackDelay: number, maxAckDelay: number): void {
    if (!Number.isFinite(rawRtt) || rawRtt < 0) return;
    const latestRtt = this.hasSample
      ? Math.min(rawRtt, Math.min(this.minRtt, rawRtt) + this.#maxExcess)
      : rawRtt;
    this.latestRtt = latestRtt;
    this.samples++;
    if (!this.hasSample) {
      // §5.3: the first sample initialises everything and ignores ack delay.
      this.hasSample = true;
      this.minRtt = latestRtt;
      this.smoothedRtt = latestRtt;
      this.rttVar = latestRtt / 2;
      this.#firstSamples?.push(latestRtt);
      return;
    }
    // §5.2: min_rtt uses the raw sample, never adjusted for ack delay.
    if (latestRtt < this.minRtt) this.minRtt = latestRtt;
    // §5.3: our handshake is separate, so the session is always "handshake confirmed" and the
    // peer's reported delay is capped at its max_ack_delay (a peer cannot inflate it further).
    let delay = Number.isFinite(ackDelay) && ackDelay > 0 ? ackDelay : 0;
    if (delay > maxAckDelay) delay = Math.max(0, maxAckDelay);
    // §5.3: subtract ack delay only if the result does not drop below min_rtt; otherwise the
    // peer's delay report (or timer skew) would make the path look faster than it ever was.
    const adjusted = latestRtt >= this.minRtt + delay ? latestRtt - delay : latestRtt;
    // §5.3 / §A.7: rttvar uses the previous smoothed_rtt, so update it first.
    this.rttVar = 0.75 * this.rttVar + 0.25 * Math.abs(this.smoothedRtt - adjusted);
    this.smoothedRtt = this.#smooth(adjusted);
    // The first sample could not be clamped (it defines min_rtt); if it was the stalled one,
    // the average would need dozens of samples to come down: hold it to the same bound.
    this.smoothedRtt = Math.min(this.smoothedRtt, this.minRtt + this.#maxExcess);
  }

  /**
   * smoothed_rtt after `adjusted`. Not RFC 9002's 1/8 gain from the second
   * sample on: until SRTT_WINDOW samples exist, srtt is their median. §5.3
   * lets the first sample weigh 7/8 after the second and 1/3 after the
   * ninth; a session's first exchanges are its slowest (cold code at both
   * ends: 4-25 ms beside 1 ms on loopback), and on an idle link, sampled by
   * keepalives, the RTT column showed them for minutes. A median of the first
   * eight passes over a few such outliers where a mean carries each at 1/8.
   * From then on, §5.3 exactly. rttvar follows §5.3 throughout, so the PTO
   * still allows for the outliers.
   */
  #smooth(adjusted: number): number {
    const first = this.#firstSamples;
    if (!first) return 0.875 * this.smoothedRtt + 0.125 * adjusted;
    first.push(adjusted);
    if (first.length >= SRTT_WINDOW) this.#firstSamples = undefined;
    const sorted = [...first].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  }

  /** §6.2.1: smoothed_rtt + max(4 * rttvar, kGranularity); callers add max_ack_delay. */
  ptoBase(): number {
    return this.smoothedRtt + Math.max(4 * this.rttVar, GRANULARITY);
  }
}
