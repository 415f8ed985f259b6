import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { FakeNetwork } from '../support/fakenet.js';
import { SimPeer } from '../support/simnode.js';

const A = { address: '203.0.113.1', port: 1000 };
const B = { address: '203.0.113.2', port: 2000 };

function connectedPair(seed: number, rekeyInterval?: number) {
  const net = new FakeNetwork({ seed, conditions: { delay: 10 } });
  const cfg = rekeyInterval ? { rekeyInterval } : {};
  const alice = new SimPeer(net, A, { nick: 'alice', ...cfg }, net.rng);
  const bobIdentity = generateIdentity();
  const bob = new SimPeer(net, B, { nick: 'bob', identity: bobIdentity, ...cfg }, net.rng);
  alice.add('bob', bob);
  expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5000)).toBe(true);
  return { net, alice, bob, bobIdentity };
}

describe('session lifecycle on the virtual clock', () => {
  it('a peer restarted with the same identity is talking again within 5 s (it re-adds us)', () => {
    const { net, alice, bobIdentity } = connectedPair(11);
    net.detach(B);
    net.run(2000);
    const bob2 = new SimPeer(net, B, { nick: 'bob', identity: bobIdentity }, net.rng);
    const restartedAt = net.now;
    bob2.add('alice', alice);
    alice.send(['bob'], 'after restart');
    expect(net.runUntilTrue(() => bob2.received.length === 1, 5000)).toBe(true);
    expect(net.now - restartedAt).toBeLessThan(5000);
    expect(bob2.received[0]?.data.toString()).toBe('after restart');
    expect(alice.events.some((e) => e.type === 'peer' && e.change === 'restarted')).toBe(true);
    expect(alice.endpoint.peers()).toHaveLength(1);
  });

  it('a restarted peer that does not know us is found again by stateless reset within 5 s', () => {
    const { net, alice, bobIdentity } = connectedPair(12);
    net.detach(B);
    net.run(1000);
    // Bob comes back with the same identity but no memory of alice.
    const bob2 = new SimPeer(net, B, { nick: 'bob', identity: bobIdentity }, net.rng);
    const restartedAt = net.now;
    alice.send(['bob'], 'are you there?');
    expect(net.runUntilTrue(() => bob2.received.length === 1, 5000)).toBe(true);
    expect(net.now - restartedAt).toBeLessThan(5000);
    expect(bob2.received[0]?.data.toString()).toBe('are you there?');
    expect(bob2.endpoint.stats.datagramsOut).toBeGreaterThan(0);
    expect(alice.endpoint.peer('bob')?.state.kind).toBe('connected');
  });

  it('a forged RESET (wrong token) changes nothing', () => {
    const { net, alice, bob } = connectedPair(13);
    const forged = Buffer.alloc(22, 0xaa);
    forged[0] = 0x51;
    forged[1] = 6;
    for (let i = 0; i < 100; i++) net.inject(forged, B, A);
    net.run(100);
    expect(alice.connected('bob')).toBe(true);
    expect(alice.endpoint.stats.dropped['unknown-session']).toBeGreaterThanOrEqual(100);
    bob.send(['alice'], 'still here');
    net.run(500);
    expect(alice.received.map((m) => m.data.toString())).toEqual(['still here']);
  });

  it('survives a 10 s blackout and then delivers what was queued', () => {
    const { net, alice, bob } = connectedPair(14);
    net.conditions.blackout = true;
    for (let i = 0; i < 20; i++) alice.send(['bob'], `queued ${i}`);
    net.run(10_000);
    expect(bob.received).toHaveLength(0);
    net.conditions.blackout = false;
    expect(net.runUntilTrue(() => bob.received.length === 20, 30_000)).toBe(true);
    expect(bob.received.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 20 }, (_, i) => `queued ${i}`),
    );
    expect(alice.connected('bob')).toBe(true);
  });

  it('ends a session after the idle timeout, not before, and says why', () => {
    const { net, alice } = connectedPair(15);
    net.detach(B);
    net.run(30_000);
    expect(alice.endpoint.peer('bob')?.state.kind).toBe('connected');
    net.run(20_000);
    const state = alice.endpoint.peer('bob')?.state;
    expect(state?.kind).not.toBe('connected');
  });

  it('keepalives hold an idle session open well past the idle timeout', () => {
    const { net, alice, bob } = connectedPair(16);
    net.run(120_000);
    expect(alice.connected('bob')).toBe(true);
    expect(bob.connected('alice')).toBe(true);
  });

  it('rekeys by epoch without losing a packet (tiny rekey interval)', () => {
    const { net, alice, bob } = connectedPair(17, 16);
    for (let i = 0; i < 500; i++) alice.send(['bob'], `m${i}`);
    net.conditions.loss = 0.1;
    expect(net.runUntilTrue(() => bob.received.length === 500, 60_000)).toBe(true);
    expect(bob.received.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 500 }, (_, i) => `m${i}`),
    );
  });

  it('removePeer tells the other side, which stops showing it as connected', () => {
    const { net, alice, bob } = connectedPair(18);
    alice.endpoint.removePeer('bob', net.now);
    net.poke(A);
    net.run(1000);
    expect(alice.endpoint.peers()).toHaveLength(0);
    expect(bob.endpoint.peer('alice')?.state.kind).toBe('disconnected');
  });
});

describe('path validation (RFC 9000 §8.2)', () => {
  it('follows a peer to a new address only after it answers a challenge there', () => {
    const { net, alice, bob } = connectedPair(41);
    // An attacker replays one of bob's packets from a forged source address:
    // it is a replay, so nothing happens at all.
    const victim = { address: '198.51.100.9', port: 9 };
    let captured: Buffer | undefined;
    net.tap = (d) => {
      if (d.to.port === A.port && !captured && d.data[1] === 4) captured = Buffer.from(d.data);
      return undefined;
    };
    bob.send(['alice'], 'x');
    net.run(500);
    net.tap = undefined;
    expect(captured).toBeDefined();
    net.inject(captured!, victim, A);
    net.run(1000);
    expect(alice.endpoint.peer('bob')?.address).toEqual(B);
    expect(alice.endpoint.stats.dropped.replay).toBeGreaterThan(0);
  });

  it('sends at most a few challenges to an address that never answers, then stays put', () => {
    const { net, alice, bob } = connectedPair(42);
    const silent = { address: '198.51.100.10', port: 10 };
    // Rewrite bob's next packets (as an on-path attacker could) to come from `silent`.
    let rewrites = 0;
    const sentToSilent: Buffer[] = [];
    net.tap = (d) => {
      if (d.to.address === silent.address) sentToSilent.push(d.data);
      if (d.to.port === A.port && d.from.port === B.port && rewrites < 1) {
        rewrites++;
        net.inject(Buffer.from(d.data), silent, A);
        return null;
      }
      return undefined;
    };
    bob.send(['alice'], 'hello');
    net.run(10_000);
    expect(alice.received.map((m) => m.data.toString())).toEqual(['hello']);
    expect(sentToSilent.length).toBeGreaterThan(0);
    expect(sentToSilent.length).toBeLessThanOrEqual(3);
    expect(alice.endpoint.peer('bob')?.address).toEqual(B);
    bob.send(['alice'], 'still fine');
    net.run(2000);
    expect(alice.received).toHaveLength(2);
  });
});
