import { afterEach, describe, expect, it } from 'vitest';
import { fuzz } from '../support/scenarios/fuzz.js';
import { Scope } from '../support/scenarios/scope.js';

/**
 * Hostile datagrams against a live socket while two peers chat: random bytes,
 * truncated and bit-flipped real packets, replays, all from stranger
 * addresses. The scenario lives in test/support/scenarios/fuzz.ts (`npm run
 * chaos` runs the same one). (About ten seconds on these machines.)
 */
const TOTAL = 1_000_000;
let scope = new Scope();
afterEach(async () => {
  await scope.close();
  scope = new Scope();
});

describe('fuzzing a live socket', () => {
  it(`${TOTAL.toLocaleString('en')} hostile datagrams: no crash, chat undisturbed, every drop counted by reason`, async () => {
    const f = await fuzz(scope, 99, TOTAL);
    expect(f.chatRejected).toEqual({ rejected: 0 });
    expect(f.received).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `warm ${i}`),
      ...Array.from({ length: f.chatSent }, (_, i) => `chat ${i}`),
    ]);
    expect(f.chatSent).toBeGreaterThan(0);
    expect(f.peersAfter).toEqual(['bob:connected']);
    // The kernel may drop some under this load; every datagram that reached
    // us was bob's (authenticated), a handshake-layer packet (replayed INITs
    // are indistinguishable from new ones), STUN-shaped noise, or dropped and
    // counted by reason.
    const t = f.total;
    expect(t.datagramsIn).toBeGreaterThan(TOTAL * 0.5);
    expect(t.datagramsIn).toBe(t.droppedTotal + t.fromPeer + t.handshakePackets + t.stun);
    expect(t.unaccounted).toBe(0);
    expect(t.dropped.replay + t.dropped.decrypt).toBeGreaterThan(0);
    expect(t.dropped.truncated + t.dropped.malformed + t.dropped.version).toBeGreaterThan(0);
    console.log(`fuzz: ${TOTAL} sent, ${t.droppedTotal} dropped by reason`, t.dropped);
  }, 300_000);
});
