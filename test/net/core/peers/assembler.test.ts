import { describe, expect, it } from 'vitest';
import type { Addr } from '../../../../source/net/core/address.js';
import {
  MAX_PAYLOAD,
  type SentFrames,
  type Session,
} from '../../../../source/net/core/conn/session.js';
import { closePacket, PacketAssembler } from '../../../../source/net/core/peers/assembler.js';
import { Outbound } from '../../../../source/net/core/peers/outbound.js';
import type { SentPacket } from '../../../../source/net/recovery/sentlog.js';
import { type AckFrame, ackFrameLength, type Frame } from '../../../../source/net/wire/frames.js';
import { openSealed, testSession } from '../../../support/session.js';

/**
 * Packet assembly for one peer (assembler.ts) on its own, on a real Session
 * with real keys: what each flush puts on the wire (decoded), under the
 * congestion window, the pacer and the probe timeout; what the session's
 * loss recovery records for each packet (its frames, whether it counts in
 * flight, whether it is an MTU probe); how a large ACK is cut to half a
 * packet keeping the newest ranges; whether the window is app-limited after
 * a flush (RFC 9002 §7.8); and what a CLOSE carries. Every send decision of
 * the assembler is asserted through what leaves or what is recorded.
 */

const PATH: Addr = { address: '203.0.113.1', port: 4001 };
const APP = 0;

interface Sent {
  to: Addr;
  pn: number;
  frames: Frame[];
}

function setup(opts: { maxDatagram?: number } = {}) {
  const { session, sendKey } = testSession({
    path: PATH,
    ...(opts.maxDatagram !== undefined ? { maxDatagram: opts.maxDatagram } : {}),
  });
  const open = (data: Buffer): { pn: number; frames: Frame[] } => openSealed(sendKey, data);
  const sent: Sent[] = [];
  const sizes: number[] = [];
  const host = {
    transmit(to: Addr, data: Buffer): void {
      sizes.push(data.length);
      sent.push({ to, ...open(data) });
    },
  };
  const out = new Outbound();
  const asm = new PacketAssembler(host, () => out.streams);
  return { s: session, out, asm, sent, sizes, open };
}

/** Ack-eliciting packets `pns` received at `now` (two or more make the ACK due at once). */
function receive(s: Session, pns: Iterable<number>, now = 0): void {
  for (const pn of pns) s.onPacketReceived(pn, true, now);
}

const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from }, (_, i) => from + i);

const bytes = (n: number, fill = 7) => new Uint8Array(n).fill(fill);

const types = (p: Sent) => p.frames.map((f) => f.type);

const streamFrames = (p: Sent) =>
  p.frames.flatMap((f) =>
    f.type === 'stream' ? [[f.streamId, f.offset, f.data.length] as [number, number, number]] : [],
  );

const ackOf = (p: Sent): AckFrame => {
  const a = p.frames.find((f) => f.type === 'ack');
  if (a?.type !== 'ack') throw new Error('no ACK frame');
  return a;
};

const records = (s: Session): SentPacket<SentFrames>[] => [...s.loss.unacked()];

/**
 * Whether the window is app-limited now (RFC 9002 §7.8): an acknowledged
 * packet grows a slow-start window only when it is not.
 */
function windowGrowsOnAck(s: Session): boolean {
  const cc = s.loss.cc;
  const before = cc.congestionWindow;
  cc.onPacketSent(1000);
  cc.onPacketAcked(1000, 0, 0);
  return cc.congestionWindow > before;
}

/** Fills the congestion window without sending anything. */
const fillWindow = (s: Session) => {
  s.loss.cc.bytesInFlight = s.loss.cc.congestionWindow;
};

