/**
 * The sent-packet log (sentlog.ts) on its own: what it counts (RFC 9002 A.8's
 * ack-eliciting packets outstanding, §6.2.1; bytes in flight, B.2) and what it
 * holds on to. A session that runs for hours must retain only the packets still
 * awaiting their fate, must not copy its arrays on every ACK, and must stop
 * remembering ACK-only packets a silent peer will never acknowledge. These
 * bounds are the class's contract (its header); the LossDetector tests cover
 * the decisions made on top of it.
 */
import { describe, expect, it } from 'vitest';
import {
  ACKED,
  DROPPED,
  LIVE,
  LOST,
  SentLog,
  type SentPacket,
} from '../../../source/net/recovery/sentlog.js';

/** sentlog.ts's COMPACT_MIN, KEEP_DRAINED and MAX_BARE_TRACKED, as its header states them. */
const COMPACT_MIN = 1024;
const KEEP_DRAINED = 256;
const MAX_BARE = 1024;

function pkt(pn: number, opts: Partial<SentPacket<number>> = {}): SentPacket<number> {
  return { pn, timeSent: pn, size: 1200, ackEliciting: true, inFlight: true, frames: pn, ...opts };
}
const bare = { ackEliciting: false, inFlight: false, size: 20 } as const;

/** Packets the log still references (what it keeps alive). */
function retained(log: SentLog<number>): number {
  let n = 0;
  for (const p of log.packets) if (p !== undefined) n++;
  return n;
}

/** Settles packet `pn` (which must be tracked and live) as `state`. */
function settlePn(log: SentLog<number>, pn: number, state: typeof ACKED | typeof LOST): void {
  const i = log.lowerBound(pn);
  expect(log.packets[i]?.pn).toBe(pn);
  expect(log.states[i]).toBe(LIVE);
  log.settle(i, state);
}

/** The state of packet `pn`, or undefined once it is no longer tracked. */
function stateOf(log: SentLog<number>, pn: number): number | undefined {
  const i = log.lowerBound(pn);
  return i < log.tail && log.packets[i]?.pn === pn ? log.states[i] : undefined;
}

describe('SentLog: what it counts', () => {
  it('counts ack-eliciting packets outstanding and packets in flight, by kind, as they settle', () => {
    const log = new SentLog<number>();
    log.append(pkt(0)); // data: ack-eliciting, in flight
    log.append(pkt(1, { ackEliciting: false, size: 30 })); // padding: in flight only
    log.append(pkt(2, bare)); // ACK-only: neither
    log.append(pkt(3));
    expect(log.ackElicitingOutstanding).toBe(2);
    expect(log.inFlightCount).toBe(3);
    settlePn(log, 1, ACKED);
    expect([log.ackElicitingOutstanding, log.inFlightCount]).toEqual([2, 2]);
    settlePn(log, 2, ACKED);
    expect([log.ackElicitingOutstanding, log.inFlightCount]).toEqual([2, 2]);
    settlePn(log, 0, LOST);
    expect([log.ackElicitingOutstanding, log.inFlightCount]).toEqual([1, 1]);
    settlePn(log, 3, ACKED);
    expect([log.ackElicitingOutstanding, log.inFlightCount]).toEqual([0, 0]);
  });

  it('clear forgets everything, including how many ACK-only packets it remembered', () => {
    const log = new SentLog<number>();
    for (let pn = 0; pn < MAX_BARE; pn++) log.append(pkt(pn, bare));
    log.append(pkt(MAX_BARE));
    log.clear();
    expect([log.head, log.tail, log.ackElicitingOutstanding, log.inFlightCount]).toEqual([
      0, 0, 0, 0,
    ]);
    expect(retained(log)).toBe(0);
    // A full allowance of ACK-only packets again, none forgotten.
    for (let pn = 2000; pn < 2000 + MAX_BARE; pn++) log.append(pkt(pn, bare));
    expect(stateOf(log, 2000)).toBe(LIVE);
    expect(log.tail - log.head).toBe(MAX_BARE);
  });
});

