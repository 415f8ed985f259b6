/**
 * The user's commands about names and keys (peers/trust.ts; readme, "Names
 * and keys"), through the Endpoint on the virtual clock: every check runs
 * before anything changes, removing forgets the pin and says which messages
 * will never arrive, blocking drops a connected peer. Found by mutation
 * testing (test/mutation-survivors.md): the lifecycle tests never reached them.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../../../source/net/core/errors.js';
import { fingerprint, generateIdentity } from '../../../../source/net/crypto/identity.js';
import { FakeNetwork } from '../../../support/fakenet.js';
import { SimPeer } from '../../../support/simnode.js';

function setup() {
  const net = new FakeNetwork({ seed: 77, conditions: { delay: 10 } });
  const ids = { alice: generateIdentity(), bob: generateIdentity(), carol: generateIdentity() };
  const node = (nick: keyof typeof ids, n: number) =>
    new SimPeer(
      net,
      { address: `203.0.113.${n}`, port: 1000 * n },
      { nick, identity: ids[nick] },
      net.rng,
    );
  return { net, ids, alice: node('alice', 1), bob: node('bob', 2), carol: node('carol', 3) };
}

describe('Trust: adding a name', () => {
  it('refuses a name without an address', () => {
    const { net, alice } = setup();
    expect(() => alice.endpoint.addPeer('bob', { addrs: [] }, net.now)).toThrow(
      'no address for bob',
    );
    expect(alice.endpoint.peer('bob')).toBeUndefined();
  });

  it('pins the key the user gave, and connects only to it', () => {
    const { net, ids, alice, bob } = setup();
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
    net.poke(alice.addr);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    expect(alice.endpoint.pinnedKey('bob')?.equals(ids.bob.publicKey)).toBe(true);
    // Adding the same name and key again (re-addressing) keeps the session.
    const id = alice.endpoint.peer('bob')!.id;
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
    expect(alice.endpoint.peer('bob')!.id).toBe(id);
    expect(alice.connected('bob')).toBe(true);
    expect(alice.endpoint.peers()).toHaveLength(1);
  });

  it('refuses a key that disagrees with the pin, naming both, and changes nothing', () => {
    const { net, ids, alice, bob } = setup();
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
    const other = generateIdentity().publicKey;
    const err = (() => {
      try {
        alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: other }, net.now);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe(
      `bob is pinned to key ${fingerprint(ids.bob.publicKey)}, but you gave ${fingerprint(other)}: if the key really changed, remove bob first`,
    );
    expect(alice.endpoint.pinnedKey('bob')?.equals(ids.bob.publicKey)).toBe(true);
    // The same key again is fine (re-addressing).
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
  });

  it('refuses a key already pinned under another name', () => {
    const { net, ids, alice, bob } = setup();
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
    expect(() =>
      alice.endpoint.addPeer('robert', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now),
    ).toThrow(`the key ${fingerprint(ids.bob.publicKey)} is already known as bob`);
    expect(alice.endpoint.peer('robert')).toBeUndefined();
  });
});

describe('Trust: a stranger already holding the name', () => {
  /** bob adds alice first, so alice knows him only as the stranger he says he is. */
  function strangerBob() {
    const t = setup();
    t.bob.add('alice', t.alice);
    expect(t.net.runUntilTrue(() => t.alice.connected('bob'), 5000)).toBe(true);
    expect(t.alice.endpoint.peer('bob')?.pinned).toBe(false);
    return t;
  }

  it('adding the name with the stranger’s own key keeps its session and pins it', () => {
    const { net, ids, alice, bob } = strangerBob();
    const before = alice.endpoint.peer('bob')!;
    const seen = alice.events.length;
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
    net.run(10);
    expect(alice.events.slice(seen).filter((e) => e.type === 'peer')).toEqual([
      { type: 'peer', nick: 'bob', change: 'state' },
    ]);
    const after = alice.endpoint.peer('bob')!;
    expect(after.id).toBe(before.id);
    expect(after.pinned).toBe(true);
    expect(after.state.kind).toBe('connected');
    expect(alice.endpoint.peers()).toHaveLength(1);
  });

  it('adding the name with another key moves the stranger aside, still connected', () => {
    const { net, ids, alice, carol } = strangerBob();
    const stranger = alice.endpoint.peer('bob')!;
    alice.endpoint.addPeer('bob', { addrs: [carol.addr], key: ids.carol.publicKey }, net.now);
    const named = alice.endpoint.peer('bob')!;
    expect(named.id).not.toBe(stranger.id);
    expect(named.pinned).toBe(true);
    const aside = alice.endpoint.peers().find((p) => p.id === stranger.id)!;
    expect(aside.nick).not.toBe('bob');
    expect(aside.pinned).toBe(false);
    expect(aside.state.kind).toBe('connected');
    expect(aside.fingerprint).toBe(fingerprint(ids.bob.publicKey));
  });

  it('adding the name at the stranger’s own address, without a key, pins it at once: no rename back and forth', () => {
    const { net, ids, alice, bob } = strangerBob();
    const before = alice.endpoint.peer('bob')!;
    const seen = alice.events.length;
    alice.endpoint.addPeer('bob', { addrs: [bob.addr] }, net.now);
    net.run(2000);
    const after = alice.endpoint.peer('bob')!;
    expect(after.id).toBe(before.id);
    expect(after.pinned).toBe(true);
    expect(after.state.kind).toBe('connected');
    expect(alice.endpoint.pinnedKey('bob')?.equals(ids.bob.publicKey)).toBe(true);
    expect(alice.endpoint.peers()).toHaveLength(1);
    const changes = alice.events.slice(seen).filter((e) => e.type === 'peer');
    // No rename; one change, so the chat learns the record is pinned now.
    expect(changes).toEqual([{ type: 'peer', nick: 'bob', change: 'state' }]);
  });

  it('a stranger connected from the address given takes the user’s name for it at once, whatever it announced', () => {
    const { net, ids, alice, bob } = strangerBob();
    const stranger = alice.endpoint.peer('bob')!;
    const seen = alice.events.length;
    alice.endpoint.addPeer('robert', { addrs: [bob.addr] }, net.now);
    const named = alice.endpoint.peer('robert')!;
    expect(named.id).toBe(stranger.id);
    expect(named.pinned).toBe(true);
    expect(alice.endpoint.pinnedKey('robert')?.equals(ids.bob.publicKey)).toBe(true);
    expect(alice.endpoint.peer('bob')).toBeUndefined();
    net.run(2000);
    const renames = alice.events
      .slice(seen)
      .filter((e) => e.type === 'peer' && e.change === 'renamed');
    expect(renames).toEqual([
      { type: 'peer', nick: 'robert', change: 'renamed', previousNick: 'bob' },
    ]);
  });

  it('adding the name at another address, without a key, still moves the stranger aside', () => {
    const { net, ids, alice, carol } = strangerBob();
    const stranger = alice.endpoint.peer('bob')!;
    alice.endpoint.addPeer('bob', { addrs: [carol.addr] }, net.now);
    const aside = alice.endpoint.peers().find((p) => p.id === stranger.id)!;
    expect(aside.nick).not.toBe('bob');
    expect(aside.pinned).toBe(false);
    expect(aside.fingerprint).toBe(fingerprint(ids.bob.publicKey));
    expect(alice.endpoint.peer('bob')!.id).not.toBe(stranger.id);
  });

  it('a stranger whose key the user names takes the name, whatever it announced', () => {
    const { net, ids, alice, bob } = strangerBob();
    const stranger = alice.endpoint.peer('bob')!;
    alice.endpoint.addPeer('robert', { addrs: [bob.addr], key: ids.bob.publicKey }, net.now);
    const named = alice.endpoint.peer('robert')!;
    expect(named.id).toBe(stranger.id);
    expect(named.pinned).toBe(true);
    expect(alice.endpoint.peer('bob')).toBeUndefined();
  });
});

