import { describe, expect, it } from 'vitest';
import { PAGE_COST, PAGE_SIZE } from '../../../../source/net/core/conn/pages.js';
import { MAX_STREAM_GAPS } from '../../../../source/net/core/conn/recvstream.js';
import { RECV_WINDOW } from '../../../../source/net/core/conn/streamlimits.js';
import {
  Inbound,
  MAX_PEER_GAPS,
  MAX_STREAMS,
  PEER_REASSEMBLY_LIMIT,
} from '../../../../source/net/core/peers/inbound.js';
import { writeVarint } from '../../../../source/net/wire/reader.js';

/**
 * One peer's receive streams and their budgets (inbound.ts), on their own:
 * what a peer that opens too many streams, carves its data into slivers or
 * holds too much memory in us is told (the reason closes its session, RFC
 * 9000 §21.7), and that every byte charged to the node is given back.
 */

/** A node-wide account: the sum of every delta, and a cap that can refuse. */
function account(cap = Number.POSITIVE_INFINITY) {
  const a = {
    held: 0,
    calls: 0,
    reserve: (delta: number): boolean => {
      a.held += delta;
      a.calls++;
      return a.held <= cap;
    },
  };
  return a;
}

/** STREAM data that is the whole of `data` (the decoder hands a view of the packet). */
function feed(inbound: Inbound, streamId: number, offset: number, data: Uint8Array) {
  return inbound.onStream(streamId, offset, data, 0, data.length);
}

/** One [varint length][bytes] message. */
function message(text: string): Uint8Array {
  const body = Buffer.from(text);
  const out = new Uint8Array(8 + body.length);
  const at = writeVarint(out, 0, body.length);
  out.set(body, at);
  return out.subarray(0, at + body.length);
}

const ONE = new Uint8Array([1]);