describe('SentLog: what it retains', () => {
  it('a long transfer acknowledged in order retains only its unacknowledged window', () => {
    const log = new SentLog<number>();
    const window = 16;
    let maxSlots = 0;
    for (let pn = 0; pn < 10_000; pn++) {
      log.append(pkt(pn));
      if (pn >= window) settlePn(log, pn - window, ACKED);
      log.compact();
      expect(retained(log)).toBe(Math.min(pn + 1, window));
      expect(log.states[log.head]).toBe(LIVE);
      maxSlots = Math.max(maxSlots, log.packets.length);
    }
    // The dead prefix is reclaimed once it reaches COMPACT_MIN: storage stays near that size
    // however long the transfer runs.
    expect(maxSlots).toBeLessThanOrEqual(COMPACT_MIN + window + 1);
    expect(log.ackElicitingOutstanding).toBe(window);
  });

  it('settled packets behind a live one are released as soon as it settles', () => {
    const log = new SentLog<number>();
    for (let pn = 0; pn < 100; pn++) log.append(pkt(pn));
    for (let pn = 1; pn < 100; pn++) settlePn(log, pn, ACKED);
    log.compact();
    // pn 0 awaits its fate (loss detection will declare it): everything behind it stays put.
    expect(log.head).toBe(0);
    expect(retained(log)).toBe(100);
    settlePn(log, 0, LOST);
    log.compact();
    expect(retained(log)).toBe(0);
    expect([log.head, log.tail]).toEqual([0, 0]);
  });

  it('moves the live packets down once the dead prefix is at least 1024 and more than half', () => {
    const log = new SentLog<number>();
    for (let pn = 0; pn < 2000; pn++) log.append(pkt(pn));
    for (let pn = 0; pn < 1200; pn++) settlePn(log, pn, ACKED);
    log.compact();
    expect([log.head, log.tail]).toEqual([0, 800]);
    expect(log.packets[0]?.pn).toBe(1200);
    expect(log.packets[799]?.pn).toBe(1999);
    expect(retained(log)).toBe(800);
    expect(log.states.slice(0, 800).every((s) => s === LIVE)).toBe(true);
    // Still searchable, and appends continue after the moved packets.
    expect(log.lowerBound(1500)).toBe(300);
    log.append(pkt(2000));
    expect(log.packets[800]?.pn).toBe(2000);
    expect(stateOf(log, 2000)).toBe(LIVE);
  });

  it('does not copy while the dead prefix is under 1024, or not more than half', () => {
    // Copying on every ACK would cost work proportional to the window per packet.
    const cases = [
      { total: 1100, dead: 1023, moved: false },
      { total: 2048, dead: 1024, moved: false },
      { total: 2047, dead: 1024, moved: true },
      { total: 1025, dead: 1024, moved: true },
    ];
    for (const { total, dead, moved } of cases) {
      const log = new SentLog<number>();
      for (let pn = 0; pn < total; pn++) log.append(pkt(pn));
      for (let pn = 0; pn < dead; pn++) settlePn(log, pn, ACKED);
      log.compact();
      const label = `${dead} dead of ${total}`;
      expect([log.head, log.tail], label).toEqual(moved ? [0, total - dead] : [dead, total]);
      expect(retained(log), label).toBe(total - dead);
      expect(log.packets[log.head]?.pn, label).toBe(dead);
    }
  });

  it('a drained log frees large arrays and keeps small ones for reuse', () => {
    for (const n of [KEEP_DRAINED, KEEP_DRAINED + 1]) {
      const log = new SentLog<number>();
      for (let pn = 0; pn < n; pn++) log.append(pkt(pn));
      const packets = log.packets;
      for (let pn = 0; pn < n; pn++) settlePn(log, pn, ACKED);
      log.compact();
      expect([log.head, log.tail]).toEqual([0, 0]);
      expect(retained(log)).toBe(0);
      if (n <= KEEP_DRAINED) {
        // A ping-pong drains the log on every ACK: the same storage is used again.
        expect(log.packets).toBe(packets);
        expect(log.packets.length).toBe(n);
      } else {
        expect(log.packets.length).toBe(0);
        expect(log.states.length).toBe(0);
      }
      log.append(pkt(n));
      expect(log.packets[0]?.pn).toBe(n);
      expect([log.head, log.tail]).toEqual([0, 1]);
      expect(log.packets.length).toBe(n <= KEEP_DRAINED ? n : 1);
    }
  });
});

