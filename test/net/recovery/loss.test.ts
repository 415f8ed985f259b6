import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NewReno } from '../../../source/net/recovery/congestion.js';
import { DEFAULT_MAX_PTO, LossDetector } from '../../../source/net/recovery/loss.js';
import type { SentPacket } from '../../../source/net/recovery/sentlog.js';
import { BASE_PLPMTU } from '../../../source/net/wire/packet.js';

const MSS = BASE_PLPMTU;

function pkt(
  pn: number,
  timeSent: number,
  opts: Partial<SentPacket<string>> = {},
): SentPacket<string> {
  return {
    pn,
    timeSent,
    size: MSS,
    ackEliciting: true,
    inFlight: true,
    frames: `frames-${pn}`,
    ...opts,
  };
}

const pns = (ps: Iterable<SentPacket<string>>): number[] => [...ps].map((p) => p.pn);

describe('LossDetector (RFC 9002 §6, Appendix A)', () => {
  it('declares a packet lost once a packet kPacketThreshold later is acked', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 5; pn++) ld.onPacketSent(pkt(pn, pn));
    expect(ld.inFlightCount).toBe(5);
    expect(ld.cc.bytesInFlight).toBe(5 * MSS);

    const r = ld.onAck([[3, 4]], 0, 50);
    expect(pns(r.acked)).toEqual([3]);
    expect(pns(r.lost)).toEqual([0]); // 3 >= 0 + 3; 1 and 2 are not yet 3 behind
    expect(r.rttUpdated).toBe(true);
    expect(ld.rtt.latestRtt).toBe(47);
    expect(ld.largestAcked).toBe(3);
    expect(ld.stats.packetsLost).toBe(1);
    expect(ld.cc.bytesInFlight).toBe(3 * MSS);
    expect(ld.cc.state).toBe('recovery');
    expect(ld.inFlightCount).toBe(3);
    // 1 and 2 wait on the time threshold: 9/8 * 47 after the older one was sent.
    expect(ld.deadline()).toBeCloseTo(1 + (9 / 8) * 47, 9);

    const r2 = ld.onAck([[4, 5]], 0, 51);
    expect(pns(r2.lost)).toEqual([1]);
  });

  it('declares time-threshold loss at the deadline it reports, not before', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onPacketSent(pkt(1, 10));
    const r = ld.onAck([[1, 2]], 0, 100); // sample 90 ms
    expect(r.lost).toEqual([]);
    const deadline = ld.deadline();
    expect(deadline).toBeCloseTo((9 / 8) * 90, 9);
    if (deadline === undefined) throw new Error('no deadline');

    const early = ld.onTimeout(deadline - 0.001);
    expect(early).toEqual({ lost: [], probes: 0, persistentCongestion: false });
    expect(ld.deadline()).toBe(deadline);

    const t = ld.onTimeout(deadline);
    expect(pns(t.lost)).toEqual([0]);
    expect(t.probes).toBe(0);
    expect(ld.ptoCount).toBe(0); // a loss timer is not a PTO
    expect(ld.deadline()).toBeUndefined(); // nothing left in flight
    expect(ld.cc.bytesInFlight).toBe(0);
  });

  it('never backs a probe off past DEFAULT_MAX_PTO, counting one PTO per expiry', () => {
    // Unbounded doubling put the next probe past the 45 s idle timeout after a
    // few seconds of silence: the session died instead of recovering.
    const ld = new LossDetector<string>({ maxAckDelay: 5 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 4); // srtt 4 ms, as on a fast path
    let now = 4;
    let pn = 1;
    ld.onPacketSent(pkt(pn++, now));
    let expiries = 0;
    while (now < 120_000) {
      const at = ld.deadline()!;
      expect(at - now).toBeLessThanOrEqual(DEFAULT_MAX_PTO);
      now = at;
      expect(ld.onTimeout(now).probes).toBe(2);
      // A second call at the same instant is no second expiry.
      expect(ld.onTimeout(now).probes).toBe(0);
      expiries++;
      expect(ld.stats.ptoCount).toBe(expiries);
      ld.onPacketSent(pkt(pn++, now, { frames: 'probe' }));
      ld.onPacketSent(pkt(pn++, now, { frames: 'probe' }));
    }
    // Doubling from ~25 ms reaches the cap in ~10 expiries; then one per cap.
    expect(expiries).toBeGreaterThanOrEqual(120_000 / DEFAULT_MAX_PTO);
    expect(expiries).toBeLessThanOrEqual(120_000 / DEFAULT_MAX_PTO + 12);
    // §6.2.1: an acknowledgement restarts the backoff.
    ld.onAck([[pn - 1, pn]], 0, now + 4);
    expect(ld.ptoCount).toBe(0);
    expect(ld.deadline()! - now).toBeLessThan(100);
  });

  it('fires PTO with exponential backoff and asks for probes; an ACK resets the backoff', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    // No sample yet: srtt 333, rttvar 166.5 -> PTO = 333 + 666 + 25 = 1024.
    expect(ld.deadline()).toBe(1024);
    expect(ld.onTimeout(1000).probes).toBe(0);

    const first = ld.onTimeout(1024);
    expect(first.probes).toBeGreaterThanOrEqual(1);
    expect(first.probes).toBeLessThanOrEqual(2);
    expect(first.lost).toEqual([]); // PTO declares nothing lost
    expect(ld.ptoCount).toBe(1);
    // Doubled, counted from the later of the last ack-eliciting send and this expiry
    // (the same instant once the probes go out, as they do at once in the RFC's flow).
    expect(ld.deadline()).toBe(1024 + 2 * 1024);

    ld.onPacketSent(pkt(1, 1024, { frames: 'probe' }));
    ld.onPacketSent(pkt(2, 1024, { frames: 'probe' }));
    expect(ld.deadline()).toBe(1024 + 2 * 1024);
    expect(pns(ld.unacked())).toEqual([0, 1, 2]);

    expect(ld.onTimeout(3072).probes).toBeGreaterThan(0);
    expect(ld.ptoCount).toBe(2);
    expect(ld.deadline()).toBe(3072 + 4 * 1024);
    expect(ld.stats.ptoCount).toBe(2);

    const r = ld.onAck([[2, 3]], 0, 3100);
    expect(pns(r.acked)).toEqual([2]);
    expect(ld.ptoCount).toBe(0);
    expect(ld.stats.ptoCount).toBe(2);
  });

  it('ignores acknowledgments of packet numbers never sent or already acked', () => {
    const ld = new LossDetector<string>();
    expect(ld.largestSent).toBe(-1);
    expect(ld.onAck([[0, 10]], 0, 1).acked).toEqual([]);
    for (let pn = 0; pn < 3; pn++) ld.onPacketSent(pkt(pn, 0));
    expect(ld.largestSent).toBe(2);

    const none = ld.onAck([[10, 20]], 0, 5);
    expect(none).toEqual({ acked: [], lost: [], rttUpdated: false, persistentCongestion: false });
    expect(ld.largestAcked).toBeUndefined();

    const some = ld.onAck([[-5, 100]], 0, 5);
    expect(pns(some.acked)).toEqual([0, 1, 2]);
    expect(ld.largestAcked).toBe(2);

    const dup = ld.onAck([[0, 3]], 0, 9);
    expect(dup.acked).toEqual([]);
    expect(dup.rttUpdated).toBe(false);
    expect(ld.rtt.latestRtt).toBe(5);
  });

  it('returns acked packets oldest first from descending ranges', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 10; pn++) ld.onPacketSent(pkt(pn, 0));
    const r = ld.onAck(
      [
        [8, 10],
        [4, 6],
        [0, 2],
      ],
      0,
      20,
    );
    expect(pns(r.acked)).toEqual([0, 1, 4, 5, 8, 9]);
    expect(pns(r.lost)).toEqual([2, 3, 6]); // 7 is within the threshold of 9
  });

  it('samples RTT only when the largest acked is new and something ack-eliciting was acked', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onPacketSent(pkt(1, 10, { ackEliciting: false, inFlight: false, size: 40 }));
    // Only the ACK-only packet is newly acked: no sample.
    expect(ld.onAck([[1, 2]], 0, 30).rttUpdated).toBe(false);
    expect(ld.rtt.hasSample).toBe(false);
    // Largest (1) is not newly acked this time: still no sample.
    expect(ld.onAck([[0, 2]], 0, 40).rttUpdated).toBe(false);
    ld.onPacketSent(pkt(2, 50));
    const r = ld.onAck([[2, 3]], 5, 80);
    expect(r.rttUpdated).toBe(true);
    expect(ld.rtt.smoothedRtt).toBe(30); // first sample ignores ack delay
  });

  it('establishes persistent congestion from losses spanning the §7.6.1 duration', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100); // srtt 100, rttvar 50: first sample taken at t = 100
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 700));
    ld.onPacketSent(pkt(3, 1300));
    ld.onPacketSent(pkt(4, 1400));
    // Second sample 100 -> rttvar 37.5; duration = (100 + 150 + 25) * 3 = 825 < 1300 - 200.
    const r = ld.onAck([[4, 5]], 0, 1500);
    expect(pns(r.lost)).toEqual([1, 2, 3]);
    expect(r.persistentCongestion).toBe(true);
    // Collapsed to the minimum window; the ack of 4 (sent after) then grows it in slow start.
    expect(ld.cc.congestionWindow).toBe(3 * MSS);
  });

  it('does not declare persistent congestion when a packet in between was acked', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100);
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 700));
    ld.onPacketSent(pkt(3, 1300));
    ld.onPacketSent(pkt(4, 1400));
    const r = ld.onAck(
      [
        [4, 5],
        [2, 3],
      ],
      0,
      1500,
    );
    expect(pns(r.lost)).toEqual([1, 3]);
    expect(r.persistentCongestion).toBe(false);
    expect(ld.cc.congestionWindow).toBeGreaterThan(2 * MSS);
  });

  it('does not declare persistent congestion for a short period or before an RTT sample', () => {
    const short = new LossDetector<string>({ maxAckDelay: 25 });
    short.onPacketSent(pkt(0, 0));
    short.onAck([[0, 1]], 0, 100);
    short.onPacketSent(pkt(1, 200));
    short.onPacketSent(pkt(2, 400));
    short.onPacketSent(pkt(3, 800));
    short.onPacketSent(pkt(4, 900));
    short.onPacketSent(pkt(5, 1000));
    const r = short.onAck([[5, 6]], 0, 1100);
    expect(pns(r.lost)).toEqual([1, 2, 3, 4]);
    expect(r.persistentCongestion).toBe(false); // 900 - 200 = 700 < 825

    const early = new LossDetector<string>({ maxAckDelay: 25 });
    early.onPacketSent(pkt(0, 0));
    early.onPacketSent(pkt(1, 100));
    early.onPacketSent(pkt(2, 5000));
    early.onPacketSent(pkt(3, 5050));
    const e = early.onAck([[3, 4]], 0, 5150); // the first sample: everything lost predates it
    expect(pns(e.lost)).toEqual([0, 1, 2]);
    expect(e.persistentCongestion).toBe(false);
  });

  it('finds persistent congestion across an ACK and a later loss timer', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100);
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 1400));
    ld.onPacketSent(pkt(3, 1410));
    const r = ld.onAck([[3, 4]], 0, 1510); // 1 lost by time; 2 still within 9/8 * 100
    expect(pns(r.lost)).toEqual([1]);
    expect(r.persistentCongestion).toBe(false);
    const deadline = ld.deadline();
    expect(deadline).toBeCloseTo(1400 + 112.5, 9);
    const t = ld.onTimeout(deadline ?? 0);
    expect(pns(t.lost)).toEqual([2]);
    expect(t.persistentCongestion).toBe(true); // 1400 - 200 > 825, nothing between acked
    expect(ld.cc.congestionWindow).toBe(2 * MSS);
  });

  it('counts spurious losses when a lost packet is acknowledged later', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 4; pn++) ld.onPacketSent(pkt(pn, 0));
    expect(pns(ld.onAck([[3, 4]], 0, 10).lost)).toEqual([0]);
    const late = ld.onAck([[0, 1]], 0, 12);
    expect(late.acked).toEqual([]);
    expect(ld.stats.spuriousLosses).toBe(1);
    ld.onAck([[0, 1]], 0, 13); // counted once
    expect(ld.stats.spuriousLosses).toBe(1);
  });

  it('discardAll returns outstanding packets and clears in-flight state', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onPacketSent(pkt(1, 1, { ackEliciting: false, inFlight: false, size: 30 }));
    ld.onPacketSent(pkt(2, 2));
    ld.onPacketSent(pkt(3, 3));
    ld.onAck([[2, 3]], 0, 20);
    const out = ld.discardAll();
    expect(pns(out)).toEqual([0, 1, 3]);
    expect(out[0]?.frames).toBe('frames-0');
    expect(ld.cc.bytesInFlight).toBe(0);
    expect(ld.inFlightCount).toBe(0);
    expect(ld.deadline()).toBeUndefined();
    expect([...ld.unacked()]).toEqual([]);
    expect(ld.onTimeout(1e9)).toEqual({ lost: [], probes: 0, persistentCongestion: false });
    // Numbering carries on; reuse is rejected.
    expect(() => ld.onPacketSent(pkt(3, 30))).toThrow(RangeError);
    ld.onPacketSent(pkt(4, 30));
    expect(ld.inFlightCount).toBe(1);
  });

  it('does not arm a timer for ACK-only packets and bounds how many it remembers', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 5000; pn++) {
      ld.onPacketSent(pkt(pn, pn, { ackEliciting: false, inFlight: false, size: 20 }));
    }
    expect(ld.deadline()).toBeUndefined();
    expect(ld.inFlightCount).toBe(0);
    expect(ld.cc.bytesInFlight).toBe(0);
    // Only the most recent ones are still tracked (they need no retransmission anyway).
    const r = ld.onAck([[0, 5000]], 0, 6000);
    expect(r.acked.length).toBeGreaterThan(0);
    expect(r.acked.length).toBeLessThan(5000);
    expect(r.acked[r.acked.length - 1]?.pn).toBe(4999);
  });

  it('a lost path-MTU probe leaves flight without shrinking the window or counting as loss', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 10); // an RTT sample, so persistent congestion could be found
    const cwnd = ld.cc.congestionWindow;
    ld.onPacketSent(pkt(1, 20, { pmtuProbe: true, size: 1452 }));
    for (let pn = 2; pn < 6; pn++) ld.onPacketSent(pkt(pn, 20 + pn));
    expect(ld.cc.bytesInFlight).toBe(1452 + 4 * MSS);
    const r = ld.onAck([[2, 6]], 0, 40);
    expect(pns(r.lost)).toEqual([1]);
    expect(r.lost[0]?.pmtuProbe).toBe(true);
    expect(ld.cc.bytesInFlight).toBe(0);
    expect(ld.cc.congestionWindow).toBeGreaterThanOrEqual(cwnd);
    expect(ld.cc.state).not.toBe('recovery');
    expect(ld.stats.packetsLost).toBe(0);
    // The same loss of an ordinary packet is a congestion event.
    ld.onPacketSent(pkt(6, 50));
    for (let pn = 7; pn < 10; pn++) ld.onPacketSent(pkt(pn, 50 + pn));
    ld.onAck([[7, 10]], 0, 70);
    expect(ld.stats.packetsLost).toBe(1);
    expect(ld.cc.state).toBe('recovery');
  });

  it('uses the cc instance it is given', () => {
    const cc = new NewReno({ initialWindowPackets: 4 });
    const ld = new LossDetector<string>({ cc });
    ld.onPacketSent(pkt(0, 0));
    expect(ld.cc).toBe(cc);
    expect(cc.bytesInFlight).toBe(MSS);
  });

  it('stays proportional to what is in flight over a long lossy run', () => {
    const ld = new LossDetector<number>();
    let pn = 0;
    let now = 0;
    let lost = 0;
    let acked = 0;
    const window = 2000;
    for (let round = 0; round < 100; round++) {
      const first = pn;
      for (let i = 0; i < window; i++) {
        ld.onPacketSent({
          pn,
          timeSent: now,
          size: MSS,
          ackEliciting: true,
          inFlight: true,
          frames: pn,
        });
        pn++;
      }
      now += 10;
      // Ack the round in chunks of 100, skipping the first packet of every chunk.
      for (let s = first; s < pn; s += 100) {
        const r = ld.onAck([[s + 1, s + 100]], 0.5, now);
        acked += r.acked.length;
        lost += r.lost.length;
        now += 0.01;
      }
      expect(ld.inFlightCount).toBeLessThanOrEqual(2);
    }
    const tail = ld.onTimeout(ld.deadline() ?? now);
    lost += tail.lost.length;
    expect(acked).toBe(100 * window * 0.99);
    expect(lost).toBe(100 * 20);
    expect(ld.stats.packetsLost).toBe(lost);
    expect(ld.inFlightCount).toBe(0);
    expect(ld.cc.bytesInFlight).toBe(0);
  });

  it('keeps every packet in exactly one outcome and bytes in flight consistent (property)', () => {
    type Step =
      | { kind: 'send'; count: number; eliciting: boolean }
      | { kind: 'ack'; ranges: [number, number][]; delay: number }
      | { kind: 'tick'; dt: number }
      | { kind: 'timeout' }
      | { kind: 'discard' };
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('send' as const),
          count: fc.integer({ min: 1, max: 5 }),
          eliciting: fc.boolean(),
        }),
      },
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('ack' as const),
          ranges: fc.array(
            fc
              .tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 1, max: 6 }))
              .map(([s, n]): [number, number] => [s, s + n]),
            { minLength: 1, maxLength: 4 },
          ),
          delay: fc.integer({ min: 0, max: 40 }),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('tick' as const),
          dt: fc.integer({ min: 1, max: 400 }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('timeout' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('discard' as const) }) },
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
        const ld = new LossDetector<null>();
        const outcome = new Map<number, 'out' | 'acked' | 'lost' | 'discarded'>();
        const sizes = new Map<number, number>();
        let pn = 0;
        let now = 0;
        const settle = (ps: SentPacket<null>[], to: 'acked' | 'lost' | 'discarded') => {
          for (const p of ps) {
            expect(outcome.get(p.pn)).toBe('out');
            outcome.set(p.pn, to);
          }
        };
        for (const s of steps) {
          if (s.kind === 'send') {
            for (let i = 0; i < s.count; i++) {
              const size = s.eliciting ? MSS : 50;
              ld.onPacketSent({
                pn,
                timeSent: now,
                size,
                ackEliciting: s.eliciting,
                inFlight: s.eliciting,
                frames: null,
              });
              outcome.set(pn, 'out');
              sizes.set(pn, s.eliciting ? size : 0);
              pn += 1 + (pn % 3 === 0 ? 1 : 0); // sometimes skip a packet number
            }
          } else if (s.kind === 'ack') {
            const r = ld.onAck(
              [...s.ranges].sort((a, b) => b[0] - a[0]),
              s.delay,
              now,
            );
            for (const p of r.acked) {
              expect(s.ranges.some(([a, b]) => p.pn >= a && p.pn < b)).toBe(true);
            }
            settle(r.acked, 'acked');
            settle(r.lost, 'lost');
          } else if (s.kind === 'tick') {
            now += s.dt;
          } else if (s.kind === 'timeout') {
            const d = ld.deadline();
            if (d !== undefined) {
              expect(d).toBeGreaterThanOrEqual(0);
              now = Math.max(now, d);
              const r = ld.onTimeout(now);
              settle(r.lost, 'lost');
              if (r.lost.length === 0) expect(r.probes).toBeGreaterThan(0);
            }
          } else {
            settle(ld.discardAll(), 'discarded');
          }
          let inFlight = 0;
          let count = 0;
          for (const [n, o] of outcome) {
            if (o === 'out' && (sizes.get(n) ?? 0) > 0) {
              inFlight += sizes.get(n) ?? 0;
              count++;
            }
          }
          expect(ld.cc.bytesInFlight).toBe(inFlight);
          expect(ld.inFlightCount).toBe(count);
          expect(ld.cc.congestionWindow).toBeGreaterThanOrEqual(2 * MSS);
          if (count > 0) expect(ld.deadline()).toBeDefined();
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('LossDetector allocation (issue 16)', () => {
  it('answers onAck and onTimeout in objects of its own, emptied and reused on every call', () => {
    const ld = new LossDetector<string>();
    const acks = new Set<object>();
    const lists = new Set<object>();
    let now = 0;
    for (let pn = 0; pn < 1000; pn++) {
      ld.onPacketSent(pkt(pn, now));
      now += 1;
      const r = ld.onAck([[pn, pn + 1]], 0, now);
      expect(pns(r.acked)).toEqual([pn]); // read before the next call, as callers do
      expect(r.lost).toEqual([]);
      acks.add(r);
      lists.add(r.acked);
    }
    expect(acks.size).toBe(1);
    expect(lists.size).toBe(1);
    // Nothing outstanding: a timeout answers nothing, in its own reused object.
    const t1 = ld.onTimeout(now + 10_000);
    const t2 = ld.onTimeout(now + 20_000);
    expect(t1).toBe(t2);
    expect(t2).toEqual({ lost: [], probes: 0, persistentCongestion: false });
  });

  it('keeps declaring the right packets lost across in-place compactions', () => {
    const ld = new LossDetector<string>();
    // One packet in ten is never acknowledged: each is declared lost three packets later.
    const lost: number[] = [];
    for (let pn = 0; pn < 5000; pn++) {
      ld.onPacketSent(pkt(pn, pn));
      if (pn % 10 === 3) continue;
      lost.push(...pns(ld.onAck([[pn, pn + 1]], 0, pn + 1).lost));
    }
    expect(lost).toEqual(Array.from({ length: 500 }, (_, i) => 10 * i + 3));
    expect(ld.inFlightCount).toBe(0);
  });
});
