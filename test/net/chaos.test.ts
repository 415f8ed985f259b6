import { describe, expect, it } from 'vitest';
import { chaosMesh, MESH_NAMES } from '../support/scenarios/chaos.js';

/**
 * The protocol on a virtual clock over a hostile network: 30% loss, 5%
 * duplication, jittered delay that reorders. Every message must arrive exactly
 * once, in order per sender. The scenario itself lives in
 * test/support/scenarios/chaos.ts (`npm run chaos` runs the same one). The
 * seed is printed on failure.
 */
describe('chaos: 3 peers over a lossy, duplicating, reordering network', () => {
  const seed = Number(process.env.CHAOS_SEED ?? 20261125);
  const PER_DIRECTION = 10_000;

  it(`delivers ${PER_DIRECTION} messages each way between every pair exactly once, in order (seed ${seed})`, () => {
    const f = chaosMesh(seed, PER_DIRECTION);
    expect(f.meshUp, `seed ${seed}: mesh did not come up`).toBe(true);
    expect(f.allArrived, `seed ${seed}: not everything arrived`).toBe(true);

    for (const me of MESH_NAMES) {
      const others = MESH_NAMES.filter((n) => n !== me);
      expect(Object.keys(f.received[me] ?? {}).sort(), `seed ${seed}: senders at ${me}`).toEqual(
        others,
      );
      for (const sender of others) {
        const texts = f.received[me]?.[sender] ?? [];
        const expected = Array.from({ length: PER_DIRECTION }, (_, i) => `${sender}→${me}#${i}`);
        expect(texts.length, `seed ${seed}: count from ${sender} at ${me}`).toBe(PER_DIRECTION);
        expect(texts, `seed ${seed}: order from ${sender} at ${me}`).toEqual(expected);
      }
    }
    expect(f.counts).toEqual({
      sent: 6 * PER_DIRECTION,
      delivered: 6 * PER_DIRECTION,
      duplicated: 0,
      lost: 0,
      outOfOrder: 0,
      unexpected: 0,
    });
    // Every message was acknowledged to its sender exactly once.
    expect(f.acks, `seed ${seed}: acks`).toEqual({
      total: 6 * PER_DIRECTION,
      never: 0,
      once: 6 * PER_DIRECTION,
      more: 0,
    });
    // The loss was real...
    expect(f.network.dropped).toBeGreaterThan(f.network.sent * 0.2);
    expect(f.transport.packetsLost).toBeGreaterThan(0);
    // ...and so was the duplication (5 % of what got through), and every copy
    // was dropped as a replay at its receiver, never delivered twice.
    expect(f.network.duplicated).toBeGreaterThan(0.03 * (f.network.sent - f.network.dropped));
    for (const me of MESH_NAMES) expect(f.replayDrops[me], me).toBeGreaterThan(0);
  });
});