describe('PacketAssembler: a non-current session (flushOther)', () => {
  it('sends only an ACK, only once it is due: no data, no PING, pingRequested and probes kept', () => {
    const { s, out, asm, sent } = setup();
    out.queue(1, APP, bytes(100));
    asm.pingRequested = true;
    asm.probesPending = 1;
    // One ack-eliciting packet without data: its ACK may wait max_ack_delay.
    receive(s, [0], 0);
    expect(s.hasAckToSend).toBe(true);
    asm.flushOther(s, 0);
    expect(sent).toEqual([]);
    asm.flushOther(s, 5);
    expect(sent).toHaveLength(1);
    expect(types(sent[0]!)).toEqual(['ack']);
    expect(ackOf(sent[0]!).ranges).toEqual([[0, 1]]);
    // An ACK-only packet is not ack-eliciting: what was asked for is still owed.
    expect(asm.pingRequested).toBe(true);
    expect(asm.probesPending).toBe(1);
    expect(records(s)).toEqual([]);
    expect(s.loss.cc.bytesInFlight).toBe(0);
    // Nothing more to acknowledge: nothing more goes.
    asm.flushOther(s, 10);
    expect(sent).toHaveLength(1);
  });
});

describe('PacketAssembler: the current session (flushCurrent)', () => {
  it('data waits for the congestion window; a probe carries data anyway', () => {
    const { s, out, asm, sent, sizes } = setup();
    out.queue(1, APP, bytes(20_000));
    asm.flushCurrent(s, 0);
    // The initial window holds ten packets; then the window, not the pacer, stops it.
    expect(sent).toHaveLength(10);
    for (const p of sent) expect(types(p)).toEqual(['stream']);
    expect(s.loss.cc.bytesInFlight).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(s.loss.cc.canSend(s.pmtu.size)).toBe(false);
    expect(asm.pacingDeadline).toBeUndefined();
    // Data is waiting on a full window: not app-limited.
    expect(windowGrowsOnAck(s)).toBe(true);
    // Each record is in flight and names its one STREAM frame.
    const recs = records(s);
    expect(recs).toHaveLength(10);
    let offset = 0;
    for (const [i, r] of recs.entries()) {
      const [[id, off, len]] = streamFrames(sent[i]!) as [[number, number, number]];
      expect(r).toMatchObject({ pn: sent[i]!.pn, ackEliciting: true, inFlight: true });
      expect(r.size).toBe(sizes[i]);
      expect(r.frames).toEqual({
        streamId: id,
        offset: off,
        length: len,
        more: [],
        ackLargest: -1,
      });
      expect(off).toBe(offset);
      offset += len;
    }
    // A flush with the window still full sends nothing.
    s.loss.cc.bytesInFlight = s.loss.cc.congestionWindow;
    asm.flushCurrent(s, 1);
    expect(sent).toHaveLength(10);
    // A PTO probe is not held by the window, and it carries data rather than a bare PING.
    asm.probesPending = 1;
    asm.flushCurrent(s, 2);
    expect(sent).toHaveLength(11);
    expect(types(sent[10]!)).toEqual(['stream']);
    expect(streamFrames(sent[10]!)[0]![1]).toBe(offset);
    expect(asm.probesPending).toBe(0);
  });

  it('a PING requested while the window is full goes alone, without the waiting data', () => {
    const { s, out, asm, sent } = setup();
    out.queue(1, APP, bytes(100));
    fillWindow(s);
    asm.pingRequested = true;
    asm.flushCurrent(s, 0);
    expect(sent.map(types)).toEqual([['ping']]);
    expect(asm.pingRequested).toBe(false);
    // Only probe packets count probes down.
    expect(asm.probesPending).toBe(0);
    expect(records(s)).toHaveLength(1);
    expect(records(s)[0]!.frames).toEqual({
      streamId: -1,
      offset: 0,
      length: 0,
      more: [],
      ackLargest: -1,
    });
    expect(out.stream(APP).hasDataToSend).toBe(true);
  });

  it('when the pacer says later, no data goes now and the pacing deadline is set', () => {
    const { s, out, asm, sent } = setup();
    out.queue(1, APP, bytes(5000));
    const cc = s.loss.cc;
    const srtt = s.loss.rtt.smoothedRtt;
    // Empty the pacer's bucket (a burst just left).
    s.pacer.onPacketSent(100_000, cc.congestionWindow, srtt, 0);
    asm.flushCurrent(s, 0);
    expect(sent).toEqual([]);
    expect(cc.canSend(s.pmtu.size)).toBe(true);
    const at = asm.pacingDeadline;
    expect(at).toBeDefined();
    expect(at!).toBeGreaterThan(0);
    // Paced, not app-limited: the window still grows.
    expect(windowGrowsOnAck(s)).toBe(true);
    // At the deadline one packet of data goes.
    asm.flushCurrent(s, at!);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(types(sent[0]!)).toEqual(['stream']);
  });

  it('nothing to send with room in the window: nothing goes, and the window is app-limited', () => {
    const { s, asm, sent } = setup();
    asm.flushCurrent(s, 0);
    expect(sent).toEqual([]);
    expect(asm.pacingDeadline).toBeUndefined();
    expect(windowGrowsOnAck(s)).toBe(false);
  });

  it('a full window with nothing to send is not app-limited', () => {
    const { s, asm, sent } = setup();
    fillWindow(s);
    asm.flushCurrent(s, 0);
    expect(sent).toEqual([]);
    expect(windowGrowsOnAck(s)).toBe(true);
  });

  it('probes are counted down only by probe packets, a PING only when nothing else elicits', () => {
    const { s, out, asm, sent } = setup();
    asm.pingRequested = true;
    asm.flushCurrent(s, 0);
    expect(sent.map(types)).toEqual([['ping']]);
    expect(asm.probesPending).toBe(0);
    expect(asm.pingRequested).toBe(false);
    // Two probes owed with nothing to send: two PINGs, and no more.
    asm.probesPending = 2;
    asm.flushCurrent(s, 1);
    expect(sent.map(types)).toEqual([['ping'], ['ping'], ['ping']]);
    expect(asm.probesPending).toBe(0);
    // With data, a requested PING is not needed: the data elicits.
    out.queue(1, APP, bytes(10));
    asm.pingRequested = true;
    asm.flushCurrent(s, 2);
    expect(sent.map(types)).toEqual([['ping'], ['ping'], ['ping'], ['stream']]);
    expect(asm.pingRequested).toBe(false);
  });

  it('an ACK goes with what else is sent, once: a later packet does not repeat it', () => {
    const { s, out, asm, sent } = setup();
    receive(s, range(0, 5));
    out.queue(1, APP, bytes(10));
    asm.flushCurrent(s, 0);
    expect(sent.map(types)).toEqual([['ack', 'stream']]);
    expect(ackOf(sent[0]!).ranges).toEqual([[0, 5]]);
    expect(s.hasAckToSend).toBe(false);
    // The record names the largest packet number that ACK acknowledged.
    expect(records(s)[0]!.frames).toEqual({
      streamId: APP,
      offset: 0,
      length: 11,
      more: [],
      ackLargest: 4,
    });
    asm.pingRequested = true;
    asm.flushCurrent(s, 1);
    expect(sent.map(types)).toEqual([['ack', 'stream'], ['ping']]);
  });

  it('an ACK-only packet is neither recorded nor counted in flight', () => {
    const { s, asm, sent } = setup();
    receive(s, range(0, 3));
    asm.flushCurrent(s, 0);
    expect(sent.map(types)).toEqual([['ack']]);
    expect(records(s)).toEqual([]);
    expect(s.loss.cc.bytesInFlight).toBe(0);
  });

  it('three STREAM frames in one packet: the record lists every further frame', () => {
    const { s, out, asm, sent } = setup();
    out.queue(1, APP, bytes(10));
    out.queue(2, 2, bytes(20));
    out.queue(3, 4, bytes(30));
    asm.flushCurrent(s, 0);
    expect(sent).toHaveLength(1);
    expect(streamFrames(sent[0]!)).toEqual([
      [APP, 0, 11],
      [2, 0, 21],
      [4, 0, 31],
    ]);
    expect(records(s)[0]!.frames).toEqual({
      streamId: APP,
      offset: 0,
      length: 11,
      more: [2, 0, 21, 4, 0, 31],
      ackLargest: -1,
    });
    expect(asm.retransmits).toBe(0);
  });

  it('retransmits counts the chunks sent again, only those', () => {
    const { s, out, asm, sent } = setup();
    out.queue(1, APP, bytes(50));
    asm.flushCurrent(s, 0);
    expect(asm.retransmits).toBe(0);
    out.stream(APP).onLost(10, 20);
    out.queue(2, 2, bytes(5));
    asm.flushCurrent(s, 1);
    expect(streamFrames(sent[1]!)).toEqual([
      [APP, 10, 20],
      [2, 0, 6],
    ]);
    expect(asm.retransmits).toBe(1);
  });

  it('a stream that claims data but has none left to send: nothing goes on the wire', () => {
    const { s, out, asm, sent } = setup();
    out.queue(1, APP, bytes(50));
    asm.flushCurrent(s, 0);
    expect(sent).toHaveLength(1);
    const st = out.stream(APP);
    // The tail is acknowledged out of order, then declared lost: it is owed
    // nothing, yet the stream says it has data until it looks.
    st.onAcked(5, 46);
    st.onLost(5, 46);
    expect(st.hasDataToSend).toBe(true);
    const packets = s.packetsSent;
    asm.flushCurrent(s, 1);
    expect(sent).toHaveLength(1);
    expect(s.packetsSent).toBe(packets);
    expect(st.hasDataToSend).toBe(false);
  });

  it('a STREAM frame starts only with more than its header and 16 bytes of room left', () => {
    const { s, out, asm, sent } = setup();
    // Stream 0 leaves exactly a header (12) and 16 bytes of the 1,170-byte
    // payload after its own frame (5 bytes of header): not enough to start one.
    out.queue(1, APP, bytes(1135));
    expect(out.unacknowledgedBytes).toBe(1137);
    out.queue(2, 2, bytes(100));
    asm.flushCurrent(s, 0);
    expect(MAX_PAYLOAD).toBe(1170);
    expect(streamFrames(sent[0]!)).toEqual([[APP, 0, 1137]]);
    expect(streamFrames(sent[1]!)).toEqual([[2, 0, 102]]);
    // One byte more room: stream 2 starts in the first packet.
    const b = setup();
    b.out.queue(1, APP, bytes(1134));
    b.out.queue(2, 2, bytes(100));
    b.asm.flushCurrent(b.s, 0);
    expect(streamFrames(b.sent[0]!)).toEqual([
      [APP, 0, 1136],
      [2, 0, 17],
    ]);
  });

  it('one flush sends at most 10,000 packets, and a window left unfilled then is not app-limited', () => {
    const { s, out, asm, sent } = setup();
    // More data than 10,000 packets carry, over three streams (each has its own send window).
    for (const id of [APP, 2, 4]) out.queue(id + 1, id, bytes(4_000_000));
    s.loss.cc.congestionWindow = 1e12;
    asm.probesPending = 20_000;
    asm.flushCurrent(s, 0);
    expect(sent).toHaveLength(10_000);
    expect(asm.probesPending).toBe(10_000);
    expect(asm.hasStreamData()).toBe(true);
    expect(windowGrowsOnAck(s)).toBe(true);
  });
});

