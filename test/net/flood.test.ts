import { describe, expect, it } from 'vitest';
import { addrKey } from '../../source/net/core/address.js';
import { Endpoint } from '../../source/net/core/endpoint.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { FakeNetwork } from '../support/fakenet.js';
import { initTemplate } from '../support/hostile.js';
import { Rng } from '../support/rng.js';
import { simPair } from '../support/simnode.js';

describe('handshake flood', () => {
  it('100,000 INITs from many addresses: bounded state, never more than 3x bytes back to an unverified address', () => {
    const rng = new Rng(77);
    const victim = new Endpoint({ identity: generateIdentity(), nick: 'alice' });
    const init = initTemplate();
    const bytesIn = new Map<string, number>();
    const bytesOut = new Map<string, number>();
    let now = 1_000_000;
    let maxHalfOpen = 0;
    for (let i = 0; i < 100_000; i++) {
      const from = {
        address: `127.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`,
        port: 1024 + rng.int(60_000),
      };
      const d = init(rng.u32());
      const key = addrKey(from);
      bytesIn.set(key, (bytesIn.get(key) ?? 0) + d.length);
      victim.handleDatagram(d, from, now);
      for (let t = victim.pollTransmit(); t; t = victim.pollTransmit()) {
        const k = addrKey(t.to);
        bytesOut.set(k, (bytesOut.get(k) ?? 0) + t.data.length);
      }
      maxHalfOpen = Math.max(maxHalfOpen, victim.halfOpenCount);
      now += 0.1; // 10,000 INITs a second
      if (i % 1000 === 0) victim.handleTimeout(now);
    }
    for (const [k, out] of bytesOut) expect(out, k).toBeLessThanOrEqual(3 * (bytesIn.get(k) ?? 0));
    expect(maxHalfOpen).toBeLessThanOrEqual(1024);
    // Almost all of it was answered statelessly with a cookie.
    expect(victim.stats.dropped['rate-limited']).toBeGreaterThan(90_000);
    const totalOut = [...bytesOut.values()].reduce((a, b) => a + b, 0);
    const totalIn = [...bytesIn.values()].reduce((a, b) => a + b, 0);
    expect(totalOut).toBeLessThan(totalIn / 3);
  });

  it('a real peer still connects (with a cookie) while the flood goes on', () => {
    const net = new FakeNetwork({ seed: 21, conditions: { delay: 5 } });
    const { alice, bob } = simPair(net);
    const init = initTemplate();
    // 100,000 INITs spread over 10 s of virtual time from spoofed addresses.
    for (let i = 0; i < 100_000; i++) {
      const from = {
        address: `198.51.${net.rng.int(256)}.${1 + net.rng.int(254)}`,
        port: 1024 + net.rng.int(60_000),
      };
      net.inject(init(net.rng.u32()), from, alice.addr, i / 10);
    }
    net.run(2_000);
    expect(alice.endpoint.stats.dropped['rate-limited']).toBeGreaterThan(1000);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => bob.connected('alice') && alice.connected('bob'), 10_000)).toBe(
      true,
    );
    bob.send(['alice'], 'made it');
    expect(net.runUntilTrue(() => alice.received.length === 1, 5_000)).toBe(true);
    expect(alice.endpoint.halfOpenCount).toBeLessThanOrEqual(1024);
  });

  it('answers a normal handshake without a cookie round trip when not under load', () => {
    const net = new FakeNetwork({ seed: 22 });
    const { alice, bob } = simPair(net);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    expect(alice.endpoint.stats.dropped['rate-limited']).toBe(0);
  });
});
