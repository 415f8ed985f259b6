/**
 * LossDetector edges the scenario tests in loss.test.ts left open (found by
 * mutation testing, see test/mutation-survivors.md): what counts as the
 * largest acknowledged, which packets may be declared lost, how spurious
 * losses and forgotten ACK-only packets are counted, and when a run of
 * losses ends for persistent congestion (RFC 9002 §6, §7.6).
 */
import { describe, expect, it } from 'vitest';
import { NewReno } from '../../../source/net/recovery/congestion.js';
import { LossDetector } from '../../../source/net/recovery/loss.js';
import type { SentPacket } from '../../../source/net/recovery/sentlog.js';
import { BASE_PLPMTU } from '../../../source/net/wire/packet.js';

const MSS = BASE_PLPMTU;

function pkt(
  pn: number,
  timeSent: number,
  opts: Partial<SentPacket<string>> = {},
): SentPacket<string> {
  return { pn, timeSent, size: MSS, ackEliciting: true, inFlight: true, frames: `f${pn}`, ...opts };
}
const bare = { ackEliciting: false, inFlight: false, size: 20 } as const;
const pns = (ps: Iterable<SentPacket<string>>): number[] => [...ps].map((p) => p.pn);

describe('LossDetector: the largest acknowledged (RFC 9002 §6.1, A.7)', () => {
  it('refuses a packet number that does not grow, saying which', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(4, 0));
    expect(() => ld.onPacketSent(pkt(4, 1))).toThrow('packet number 4 not above 4');
  });

  it('an ACK of pn 0 makes 0 the largest acknowledged', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 10);
    expect(ld.largestAcked).toBe(0);
  });

  it('is the highest range of the frame, whatever the order of the ranges', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 8; pn++) ld.onPacketSent(pkt(pn, pn));
    const r = ld.onAck(
      [
        [6, 7],
        [2, 3],
      ],
      0,
      20,
    );
    expect(ld.largestAcked).toBe(6);
    // The sample is of pn 6 (sent at 6): 14 ms, not 18 (pn 2).
    expect(r.rttUpdated).toBe(true);
    expect(ld.rtt.latestRtt).toBe(14);
    // Single-packet ranges, descending on the wire, come back oldest first.
    expect(pns(r.acked)).toEqual([2, 6]);
  });

  it('never goes down when an older ACK arrives late', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 8; pn++) ld.onPacketSent(pkt(pn, pn));
    ld.onAck([[5, 6]], 0, 20);
    ld.onAck([[1, 2]], 0, 21);
    expect(ld.largestAcked).toBe(5);
  });

  it('an ACK only of numbers just above the last sent acknowledges nothing', () => {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < 6; pn++) ld.onPacketSent(pkt(pn, pn));
    const r = ld.onAck([[6, 10]], 0, 50);
    expect(r).toEqual({ acked: [], lost: [], rttUpdated: false, persistentCongestion: false });
    expect(ld.largestAcked).toBeUndefined();
    expect(ld.inFlightCount).toBe(6);
  });
});

