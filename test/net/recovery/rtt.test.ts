import { describe, expect, it } from 'vitest';
import {
  GRANULARITY,
  INITIAL_RTT,
  MAX_RTT_EXCESS,
  RttEstimator,
} from '../../../source/net/recovery/rtt.js';

describe('RttEstimator (RFC 9002 §5)', () => {
  it('starts from the initial RTT with rttvar = initial / 2', () => {
    const r = new RttEstimator();
    expect(r.hasSample).toBe(false);
    expect(r.smoothedRtt).toBe(INITIAL_RTT);
    expect(r.rttVar).toBe(INITIAL_RTT / 2);
    expect(r.ptoBase()).toBe(INITIAL_RTT + 4 * (INITIAL_RTT / 2));
    expect(new RttEstimator(100).smoothedRtt).toBe(100);
  });

  it('follows the §5.3 formulas on a worked sequence', () => {
    const r = new RttEstimator();

    // First sample: srtt = sample, rttvar = sample / 2, min = sample; ack delay ignored.
    r.update(100, 10, 25);
    expect(r.hasSample).toBe(true);
    expect([r.latestRtt, r.smoothedRtt, r.rttVar, r.minRtt]).toEqual([100, 100, 50, 100]);

    // 140 >= min 100 + delay 20, so the delay is subtracted: adjusted = 120.
    // rttvar = 3/4 * 50 + 1/4 * |100 - 120| = 42.5; srtt = the median of 100 and 120
    // (until 8 samples exist srtt is their median, not §5.3's 1/8 gain: see below).
    r.update(140, 20, 25);
    expect(r.rttVar).toBeCloseTo(42.5, 10);
    expect(r.smoothedRtt).toBeCloseTo(110, 10);
    expect(r.minRtt).toBe(100);

    // 105 < min 100 + delay 10: subtracting would undercut min_rtt, so adjusted = 105.
    // rttvar = 3/4 * 42.5 + 1/4 * 5 = 33.125; srtt = the median of 100, 120 and 105.
    r.update(105, 10, 25);
    expect(r.rttVar).toBeCloseTo(33.125, 10);
    expect(r.smoothedRtt).toBe(105);

    // A new minimum (raw sample, never delay-adjusted); the 50 ms delay is capped at 25 and
    // still cannot be subtracted (80 < 80 + 25).
    r.update(80, 50, 25);
    expect(r.minRtt).toBe(80);
    expect(r.latestRtt).toBe(80);
    expect(r.rttVar).toBeCloseTo(0.75 * 33.125 + 0.25 * (105 - 80), 10);
    expect(r.smoothedRtt).toBe((100 + 105) / 2);
  });

  it('takes the median of the first eight samples, then weighs each new one 1/8 (§5.3)', () => {
    // A session's first exchanges are its slowest (cold code at both ends);
    // an idle link samples once per keepalive, so §5.3's 7/8 weight on the
    // first showed a 20 ms loopback RTT for minutes (chat-truth issue).
    const r = new RttEstimator();
    r.update(20, 0, 25);
    r.update(9, 0, 25);
    for (let i = 0; i < 4; i++) r.update(1, 0, 25);
    expect(r.smoothedRtt).toBe(1);
    r.update(2, 0, 25);
    r.update(3, 0, 25);
    expect(r.samples).toBe(8);
    // Sorted: 1 1 1 1 2 3 9 20.
    expect(r.smoothedRtt).toBe(1.5);
    r.update(9, 0, 25);
    expect(r.smoothedRtt).toBeCloseTo(0.875 * 1.5 + 0.125 * 9, 10);
    r.update(20, 0, 25);
    expect(r.smoothedRtt).toBeCloseTo(0.875 * (0.875 * 1.5 + 0.125 * 9) + 0.125 * 20, 10);
  });

  it('caps the reported ack delay at max_ack_delay', () => {
    const r = new RttEstimator();
    r.update(50, 0, 25);
    // Delay 100 is capped at 25: adjusted = 175, not 100 (srtt: the median of two samples).
    r.update(200, 100, 25);
    expect(r.smoothedRtt).toBeCloseTo((50 + 175) / 2, 10);
    expect(r.rttVar).toBeCloseTo(0.75 * 25 + 0.25 * 125, 10);
  });

  it('keeps the PTO base at least kGranularity above srtt', () => {
    const r = new RttEstimator();
    r.update(0.1, 0, 25);
    for (let i = 0; i < 50; i++) r.update(0.1, 0, 25);
    expect(r.ptoBase()).toBeCloseTo(0.1 + GRANULARITY, 6);
  });

  it('ignores negative or non-finite samples', () => {
    const r = new RttEstimator();
    r.update(-5, 0, 25);
    r.update(Number.NaN, 0, 25);
    expect(r.hasSample).toBe(false);
    expect(r.smoothedRtt).toBe(INITIAL_RTT);
  });

  it('limits a sample to min_rtt + MAX_RTT_EXCESS: a stalled event loop cannot inflate the estimate for minutes', () => {
    // A receiver whose loop was busy for seconds (a flood) reads ACKs late; the
    // samples measure its backlog, not the path. Unclamped, eight 8 s samples
    // left srtt above 5 s, and a side that rarely sends anything ack-eliciting
    // keeps such an estimate for minutes.
    const r = new RttEstimator();
    r.update(10, 0, 5);
    for (let i = 0; i < 8; i++) r.update(8000, 0, 5);
    expect(r.latestRtt).toBe(10 + MAX_RTT_EXCESS);
    expect(r.smoothedRtt).toBeLessThanOrEqual(10 + MAX_RTT_EXCESS);
    expect(r.minRtt).toBe(10);
    // The path still speaks for itself as soon as samples are sane again.
    for (let i = 0; i < 40; i++) r.update(12, 0, 5);
    expect(r.smoothedRtt).toBeLessThan(20);
  });

  it('holds srtt within min_rtt + MAX_RTT_EXCESS even when the first sample was the stalled one', () => {
    // The first sample initialises everything (§5.3) and cannot be clamped; if
    // it came from a stall, a later fast sample lowers min_rtt but the average
    // would take dozens of samples to come down.
    const r = new RttEstimator();
    r.update(3000, 0, 5);
    r.update(12, 0, 5);
    expect(r.minRtt).toBe(12);
    expect(r.smoothedRtt).toBeLessThanOrEqual(12 + MAX_RTT_EXCESS);
  });

  it('follows a genuine rise in RTT within the bound unchanged (queueing, a slower path)', () => {
    const r = new RttEstimator();
    r.update(20, 0, 5);
    for (let i = 0; i < 60; i++) r.update(400, 0, 5);
    expect(r.latestRtt).toBe(400);
    expect(r.smoothedRtt).toBeCloseTo(400, 0);
  });
  it('counts a 0 ms sample (an ACK read in the same virtual tick as its packet)', () => {
    // §5.1: a sample is discarded only when it is negative; 0 is a real, very fast path.
    const r = new RttEstimator();
    r.update(0, 0, 25);
    expect(r.hasSample).toBe(true);
    expect([r.latestRtt, r.smoothedRtt, r.rttVar, r.minRtt]).toEqual([0, 0, 0, 0]);
  });

  it('treats a negative or NaN ack delay as none: a peer cannot make the path look slower or faster by lying', () => {
    // §5.3 subtracts ack_delay; a negative one would add to the sample and a NaN one would
    // poison smoothed_rtt for good. Both must give the same estimate as a zero delay.
    const expected = new RttEstimator();
    expected.update(10, 0, 25);
    expected.update(40, 0, 25);
    for (const delay of [-5, Number.NaN, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]) {
      const r = new RttEstimator();
      r.update(10, 0, 25);
      // 40 ≥ min 10 + max_ack_delay 25, so a delay taken as 25 (Infinity, capped) would show.
      r.update(40, delay, 25);
      expect([r.smoothedRtt, r.rttVar]).toEqual([expected.smoothedRtt, expected.rttVar]);
    }
    expect(expected.smoothedRtt).toBe((10 + 40) / 2);
  });

  it('subtracts the ack delay when the result lands exactly on min_rtt (§5.3: "not below")', () => {
    const r = new RttEstimator();
    r.update(10, 0, 25);
    // 15 - 5 = 10 = min_rtt: allowed, so adjusted = 10 and srtt stays at 10.
    r.update(15, 5, 25);
    expect(r.smoothedRtt).toBe(0.875 * 10 + 0.125 * 10);
    expect(r.rttVar).toBe(0.75 * 5 + 0.25 * 0);
  });
});
