import { describe, expect, it } from 'vitest';
import { RttEstimator } from '../../../source/net/recovery/rtt.js';

/**
 * The handshake's round trip includes the responder's Noise work and any
 * event-loop delay: it sets the PTO until the first acknowledgement, which
 * then initialises the estimate as RFC 9002 §5.3 says (chat-truth issue:
 * the RTT column must measure the network, not a slow first turn).
 */
describe('RttEstimator.provisional (the handshake round trip)', () => {
  it('shapes the PTO before any sample but is replaced, not averaged, by the first real one', () => {
    const rtt = new RttEstimator();
    rtt.provisional(40);
    expect(rtt.hasSample).toBe(false);
    expect(rtt.smoothedRtt).toBe(40);
    expect(rtt.ptoBase()).toBe(40 + 4 * 20);
    rtt.update(0.3, 0, 25);
    // Averaged in, srtt would be 35.04 and take dozens of samples to come down.
    expect(rtt.smoothedRtt).toBe(0.3);
    expect(rtt.minRtt).toBe(0.3);
    expect(rtt.rttVar).toBe(0.15);
  });

  it('is ignored once a real sample exists, and when it is not a positive number', () => {
    const rtt = new RttEstimator();
    rtt.provisional(Number.NaN);
    rtt.provisional(-1);
    rtt.provisional(0);
    expect(rtt.smoothedRtt).toBe(new RttEstimator().smoothedRtt);
    rtt.update(2, 0, 25);
    rtt.provisional(90);
    expect([rtt.smoothedRtt, rtt.latestRtt, rtt.minRtt]).toEqual([2, 2, 2]);
  });
});
