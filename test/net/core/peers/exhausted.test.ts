import { describe, expect, it } from 'vitest';
import { MAX_PACKET_NUMBER } from '../../../../source/net/core/conn/session.js';
import type { Peer } from '../../../../source/net/core/peers/peer.js';
import { FakeNetwork } from '../../../support/fakenet.js';
import { simPair } from '../../../support/simnode.js';

describe('a session whose packet numbers run out', () => {
  it('is never sealed again: the peer moves to a new session and the message arrives once', () => {
    const net = new FakeNetwork({ seed: 140 });
    const { alice, bob } = simPair(net);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5000)).toBe(
      true,
    );
    const peer = (alice.endpoint as unknown as { registry: { get(n: string): Peer } }).registry.get(
      'bob',
    );
    const first = peer.current!;
    // Every packet number used (setting it below the end would make the
    // sender rekey 2^52 / interval times to get there).
    (first as unknown as { nextPn: number }).nextPn = MAX_PACKET_NUMBER;
    alice.send(['bob'], 'x'.repeat(5000));
    expect(net.runUntilTrue(() => bob.received.length === 1, 10_000)).toBe(true);
    net.run(2000);
    expect(bob.received.map((m) => m.data.length)).toEqual([5000]);
    expect(peer.current).toBeDefined();
    expect(peer.current).not.toBe(first);
    expect(first.exhausted).toBe(true);
    expect(alice.connected('bob')).toBe(true);
  });
});
