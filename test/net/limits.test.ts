import { afterEach, describe, expect, it } from 'vitest';
import { PEER_REASSEMBLY_LIMIT } from '../../source/net/core/peers/peer.js';
import { MAX_QUEUED_PER_PEER, MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { FakeNetwork } from '../support/fakenet.js';
import { SimPeer } from '../support/simnode.js';

const open: MultiHolepunchSocket[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('resource limits', () => {
  it('send() applies backpressure: a silent peer never gets more than the queue limit', async () => {
    const alice = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'alice' });
    const ghost = await MultiHolepunchSocket.bind({ host: '127.0.0.1', nick: 'ghost' });
    open.push(alice);
    const addr = `127.0.0.1:${ghost.localAddress().port}`;
    await ghost.close();
    await alice.addPeers({ ghost: addr });
    const mib = Buffer.alloc(1024 * 1024, 1);
    const sends = Array.from({ length: 40 }, () =>
      alice.send(mib, { recipient: 'ghost', timeout: 400 }),
    );
    let peak = 0;
    const sampler = setInterval(() => {
      const q = (
        alice as unknown as { endpoint: { queuedBytes(n: string): number } }
      ).endpoint.queuedBytes('ghost');
      peak = Math.max(peak, q);
    }, 5);
    const results = await Promise.allSettled(sends);
    clearInterval(sampler);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const reasons = results.map((r) => (r.status === 'rejected' ? String(r.reason) : ''));
    expect(reasons.some((r) => /send queue full/.test(r))).toBe(true);
    expect(reasons.some((r) => /not acknowledged within 400 ms by: ghost/.test(r))).toBe(true);
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(MAX_QUEUED_PER_PEER + 64);
  });

  it('a peer that opens more streams than allowed is cut off, and says why', () => {
    const net = new FakeNetwork({ seed: 31 });
    const alice = new SimPeer(net, { address: '203.0.113.1', port: 1 }, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, { address: '203.0.113.2', port: 2 }, { nick: 'bob' }, net.rng);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    for (let stream = 0; stream < 6; stream++) {
      bob.endpoint.sendMessage(['alice'], Buffer.from(`on stream ${stream}`), net.now, stream);
    }
    net.poke(bob.addr);
    net.run(2000);
    expect(alice.endpoint.stats.dropped.protocol).toBeGreaterThan(0);
    expect(
      alice.errors().some((e) => e.type === 'error' && /too many streams/.test(e.message)),
    ).toBe(true);
    expect(alice.endpoint.reassemblyBytesHeld).toBe(0);
    expect(PEER_REASSEMBLY_LIMIT).toBeGreaterThanOrEqual(2 * 1024 * 1024);
  });

  it('reassembly memory is returned once messages complete', () => {
    const net = new FakeNetwork({ seed: 32, conditions: { loss: 0.2, jitter: 10 } });
    const alice = new SimPeer(net, { address: '203.0.113.1', port: 1 }, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, { address: '203.0.113.2', port: 2 }, { nick: 'bob' }, net.rng);
    bob.add('alice', alice);
    let peak = 0;
    for (let i = 0; i < 4; i++) bob.send(['alice'], net.rng.bytes(300_000));
    expect(
      net.runUntilTrue(() => {
        peak = Math.max(peak, alice.endpoint.reassemblyBytesHeld);
        return alice.received.length === 4;
      }, 60_000),
    ).toBe(true);
    expect(peak).toBeGreaterThan(0);
    expect(alice.endpoint.reassemblyBytesHeld).toBe(0);
  });
});

describe('peer table limit', () => {
  it('makes room for a new stranger by forgetting the longest-disconnected one, and refuses when all are live', () => {
    const net = new FakeNetwork({ seed: 33 });
    const alice = new SimPeer(
      net,
      { address: '203.0.113.1', port: 1 },
      { nick: 'alice', maxPeers: 3 },
      net.rng,
    );
    const strangers = Array.from(
      { length: 5 },
      (_, i) =>
        new SimPeer(
          net,
          { address: `203.0.113.${10 + i}`, port: 10 + i },
          { nick: `s${i}` },
          net.rng,
        ),
    );
    for (const s of strangers.slice(0, 3)) s.add('alice', alice);
    expect(net.runUntilTrue(() => alice.endpoint.peers().length === 3, 5000)).toBe(true);
    // s0 leaves politely; s3 arrives and takes its place.
    strangers[0]!.endpoint.removePeer('alice', net.now);
    net.poke(strangers[0]!.addr);
    net.run(1000);
    strangers[3]!.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('s3'), 5000)).toBe(true);
    expect(
      alice.endpoint
        .peers()
        .map((p) => p.nick)
        .sort(),
    ).toEqual(['s1', 's2', 's3']);
    // Everyone is connected now: s4 is refused.
    strangers[4]!.add('alice', alice);
    net.run(5000);
    expect(alice.endpoint.peer('s4')).toBeUndefined();
    expect(alice.endpoint.stats.dropped.stranger).toBeGreaterThan(0);
  });
});