describe('Trust: removing, blocking, trusting', () => {
  it('removing an unknown name is refused; removing bob forgets the pin and reports what will not arrive', () => {
    const { net, ids, alice } = setup();
    expect(() => alice.endpoint.removePeer('zed', net.now)).toThrow('unknown peer "zed"');
    // Nobody is at this address: the message waits.
    const nowhere = { address: '203.0.113.99', port: 9 };
    alice.endpoint.addPeer('bob', { addrs: [nowhere], key: ids.bob.publicKey }, net.now);
    const id = alice.send(['bob'], 'hello');
    net.run(100);
    alice.endpoint.removePeer('bob', net.now);
    const events = alice.events.concat(drain(alice));
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'undeliverable', id, nick: 'bob', reason: 'removed' }),
    );
    expect(alice.endpoint.peer('bob')).toBeUndefined();
    expect(alice.endpoint.pinnedKey('bob')).toBeUndefined();
  });

  it('removes a name that never answered (no key learned yet)', () => {
    const { net, alice } = setup();
    alice.endpoint.addPeer('zed', { addrs: [{ address: '203.0.113.99', port: 9 }] }, net.now);
    net.run(100);
    alice.endpoint.removePeer('zed', net.now);
    expect(alice.endpoint.peer('zed')).toBeUndefined();
    expect(alice.endpoint.peers()).toEqual([]);
  });

  it('blocking a connected peer drops it and refuses its key', () => {
    const { net, ids, alice, bob } = setup();
    alice.add('bob', bob);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5000)).toBe(
      true,
    );
    alice.endpoint.block(ids.bob.publicKey, net.now);
    expect(alice.endpoint.isBlocked(ids.bob.publicKey)).toBe(true);
    expect(alice.endpoint.peer('bob')).toBeUndefined();
    net.run(3000);
    expect(alice.connected('bob')).toBe(false);
  });

  it('trusting a new key for a name pins it; an unknown name is refused', () => {
    const { net, ids, alice, bob } = setup();
    expect(() => alice.endpoint.trust('zed', ids.bob.publicKey, net.now)).toThrow(
      'unknown peer "zed"',
    );
    alice.endpoint.addPeer('bob', { addrs: [bob.addr], key: ids.carol.publicKey }, net.now);
    alice.endpoint.trust('bob', ids.bob.publicKey, net.now);
    expect(alice.endpoint.pinnedKey('bob')?.equals(ids.bob.publicKey)).toBe(true);
    net.poke(alice.addr);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
  });
});

