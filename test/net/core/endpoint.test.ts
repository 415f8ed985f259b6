import { describe, expect, it } from 'vitest';
import { FakeNetwork } from '../../support/fakenet.js';
import { simPair } from '../../support/simnode.js';

function pair(seed = 1) {
  const net = new FakeNetwork({ seed, conditions: { delay: 10 } });
  const { alice, bob } = simPair(net);
  return { net, alice, bob };
}

describe('Endpoint on a clean fake network', () => {
  it('connects with a one-sided add; the stranger appears under its announced nick', () => {
    const { net, alice, bob } = pair();
    bob.add('Alice', alice);
    expect(net.runUntilTrue(() => bob.connected('Alice') && alice.connected('bob'), 5000)).toBe(
      true,
    );
    expect(alice.endpoint.peer('bob')?.pinned).toBe(false);
    expect(bob.endpoint.peer('Alice')?.fingerprint).toBe(alice.endpoint.fingerprint);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
  });

  it('delivers both ways and reports acknowledgement', () => {
    const { net, alice, bob } = pair();
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => bob.connected('alice') && alice.connected('bob'), 5000)).toBe(
      true,
    );
    const id = bob.send(['alice'], 'hi alice');
    const id2 = alice.send(['bob'], 'hi bob');
    net.run(1000);
    expect(alice.received.map((m) => [m.nick, m.data.toString()])).toEqual([['bob', 'hi alice']]);
    expect(bob.received.map((m) => [m.nick, m.data.toString()])).toEqual([['alice', 'hi bob']]);
    expect(bob.delivered.get(id)).toEqual(['alice']);
    expect(alice.delivered.get(id2)).toEqual(['bob']);
  });

  it('answers a unicast send with one recipient record per peer, not a new one per message', () => {
    const { net, alice, bob } = pair();
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => bob.connected('alice') && alice.connected('bob'), 5000)).toBe(
      true,
    );
    const a = bob.endpoint.sendMessage(['alice'], Buffer.from('1'), net.now);
    const b = bob.endpoint.sendMessage(['alice'], Buffer.from('2'), net.now);
    expect(a.peers).toEqual([{ id: bob.endpoint.peer('alice')!.id, nick: 'alice' }]);
    expect(b.id).toBe(a.id + 1);
    // The arrays are the caller's (it removes recipients as they acknowledge); the record is shared.
    expect(b.peers).not.toBe(a.peers);
    expect(b.peers[0]).toBe(a.peers[0]);
    expect(Object.isFrozen(a.peers[0])).toBe(true);
    // A multicast answer names the same records.
    const all = bob.endpoint.sendMessage(undefined, Buffer.from('3'), net.now);
    expect(all.peers[0]).toBe(a.peers[0]);
  });

  it('stamps a packet when it is polled to be sent, so a busy sender does not inflate RTT', () => {
    const { net, alice, bob } = pair();
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => bob.connected('alice') && alice.connected('bob'), 5000)).toBe(
      true,
    );
    net.run(5000); // past the warm-up (srtt is the median of the first 8 samples: rtt.ts)
    const before = bob.endpoint.peer('alice')!.stats.smoothedRtt!;
    // Queued at t, sent 100 ms later (the socket's loop was busy, e.g. rendering).
    const t = net.now;
    bob.endpoint.sendMessage(['alice'], Buffer.from('late'), t);
    const data = bob.endpoint.pollTransmit(t + 100);
    expect(data).toBeDefined();
    alice.endpoint.handleDatagram(data!.data, bob.addr, t + 100.1);
    expect(alice.endpoint.pollTransmit(t + 100.1)).toBeUndefined(); // the ACK waits a turn
    alice.endpoint.handleTimeout(t + 100.2);
    const ack = alice.endpoint.pollTransmit(t + 100.2);
    expect(ack).toBeDefined();
    bob.endpoint.handleDatagram(ack!.data, alice.addr, t + 100.3);
    // Stamped when queued, the sample would be 100.3 ms and raise srtt by
    // 9.4 ms; stamped when polled it is the real 0.3 ms and srtt falls.
    const stats = bob.endpoint.peer('alice')!.stats;
    expect(stats.minRtt).toBeCloseTo(0.3, 5);
    expect(stats.smoothedRtt!).toBeLessThan(before);
  });

  it('settles a simultaneous open on one session each way without duplicates', () => {
    const { net, alice, bob } = pair(7);
    alice.add('bob', bob);
    bob.add('alice', alice);
    for (let i = 0; i < 50; i++) {
      alice.send(['bob'], `a${i}`);
      bob.send(['alice'], `b${i}`);
    }
    net.run(10_000);
    expect(bob.received.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 50 }, (_, i) => `a${i}`),
    );
    expect(alice.received.map((m) => m.data.toString())).toEqual(
      Array.from({ length: 50 }, (_, i) => `b${i}`),
    );
    expect(alice.endpoint.peers().map((p) => p.nick)).toEqual(['bob']);
    expect(bob.endpoint.peers().map((p) => p.nick)).toEqual(['alice']);
  });

  it('a candidate that turns out to be this node itself is dropped; the others still connect', () => {
    const { net, alice, bob } = pair(9);
    bob.endpoint.addPeer('alice', { addrs: [bob.addr, alice.addr] }, net.now);
    net.poke(bob.addr);
    expect(net.runUntilTrue(() => bob.connected('alice'), 5000)).toBe(true);
    net.run(5000);
    expect(bob.endpoint.peer('alice')?.state.kind).toBe('connected');
    expect(bob.errors()).toEqual([]);
  });

  it('fragments and reassembles a 1 MiB message', () => {
    const { net, alice, bob } = pair();
    bob.add('alice', alice);
    const big = net.rng.bytes(1024 * 1024);
    bob.send(['alice'], big);
    net.run(30_000);
    expect(alice.received).toHaveLength(1);
    expect(alice.received[0]!.data.equals(big)).toBe(true);
  });
});
