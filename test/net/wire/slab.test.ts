import { describe, expect, it, vi } from 'vitest';
import {
  allocPacket,
  dropPacket,
  keepPacket,
  packetSlab,
  reservePacket,
  trimPacket,
} from '../../../source/net/wire/packet.js';

describe('allocPacket / trimPacket', () => {
  it('gives the unused end of the latest packet back to the slab', () => {
    const a = allocPacket(1200);
    const ack = trimPacket(a, 40);
    expect(ack.length).toBe(40);
    const b = allocPacket(1200);
    // Same slab, starting right after the 40 bytes kept (8-byte aligned).
    expect(b.buffer).toBe(a.buffer);
    expect(b.byteOffset).toBe(a.byteOffset + 40);
    // An empty packet gives everything back.
    trimPacket(b, 0);
    const c = allocPacket(1200);
    expect(c.byteOffset).toBe(b.byteOffset);
    // An older packet is only cut: what was allocated after it stays.
    const d = allocPacket(100);
    expect(trimPacket(c, 10).length).toBe(10);
    expect(allocPacket(8).byteOffset).toBe(d.byteOffset + 104);
  });

  it('never hands out memory that a kept packet still uses', () => {
    const kept: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const p = trimPacket(allocPacket(1200), (i * 37) % 1200);
      p.fill(i & 0xff);
      kept.push(p);
    }
    kept.forEach((p, i) => {
      expect(p.every((x) => x === (i & 0xff))).toBe(true);
    });
  });
});

describe('reservePacket / keepPacket: one Buffer per packet, made when its length is known', () => {
  it('writes at an offset of the slab, and keeps exactly the bytes used', () => {
    const at = reservePacket(1200);
    const slab = packetSlab();
    slab.fill(7, at, at + 40);
    const subarray = vi.spyOn(Buffer.prototype, 'subarray');
    let p: Buffer;
    try {
      p = keepPacket(slab, at, 40);
      // The one object of the packet: not a second Buffer for the trim.
      expect(subarray).toHaveBeenCalledTimes(1);
    } finally {
      subarray.mockRestore();
    }
    expect(p.length).toBe(40);
    expect(p.buffer).toBe(slab.buffer);
    expect(p.byteOffset).toBe(slab.byteOffset + at);
    expect(p.every((x) => x === 7)).toBe(true);
    // The rest went back: the next packet starts right after (8-byte aligned).
    const next = reservePacket(1200);
    expect(next).toBe(at + 40);
    // Nothing used: everything goes back.
    dropPacket(slab, next);
    expect(reservePacket(100)).toBe(next);
  });

  it('never hands out memory a kept packet still uses, across slabs', () => {
    const kept: Buffer[] = [];
    for (let i = 0; i < 500; i++) {
      const at = reservePacket(1200);
      const slab = packetSlab();
      const used = (i * 37) % 1200;
      if (used === 0) {
        dropPacket(slab, at);
        continue;
      }
      slab.fill(i & 0xff, at, at + used);
      kept.push(keepPacket(slab, at, used));
    }
    for (const p of kept) expect(p.every((x) => x === p[0])).toBe(true);
    expect(kept.length).toBeGreaterThan(450);
  });
});