describe('LossDetector: what may be declared lost (§6.1)', () => {
  it('never declares a packet above the largest acknowledged lost, however old', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 10); // min_rtt 10
    ld.onPacketSent(pkt(1, 10));
    ld.onPacketSent(pkt(2, 11));
    // A stalled ACK of pn 1: the sample is capped at min_rtt + 1 s, so pn 2, sent
    // ~3 s ago, is past the time threshold, but nothing above it was acknowledged.
    const r = ld.onAck([[1, 2]], 0, 3000);
    expect(r.lost).toEqual([]);
    expect(pns(ld.unacked())).toEqual([2]);
  });

  it('uses the larger of latest and smoothed RTT for the time threshold (§6.1.2)', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100); // srtt 100
    ld.onPacketSent(pkt(1, 1000));
    ld.onPacketSent(pkt(2, 1001));
    ld.onAck([[2, 3]], 0, 1021); // latest 20, srtt 60 (the median of two samples: rtt.ts)
    expect(ld.rtt.latestRtt).toBe(20);
    expect(ld.rtt.smoothedRtt).toBe(60);
    expect(ld.deadline()).toBeCloseTo(1000 + (9 / 8) * 60, 9);
  });

  it('counts the PTO from the last ack-eliciting packet, not a later ACK-only one (§6.2.1)', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    const due = ld.deadline()!;
    // Acknowledging the peer's data meanwhile must not push our probe back.
    ld.onPacketSent(pkt(1, 200, bare));
    ld.onPacketSent(pkt(2, 300, { ackEliciting: false, size: 30 })); // padding, in flight
    expect(ld.deadline()).toBe(due);
    expect(ld.onTimeout(due).probes).toBe(2);
  });

  it('a PTO never reports persistent congestion', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    const t = ld.onTimeout(ld.deadline()!);
    expect(t).toEqual({ lost: [], probes: 2, persistentCongestion: false });
  });

  it('lists as unacked only outstanding ack-eliciting packets', () => {
    const ld = new LossDetector<string>();
    // All sent at 9 and one acked at 10: nothing is old enough to be lost.
    for (let pn = 0; pn < 5; pn++) ld.onPacketSent(pkt(pn, 9));
    ld.onPacketSent(pkt(5, 9, bare));
    ld.onPacketSent(pkt(6, 9));
    ld.onAck([[2, 3]], 0, 10);
    expect(pns(ld.unacked())).toEqual([0, 1, 3, 4, 6]);
  });

  it('feeds HyStart++ the real RTT: a steady path stays in slow start', () => {
    // Each packet acked 20 ms after it was sent, for 30 rounds.
    const ld = new LossDetector<string>();
    let pn = 0;
    for (let round = 0; round < 30; round++) {
      const t = round * 40;
      const first = pn;
      for (let i = 0; i < 8; i++) ld.onPacketSent(pkt(pn++, t));
      for (let i = 0; i < 8; i++) ld.onAck([[first + i, first + i + 1]], 0, t + 20);
    }
    expect(ld.cc.slowStartDelayExits).toBe(0);
    expect(ld.cc.state).toBe('slow-start');
  });
});

describe('LossDetector: what is in flight', () => {
  it('in-flight packets that elicit no ACK (padding) are never forgotten like bare ACKs', () => {
    const ld = new LossDetector<string>();
    const n = 1100;
    for (let pn = 0; pn < n; pn++) ld.onPacketSent(pkt(pn, 0, { ackEliciting: false, size: 30 }));
    expect(ld.inFlightCount).toBe(n);
    const r = ld.onAck([[0, n]], 0, 10);
    expect(r.acked.length).toBe(n);
    expect(ld.cc.bytesInFlight).toBe(0);
  });

  it('remembers exactly the newest 1024 bare ACK-only packets, counting those already acked', () => {
    const ld = new LossDetector<string>();
    // A padding packet acked first must not free a slot for bare packets.
    ld.onPacketSent(pkt(0, 0, { ackEliciting: false, size: 30 }));
    ld.onAck([[0, 1]], 0, 1);
    for (let pn = 1; pn <= 10; pn++) ld.onPacketSent(pkt(pn, pn, bare));
    ld.onAck([[5, 10]], 0, 20); // five acked in the middle: five fewer to remember
    for (let pn = 11; pn <= 1100; pn++) ld.onPacketSent(pkt(pn, pn, bare));
    const r = ld.onAck([[0, 1101]], 0, 2000);
    expect(r.acked.length).toBe(1024);
    expect(r.acked[0]?.pn).toBe(1100 - 1024 + 1);
  });

  it('a forgotten bare packet is never reported lost', () => {
    const ld = new LossDetector<string>();
    ld.onPacketSent(pkt(0, 0));
    for (let pn = 1; pn <= 1030; pn++) ld.onPacketSent(pkt(pn, 0, bare));
    ld.onPacketSent(pkt(1031, 0));
    const r = ld.onAck([[1031, 1032]], 0, 10);
    // pn 0 is lost; 1..6 were forgotten (not lost); 7..1027 are bare and lost by threshold.
    expect(r.lost[0]?.pn).toBe(0);
    expect(r.lost.some((p) => p.pn >= 1 && p.pn <= 6)).toBe(false);
    expect(ld.inFlightCount).toBe(0);
  });

  it('discards only bytes it counted in flight (a shared controller keeps the rest)', () => {
    const cc = new NewReno();
    cc.onPacketSent(1000); // someone else's bytes
    const ld = new LossDetector<string>({ cc });
    ld.onPacketSent(pkt(0, 0));
    ld.onPacketSent(pkt(1, 1, bare));
    expect(pns(ld.discardAll())).toEqual([0, 1]);
    expect(cc.bytesInFlight).toBe(1000);
  });

  it('a lost path-MTU probe that was not in flight takes no bytes out of flight', () => {
    const cc = new NewReno();
    cc.onPacketSent(1000);
    const ld = new LossDetector<string>({ cc });
    ld.onPacketSent(pkt(0, 0, { pmtuProbe: true, inFlight: false, size: 300 }));
    for (let pn = 1; pn <= 3; pn++) ld.onPacketSent(pkt(pn, 1));
    ld.onAck([[3, 4]], 0, 10);
    expect(cc.bytesInFlight).toBe(1000 + 2 * MSS);
  });
});

