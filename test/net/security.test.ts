import { describe, expect, it } from 'vitest';
import type { LocalNode } from '../../source/net/core/handshake/handshake.js';
import { fingerprint, generateIdentity } from '../../source/net/crypto/identity.js';
import { generateDhKeyPair } from '../../source/net/crypto/noise.js';
import { FakeNetwork } from '../support/fakenet.js';
import { HOSTILE_KINDS, hostileDatagram } from '../support/hostile.js';
import { SimPeer } from '../support/simnode.js';

const A = { address: '203.0.113.1', port: 1000 };
const B = { address: '203.0.113.2', port: 2000 };
const M = { address: '203.0.113.66', port: 6666 };

describe('authentication', () => {
  it('refuses a man in the middle that presents the real identity with its own Noise key', () => {
    const net = new FakeNetwork({ seed: 3 });
    const alice = new SimPeer(net, A, { nick: 'alice' }, net.rng);
    const mallory = new SimPeer(net, M, { nick: 'alice' }, net.rng);
    // Mallory copies alice's identity key and signature but cannot sign her
    // own static key with alice's identity.
    const forged: LocalNode = {
      ...mallory.endpoint.local,
      staticKey: generateDhKeyPair(),
      identity: {
        publicKey: alice.endpoint.local.identity.publicKey,
        secretKey: mallory.endpoint.local.identity.secretKey,
      },
      binding: alice.endpoint.local.binding,
    };
    // The handshake layer holds the node by reference: change it in place.
    Object.assign(mallory.endpoint.local, forged);
    const bob = new SimPeer(net, B, { nick: 'bob' }, net.rng);
    // Bob believes alice is at mallory's address.
    bob.endpoint.addPeer('alice', { addrs: [M] }, net.now);
    net.poke(B);
    net.run(10_000);
    expect(bob.connected('alice')).toBe(false);
    expect(mallory.connected('bob')).toBe(false);
    expect(bob.endpoint.stats.dropped.handshake).toBeGreaterThan(0);
  });

  it('refuses a relaying man in the middle that runs its own handshakes both ways (pinned keys)', () => {
    const net = new FakeNetwork({ seed: 4 });
    const aliceId = generateIdentity();
    const bobId = generateIdentity();
    const alice = new SimPeer(
      net,
      A,
      { nick: 'alice', identity: aliceId, pins: [['bob', bobId.publicKey]] },
      net.rng,
    );
    const bob = new SimPeer(
      net,
      B,
      { nick: 'bob', identity: bobId, pins: [['alice', aliceId.publicKey]] },
      net.rng,
    );
    // Mallory terminates both sides with her own identity and forwards
    // messages (she would not introduce her victims to each other).
    const mallory = new SimPeer(net, M, { nick: 'alice', introductions: false }, net.rng);
    bob.endpoint.addPeer('alice', { addrs: [M] }, net.now);
    net.poke(B);
    mallory.endpoint.addPeer('realalice', { addrs: [A] }, net.now);
    net.poke(M);
    net.run(10_000);
    expect(bob.connected('alice')).toBe(false);
    const state = bob.endpoint.peer('alice')?.state;
    expect(state?.kind).toBe('key-mismatch');
    if (state?.kind === 'key-mismatch') {
      expect(state.expected).toBe(fingerprint(aliceId.publicKey));
      expect(state.got).toBe(mallory.endpoint.fingerprint);
    }
    const err = bob.errors().find((e) => e.type === 'error' && e.code === 'key-mismatch');
    expect(err && err.type === 'error' ? err.message : '').toMatch(
      /answered with key \w{52}, but alice is pinned to \w{52}: refused\. Compare fingerprints/,
    );
    // Alice accepts mallory only as a stranger under a name that is not "bob".
    expect(alice.endpoint.peer('bob')).toBeUndefined();
    bob.send(['alice'], 'secret');
    net.run(5000);
    expect(mallory.received).toHaveLength(0);
  });

  it('a stranger can never take over a pinned name', () => {
    const net = new FakeNetwork({ seed: 5 });
    const alice = new SimPeer(net, A, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, B, { nick: 'bob' }, net.rng);
    const eve = new SimPeer(net, M, { nick: 'bob' }, net.rng);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    eve.add('alice', alice);
    expect(net.runUntilTrue(() => alice.endpoint.peers().length === 2, 5000)).toBe(true);
    const nicks = alice.endpoint
      .peers()
      .map((p) => p.nick)
      .sort();
    expect(nicks).toEqual(['bob', `bob-${eve.endpoint.fingerprint.slice(0, 8)}`]);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
  });

  it('refuses strangers when asked to, and blocked keys always', () => {
    const net = new FakeNetwork({ seed: 6 });
    const alice = new SimPeer(net, A, { nick: 'alice', acceptStrangers: false }, net.rng);
    const bob = new SimPeer(net, B, { nick: 'bob' }, net.rng);
    bob.add('alice', alice);
    net.run(5000);
    expect(alice.endpoint.peers()).toHaveLength(0);
    expect(alice.endpoint.stats.dropped.stranger).toBeGreaterThan(0);

    const carol = new SimPeer(
      net,
      M,
      { nick: 'carol', blocked: [bob.endpoint.local.identity.publicKey] },
      net.rng,
    );
    bob.add('carol', carol);
    net.run(5000);
    expect(carol.endpoint.peers()).toHaveLength(0);
    expect(carol.endpoint.stats.dropped.blocked).toBeGreaterThan(0);
  });

  it('drops replayed data packets and never delivers a message twice', () => {
    const net = new FakeNetwork({ seed: 8 });
    const alice = new SimPeer(net, A, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, B, { nick: 'bob' }, net.rng);
    const recorded: Buffer[] = [];
    net.tap = (d) => {
      if (d.to.port === A.port) recorded.push(Buffer.from(d.data));
      return undefined;
    };
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    bob.send(['alice'], 'once');
    net.run(1000);
    for (const d of recorded) net.inject(d, B, A);
    net.run(1000);
    expect(alice.received.map((m) => m.data.toString())).toEqual(['once']);
    expect(alice.endpoint.stats.dropped.replay).toBeGreaterThan(0);
  });

  it('survives garbage, truncated and bit-flipped packets without a state change', () => {
    const net = new FakeNetwork({ seed: 9 });
    const alice = new SimPeer(net, A, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, B, { nick: 'bob' }, net.rng);
    const recorded: Buffer[] = [];
    net.tap = (d) => {
      if (d.to.port === A.port) recorded.push(Buffer.from(d.data));
      return undefined;
    };
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    bob.send(['alice'], 'before');
    net.run(500);
    const stats = alice.endpoint.stats;
    const fromBob = () => alice.endpoint.peer('bob')?.stats.packetsReceived ?? 0;
    const dropTotal = () => Object.values(stats.dropped).reduce((a, b) => a + b, 0);
    const before = {
      in: stats.datagramsIn,
      dropped: dropTotal(),
      handshake: stats.handshakePackets,
      stun: stats.stun,
      fromBob: fromBob(),
    };
    // bob's own datagrams to alice meanwhile (the tap sees no injected ones).
    let genuine = 0;
    net.tap = (d) => {
      if (d.to.port === A.port) genuine++;
      return undefined;
    };
    const HOSTILE = 20_000;
    for (let i = 0; i < HOSTILE; i++) {
      const base = recorded[i % recorded.length]!;
      const d = hostileDatagram(net.rng, base, HOSTILE_KINDS[i % 3]!);
      net.inject(d, net.rng.chance(0.5) ? B : M, A);
    }
    net.run(1000);
    bob.send(['alice'], 'after');
    net.run(1000);
    expect(alice.received.map((m) => m.data.toString())).toEqual(['before', 'after']);
    expect(alice.connected('bob')).toBe(true);
    // What is in flight lands; nothing new is sent (so genuine is exact).
    net.tap = () => null;
    net.run(100);
    // Exact accounting (the fuzz test's identity): every datagram that reached
    // alice is bob's and authenticated, or dropped by reason, or a
    // handshake-layer packet, or STUN. No hostile one authenticated.
    const delta = {
      in: stats.datagramsIn - before.in,
      dropped: dropTotal() - before.dropped,
      handshake: stats.handshakePackets - before.handshake,
      stun: stats.stun - before.stun,
      fromBob: fromBob() - before.fromBob,
    };
    expect(delta.in).toBe(HOSTILE + genuine);
    expect(delta.fromBob).toBe(genuine);
    expect(delta.dropped + delta.handshake + delta.stun).toBe(HOSTILE);
  });
});