describe('PacketAssembler: ACK frames', () => {
  /** 64 ranges (the most remembered) far apart, each of `lengths[i]` packets, oldest first. */
  function receiveRanges(s: Session, lengths: number[]): [number, number][] {
    const out: [number, number][] = [];
    for (const [i, len] of lengths.entries()) {
      const lo = (i + 1) * 2 ** 32;
      receive(s, range(lo, lo + len));
      out.unshift([lo, lo + len]);
    }
    return out;
  }

  it('an ACK of many ranges is cut to half a packet, keeping the newest', () => {
    const { s, asm, sent } = setup();
    const all = receiveRanges(s, new Array(64).fill(65));
    asm.flushCurrent(s, 0);
    expect(sent.map(types)).toEqual([['ack']]);
    const { ranges, ackDelayMicros } = ackOf(sent[0]!);
    expect(ackFrameLength(all, 0)).toBeGreaterThan(MAX_PAYLOAD / 2);
    expect(ackFrameLength(ranges, ackDelayMicros)).toBeLessThanOrEqual(MAX_PAYLOAD / 2);
    // As many of the newest as fit: one more would not.
    expect(ranges).toEqual(all.slice(0, ranges.length));
    expect(ackFrameLength(all.slice(0, ranges.length + 1), 0)).toBeGreaterThan(MAX_PAYLOAD / 2);
    expect(ranges).toHaveLength(58);
  });

  it('an ACK of exactly half a packet is not cut', () => {
    const { s, asm, sent } = setup();
    // The newest range is one packet; of the 63 before it six are 65 packets long.
    const lengths = [...new Array(57).fill(1), ...new Array(6).fill(65), 1];
    const all = receiveRanges(s, lengths);
    expect(all).toHaveLength(64);
    expect(ackFrameLength(all, 0)).toBe(MAX_PAYLOAD / 2);
    asm.flushCurrent(s, 0);
    expect(ackOf(sent[0]!).ranges).toEqual(all);
  });

  it('a small ACK keeps every range', () => {
    const { s, asm, sent } = setup();
    receive(s, [0, 2, 4, 5, 9]);
    asm.flushCurrent(s, 0);
    expect(ackOf(sent[0]!).ranges).toEqual([
      [9, 10],
      [4, 6],
      [2, 3],
      [0, 1],
    ]);
  });
});