describe('Trust: making room for strangers', () => {
  it('a full endpoint forgets the stranger disconnected longest to admit a new one', () => {
    const net = new FakeNetwork({ seed: 78, conditions: { delay: 10 } });
    const at = (n: number) => ({ address: `203.0.113.${n}`, port: 1000 * n });
    const alice = new SimPeer(net, at(1), { nick: 'alice', maxPeers: 2 }, net.rng);
    const [bob, carol, dave] = (['bob', 'carol', 'dave'] as const).map(
      (nick, i) => new SimPeer(net, at(i + 2), { nick }, net.rng),
    );
    bob!.add('alice', alice);
    carol!.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob') && alice.connected('carol'), 5000)).toBe(
      true,
    );
    // Full of connected strangers: dave is refused.
    dave!.add('alice', alice);
    net.run(3000);
    expect(alice.endpoint.peer('dave')).toBeUndefined();
    // bob leaves: his record is the one to forget when dave tries again.
    bob!.endpoint.removePeer('alice', net.now);
    net.poke(bob!.addr);
    expect(net.runUntilTrue(() => !alice.connected('bob'), 5000)).toBe(true);
    expect(net.runUntilTrue(() => alice.connected('dave'), 20_000)).toBe(true);
    expect(alice.endpoint.peer('bob')).toBeUndefined();
    expect(alice.connected('carol')).toBe(true);
  });
});

describe('Trust: blocking a key nobody holds', () => {
  it('refuses it from now on without touching anyone', () => {
    const { net, ids, alice } = setup();
    alice.endpoint.block(ids.carol.publicKey, net.now);
    expect(alice.endpoint.isBlocked(ids.carol.publicKey)).toBe(true);
    expect(alice.endpoint.peers()).toEqual([]);
  });
});

function drain(p: SimPeer) {
  const out = [];
  for (let e = p.endpoint.pollEvent(); e; e = p.endpoint.pollEvent()) out.push(e);
  return out;
}
