import { describe, expect, it } from 'vitest';
import {
  KEEPALIVE_INTERVAL,
  type PingClock,
  pingDue,
  SETTLE_PING_INTERVAL,
  SETTLE_PROBES,
  SETTLE_REFILL,
  SettleBudget,
  takePing,
  WARMUP_PING_INTERVAL,
  WARMUP_SAMPLES,
} from '../../../../source/net/core/conn/pings.js';
import { RttEstimator } from '../../../../source/net/recovery/rtt.js';

/** A session's ping clock with `samples` samples of `rtt` ms, then srtt forced to `srtt`. */
interface TestClock extends PingClock {
  loss: { rtt: RttEstimator; lastAckElicitingSent: number; inFlightCount: number };
  lastSent: number;
}

function clock(samples: number, srtt: number): TestClock {
  const rtt = new RttEstimator();
  for (let i = 0; i < samples; i++) rtt.update(20, 0, 0);
  rtt.smoothedRtt = srtt;
  const loss = { rtt, lastAckElicitingSent: 1000, inFlightCount: 0 };
  return { loss, lastSent: 1000, settle: new SettleBudget() };
}

describe('when a session is owed a PING', () => {
  it('warms up every 500 ms, then keeps alive every 15 s while srtt is in line', () => {
    expect(pingDue(clock(WARMUP_SAMPLES - 1, 20))).toBe(1000 + WARMUP_PING_INTERVAL);
    expect(pingDue(clock(WARMUP_SAMPLES, 20))).toBe(1000 + KEEPALIVE_INTERVAL);
    // 1.25 × 20 + 0.5 = 25.5 is still in line.
    expect(pingDue(clock(WARMUP_SAMPLES, 25.5))).toBe(1000 + KEEPALIVE_INTERVAL);
  });

  it('settles a raised srtt from a budget that refills one PING per SETTLE_REFILL', () => {
    const s = clock(WARMUP_SAMPLES, 60);
    const probesUntil = (end: number, reasons: string[]): number => {
      let n = 0;
      for (let now = pingDue(s); now <= end; now = pingDue(s)) {
        expect(reasons).toContain(takePing(s, now));
        s.loss.lastAckElicitingSent = now;
        s.lastSent = now;
        n++;
      }
      return n;
    };
    // The budget at SETTLE_PING_INTERVAL (plus what refills meanwhile) ...
    const burst = probesUntil(1000 + 12_000, ['settle']);
    expect(burst).toBeGreaterThanOrEqual(SETTLE_PROBES);
    expect(burst).toBeLessThanOrEqual(SETTLE_PROBES + 1);
    // ... then, however long srtt stands high, one per refill, which is the keepalive's pace.
    expect(SETTLE_REFILL).toBe(KEEPALIVE_INTERVAL);
    const last = s.lastSent;
    expect(probesUntil(last + 60_000, ['settle', 'keepalive'])).toBe(60_000 / SETTLE_REFILL);
    expect(takePing(s, s.lastSent + SETTLE_PING_INTERVAL)).toBeUndefined();
  });

  it('leaves a raised srtt to the ACKs while packets are in flight', () => {
    const s = clock(WARMUP_SAMPLES, 60);
    s.loss.inFlightCount = 1;
    expect(pingDue(s)).toBe(1000 + KEEPALIVE_INTERVAL);
    s.loss.inFlightCount = 0;
    expect(pingDue(s)).toBe(1000 + SETTLE_PING_INTERVAL);
  });

  it('a keepalive spends from the budget only while srtt stands high', () => {
    const inLine = clock(WARMUP_SAMPLES, 20);
    expect(takePing(inLine, 1000 + KEEPALIVE_INTERVAL)).toBe('keepalive');
    expect(inLine.settle.readyAt()).toBe(0);
    const high = clock(WARMUP_SAMPLES, 60);
    for (let i = 0; i < SETTLE_PROBES; i++) high.settle.take(1000);
    expect(takePing(high, 1000 + KEEPALIVE_INTERVAL)).toBe('keepalive');
    // The token refilled since went with it: the next settle PING waits for another.
    expect(high.settle.readyAt()).toBeCloseTo(1000 + KEEPALIVE_INTERVAL + SETTLE_REFILL);
  });
});
