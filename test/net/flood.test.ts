import { describe, expect, it } from 'vitest';
import { FakeNetwork } from '../support/fakenet.js';
import { floodWithRealPeer, handshakeFlood } from '../support/scenarios/flood.js';
import { simPair } from '../support/simnode.js';

/** The flood scenarios live in test/support/scenarios/flood.ts; `npm run chaos` runs the same ones. */
describe('handshake flood', () => {
  it('100,000 INITs from many addresses: bounded state, never more than 3x bytes back to an unverified address', () => {
    const f = handshakeFlood(77, 100_000);
    // No address got more than 3x what it sent, and nothing went to an
    // address that sent nothing (that would make worstRatio infinite).
    expect(f.worstRatio, f.worstAddress).toBeLessThanOrEqual(3);
    expect(f.addressesOver3x).toBe(0);
    expect(f.maxHalfOpen).toBeLessThanOrEqual(1024);
    // Almost all of it was answered statelessly with a cookie.
    expect(f.rateLimited).toBeGreaterThan(90_000);
    expect(f.bytesOut).toBeLessThan(f.bytesIn / 3);
  });

  it('a real peer still connects (with a cookie) while the flood goes on', () => {
    const f = floodWithRealPeer(21, 100_000);
    expect(f.rateLimitedBeforeDial).toBeGreaterThan(1000);
    expect(f.connected).toBe(true);
    expect(f.messageArrived).toBe(true);
    expect(f.halfOpenAtDelivery).toBeLessThanOrEqual(1024);
    expect(f.maxHalfOpen).toBeLessThanOrEqual(1024);
    // Exactly once, even after the rest of the flood played out.
    expect(f.counts).toMatchObject({ sent: 1, delivered: 1, duplicated: 0, unexpected: 0 });
  });

  it('answers a normal handshake without a cookie round trip when not under load', () => {
    const net = new FakeNetwork({ seed: 22 });
    const { alice, bob } = simPair(net);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    expect(alice.endpoint.stats.dropped['rate-limited']).toBe(0);
  });
});