describe('Inbound', () => {
  it('hands out each stream’s messages in order, the streams independent', () => {
    const inbound = new Inbound(account().reserve);
    const a = message('hello');
    const b = message('world');
    // Stream 1's second message arrives first: held until the first.
    expect(feed(inbound, 1, a.length, b)).toEqual([]);
    expect(feed(inbound, 2, 0, message('other'))?.map(String)).toEqual(['other']);
    expect(feed(inbound, 1, 0, a)?.map(String)).toEqual(['hello', 'world']);
    expect(inbound.violation).toBe('');
    expect([...inbound.recvStreams.keys()]).toEqual([1, 2]);
  });

  it(`accepts ${MAX_STREAMS} streams and refuses a peer that opens one more`, () => {
    const inbound = new Inbound(account().reserve);
    for (let id = 0; id < MAX_STREAMS; id++) {
      expect(feed(inbound, id, 0, message(`s${id}`))?.map(String)).toEqual([`s${id}`]);
    }
    expect(feed(inbound, MAX_STREAMS, 0, message('one too many'))).toBeUndefined();
    expect(inbound.violation).toBe('too many streams');
    expect(inbound.recvStreams.size).toBe(MAX_STREAMS);
    // The streams it has keep working.
    const again = message('again');
    expect(feed(inbound, 0, message('s0').length, again)?.map(String)).toEqual(['again']);
  });

  it('a stream’s own violation is the reason given (data beyond the receive window)', () => {
    const inbound = new Inbound(account().reserve);
    expect(feed(inbound, 3, RECV_WINDOW, ONE)).toBeUndefined();
    expect(inbound.violation).toBe('stream data beyond the receive window');
  });

  it('our own bug is not blamed on the peer: an error other than BadPacket propagates', () => {
    // A caller passing no bytes is a bug here, not a protocol violation by the
    // peer: cutting the peer off for it would hide the bug behind a close.
    const inbound = new Inbound(account().reserve);
    expect(() => inbound.onStream(1, 0, null as unknown as Uint8Array, 0, 1)).toThrow(TypeError);
    expect(inbound.violation).toBe('');
  });

  it('charges every byte held to the node, and gives it all back on release', () => {
    const node = account();
    const inbound = new Inbound(node.reserve);
    // Early bytes on two streams: a page each.
    expect(feed(inbound, 1, 100, ONE)).toEqual([]);
    expect(feed(inbound, 2, 100, ONE)).toEqual([]);
    expect(node.held).toBe(2 * PAGE_COST);
    // The node is told exactly what the streams say they hold.
    let total = 0;
    for (const s of inbound.recvStreams.values()) total += s.chargedBytes;
    expect(node.held).toBe(total);
    inbound.release();
    expect(node.held).toBe(0);
    expect(inbound.recvStreams.size).toBe(0);
    // After release a new stream starts from nothing, and is charged afresh.
    expect(feed(inbound, 1, 100, ONE)).toEqual([]);
    expect(node.held).toBe(PAGE_COST);
    inbound.release();
    expect(node.held).toBe(0);
  });

  it('a message completed gives its memory back to the node', () => {
    const node = account();
    const inbound = new Inbound(node.reserve);
    const m = message('x'.repeat(300));
    expect(feed(inbound, 1, 10, m.subarray(10))).toEqual([]);
    expect(node.held).toBeGreaterThan(0);
    expect(feed(inbound, 1, 0, m.subarray(0, 10))?.map((b) => b.length)).toEqual([300]);
    expect(node.held).toBe(0);
  });

  it(`refuses the peer past MAX_PEER_GAPS (${MAX_PEER_GAPS}) gaps across streams, each under its own bound`, () => {
    const inbound = new Inbound(account().reserve);
    // Slivers at every other byte: MAX_STREAM_GAPS runs on each of two streams.
    for (const id of [1, 2]) {
      for (let i = 0; i < MAX_STREAM_GAPS; i++) {
        expect(feed(inbound, id, 2 * i + 1, ONE)).toEqual([]);
      }
    }
    let gaps = 0;
    for (const s of inbound.recvStreams.values()) gaps += s.gaps;
    expect(gaps).toBe(MAX_PEER_GAPS);
    expect(inbound.violation).toBe('');
    // One more run anywhere is one too many.
    expect(feed(inbound, 3, 1, ONE)).toBeUndefined();
    expect(inbound.violation).toBe('too many gaps across streams');
  });

  it('refuses the peer once it holds more than PEER_REASSEMBLY_LIMIT, and not at it', () => {
    const node = account();
    const inbound = new Inbound(node.reserve);
    // Exactly the limit: a 4 KiB partial message kept as a view on stream 0
    // (charged its bytes) and one byte per page on streams 1 and 2.
    const pages = (PEER_REASSEMBLY_LIMIT - PAGE_SIZE) / PAGE_COST;
    expect(Number.isInteger(pages)).toBe(true);
    const partial = new Uint8Array(PAGE_SIZE);
    writeVarint(partial, 0, 100_000);
    expect(feed(inbound, 0, 0, partial)).toEqual([]);
    expect(node.held).toBe(PAGE_SIZE);
    for (let p = 0; p < pages; p++) {
      const id = 1 + (p % 2);
      const page = 1 + Math.floor(p / 2);
      expect(feed(inbound, id, page * PAGE_SIZE, ONE)).toEqual([]);
    }
    expect(node.held).toBe(PEER_REASSEMBLY_LIMIT);
    expect(inbound.violation).toBe('');
    // One byte more on the partial message: past the limit.
    expect(feed(inbound, 0, PAGE_SIZE, ONE)).toBeUndefined();
    expect(inbound.violation).toBe('reassembly limit exceeded');
    // What it held is still charged until the peer is released.
    expect(node.held).toBeGreaterThan(PEER_REASSEMBLY_LIMIT);
    inbound.release();
    expect(node.held).toBe(0);
  });

  it('refuses the peer when the node-wide account is exhausted, and says which limit', () => {
    const node = account(3 * PAGE_COST);
    const inbound = new Inbound(node.reserve);
    for (let id = 0; id < 3; id++) expect(feed(inbound, id, 10, ONE)).toEqual([]);
    expect(feed(inbound, 3, 10, ONE)).toBeUndefined();
    expect(inbound.violation).toBe('node-wide reassembly limit exceeded');
    // The refused page was reported too, so release returns exactly what was taken.
    expect(node.held).toBe(4 * PAGE_COST);
    inbound.release();
    expect(node.held).toBe(0);
  });
});