describe('SentLog: ACK-only packets a peer may never acknowledge (RFC 9000 §13.2.1)', () => {
  it('remembers the newest 1024 live ones and forgets the oldest beyond that', () => {
    const log = new SentLog<number>();
    for (let pn = 0; pn < MAX_BARE + 3; pn++) log.append(pkt(pn, bare));
    expect([0, 1, 2].map((pn) => stateOf(log, pn))).toEqual([undefined, undefined, undefined]);
    expect(stateOf(log, 3)).toBe(LIVE);
    expect(log.tail - log.head).toBe(MAX_BARE);
    expect(retained(log)).toBe(MAX_BARE);
  });

  it('forgets a bare packet only while it is live, and never an ack-eliciting one', () => {
    const log = new SentLog<number>();
    log.append(pkt(0)); // data, outstanding: pins the front of the log
    for (let pn = 1; pn <= 10; pn++) log.append(pkt(pn, bare));
    for (let pn = 1; pn <= 5; pn++) settlePn(log, pn, ACKED);
    // 5 bare packets live: room for 1019 more before any is forgotten.
    for (let pn = 11; pn < 11 + MAX_BARE - 5; pn++) log.append(pkt(pn, bare));
    expect(stateOf(log, 6)).toBe(LIVE);
    log.append(pkt(2000, bare));
    expect(stateOf(log, 6)).toBe(DROPPED);
    expect(stateOf(log, 7)).toBe(LIVE);
    expect(stateOf(log, 0)).toBe(LIVE);
    expect(stateOf(log, 5)).toBe(ACKED);
    expect(log.ackElicitingOutstanding).toBe(1);
  });

  it('a peer that never acknowledges: memory stays bounded over 100,000 ACK-only packets', () => {
    const log = new SentLog<number>();
    let maxSlots = 0;
    let maxBare = 0;
    for (let pn = 0; pn < 100_000; pn++) {
      log.append(pkt(pn, bare));
      maxSlots = Math.max(maxSlots, log.packets.length);
      maxBare = Math.max(maxBare, log.bareSlots);
    }
    expect(retained(log)).toBe(MAX_BARE);
    expect(stateOf(log, 100_000 - MAX_BARE)).toBe(LIVE);
    expect(stateOf(log, 100_000 - MAX_BARE - 1)).toBeUndefined();
    expect(maxSlots).toBeLessThanOrEqual(COMPACT_MIN + MAX_BARE + 1);
    expect(maxBare).toBeLessThanOrEqual(2 * (COMPACT_MIN + MAX_BARE));
    // One packet forgotten per packet sent, and a copy of the list (about 1024 entries) once
    // in 1024 packets: about two steps per packet, never a walk or a copy per packet.
    expect(log.bareWork).toBeLessThanOrEqual(2 * 100_000 + 100_000 / 8);
  });

  it('a peer that acknowledges them: the list of ACK-only packets stays bounded too', () => {
    // Acknowledged ACK-only packets (the peer sent something ack-eliciting now and then) are
    // skipped at the list's head; were they not, the list would grow by one per packet.
    const log = new SentLog<number>();
    let maxBare = 0;
    for (let pn = 0; pn < 50_000; pn++) {
      log.append(pkt(pn, bare));
      if (pn >= 4) settlePn(log, pn - 4, ACKED);
      log.compact();
      maxBare = Math.max(maxBare, log.bareSlots);
    }
    expect(retained(log)).toBe(4);
    expect(maxBare).toBeLessThanOrEqual(2 * COMPACT_MIN + 8);
    // One acknowledged entry skipped per packet, and the few live entries copied once in
    // 1024 packets, not every time the skipped ones outnumber them.
    expect(log.bareWork).toBeLessThanOrEqual(50_000 + 50_000 / 8);
  });

  it('acknowledged ACK-only packets held behind an outstanding one are skipped all the same', () => {
    // pn 0 (data) keeps every later entry in the log; the acknowledged ACK-only ones among
    // them must still leave the list of ACK-only packets to forget.
    const log = new SentLog<number>();
    log.append(pkt(0));
    let maxBare = 0;
    for (let pn = 1; pn < 20_000; pn++) {
      log.append(pkt(pn, bare));
      if (pn > 4) settlePn(log, pn - 4, ACKED);
      maxBare = Math.max(maxBare, log.bareSlots);
    }
    expect(stateOf(log, 0)).toBe(LIVE);
    expect(maxBare).toBeLessThanOrEqual(2 * COMPACT_MIN + 8);
  });
});
