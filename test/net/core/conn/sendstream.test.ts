import { describe, expect, it } from 'vitest';
import { SendStream } from '../../../../source/net/core/conn/sendstream.js';

/**
 * SendStream's bounds and framing details not covered by stream.test.ts's
 * simulations (found by mutation testing, test/mutation-survivors.md): what a
 * long-lived stream keeps referencing once its data is acknowledged, and how a
 * message's length header travels.
 */

/** Every chunk the stream would send now, `max` bytes at most each, as [offset, bytes]. */
function drain(s: SendStream, max: number): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  for (let c = s.nextChunk(max); c; c = s.nextChunk(max)) {
    out.push([c.offset, Buffer.from(c.data)]);
  }
  return out;
}

describe('SendStream: memory of a long-lived stream', () => {
  it('holds a bounded number of slots however many messages were acknowledged', () => {
    const s = new SendStream(1);
    let maxSlots = 0;
    const done: number[] = [];
    // A chat: small messages, each sent and acknowledged before the next few.
    for (let id = 0; id < 20_000; id++) {
      s.write(id, Buffer.from(`message ${id}`));
      for (const [offset, data] of drain(s, 1200)) {
        for (const m of s.onAcked(offset, data.length)) done.push(m.id);
      }
      maxSlots = Math.max(maxSlots, s.slotsHeld);
    }
    expect(done.length).toBe(20_000);
    expect(done[19_999]).toBe(19_999);
    expect(s.pendingMessages()).toEqual([]);
    // One slot per message (its header and bytes are one record); released ones are
    // dropped once they pass 1024 and are the larger part: about 1024 slots, never
    // one per message ever sent.
    expect(maxSlots).toBeLessThanOrEqual(1025 + 1);
  });

  it('acknowledged out of order, it still releases everything below the acknowledged prefix', () => {
    const s = new SendStream(1);
    let maxSlots = 0;
    for (let round = 0; round < 500; round++) {
      for (let i = 0; i < 10; i++) s.write(round * 10 + i, Buffer.alloc(100, i));
      const chunks = drain(s, 1200);
      // The last chunk first, then the rest: the prefix moves only with the first.
      for (const [offset, data] of [...chunks].reverse()) s.onAcked(offset, data.length);
      maxSlots = Math.max(maxSlots, s.slotsHeld);
    }
    expect(s.unacknowledged).toBe(0);
    expect(maxSlots).toBeLessThanOrEqual(1025 + 10);
  });
});

describe('SendStream: work of a long-lived stream', () => {
  // A full window in flight, then acknowledged packet by packet, three times: compacting on
  // every ack, or every 1024 acks, would move every slot left each time (millions of
  // moves); compacting once the released part is the larger one moves a few per ack.
  // Every message takes one slot (its header and its bytes are one record).
  it.each([
    { n: 3000, size: 1000, chunksPerMessage: 2, slotsPerMessage: 1 },
    { n: 20_000, size: 100, chunksPerMessage: 2, slotsPerMessage: 1 },
  ])(
    '$n messages of $size bytes in flight: a few slots moved per ack',
    ({ n, size, chunksPerMessage, slotsPerMessage }) => {
      const s = new SendStream(1);
      const rounds = 3;
      let done = 0;
      let maxSlots = 0;
      for (let round = 0; round < rounds; round++) {
        for (let id = 0; id < n; id++) s.write(id, Buffer.alloc(size, id & 0xff));
        const chunks = drain(s, size + 2);
        expect(chunks.length).toBe(chunksPerMessage * n);
        maxSlots = Math.max(maxSlots, s.slotsHeld);
        for (const [offset, data] of chunks) done += s.onAcked(offset, data.length).length;
      }
      expect(done).toBe(rounds * n);
      expect(s.compactWork).toBeGreaterThan(0);
      expect(s.compactWork).toBeLessThanOrEqual(3 * rounds * slotsPerMessage * n);
      // What earlier windows released is not held into the next: a window's slots plus at
      // most 1024 released ones.
      expect(maxSlots).toBeLessThanOrEqual(slotsPerMessage * n + 1025);
    },
  );
});