describe('LossDetector: spurious losses', () => {
  /** Sends pns 0..n-1 at time 0, acks `acked` at 10 so the rest is lost by threshold. */
  function lose(n: number, acked: [number, number][]): LossDetector<string> {
    const ld = new LossDetector<string>();
    for (let pn = 0; pn < n; pn++) ld.onPacketSent(pkt(pn, 0));
    ld.onAck(acked, 0, 10);
    return ld;
  }

  it('counts exactly the late-acknowledged packets among several lost runs', () => {
    // Lost: 0..2 and 5..7; acked: 3, 4 and 10 (8, 9 within the threshold of 10).
    const ld = lose(11, [
      [10, 11],
      [3, 5],
    ]);
    expect(ld.stats.packetsLost).toBe(6);
    ld.onAck([[1, 2]], 0, 20); // inside the first run
    expect(ld.stats.spuriousLosses).toBe(1);
    ld.onAck([[6, 8]], 0, 21); // the top of the second run
    expect(ld.stats.spuriousLosses).toBe(3);
    ld.onAck([[0, 1]], 0, 22); // the bottom of the first
    expect(ld.stats.spuriousLosses).toBe(4);
    ld.onAck([[0, 11]], 0, 23); // everything: only 2 and 5 are left to count
    expect(ld.stats.spuriousLosses).toBe(6);
  });

  it('remembers the newest 64 runs of lost packets for the count', () => {
    // Every other packet lost: pns 0, 2, ..., 140 (71 runs; 142 is within the
    // threshold of 143), the odd ones acked.
    const ld = new LossDetector<string>();
    const n = 144;
    for (let pn = 0; pn < n; pn++) ld.onPacketSent(pkt(pn, 0));
    const odd: [number, number][] = [];
    for (let pn = n - 1; pn >= 1; pn -= 2) odd.push([pn, pn + 1]);
    ld.onAck(odd, 0, 10);
    expect(ld.stats.packetsLost).toBe(71);
    ld.onAck([[0, n]], 0, 20);
    expect(ld.stats.spuriousLosses).toBe(64);
  });
});

