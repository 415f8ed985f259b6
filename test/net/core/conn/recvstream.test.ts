import { describe, expect, it } from 'vitest';
import { RecvStream } from '../../../../source/net/core/conn/recvstream.js';
import { MAX_MESSAGE_SIZE, RECV_WINDOW } from '../../../../source/net/core/conn/streamlimits.js';
import { varintLength, writeVarint } from '../../../../source/net/wire/reader.js';
import { expectBadPacket } from '../../../support/badpacket.js';

/**
 * RecvStream's accounting and the reasons it gives, beyond stream.test.ts and
 * reassembly.test.ts (found by mutation testing, test/mutation-survivors.md):
 * what a partial message is charged against the reassembly budget, which
 * frames it keeps as views of their datagram and which it copies, and the
 * reason a misbehaving peer's session is closed with (the peer and the user
 * see it).
 */

/** `bytes` placed at `at` in a datagram of `size` bytes (a view, as decodePacket gives). */
function inDatagram(bytes: Uint8Array, size: number, at = 0): Uint8Array {
  const datagram = new Uint8Array(size);
  datagram.set(bytes, at);
  return new Uint8Array(datagram.buffer, at, bytes.length);
}

/** A message's length header followed by its first `n` bytes (value 1..). */
function start(total: number, n: number): Uint8Array {
  const out = new Uint8Array(varintLength(total) + n);
  const h = writeVarint(out, 0, total);
  for (let i = 0; i < n; i++) out[h + i] = (i % 250) + 1;
  return out;
}

describe('RecvStream: what a partial message costs', () => {
  it('a large in-order frame filling its datagram is kept as it is: charged its bytes', () => {
    // 1002 bytes of a 3000-byte message in a 1100-byte datagram: kept as a view.
    const r = new RecvStream(1);
    expect(r.onData(0, inDatagram(start(3000, 1000), 1100, 40))).toEqual([]);
    expect(r.bufferedBytes).toBe(1002);
    expect(r.chargedBytes).toBe(1002);
    expect(r.objectsHeld).toBe(1);
  });

  it('a large frame in a much larger datagram is copied out, so the datagram is not pinned', () => {
    // The copy's buffer grows geometrically: 2 × the bytes held, at least 256.
    const r = new RecvStream(1);
    r.onData(0, inDatagram(start(3000, 1000), 4000));
    expect(r.bufferedBytes).toBe(1002);
    expect(r.chargedBytes).toBe(2004);
    expect(r.objectsHeld).toBe(1);
  });

  it('a small frame is copied into a buffer of 256 bytes, charged whole', () => {
    const r = new RecvStream(1);
    r.onData(0, inDatagram(start(1000, 10), 12));
    expect(r.bufferedBytes).toBe(12);
    expect(r.chargedBytes).toBe(256);
    expect(r.objectsHeld).toBe(1);
  });

  it('many small frames, each in a datagram of its own, cost one object, not one each', () => {
    const r = new RecvStream(1);
    const first = start(20_000, 98);
    r.onData(0, inDatagram(first, 150));
    let offset = first.length;
    for (let i = 0; i < 100; i++) {
      r.onData(offset, inDatagram(new Uint8Array(100).fill(i + 1), 150));
      offset += 100;
    }
    expect(r.bufferedBytes).toBe(offset);
    // The copy grows geometrically (256, 512, ...): a buffer per doubling, not per frame.
    expect(r.objectsHeld).toBeLessThanOrEqual(Math.ceil(Math.log2(offset / 256)) + 2);
    expect(r.chargedBytes).toBeLessThanOrEqual(2 * offset + 256);
  });

  it('a frame of exactly 512 bytes filling its datagram is kept; 511 bytes are copied', () => {
    const kept = new RecvStream(1);
    kept.onData(0, inDatagram(start(3000, 510), 512)); // 2 + 510 = 512 bytes
    expect(kept.chargedBytes).toBe(512);
    const copied = new RecvStream(1);
    copied.onData(0, inDatagram(start(3000, 509), 511));
    expect(copied.chargedBytes).toBe(1022);
  });

  it('a frame is kept only while its datagram is at most twice its size', () => {
    const r = new RecvStream(1);
    r.onData(0, inDatagram(start(3000, 998), 2000)); // 1000 bytes in 2000: kept
    expect(r.chargedBytes).toBe(1000);
    const s = new RecvStream(1);
    s.onData(0, inDatagram(start(3000, 998), 2001)); // one byte more: copied
    expect(s.chargedBytes).toBe(2000);
  });
});

describe('RecvStream: the reason a peer is cut off', () => {
  it('names each protocol violation', () => {
    const r = new RecvStream(1);
    const beyond = expectBadPacket(() => r.onData(RECV_WINDOW, Uint8Array.of(1)), 'protocol');
    expect(beyond.message).toContain('stream data beyond the receive window');
    const big = new RecvStream(1);
    const huge = new Uint8Array(8);
    writeVarint(huge, 0, MAX_MESSAGE_SIZE + 1);
    const tooBig = expectBadPacket(() => big.onData(0, huge), 'protocol');
    expect(tooBig.message).toContain('message exceeds the maximum size');
    const gaps = new RecvStream(1);
    const sliver = expectBadPacket(() => {
      for (let i = 1; i < 20_000; i++) gaps.onData(2 * i, Uint8Array.of(1));
    }, 'protocol');
    expect(sliver.message).toContain('too many gaps in stream data');
  });
});