describe('PacketAssembler: path-MTU probes', () => {
  it('a due probe is a padded PING at the size tried, recorded in flight as an MTU probe with nothing to resend', () => {
    const { s, asm, sent, sizes } = setup({ maxDatagram: 1452 });
    const size = s.pmtu.probeSize(0);
    expect(size).toBeGreaterThan(s.pmtu.size);
    asm.flushCurrent(s, 0);
    expect(sent.map(types)).toEqual([['ping']]);
    expect(sizes).toEqual([size]);
    expect(records(s)).toEqual([
      {
        pn: sent[0]!.pn,
        timeSent: 0,
        size,
        ackEliciting: true,
        inFlight: true,
        pmtuProbe: true,
        frames: { streamId: -1, offset: 0, length: 0, more: [], ackLargest: -1 },
      },
    ]);
    expect(s.loss.cc.bytesInFlight).toBe(size);
    // One probe at a time.
    asm.flushCurrent(s, 1);
    expect(sent).toHaveLength(1);
  });

  it('no probe without room for it in the window', () => {
    const { s, asm, sent } = setup({ maxDatagram: 1452 });
    fillWindow(s);
    asm.flushCurrent(s, 0);
    expect(sent).toEqual([]);
    expect(s.pmtu.probeSize(0)).toBeDefined();
  });
});

describe('closePacket', () => {
  it('a CLOSE acknowledges what was received first, at most the 16 newest ranges', () => {
    const { s, open } = setup();
    const pns = range(0, 20).map((i) => 2 * i);
    receive(s, pns);
    const { frames } = open(closePacket(s, 7, 'bye', 0));
    expect(frames.map((f) => f.type)).toEqual(['ack', 'close']);
    const ack = frames[0] as AckFrame;
    expect(ack.ranges).toEqual(
      pns
        .slice(-16)
        .reverse()
        .map((pn) => [pn, pn + 1]),
    );
    expect(frames[1]).toEqual({ type: 'close', code: 7, reason: 'bye' });
    expect(s.hasAckToSend).toBe(false);
  });

  it('nothing received: a CLOSE alone', () => {
    const { s, open } = setup();
    const { frames } = open(closePacket(s, 1, '', 0));
    expect(frames).toEqual([{ type: 'close', code: 1, reason: '' }]);
  });
});