describe('LossDetector: persistent congestion runs (§7.6.2)', () => {
  it('an acknowledgment above the run, even of a lost probe, ends it', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100); // the first sample
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 210));
    ld.onPacketSent(pkt(3, 220));
    ld.onPacketSent(pkt(4, 230, { pmtuProbe: true }));
    ld.onPacketSent(pkt(5, 1400));
    ld.onPacketSent(pkt(6, 1410));
    const r = ld.onAck([[6, 7]], 0, 1500);
    expect(pns(r.lost)).toEqual([1, 2, 3, 4]);
    expect(r.persistentCongestion).toBe(false);
    // The probe (pn 4) arrived after all: 4 was acknowledged between 3 and 5.
    ld.onAck([[4, 5]], 0, 1505);
    const t = ld.onTimeout(ld.deadline()!);
    expect(pns(t.lost)).toEqual([5]);
    expect(t.persistentCongestion).toBe(false);
  });

  it('the same losses with nothing acknowledged in between are persistent congestion', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100);
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 210));
    ld.onPacketSent(pkt(3, 220));
    ld.onPacketSent(pkt(4, 230, { pmtuProbe: true }));
    ld.onPacketSent(pkt(5, 1400));
    ld.onPacketSent(pkt(6, 1410));
    ld.onAck([[6, 7]], 0, 1500);
    const t = ld.onTimeout(ld.deadline()!);
    expect(pns(t.lost)).toEqual([5]);
    // 1400 - 200 = 1200 ms > (98.75 + 4 * 40 + 25) * 3 = 851.25 ms.
    expect(t.persistentCongestion).toBe(true);
  });

  it('needs a span strictly longer than the duration (§7.6.1)', () => {
    function run(span: number): boolean {
      const ld = new LossDetector<string>({ maxAckDelay: 25 });
      ld.onPacketSent(pkt(0, 0));
      ld.onAck([[0, 1]], 0, 100); // srtt 100, rttvar 50
      ld.onPacketSent(pkt(1, 200));
      ld.onPacketSent(pkt(2, 200 + span));
      for (let pn = 3; pn <= 5; pn++) ld.onPacketSent(pkt(pn, 200 + span));
      // Acked 100 ms after it was sent: srtt and rttvar unchanged... rttvar 37.5 then.
      return ld.onAck([[5, 6]], 0, 300 + span).persistentCongestion;
    }
    // rttvar = 0.75 * 50 + 0.25 * 0 = 37.5: (100 + 150 + 25) * 3 = 825.
    expect(run(825)).toBe(false);
    expect(run(826)).toBe(true);
  });

  it('counts only ack-eliciting losses sent after the first RTT sample', () => {
    // Only ACK-only packets acknowledged: no RTT sample, so no basis for a duration.
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(1, 100));
    ld.onPacketSent(pkt(2, 5000));
    for (let pn = 3; pn <= 5; pn++) ld.onPacketSent(pkt(pn, 5000, bare));
    const r = ld.onAck([[3, 6]], 0, 5100);
    expect(r.rttUpdated).toBe(false);
    expect(pns(r.lost)).toEqual([1, 2]);
    expect(r.persistentCongestion).toBe(false);

    // In-flight padding that elicits no ACK is no evidence either.
    const pad = new LossDetector<string>({ maxAckDelay: 25 });
    pad.onPacketSent(pkt(0, 0));
    pad.onAck([[0, 1]], 0, 100);
    pad.onPacketSent(pkt(1, 200, { ackEliciting: false }));
    pad.onPacketSent(pkt(2, 5000, { ackEliciting: false }));
    for (let pn = 3; pn <= 5; pn++) pad.onPacketSent(pkt(pn, 5000));
    const p = pad.onAck([[5, 6]], 0, 5100);
    expect(pns(p.lost)).toEqual([1, 2]);
    expect(p.persistentCongestion).toBe(false);
  });

  it('the ACK that opens a run also bounds it: a later loss above its largest starts afresh', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100);
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 210));
    ld.onPacketSent(pkt(3, 215));
    ld.onPacketSent(pkt(4, 230));
    // 1, 2 and 3 are lost (a run opens), 4 is acknowledged above them, and all
    // four leave the detector's books at once.
    expect(pns(ld.onAck([[4, 5]], 0, 330).lost)).toEqual([1, 2, 3]);
    ld.onPacketSent(pkt(5, 1400));
    for (let pn = 6; pn <= 8; pn++) ld.onPacketSent(pkt(pn, 1410));
    const r = ld.onAck([[8, 9]], 0, 1510);
    expect(pns(r.lost)).toEqual([5]);
    // 1 and 5 are 1200 ms apart, but 4 was acknowledged between them.
    expect(r.persistentCongestion).toBe(false);
  });

  it('the lowest acknowledgment above a run bounds it, not the highest', () => {
    const ld = new LossDetector<string>({ maxAckDelay: 25 });
    ld.onPacketSent(pkt(0, 0));
    ld.onAck([[0, 1]], 0, 100);
    ld.onPacketSent(pkt(1, 200));
    ld.onPacketSent(pkt(2, 210));
    ld.onPacketSent(pkt(3, 215));
    ld.onPacketSent(pkt(4, 1395));
    ld.onPacketSent(pkt(5, 1400));
    ld.onPacketSent(pkt(6, 1410));
    // 1..3 lost; 4 and 6 acknowledged; 5 pending between them.
    const r = ld.onAck(
      [
        [6, 7],
        [4, 5],
      ],
      0,
      1500,
    );
    expect(pns(r.lost)).toEqual([1, 2, 3]);
    const t = ld.onTimeout(ld.deadline()!);
    expect(pns(t.lost)).toEqual([5]);
    // 4, acknowledged, lies between 3 and 5: no persistent congestion.
    expect(t.persistentCongestion).toBe(false);
  });
});
