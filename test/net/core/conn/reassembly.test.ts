import { describe, expect, it } from 'vitest';
import { PAGE_COST, PAGE_SIZE } from '../../../../source/net/core/conn/pages.js';
import { MAX_STREAM_GAPS, RecvStream } from '../../../../source/net/core/conn/recvstream.js';
import { RECV_WINDOW } from '../../../../source/net/core/conn/streamlimits.js';
import { varintLength, writeVarint } from '../../../../source/net/wire/reader.js';
import { expectBadPacket } from '../../../support/badpacket.js';
import { Rng } from '../../../support/rng.js';

/** One message of `n` bytes, framed as the stream carries it. */
function framedMessage(rng: Rng, n: number): { bytes: Buffer; body: Buffer } {
  const body = rng.bytes(n);
  const header = Buffer.alloc(varintLength(n));
  writeVarint(header, 0, n);
  return { bytes: Buffer.concat([header, body]), body };
}

type Order = (n: number, rng: Rng) => number[];

/** The orders an attacker (or a very unlucky network) can choose for n frames. */
const ORDERS: Record<string, Order> = {
  ascending: (n) => Array.from({ length: n }, (_, i) => i),
  descending: (n) => Array.from({ length: n }, (_, i) => n - 1 - i),
  'every other, then the rest': (n) => {
    const odd = Array.from({ length: n >> 1 }, (_, i) => 2 * i + 1);
    const even = Array.from({ length: (n + 1) >> 1 }, (_, i) => 2 * i);
    return [...odd, ...even];
  },
  'every other, descending': (n) => {
    const all = Array.from({ length: n }, (_, i) => n - 1 - i);
    return [...all.filter((i) => i % 2 === 1), ...all.filter((i) => i % 2 === 0)];
  },
  random: (n, rng) => {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  },
  'interleaved halves': (n) =>
    Array.from({ length: n }, (_, i) => (i % 2 === 0 ? i >> 1 : (n >> 1) + (i >> 1))),
};

interface Peaks {
  gaps: number;
  charged: number;
  objects: number;
}

function feed(
  r: RecvStream,
  frames: [number, Uint8Array][],
  order: number[],
): { out: Buffer[]; peaks: Peaks } {
  const out: Buffer[] = [];
  const peaks = { gaps: 0, charged: 0, objects: 0 };
  for (const k of order) {
    const [offset, data] = frames[k]!;
    out.push(...r.onData(offset, data));
    peaks.gaps = Math.max(peaks.gaps, r.gaps);
    peaks.charged = Math.max(peaks.charged, r.chargedBytes);
    peaks.objects = Math.max(peaks.objects, r.objectsHeld);
  }
  return { out, peaks };
}

/** Cuts `bytes` into frames of 1..maxLen bytes (1 when maxLen is 1). */
function cut(bytes: Buffer, rng: Rng, maxLen: number): [number, Uint8Array][] {
  const frames: [number, Uint8Array][] = [];
  for (let off = 0; off < bytes.length; ) {
    const len = Math.min(bytes.length - off, 1 + rng.int(maxLen));
    // Each frame its own copy, as if decrypted from its own datagram.
    frames.push([off, Uint8Array.from(bytes.subarray(off, off + len))]);
    off += len;
  }
  return frames;
}

