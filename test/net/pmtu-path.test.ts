import { describe, expect, it } from 'vitest';
import { Endpoint } from '../../source/net/core/endpoint.js';
import { UsageError } from '../../source/net/core/errors.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { BASE_PLPMTU, MAX_PLPMTU } from '../../source/net/recovery/pmtu.js';
import { FakeNetwork, type LinkConditions } from '../support/fakenet.js';
import { SimPeer, simPair } from '../support/simnode.js';

/** A connected pair on a network whose links carry datagrams up to `mtu` bytes. */
function connected(conditions: LinkConditions, seed = 3) {
  const net = new FakeNetwork({ seed, conditions: { delay: 10, ...conditions } });
  const { alice, bob } = simPair(net);
  bob.add('alice', alice);
  expect(net.runUntilTrue(() => bob.connected('alice') && alice.connected('bob'), 5000)).toBe(true);
  return { net, alice, bob };
}

const mtuOf = (p: SimPeer, nick: string) => p.endpoint.peer(nick)?.stats.mtu;

/** Sizes of the DATA datagrams `from` sends, from now on. */
function tapSizes(net: FakeNetwork, from: SimPeer): number[] {
  const sizes: number[] = [];
  net.tap = (d) => {
    if (d.from.address === from.addr.address && d.data[1] === 4) sizes.push(d.data.length);
    return d.data;
  };
  return sizes;
}

describe('path MTU discovery on the fake network (RFC 8899)', () => {
  it('finds 1452 bytes on a 1500-byte path and fills data packets to it', () => {
    const { net, alice, bob } = connected({});
    expect(net.runUntilTrue(() => mtuOf(bob, 'alice') === MAX_PLPMTU, 2000)).toBe(true);
    expect(net.runUntilTrue(() => mtuOf(alice, 'bob') === MAX_PLPMTU, 2000)).toBe(true);
    const sizes = tapSizes(net, bob);
    const big = Buffer.alloc(100_000, 7);
    const id = bob.send(['alice'], big);
    net.run(3000);
    expect(bob.delivered.get(id)).toEqual(['alice']);
    expect(alice.received.at(-1)?.data.equals(big)).toBe(true);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX_PLPMTU);
    // Full packets (a STREAM frame header leaves a few bytes over): about
    // 100 KB / 1420 B of payload, where 1200-byte packets would need 86.
    const full = sizes.filter((s) => s > MAX_PLPMTU - 8);
    expect(full.length).toBeGreaterThanOrEqual(65);
    expect(sizes.length).toBeLessThan(100_000 / 1170);
  });

  it('settles within 16 bytes under a narrower path and never sends data past it', () => {
    const { net, bob } = connected({ mtu: 1320 });
    const sizes = tapSizes(net, bob);
    const id = bob.send(['alice'], Buffer.alloc(60_000, 1));
    net.run(20_000);
    expect(bob.delivered.get(id)).toEqual(['alice']);
    const mtu = mtuOf(bob, 'alice')!;
    expect(mtu).toBeLessThanOrEqual(1320);
    expect(mtu).toBeGreaterThan(1320 - 16);
    // Only probes ever exceeded the path: no packet of data was lost to the MTU.
    expect(bob.endpoint.peer('alice')?.stats.packetsLost).toBe(0);
    expect(bob.endpoint.peer('alice')?.stats.retransmits).toBe(0);
    expect(sizes.some((s) => s > 1320)).toBe(true);
  });

  it('falls back to 1200 when the path narrows mid-transfer, delivers everything and finds the new size', () => {
    const { net, alice, bob } = connected({});
    expect(net.runUntilTrue(() => mtuOf(bob, 'alice') === MAX_PLPMTU, 2000)).toBe(true);
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    const id = bob.send(['alice'], big);
    net.run(30);
    // A route change to a tunnel: 1452-byte datagrams now vanish without a trace.
    net.conditions.mtu = 1350;
    expect(net.runUntilTrue(() => bob.delivered.get(id) !== undefined, 30_000)).toBe(true);
    expect(alice.received.at(-1)?.data.equals(big)).toBe(true);
    expect(mtuOf(bob, 'alice')).toBe(BASE_PLPMTU);
    // The search resumes, after a backoff, with the next thing sent.
    net.run(2000);
    bob.send(['alice'], 'still there?');
    net.run(5000);
    const mtu = mtuOf(bob, 'alice')!;
    expect(mtu).toBeLessThanOrEqual(1350);
    expect(mtu).toBeGreaterThan(BASE_PLPMTU);
    expect(bob.connected('alice')).toBe(true);
  });

  it('maxDatagramSize 1200 turns the search off; out-of-range sizes are the user’s error', () => {
    const net = new FakeNetwork({ seed: 5, conditions: { delay: 10 } });
    const alice = new SimPeer(net, { address: '203.0.113.1', port: 1000 }, { nick: 'alice' });
    const bob = new SimPeer(
      net,
      { address: '203.0.113.2', port: 2000 },
      { nick: 'bob', maxDatagramSize: BASE_PLPMTU },
    );
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => bob.connected('alice'), 5000)).toBe(true);
    const sizes = tapSizes(net, bob);
    bob.send(['alice'], Buffer.alloc(50_000));
    net.run(3000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(BASE_PLPMTU);
    expect(Math.max(...sizes)).toBeGreaterThan(BASE_PLPMTU - 8);
    expect(mtuOf(bob, 'alice')).toBe(BASE_PLPMTU);
    for (const bad of [1000, 1453, 1300.5]) {
      expect(
        () => new Endpoint({ identity: generateIdentity(), nick: 'x', maxDatagramSize: bad }),
      ).toThrow(UsageError);
    }
  });
});
