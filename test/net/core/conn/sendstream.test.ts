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
    // Two segments (header, bytes) and one message per small message; released ones are
    // dropped once they pass 1024 and are the larger part: about 3 × 1024 slots, never
    // one per message ever sent.
    expect(maxSlots).toBeLessThanOrEqual(3 * 1025 + 3);
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
    expect(maxSlots).toBeLessThanOrEqual(3 * 1025 + 30);
  });
});

describe('SendStream: work of a long-lived stream', () => {
  // A full window in flight, then acknowledged packet by packet, three times: compacting on
  // every ack, or every 1024 acks, would move every slot left each time (millions of
  // moves); compacting once the released part is the larger one moves a few per ack.
  // Messages of 1000 bytes take one segment each (header joined), of 100 bytes two.
  it.each([
    { n: 3000, size: 1000, chunksPerMessage: 1, slotsPerMessage: 2 },
    { n: 20_000, size: 100, chunksPerMessage: 2, slotsPerMessage: 3 },
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
      // most 1024 released ones, for segments and for messages.
      expect(maxSlots).toBeLessThanOrEqual(slotsPerMessage * n + 2 * 1025);
    },
  );
});

describe('SendStream: where a length header travels', () => {
  it('alone for a message under 512 bytes (the receiver copies it either way)', () => {
    const s = new SendStream(1);
    const data = Buffer.alloc(511, 7);
    s.write(1, data);
    const chunks = drain(s, 4000);
    expect(chunks.map(([o, d]) => [o, d.length])).toEqual([
      [0, 2],
      [2, 511],
    ]);
    expect(Buffer.concat(chunks.map(([, d]) => d)).subarray(2)).toEqual(data);
  });

  it('with the first bytes of a message of 512 bytes or more, so its first frame is large', () => {
    for (const size of [512, 1024, 3000]) {
      const s = new SendStream(1);
      const data = Buffer.from(Array.from({ length: size }, (_, i) => (i * 7 + 1) & 0xff));
      s.write(1, data);
      const chunks = drain(s, 4000);
      const first = Math.min(size, 1024) + 2;
      expect(chunks[0]![0]).toBe(0);
      expect(chunks[0]![1].length, `${size} bytes`).toBe(first);
      // The header, then the message's own bytes, in order and intact.
      expect(chunks[0]![1].readUInt16BE(0) & 0x3fff).toBe(size);
      expect(Buffer.concat(chunks.map(([, d]) => d)).subarray(2)).toEqual(data);
      expect(chunks.length).toBe(size > 1024 ? 2 : 1);
    }
  });
});