describe('RecvStream reassembly, bounded by construction', () => {
  // 8000 bytes in 1-byte frames: every-other orders reach 4000 runs, under MAX_STREAM_GAPS.
  const SIZE = 8000;
  for (const [name, order] of Object.entries(ORDERS)) {
    for (const maxLen of [1, 40]) {
      it(`${name}, frames of 1..${maxLen} bytes: work is linear, memory is pages`, () => {
        const rng = new Rng(SIZE + maxLen);
        const { bytes, body } = framedMessage(rng, SIZE - 2);
        const frames = cut(bytes, rng, maxLen);
        const r = new RecvStream(0);
        const { out, peaks } = feed(r, frames, order(frames.length, rng));
        expect(out).toEqual([body]);
        // Work: a constant per frame plus one step per 32-bit word of data,
        // whatever the order (the old range list moved every range per
        // descending insert: ~n²/2 = 32 M moves here).
        expect(r.steps).toBeLessThanOrEqual(12 * frames.length + SIZE / 8);
        // Memory: the pages the stream spans (2 here) at their real cost,
        // plus the partial message; objects: pages and coalesced views.
        const pages = Math.ceil(SIZE / PAGE_SIZE);
        expect(peaks.charged).toBeLessThanOrEqual(pages * PAGE_COST + SIZE);
        expect(peaks.objects).toBeLessThanOrEqual(2 * pages + 1);
        expect(peaks.gaps).toBeLessThanOrEqual(MAX_STREAM_GAPS);
        // Once delivered, nothing is held or charged.
        expect(r.chargedBytes).toBe(0);
        expect(r.bufferedBytes).toBe(0);
        expect(r.objectsHeld).toBe(0);
      });
    }
  }

  it('one-byte frames at every other offset: the run past MAX_STREAM_GAPS is a protocol violation', () => {
    const r = new RecvStream(0);
    for (let k = 0; k < MAX_STREAM_GAPS; k++) r.onData(2 * k + 1, Uint8Array.of(k));
    expect(r.gaps).toBe(MAX_STREAM_GAPS);
    // 8 KiB of stream, 4096 slivers: two pages, not 4096 objects.
    expect(r.objectsHeld).toBe(Math.ceil((2 * MAX_STREAM_GAPS) / PAGE_SIZE));
    expect(r.chargedBytes).toBe(r.objectsHeld * PAGE_COST);
    // Bytes joining two runs, or extending one, do not add a gap.
    r.onData(2, Uint8Array.of(0));
    r.onData(2 * MAX_STREAM_GAPS, Uint8Array.of(0));
    expect(r.gaps).toBe(MAX_STREAM_GAPS - 1);
    r.onData(2 * MAX_STREAM_GAPS + 10, Uint8Array.of(0));
    expectBadPacket(() => r.onData(2 * MAX_STREAM_GAPS + 20, Uint8Array.of(0)), 'protocol');
  });

  it('charges a page touched by one byte as a whole page, and never more pages than the window', () => {
    const r = new RecvStream(0);
    const pages = RECV_WINDOW / PAGE_SIZE;
    for (let k = 0; k < pages; k++) {
      r.onData(k * PAGE_SIZE + 1, Uint8Array.of(1));
      expect(r.chargedBytes).toBe((k + 1) * PAGE_COST);
    }
    expect(r.objectsHeld).toBe(pages);
    expect(r.gaps).toBe(pages);
    expectBadPacket(() => r.onData(pages * PAGE_SIZE + 1, Uint8Array.of(1)), 'protocol');
  });

  it('in-order one-byte frames of a large message cost pages, not an object per frame', () => {
    const rng = new Rng(3);
    const { bytes, body } = framedMessage(rng, 100_000);
    const r = new RecvStream(0);
    let peakObjects = 0;
    let peakCharged = 0;
    const out: Buffer[] = [];
    for (let off = 0; off < bytes.length; off++) {
      // Each byte a view into its own 60-byte "datagram", as a tiny packet would be.
      const datagram = new Uint8Array(60);
      datagram[30] = bytes[off]!;
      out.push(...r.onData(off, datagram.subarray(30, 31)));
      peakObjects = Math.max(peakObjects, r.objectsHeld);
      peakCharged = Math.max(peakCharged, r.chargedBytes);
    }
    expect(out).toEqual([body]);
    const pages = Math.ceil(bytes.length / PAGE_SIZE);
    // The partial message's pages are views in `ready` (one per page) plus the page being filled.
    expect(peakObjects).toBeLessThanOrEqual(pages + 1);
    expect(peakCharged).toBeLessThanOrEqual(bytes.length + PAGE_COST);
    expect(r.objectsHeld).toBe(0);
  });

  it('hands a small message out as a copy, never as a view that pins a page', () => {
    const rng = new Rng(4);
    const small = framedMessage(rng, 3);
    const large = framedMessage(rng, 3000);
    const r = new RecvStream(0);
    // Both arrive out of order, so both sit in pages.
    const tail = Buffer.concat([small.bytes, large.bytes]);
    expect(r.onData(1, tail.subarray(1))).toEqual([]);
    const [m1, m2] = r.onData(0, tail.subarray(0, 1));
    expect(m1).toEqual(small.body);
    expect(m2).toEqual(large.body);
    // The large one fills more than half of its page: a view, no copy (the
    // page's memory holds its data and then its bitmap).
    expect(m2!.buffer.byteLength).toBe(PAGE_SIZE + PAGE_SIZE / 8);
    expect(m1!.buffer).not.toBe(m2!.buffer);
  });
});

describe('RecvStream: small in-order frames (the chat case)', () => {
  it('never touch a page: at most the partial message is held, in one growable buffer', () => {
    const rng = new Rng(77);
    // 2,000 messages of 1-300 bytes, cut into frames that straddle message boundaries.
    const messages = Array.from({ length: 2000 }, () => framedMessage(rng, 1 + rng.int(300)));
    const stream = Buffer.concat(messages.map((m) => m.bytes));
    const r = new RecvStream(0);
    const got: Buffer[] = [];
    let peakObjects = 0;
    let worstCharge = 0;
    for (let at = 0; at < stream.length; ) {
      const n = Math.min(1 + rng.int(400), stream.length - at);
      // Each frame in its own datagram-sized buffer, as the wire delivers it.
      const datagram = Buffer.alloc(1452);
      stream.copy(datagram, 40, at, at + n);
      got.push(...r.onData(at, datagram.subarray(40, 40 + n)));
      peakObjects = Math.max(peakObjects, r.objectsHeld);
      worstCharge = Math.max(worstCharge, r.chargedBytes - 2 * r.bufferedBytes);
      at += n;
    }
    expect(got.map((b) => b.toString('hex'))).toEqual(messages.map((m) => m.body.toString('hex')));
    // A partial message: the tail buffer, one regrown tail (sized to the
    // message once its length is known), and a frame kept whole as a view.
    expect(peakObjects).toBeLessThanOrEqual(3);
    // Charged at most 2x the bytes held (+ the 256-byte minimum); never a 5 KiB page.
    expect(worstCharge).toBeLessThanOrEqual(256);
    expect(r.chargedBytes).toBe(0);
  });
});
