import { describe, expect, it, vi } from 'vitest';
import {
  allocPacket,
  dropPacket,
  keepPacket,
  packetSlab,
  releasePacket,
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

describe('releasePacket: a slab every packet of which has left is written again from its start', () => {
  /** A fresh slab: a reservation too large for what is left of the current one. */
  function freshSlab(): Buffer {
    const at = reservePacket(64 * 1024);
    const slab = packetSlab();
    expect(at).toBe(0);
    dropPacket(slab, at);
    return slab;
  }

  it('reuses the slab only once every packet carved from it was released', () => {
    const slab = freshSlab();
    const a = keepPacket(slab, reservePacket(1200), 100);
    const b = keepPacket(slab, reservePacket(1200), 200);
    releasePacket(a);
    // b is still held: the next packet goes after it.
    const next = reservePacket(1200);
    expect(next).toBe(304);
    dropPacket(slab, next);
    releasePacket(b);
    // Nothing held: the same slab, from its start.
    expect(reservePacket(1200)).toBe(0);
    expect(packetSlab()).toBe(slab);
  });

  it('never reuses memory of a packet that was not released, nor of a reservation not kept', () => {
    const slab = freshSlab();
    const held = keepPacket(slab, reservePacket(1200), 50);
    held.fill(9);
    const gone = keepPacket(slab, reservePacket(1200), 50);
    releasePacket(gone);
    const at = reservePacket(1200);
    expect(at).toBeGreaterThanOrEqual(112);
    dropPacket(slab, at);
    // allocPacket (tools and tests) is never released: the slab is not reused under it.
    const tool = allocPacket(100);
    tool.fill(5);
    releasePacket(held);
    expect(reservePacket(1200)).toBeGreaterThan(tool.byteOffset - slab.byteOffset);
    expect(tool.every((x) => x === 5)).toBe(true);
  });

  it('ignores buffers that are not of the current slab', () => {
    const slab = freshSlab();
    const p = keepPacket(slab, reservePacket(1200), 10);
    releasePacket(Buffer.alloc(10));
    releasePacket(Buffer.allocUnsafe(10));
    const next = reservePacket(1200);
    expect(next).toBe(16);
    dropPacket(slab, next);
    // A packet of an older slab released after the slab changed: no effect on the new one.
    freshSlab();
    const q = keepPacket(packetSlab(), reservePacket(1200), 10);
    releasePacket(p);
    expect(reservePacket(1200)).toBe(16);
    releasePacket(q);
  });
});
