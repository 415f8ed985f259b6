import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../../../source/net/crypto/identity.js';
import { FakeNetwork } from '../../../support/fakenet.js';
import { SimPeer } from '../../../support/simnode.js';

/**
 * A trust store kept from an earlier run holds `bob` → bob's key, but this
 * run never added bob again (a library user who keeps the trust store and
 * not a peer list; a chat whose known-peers file missed him). When bob
 * dials us he is bob, not a stranger `bob-<fingerprint>`: the pin is the
 * user's name for that key (seen in the tmux trial after a restart).
 */
describe('a key pinned to a name that has no record', () => {
  function pair(acceptStrangers: boolean, pinnedTo: 'bob' | 'other') {
    const net = new FakeNetwork({ seed: 77 });
    const bobId = generateIdentity();
    const pinnedKey = pinnedTo === 'bob' ? bobId.publicKey : generateIdentity().publicKey;
    const alice = new SimPeer(
      net,
      { address: '203.0.113.1', port: 1000 },
      { nick: 'alice', pins: [['bob', pinnedKey]], acceptStrangers },
      net.rng,
    );
    const bob = new SimPeer(
      net,
      { address: '203.0.113.2', port: 2000 },
      { nick: 'bob', identity: bobId },
      net.rng,
    );
    bob.add('alice', alice);
    return { net, alice, bob };
  }

  it('gets that name, pinned, when it dials us', () => {
    const { net, alice, bob } = pair(true, 'bob');
    expect(net.runUntilTrue(() => bob.connected('alice'), 5000)).toBe(true);
    net.run(500);
    expect(alice.endpoint.peers().map((p) => [p.nick, p.pinned])).toEqual([['bob', true]]);
    expect(alice.connected('bob')).toBe(true);
  });

  it('is accepted even where strangers are not: it is a known key', () => {
    const { net, alice, bob } = pair(false, 'bob');
    expect(net.runUntilTrue(() => bob.connected('alice'), 5000)).toBe(true);
    net.run(500);
    expect(alice.connected('bob')).toBe(true);
  });

  it('another key announcing that name is still a stranger with a suffix', () => {
    const { net, alice, bob } = pair(true, 'other');
    expect(net.runUntilTrue(() => bob.connected('alice'), 5000)).toBe(true);
    net.run(500);
    const nicks = alice.endpoint.peers().map((p) => p.nick);
    expect(nicks).toHaveLength(1);
    expect(nicks[0]).toMatch(/^bob-[a-z2-7]{8}$/);
    expect(alice.endpoint.peers()[0]?.pinned).toBe(false);
  });
});