describe('SendStream: where a length header travels', () => {
  it("a segment of its own, the bytes the caller's (nextChunk gives one segment at a time)", () => {
    const s = new SendStream(1);
    const data = Buffer.alloc(1024, 7);
    s.write(1, data);
    const chunks: Uint8Array[] = [];
    for (let c = s.nextChunk(4000); c; c = s.nextChunk(4000)) chunks.push(c.data);
    expect(chunks.map((d) => d.length)).toEqual([2, 1024]);
    expect(chunks[1]).toBe(data); // no copy of the message
  });

  it('a run may cut through a length header: its bytes still come out right, piece by piece', () => {
    const s = new SendStream(1);
    s.write(1, Buffer.alloc(300, 5)); // header 0x41 0x2c
    s.write(2, Buffer.alloc(70, 6)); // header 0x40 0x46
    const wire: number[] = [];
    for (let r = s.nextRun(1); r; r = s.nextRun(1)) {
      const b = Buffer.alloc(1);
      s.copyRun(b, 0, r.offset, r.length);
      wire.push(b[0]!);
    }
    expect(wire.slice(0, 3)).toEqual([0x41, 0x2c, 5]);
    expect(wire.slice(302, 305)).toEqual([0x40, 0x46, 6]);
    expect(wire).toHaveLength(2 + 300 + 2 + 70);
    // Lost from the middle of the second header: sent again from there.
    s.onLost(303, 5);
    const r = s.nextRun(100)!;
    const b = Buffer.alloc(r.length);
    s.copyRun(b, 0, r.offset, r.length);
    expect([r.offset, ...b]).toEqual([303, 0x46, 6, 6, 6, 6]);
  });

  it('with the bytes in one run (nextRun + copyRun), whatever the size, and across messages', () => {
    for (const size of [0, 1, 63, 64, 511, 512, 1024, 3000]) {
      const s = new SendStream(1);
      const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + 1) & 0xff));
      s.write(1, data);
      const r = s.nextRun(4000)!;
      const header = size < 64 ? 1 : 2;
      expect([r.offset, r.length, r.retransmit], `${size} bytes`).toEqual([
        0,
        header + size,
        false,
      ]);
      const out = Buffer.alloc(r.length + 8, 0xee);
      expect(s.copyRun(out, 4, r.offset, r.length)).toBe(4 + r.length);
      expect(out.subarray(0, 4).every((b) => b === 0xee)).toBe(true); // nothing before `pos`
      expect(out.subarray(4 + r.length).every((b) => b === 0xee)).toBe(true); // nor after
      const first = out[4]!;
      const length = header === 1 ? first : ((first & 0x3f) << 8) | out[5]!;
      expect(length).toBe(size);
      expect(out.subarray(4 + header, 4 + r.length)).toEqual(data);
      expect(s.nextRun(4000)).toBeUndefined();
    }
    // Several messages, cut into runs of at most 700 bytes: the bytes in order, once.
    const s = new SendStream(1);
    const msgs = [300, 5, 1024, 0, 900].map((n, i) => Buffer.alloc(n, i + 1));
    for (const [i, m] of msgs.entries()) s.write(i, m);
    const wire: Buffer[] = [];
    let next = 0;
    for (let r = s.nextRun(700); r; r = s.nextRun(700)) {
      expect(r.offset).toBe(next);
      expect(r.length).toBeLessThanOrEqual(700);
      const b = Buffer.alloc(r.length);
      s.copyRun(b, 0, r.offset, r.length);
      wire.push(b);
      next += r.length;
    }
    const expected = Buffer.concat(
      msgs.flatMap((m) => [
        Buffer.from(m.length < 64 ? [m.length] : [0x40 | (m.length >> 8), m.length & 0xff]),
        m,
      ]),
    );
    expect(Buffer.concat(wire)).toEqual(expected);
    // A lost range goes again as one run, across segments, and only what is not acknowledged.
    s.onAcked(0, 200);
    s.onLost(100, 1000);
    const again = s.nextRun(4000)!;
    expect([again.offset, again.length, again.retransmit]).toEqual([200, 900, true]);
    const b = Buffer.alloc(900);
    s.copyRun(b, 0, 200, 900);
    expect(b).toEqual(expected.subarray(200, 1100));
  });
});
