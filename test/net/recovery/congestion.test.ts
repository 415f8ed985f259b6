import { describe, expect, it } from 'vitest';
import { NewReno, Pacer } from '../../../source/net/recovery/congestion.js';
import { BASE_PLPMTU } from '../../../source/net/wire/packet.js';

const MSS = BASE_PLPMTU;

describe('NewReno (RFC 9002 §7, Appendix B)', () => {
  it('starts in slow start with a 10-datagram window and gates sending on it', () => {
    const cc = new NewReno();
    expect(cc.congestionWindow).toBe(10 * MSS);
    expect(cc.ssthresh).toBe(Number.POSITIVE_INFINITY);
    expect(cc.state).toBe('slow-start');
    for (let i = 0; i < 10; i++) {
      expect(cc.canSend(MSS)).toBe(true);
      cc.onPacketSent(MSS);
    }
    expect(cc.bytesInFlight).toBe(10 * MSS);
    expect(cc.canSend(1)).toBe(false);
    expect(cc.canSend(0)).toBe(true);
  });

  it('honours constructor options', () => {
    const cc = new NewReno({
      maxDatagramSize: 1000,
      initialWindowPackets: 4,
      minimumWindowPackets: 3,
    });
    expect(cc.congestionWindow).toBe(4000);
    cc.onPacketSent(1000);
    cc.onPacketsLost(1000, 0, 1);
    expect(cc.congestionWindow).toBe(3000); // half of 4000 is below the 3-packet minimum
  });

  it('grows by the acked bytes in slow start (doubling per round trip)', () => {
    const cc = new NewReno();
    for (let i = 0; i < 10; i++) cc.onPacketSent(MSS);
    for (let i = 0; i < 10; i++) cc.onPacketAcked(MSS, 0, 50);
    expect(cc.congestionWindow).toBe(20 * MSS);
    expect(cc.bytesInFlight).toBe(0);
  });

  it('halves on loss and enters recovery', () => {
    const cc = new NewReno();
    for (let i = 0; i < 10; i++) cc.onPacketSent(MSS);
    for (let i = 0; i < 10; i++) cc.onPacketAcked(MSS, 0, 50); // cwnd 24000
    for (let i = 0; i < 5; i++) cc.onPacketSent(MSS);
    cc.onPacketsLost(MSS, 60, 100);
    expect(cc.congestionWindow).toBe(10 * MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.state).toBe('recovery');
    expect(cc.recoveryCount).toBe(1);
    expect(cc.bytesInFlight).toBe(4 * MSS);
  });

  it('reduces once per round: losses and acks of pre-recovery packets change nothing', () => {
    const cc = new NewReno();
    for (let i = 0; i < 10; i++) cc.onPacketSent(MSS);
    cc.onPacketsLost(MSS, 10, 100); // recovery starts at 100: cwnd 6000
    expect(cc.congestionWindow).toBe(5 * MSS);
    cc.onPacketsLost(MSS, 20, 110); // sent before 100: same congestion event
    cc.onPacketsLost(MSS, 100, 120); // sent exactly at the start still counts as before
    expect(cc.congestionWindow).toBe(5 * MSS);
    expect(cc.recoveryCount).toBe(1);
    cc.onPacketAcked(MSS, 30, 130); // sent before recovery: no growth, still recovering
    expect(cc.congestionWindow).toBe(5 * MSS);
    expect(cc.state).toBe('recovery');
    cc.onPacketAcked(MSS, 101, 200); // sent during recovery: recovery ends
    expect(cc.state).toBe('congestion-avoidance');
    cc.onPacketsLost(MSS, 150, 210); // a new round's loss reduces again
    expect(cc.recoveryCount).toBe(2);
    expect(cc.congestionWindow).toBe(2.5 * MSS);
  });

  it('grows about one datagram per window of acked bytes in congestion avoidance', () => {
    const cc = new NewReno({ initialWindowPackets: 20 });
    for (let i = 0; i < 20; i++) cc.onPacketSent(MSS);
    cc.onPacketsLost(MSS, 0, 10); // cwnd = ssthresh = 12000
    cc.onPacketAcked(MSS, 11, 20); // exits recovery; counts 1200 toward CA growth
    expect(cc.state).toBe('congestion-avoidance');
    for (let i = 0; i < 8; i++) cc.onPacketAcked(MSS, 11, 20);
    expect(cc.congestionWindow).toBe(10 * MSS); // 10800 of 12000 acked: not yet
    cc.onPacketAcked(MSS, 11, 20);
    expect(cc.congestionWindow).toBe(11 * MSS); // one full window acked: +1 MSS
    // Over many windows, growth ≈ acked / cwnd datagrams.
    let acked = 0;
    while (cc.congestionWindow < 20 * MSS) {
      cc.onPacketSent(MSS);
      cc.onPacketAcked(MSS, 11, 20);
      acked += MSS;
    }
    // Sum of windows from 11 to 19 MSS must have been acked.
    let expected = 0;
    for (let w = 11; w < 20; w++) expected += w * MSS;
    expect(acked).toBe(expected);
  });

  it('does not grow while app-limited', () => {
    const cc = new NewReno();
    cc.setAppLimited(true);
    cc.onPacketSent(MSS);
    cc.onPacketAcked(MSS, 0, 10);
    expect(cc.congestionWindow).toBe(10 * MSS);
    expect(cc.bytesInFlight).toBe(0);
    cc.setAppLimited(false);
    cc.onPacketSent(MSS);
    cc.onPacketAcked(MSS, 0, 10);
    expect(cc.congestionWindow).toBe(11 * MSS);
  });

  it('never goes below the minimum window, and persistent congestion collapses to it', () => {
    const cc = new NewReno();
    for (let round = 0; round < 10; round++) {
      cc.onPacketSent(MSS);
      cc.onPacketsLost(MSS, round * 100 + 1, round * 100 + 2);
    }
    expect(cc.congestionWindow).toBe(2 * MSS);
    expect(cc.recoveryCount).toBe(10);

    const pc = new NewReno();
    for (let i = 0; i < 10; i++) pc.onPacketSent(MSS);
    pc.onPacketsLost(2 * MSS, 5, 10);
    pc.onPersistentCongestion();
    expect(pc.congestionWindow).toBe(2 * MSS);
    expect(pc.state).not.toBe('recovery');
    // Recovery was cleared: an ack of a packet sent before the loss grows the window again.
    pc.onPacketAcked(MSS, 1, 20);
    expect(pc.congestionWindow).toBe(3 * MSS);
  });

  it('removeFromFlight releases bytes and never goes negative', () => {
    const cc = new NewReno();
    cc.onPacketSent(MSS);
    cc.removeFromFlight(MSS);
    expect(cc.bytesInFlight).toBe(0);
    cc.removeFromFlight(MSS);
    cc.onPacketsLost(MSS, 0, 1);
    expect(cc.bytesInFlight).toBe(0);
  });

  it('a packet sent in the same ms recovery began neither grows the window nor ends recovery (B.5)', () => {
    // B.5 InCongestionRecovery(sent_time): sent_time <= congestion_recovery_start_time.
    const cc = new NewReno();
    for (let i = 0; i < 3; i++) cc.onPacketSent(MSS);
    cc.onPacketsLost(MSS, 10, 100);
    const window = cc.congestionWindow;
    cc.onPacketAcked(MSS, 100, 150);
    expect(cc.state).toBe('recovery');
    expect(cc.congestionWindow).toBe(window);
    cc.onPacketAcked(MSS, 101, 160);
    expect(cc.state).toBe('congestion-avoidance');
  });

  it('a loss of nothing in flight is no congestion signal', () => {
    const cc = new NewReno();
    cc.onPacketSent(MSS);
    cc.onPacketsLost(0, 50, 100);
    expect(cc.congestionWindow).toBe(10 * MSS);
    expect(cc.state).toBe('slow-start');
    expect(cc.recoveryCount).toBe(0);
    expect(cc.bytesInFlight).toBe(MSS);
  });
});

