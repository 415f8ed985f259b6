import { describe, expect, it } from 'vitest';
import { allocPacket, trimPacket } from '../../../source/net/wire/packet.js';

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
