import { describe, expect, it } from 'vitest';
import { Session } from '../../../../source/net/core/conn/session.js';
import type { PacketKey } from '../../../../source/net/crypto/cipher.js';
import { MAX_ACK_RANGES } from '../../../../source/net/wire/frames.js';
import { Rng } from '../../../support/rng.js';

function session(): Session {
  // Acknowledgement bookkeeping never touches the keys.
  const key = {} as PacketKey;
  return new Session({
    localIndex: 1,
    remoteIndex: 2,
    initiator: false,
    initiatorStatic: Buffer.alloc(32),
    remoteStatic: Buffer.alloc(32),
    sendKey: key,
    recvKey: key,
    path: { address: '127.0.0.1', port: 1 },
    now: 0,
  });
}

const N = 20_000;
/** Packet-number orders a peer can choose (it numbers its own packets). */
const ORDERS: Record<string, (rng: Rng) => number[]> = {
  ascending: () => Array.from({ length: N }, (_, i) => i),
  descending: () => Array.from({ length: N }, (_, i) => N - 1 - i),
  'every other': () => Array.from({ length: N }, (_, i) => 2 * i),
  'every other, descending': () => Array.from({ length: N }, (_, i) => 2 * (N - i)),
  random: (rng) => Array.from({ length: N }, () => rng.int(4 * N)),
  interleaved: () => Array.from({ length: N }, (_, i) => (i % 2 ? 3 * N - i : i)),
};

describe('Session ACK ranges under packet numbers the peer chooses', () => {
  for (const [name, order] of Object.entries(ORDERS)) {
    it(`${name}: at most MAX_ACK_RANGES ranges, O(MAX_ACK_RANGES) work per packet`, () => {
      const s = session();
      const pns = order(new Rng(N));
      let peak = 0;
      let highest = -1;
      for (const pn of pns) {
        s.onPacketReceived(pn, true, 0);
        highest = Math.max(highest, pn);
        peak = Math.max(peak, s.ackRanges(0).ranges.length);
      }
      expect(peak).toBeLessThanOrEqual(MAX_ACK_RANGES);
      // The newest packet is always acknowledged (the oldest ranges go first).
      const [top] = s.ackRanges(0).ranges;
      expect(top![1] - 1).toBe(highest);
      // Per packet: two binary searches and a bounded splice for the insert,
      // the same again to drop the oldest range.
      expect(s.ackRangeWork).toBeLessThanOrEqual(N * (2 * MAX_ACK_RANGES + 32));
    });
  }
});