describe('Pacer (RFC 9002 §7.7)', () => {
  it('allows a 10-datagram burst, then spaces packets at 1.25 * cwnd / srtt', () => {
    const p = new Pacer();
    const cwnd = 10 * MSS;
    const srtt = 100; // rate = 1.25 * 12000 / 100 = 150 bytes/ms: one datagram per 8 ms
    for (let i = 0; i < 10; i++) {
      expect(p.nextSendTime(MSS, cwnd, srtt, 0)).toBe(0);
      p.onPacketSent(MSS, cwnd, srtt, 0);
    }
    expect(p.nextSendTime(MSS, cwnd, srtt, 0)).toBeCloseTo(8, 9);
    // Asking again later shortens the wait accordingly; at the answer it may go.
    expect(p.nextSendTime(MSS, cwnd, srtt, 5)).toBeCloseTo(8, 9);
    const t = p.nextSendTime(MSS, cwnd, srtt, 5);
    expect(p.nextSendTime(MSS, cwnd, srtt, t)).toBe(t);
    p.onPacketSent(MSS, cwnd, srtt, t);
    expect(p.nextSendTime(MSS, cwnd, srtt, t)).toBeCloseTo(t + 8, 9);
  });

  it('refills to at most one burst after idle', () => {
    const p = new Pacer();
    const cwnd = 10 * MSS;
    for (let i = 0; i < 10; i++) p.onPacketSent(MSS, cwnd, 100, 0);
    // Idle for a long time: bucket refills to 10 datagrams, no more.
    let sent = 0;
    while (p.nextSendTime(MSS, cwnd, 100, 10_000) === 10_000 && sent < 100) {
      p.onPacketSent(MSS, cwnd, 100, 10_000);
      sent++;
    }
    expect(sent).toBe(10);
  });

  it('keeps sending as fast as the window allows when srtt is tiny (loopback)', () => {
    const p = new Pacer();
    const cwnd = 100 * MSS;
    const srtt = 0.1;
    // A sender driven by a 1 ms timer: each tick it sends while the pacer says "now".
    let sent = 0;
    for (let tick = 0; tick < 10; tick++) {
      const now = tick;
      let inTick = 0;
      while (p.nextSendTime(MSS, cwnd, srtt, now) === now && inTick < 1000) {
        p.onPacketSent(MSS, cwnd, srtt, now);
        inTick++;
      }
      // Each tick the pacer lets through at least a full congestion window.
      expect(inTick).toBeGreaterThanOrEqual(100);
      sent += inTick;
      // And when it does ask to wait, the wait is far below a timer tick.
      expect(p.nextSendTime(MSS, cwnd, srtt, now) - now).toBeLessThan(0.01);
    }
    expect(sent).toBeGreaterThanOrEqual(1000);
  });

  it('does not pace without a usable srtt or window', () => {
    const p = new Pacer();
    for (let i = 0; i < 50; i++) p.onPacketSent(MSS, 0, 0, 0);
    expect(p.nextSendTime(MSS, 12_000, 0, 3)).toBe(3);
    expect(p.nextSendTime(MSS, 0, 100, 3)).toBe(3);
  });

  it('bounds the wait by one packet at the current rate even after over-sending', () => {
    const p = new Pacer();
    const cwnd = 2 * MSS;
    const srtt = 100; // 30 bytes/ms
    for (let i = 0; i < 50; i++) p.onPacketSent(MSS, cwnd, srtt, 0); // probes ignore pacing
    expect(p.nextSendTime(MSS, cwnd, srtt, 0)).toBeCloseTo(40, 9); // 0.4 * srtt
  });

  it('holds a timer tick of sending when that is more than 10 datagrams, but never a whole large window', () => {
    // cwnd 100 datagrams, srtt 10 ms: 12.5 datagrams per ms, so 2 ms is 25 datagrams.
    const p = new Pacer();
    const cwnd = 100 * MSS;
    let burst = 0;
    while (p.nextSendTime(MSS, cwnd, 10, 0) === 0 && burst < 200) {
      p.onPacketSent(MSS, cwnd, 10, 0);
      burst++;
    }
    expect(burst).toBe(25);
    // srtt 100 ms: 2 ms is 2.5 datagrams, so the 10-datagram burst allowance rules.
    const q = new Pacer();
    burst = 0;
    while (q.nextSendTime(MSS, cwnd, 100, 0) === 0 && burst < 200) {
      q.onPacketSent(MSS, cwnd, 100, 0);
      burst++;
    }
    expect(burst).toBe(10);
  });

  it('a packet sent before any usable srtt does not poison later pacing', () => {
    const p = new Pacer();
    p.onPacketSent(MSS, 10 * MSS, 0, 0);
    p.onPacketSent(MSS, 10 * MSS, Number.POSITIVE_INFINITY, 0);
    expect(p.nextSendTime(MSS, 10 * MSS, 100, 1)).toBe(1);
  });

  it('never paces, and never answers in the past or never, for an unusable window or srtt', () => {
    for (const [cwnd, srtt] of [
      [0, 100],
      [-MSS, 100],
      [10 * MSS, 0],
      [10 * MSS, -5],
      [10 * MSS, Number.POSITIVE_INFINITY],
      [10 * MSS, Number.NaN],
    ] as const) {
      const p = new Pacer();
      for (let i = 0; i < 30; i++) {
        expect(p.nextSendTime(MSS, cwnd, srtt, 7)).toBe(7);
        p.onPacketSent(MSS, cwnd, srtt, 7);
      }
    }
  });

  it('a window cut shrinks the burst at once, even within the same ms', () => {
    const p = new Pacer();
    // 25 datagrams of tokens at cwnd 100 datagrams and srtt 10 ms (see above).
    expect(p.nextSendTime(MSS, 100 * MSS, 10, 0)).toBe(0);
    // A loss: cwnd 20 datagrams, rate 2.5 datagrams/ms, so the bucket holds 10 datagrams.
    let burst = 0;
    while (p.nextSendTime(MSS, 20 * MSS, 10, 0) === 0 && burst < 100) {
      p.onPacketSent(MSS, 20 * MSS, 10, 0);
      burst++;
    }
    expect(burst).toBe(10);
  });

  it('time going backwards neither takes tokens away nor credits the same time twice', () => {
    const p = new Pacer();
    const cwnd = 10 * MSS;
    for (let i = 0; i < 10; i++) p.onPacketSent(MSS, cwnd, 100, 100);
    const wait = p.nextSendTime(MSS, cwnd, 100, 100);
    expect(wait).toBeCloseTo(108, 9);
    // A caller asking with an earlier time is told the same wait (8 ms)...
    expect(p.nextSendTime(MSS, cwnd, 100, 50)).toBeCloseTo(58, 9);
    // ...and back at 100 the 50 ms it stepped back are not refilled again.
    expect(p.nextSendTime(MSS, cwnd, 100, 100)).toBeCloseTo(108, 9);
    // Half a datagram of tokens earned by 104 is kept when asked again earlier.
    expect(p.nextSendTime(MSS, cwnd, 100, 104)).toBeCloseTo(108, 9);
    expect(p.nextSendTime(MSS, cwnd, 100, 60)).toBeCloseTo(64, 9);
  });
});

