import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../../source/net/core/errors.js';
import { encodeBindingRequest, isStun } from '../../../source/net/nat/stun-codec.js';
import { decodeChannelData, encodeChannelData } from '../../../source/net/nat/turn-codec.js';
import {
  frameForStream,
  MAX_STREAM_FRAME,
  StreamFramer,
} from '../../../source/net/nat/turn-stream.js';

/** A mixed sequence: STUN, ChannelData of every padding, empty ChannelData. */
function messages(): Buffer[] {
  return [
    encodeBindingRequest(randomBytes(12)),
    encodeChannelData(0x4000, Buffer.from('a')),
    encodeChannelData(0x4001, Buffer.from('ab')),
    encodeChannelData(0x4ffe, Buffer.from('abc')),
    encodeChannelData(0x4002, Buffer.from('abcd')),
    encodeChannelData(0x4003, Buffer.alloc(0)),
    encodeBindingRequest(randomBytes(12)),
    encodeChannelData(0x4004, randomBytes(1452)),
  ];
}

describe('TURN stream framing (RFC 8656 §12.5)', () => {
  it('pads ChannelData to 4 bytes on the stream and leaves STUN as it is', () => {
    const stun = encodeBindingRequest(randomBytes(12));
    expect(frameForStream(stun)).toBe(stun);
    for (let n = 0; n < 8; n++) {
      const cd = encodeChannelData(0x4000, Buffer.alloc(n, 7));
      const framed = frameForStream(cd);
      expect(framed.length % 4).toBe(0);
      expect(framed.length - cd.length).toBe((4 - (n % 4)) % 4);
      expect(framed.subarray(0, cd.length).equals(cd)).toBe(true);
      expect(framed.subarray(cd.length).every((b) => b === 0)).toBe(true);
    }
  });

  it('gives back whole messages, unpadded, from one chunk', () => {
    const msgs = messages();
    const out = new StreamFramer().push(Buffer.concat(msgs.map(frameForStream)));
    expect(out.map((b) => b.toString('hex'))).toEqual(msgs.map((b) => b.toString('hex')));
    // Each is what a UDP datagram would be: the UDP decoders read it unchanged.
    expect(isStun(out[0]!)).toBe(true);
    expect(decodeChannelData(out[3]!).data.toString()).toBe('abc');
  });

  it('reassembles the same messages fed one byte at a time, and holds only the partial one', () => {
    const msgs = messages();
    const stream = Buffer.concat(msgs.map(frameForStream));
    const f = new StreamFramer();
    const out: Buffer[] = [];
    let maxHeld = 0;
    for (const b of stream) {
      out.push(...f.push(Buffer.from([b])));
      maxHeld = Math.max(maxHeld, f.buffered);
    }
    expect(out.map((b) => b.toString('hex'))).toEqual(msgs.map((b) => b.toString('hex')));
    expect(f.buffered).toBe(0);
    // Never more than the largest framed message, less its last byte.
    expect(maxHeld).toBe(Math.max(...msgs.map((m) => frameForStream(m).length)) - 1);
  });

  it('reassembles across random chunk boundaries', () => {
    const msgs = messages();
    const stream = Buffer.concat(msgs.map(frameForStream));
    for (let trial = 0; trial < 200; trial++) {
      const f = new StreamFramer();
      const out: Buffer[] = [];
      for (let at = 0; at < stream.length; ) {
        const n = 1 + (randomBytes(2).readUInt16BE(0) % 300);
        out.push(...f.push(stream.subarray(at, at + n)));
        at += n;
      }
      expect(out.length).toBe(msgs.length);
      expect(Buffer.concat(out).equals(Buffer.concat(msgs))).toBe(true);
    }
  });

  it('a length past the bound is a BadPacket at once, from the header alone, and the framer stays broken', () => {
    const f = new StreamFramer();
    const header = Buffer.from([0x40, 0x00, 0xff, 0xff]); // ChannelData claiming 65,535 bytes
    expect(() => f.push(header)).toThrow(BadPacket);
    expect(f.buffered).toBe(0);
    expect(() => f.push(encodeBindingRequest(randomBytes(12)))).toThrow(BadPacket);
    const stun = encodeBindingRequest(randomBytes(12));
    stun.writeUInt16BE(MAX_STREAM_FRAME, 2); // 20 + 4096 > the bound
    expect(() => new StreamFramer().push(stun.subarray(0, 4))).toThrow(/exceeds/);
    // Exactly at the bound is accepted.
    const atBound = encodeChannelData(0x4000, Buffer.alloc(MAX_STREAM_FRAME - 4));
    expect(new StreamFramer().push(atBound)).toHaveLength(1);
  });

  it.each([
    ['a byte that starts neither STUN nor ChannelData', Buffer.from([0x17, 0x03, 0x03, 0, 0])],
    ['our own wire byte', Buffer.from([0x80, 0, 0, 0])],
    ['a STUN type past 0x3fff', Buffer.from([0x3f, 0x01, 0x00, 0x00])],
    ['a STUN length not a multiple of 4', Buffer.from([0x00, 0x01, 0x00, 0x05])],
  ])('%s is a BadPacket (the caller closes the connection)', (_what, bytes) => {
    const f = new StreamFramer();
    expect(() => f.push(bytes)).toThrow(BadPacket);
  });

  it('hostile input: random bytes only ever yield messages or one BadPacket, and never hold more than the bound', () => {
    for (let trial = 0; trial < 500; trial++) {
      const f = new StreamFramer();
      const junk = randomBytes(1 + (trial % 64) * 100);
      try {
        for (let at = 0; at < junk.length; at += 37) {
          for (const m of f.push(junk.subarray(at, at + 37))) {
            expect(m.length).toBeLessThanOrEqual(MAX_STREAM_FRAME);
          }
          expect(f.buffered).toBeLessThan(MAX_STREAM_FRAME);
        }
      } catch (err) {
        expect(err).toBeInstanceOf(BadPacket);
      }
    }
  });
});
