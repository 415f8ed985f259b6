import { describe, expect, it } from 'vitest';
import { resetToken } from '../../source/net/core/handshake/handshake.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { encodeReset, PacketType } from '../../source/net/wire/packet.js';
import { FakeNetwork } from '../support/fakenet.js';
import { SimPeer } from '../support/simnode.js';

const A = { address: '203.0.113.1', port: 1000 };
const B = { address: '203.0.113.2', port: 2000 };
/** The idle timeout the readme promises (a literal: the test backs the claim, not the constant). */
const IDLE_TIMEOUT = 45_000;

/**
 * The session indices on the wire between alice and bob: the receiver index of
 * the next DATA each way (packet.ts: DATA = ver type receiver:u32 ...).
 */
function liveIndices(net: FakeNetwork, alice: SimPeer, bob: SimPeer) {
  const seen: { toBob?: number; toAlice?: number } = {};
  net.tap = ({ data, to }) => {
    if (data[1] !== PacketType.Data) return undefined;
    if (to.port === B.port) seen.toBob = data.readUInt32BE(2);
    else seen.toAlice = data.readUInt32BE(2);
    return undefined;
  };
  alice.send(['bob'], 'index probe');
  bob.send(['alice'], 'index probe');
  net.run(200);
  net.tap = undefined;
  alice.received.length = 0;
  bob.received.length = 0;
  if (seen.toBob === undefined || seen.toAlice === undefined) throw new Error('no DATA seen');
  return { toBob: seen.toBob, toAlice: seen.toAlice };
}

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

  it('a forged RESET (right index, wrong token) changes nothing and is counted', () => {
    const { net, alice, bob } = connectedPair(13);
    // The index a genuine RESET from bob would name: the receiver index of
    // alice's DATA to bob (her session's remote index). Also bob's view of it
    // (the index on bob's DATA to alice), so a lookup by either index alone,
    // without the token, would match a live session.
    const indices = liveIndices(net, alice, bob);
    const before = alice.endpoint.stats.dropped['unknown-session'] ?? 0;
    const events = alice.events.length;
    for (const index of [indices.toBob, indices.toAlice]) {
      for (let i = 0; i < 50; i++) {
        net.inject(encodeReset(index, Buffer.alloc(16, i + 1)), B, A);
      }
    }
    net.run(100);
    expect(alice.connected('bob')).toBe(true);
    expect(alice.events.slice(events).filter((e) => e.type === 'peer')).toEqual([]);
    // Every forgery is dropped, by reason, and nothing else was.
    expect((alice.endpoint.stats.dropped['unknown-session'] ?? 0) - before).toBe(100);
    bob.send(['alice'], 'still here');
    net.run(500);
    expect(alice.received.map((m) => m.data.toString())).toEqual(['still here']);
  });

  it('the same RESET with the genuine token does end the session (the forgery test is sound)', () => {
    const { net, alice, bob } = connectedPair(19);
    const { toBob } = liveIndices(net, alice, bob);
    // bob's genuine token for that index, as bob would compute it after a restart.
    const token = resetToken(bob.endpoint.local, toBob);
    net.conditions.blackout = true;
    net.inject(encodeReset(toBob, token), B, A);
    net.run(1);
    expect(alice.connected('bob')).toBe(false);
    expect(alice.events.some((e) => e.type === 'peer' && e.change === 'disconnected')).toBe(true);
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

  it('ends a session at the idle timeout (45 s after the last packet, ± 1 s) and says why', () => {
    const { net, bob } = connectedPair(15);
    // Watch bob's side: alice dialled him, so he does not redial her and his
    // record of her keeps the reason (alice's pinned record redials at once).
    let lastFromAlice = net.now;
    net.tap = ({ to }) => {
      if (to.port === B.port) lastFromAlice = net.now;
      return undefined;
    };
    net.detach(A);
    const heardLast = lastFromAlice + 10; // the link's one-way delay
    net.runUntil(heardLast + IDLE_TIMEOUT - 1000);
    expect(bob.endpoint.peer('alice')?.state.kind).toBe('connected');
    net.runUntil(heardLast + IDLE_TIMEOUT + 1000);
    const state = bob.endpoint.peer('alice')?.state;
    expect(state?.kind).toBe('disconnected');
    expect(state?.kind === 'disconnected' && state.reason).toBe(
      'no answer for 45 s (idle timeout)',
    );
    expect(state?.kind === 'disconnected' && state.since).toBeGreaterThanOrEqual(
      heardLast + IDLE_TIMEOUT - 1000,
    );
    expect(bob.events.filter((e) => e.type === 'peer' && e.change === 'disconnected')).toHaveLength(
      1,
    );
  });

  it('keepalives hold an idle session open well past the idle timeout', () => {
    const { net, alice, bob } = connectedPair(16);
    net.run(120_000);
    expect(alice.connected('bob')).toBe(true);
    expect(bob.connected('alice')).toBe(true);
  });

  it('rekeys by epoch without losing a packet (tiny rekey interval)', () => {
    const interval = 16;
    const { net, alice, bob } = connectedPair(17, interval);
    // Highest packet number on the wire each way (DATA: ver type receiver:u32 pn:u64).
    const highest = { toBob: -1, toAlice: -1 };
    net.tap = ({ data, to }) => {
      if (data[1] !== PacketType.Data) return undefined;
      const pn = Number(data.readBigUInt64BE(6));
      if (to.port === B.port) highest.toBob = Math.max(highest.toBob, pn);
      else highest.toAlice = Math.max(highest.toAlice, pn);
      return undefined;
    };
    // 200-byte messages fill several packets each way per epoch of 16.
    const text = (i: number) => `m${i} `.padEnd(200, '.');
    for (let i = 0; i < 500; i++) alice.send(['bob'], text(i));
    net.conditions.loss = 0.1;
    expect(net.runUntilTrue(() => bob.received.length === 500, 60_000)).toBe(true);
    expect(bob.received.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 500 }, (_, i) => text(i)),
    );
    // The keys really advanced: alice's packets span many epochs (at most
    // one 200-byte message less than a packet each: > 500 / 6 packets), and
    // bob's ACKs at least two, yet not one packet failed to authenticate.
    expect(Math.floor(highest.toBob / interval)).toBeGreaterThanOrEqual(5);
    expect(Math.floor(highest.toAlice / interval)).toBeGreaterThanOrEqual(2);
    expect(alice.endpoint.stats.dropped.decrypt ?? 0).toBe(0);
    expect(bob.endpoint.stats.dropped.decrypt ?? 0).toBe(0);
  });

  it('the keys really change at the configured epoch: a peer that does not rekey cannot follow', () => {
    // alice rekeys every 16 packets, bob keeps the default interval (2^24): if
    // alice's keys did not change at pn 16, bob would read everything.
    const net = new FakeNetwork({ seed: 20, conditions: { delay: 10 } });
    const alice = new SimPeer(net, A, { nick: 'alice', rekeyInterval: 16 }, net.rng);
    const bob = new SimPeer(net, B, { nick: 'bob' }, net.rng);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5000)).toBe(
      true,
    );
    for (let i = 0; i < 40; i++) {
      alice.send(['bob'], `m${i}`);
      net.run(50);
    }
    const got = bob.received.length;
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(40);
    expect(bob.endpoint.stats.dropped.decrypt ?? 0).toBeGreaterThan(0);
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