describe('HyStart++ slow-start exit (RFC 9406, without CSS)', () => {
  /**
   * One round of RTT samples starting at `at`: the first acks a packet sent
   * after the previous round began (opening this round), the rest ack
   * packets sent before this one began. Returns the next round's start.
   */
  function round(cc: NewReno, at: number, rtts: number[]): number {
    rtts.forEach((rtt, i) => {
      cc.onRttSample(rtt, i === 0 ? at + 0.5 : at, at + 1 + i);
    });
    return at + rtts.length + 2;
  }

  it('leaves slow start when the minimum RTT of a round rises by the clamped threshold', () => {
    const cc = new NewReno();
    let t = round(cc, 0, Array(8).fill(1));
    cc.onPacketSent(MSS);
    cc.onPacketAcked(MSS, t - 0.5, t);
    const window = cc.congestionWindow;
    expect(cc.state).toBe('slow-start');
    // After 1 ms the threshold clamps to 4 ms: 4.9 ms stays under it; 9 ms after 4.9 ms does not.
    t = round(cc, t, Array(8).fill(4.9));
    expect(cc.ssthresh).toBe(Number.POSITIVE_INFINITY);
    t = round(cc, t, Array(8).fill(9));
    expect(cc.slowStartDelayExits).toBe(1);
    expect(cc.ssthresh).toBe(cc.congestionWindow);
    expect(cc.congestionWindow).toBe(window);
    expect(cc.state).toBe('congestion-avoidance');
  });

  it('needs N_RTT_SAMPLE samples in the round and ignores a steady or noisy path', () => {
    const cc = new NewReno();
    let t = round(cc, 0, Array(8).fill(20));
    t = round(cc, t, Array(7).fill(40)); // only 7 samples: no decision
    expect(cc.ssthresh).toBe(Number.POSITIVE_INFINITY);
    for (let r = 0; r < 20; r++) t = round(cc, t, [30, 22, 25, 20, 28, 21, 24, 26]);
    expect(cc.state).toBe('slow-start');
    expect(cc.slowStartDelayExits).toBe(0);
  });

  it('applies only to the initial slow start', () => {
    const cc = new NewReno();
    cc.onPacketSent(MSS);
    cc.onPacketsLost(MSS, 1, 2);
    const ssthresh = cc.ssthresh;
    let t = round(cc, 10, Array(8).fill(1));
    t = round(cc, t, Array(8).fill(50));
    expect(cc.ssthresh).toBe(ssthresh);
    expect(cc.slowStartDelayExits).toBe(0);
  });
  it('a round is judged by its minimum RTT, not its latest sample', () => {
    const cc = new NewReno();
    let t = round(cc, 0, Array(8).fill(20));
    // One 20 ms sample holds the round at 20 however late the others are.
    t = round(cc, t, [20, 40, 40, 40, 40, 40, 40, 40]);
    expect(cc.slowStartDelayExits).toBe(0);
    expect(cc.state).toBe('slow-start');
  });

  it('exits when the rise equals the threshold exactly (RFC 9406 §4.3: ">=")', () => {
    const cc = new NewReno();
    // Last round 80 ms: the threshold is 80 / 8 = 10 ms (within [4, 16]).
    let t = round(cc, 0, Array(8).fill(80));
    t = round(cc, t, Array(8).fill(90));
    expect(cc.slowStartDelayExits).toBe(1);
  });

  it('stays off after slow start ended by a loss, also once recovery is over', () => {
    const cc = new NewReno();
    for (let i = 0; i < 3; i++) cc.onPacketSent(MSS);
    cc.onPacketsLost(MSS, 1, 2);
    cc.onPacketAcked(MSS, 3, 4); // a packet sent after the loss: recovery over
    expect(cc.state).toBe('congestion-avoidance');
    const ssthresh = cc.ssthresh;
    let t = round(cc, 10, Array(8).fill(1));
    t = round(cc, t, Array(8).fill(50));
    expect(cc.ssthresh).toBe(ssthresh);
    expect(cc.slowStartDelayExits).toBe(0);
  });
});
