import { describe, expect, it } from 'vitest';
import type { Addr } from '../../source/net/core/address.js';
import { fingerprint, generateIdentity } from '../../source/net/crypto/identity.js';
import { FakeNetwork } from '../support/fakenet.js';
import { SimPeer } from '../support/simnode.js';

/**
 * Issue 17 item 7: Alice adds `bob` at IP:9000 without a key; Bob's
 * symmetric NAT reaches her from IP:41234. The session is taken as `bob`,
 * unconfirmed (its key not pinned: anyone behind that NAT could claim the
 * name), until the user confirms it; a key given with the address decides
 * outright, and nobody from another IP ever takes the name. On the fake
 * network, through the endpoint's own surface.
 */

const ALICE: Addr = { address: '203.0.113.1', port: 1000 };
const NAT_IP = '198.51.100.7';
/** Where the user believes bob is: the NAT's IP, a port nothing maps. */
const GIVEN: Addr = { address: NAT_IP, port: 9000 };
const SYMMETRIC = { kind: 'symmetric' as const, publicAddress: NAT_IP };

function scene(seed: number) {
  const net = new FakeNetwork({ seed, conditions: { delay: 10 } });
  const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
  alice.endpoint.addPeer('bob', { addrs: [GIVEN] }, net.now);
  net.poke(ALICE);
  /** A node behind bob's NAT (its LAN address `10.0.0.n`), announcing `nick`, dialing alice. */
  const behindNat = (nick: string, n: number, identity = generateIdentity()) => {
    const p = new SimPeer(
      net,
      { address: `10.0.0.${n}`, port: 9000 },
      { nick, identity },
      net.rng,
      SYMMETRIC,
    );
    p.endpoint.addPeer('alice', { addrs: [ALICE] }, net.now);
    net.poke(p.addr);
    return p;
  };
  return { net, alice, behindNat };
}

const pinnedEvents = (p: SimPeer) => p.events.filter((e) => e.type === 'pinned');

describe('a plain address a symmetric NAT rewrote (issue 17 item 7)', () => {
  it('the session from the given IP on another port, announcing the name, is that peer: unconfirmed, not pinned', () => {
    const { net, alice, behindNat } = scene(1);
    const bob = behindNat('bob', 2);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    const info = alice.endpoint.peer('bob')!;
    expect(info.fingerprint).toBe(bob.endpoint.fingerprint);
    expect(info.unconfirmed?.from.address).toBe(NAT_IP);
    expect(info.unconfirmed?.from.port).not.toBe(GIVEN.port);
    // One record: no stranger "bob-xxxxxxxx" beside an unreachable "bob".
    expect(alice.endpoint.peers().map((p) => p.nick)).toEqual(['bob']);
    // Nothing pinned: not in the registry, no 'pinned' event for the trust store.
    expect(alice.endpoint.pinnedKey('bob')).toBeUndefined();
    expect(pinnedEvents(alice)).toEqual([]);
    // A message to it goes: it is the session we have.
    alice.send(['bob'], 'hello, maybe-bob');
    expect(
      net.runUntilTrue(
        () => bob.received.some((m) => m.data.toString() === 'hello, maybe-bob'),
        5000,
      ),
    ).toBe(true);
  });

  it('confirming pins the key the session proved; the name then refuses any other key', () => {
    const { net, alice, behindNat } = scene(2);
    const bob = behindNat('bob', 2);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    alice.endpoint.confirm('bob');
    alice.handleTimeout(net.now); // collects the endpoint's events
    expect(alice.endpoint.peer('bob')?.unconfirmed).toBeUndefined();
    expect(alice.endpoint.pinnedKey('bob')?.equals(bob.endpoint.local.identity.publicKey)).toBe(
      true,
    );
    expect(pinnedEvents(alice)).toEqual([
      { type: 'pinned', nick: 'bob', fingerprint: bob.endpoint.fingerprint },
    ]);
    // A second claimant from the same NAT now stays a stranger.
    behindNat('bob', 3);
    net.run(5000);
    const names = alice.endpoint.peers().map((p) => p.nick);
    expect(names).toContain('bob');
    expect(names.filter((n) => n.startsWith('bob-'))).toHaveLength(1);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
    // Confirming what is not unconfirmed is a usage error.
    expect(() => alice.endpoint.confirm('bob')).toThrow(/not unconfirmed/);
  });

  it('a stranger from another IP announcing the name never takes it', () => {
    const { net, alice } = scene(3);
    const mallory = new SimPeer(
      net,
      { address: '203.0.113.66', port: 9000 },
      { nick: 'bob' },
      net.rng,
    );
    mallory.endpoint.addPeer('alice', { addrs: [ALICE] }, net.now);
    net.poke(mallory.addr);
    net.run(5000);
    const bob = alice.endpoint.peer('bob')!;
    expect(bob.fingerprint).toBeUndefined();
    expect(bob.unconfirmed).toBeUndefined();
    expect(bob.state.kind).not.toBe('connected');
    const aside = alice.endpoint
      .peers()
      .find((p) => p.fingerprint === mallory.endpoint.fingerprint);
    expect(aside?.nick).toMatch(/^bob-[a-z2-7]{8}$/);
    expect(aside?.pinned).toBe(false);
  });

  it('the same IP announcing another name is a stranger too', () => {
    const { net, alice, behindNat } = scene(4);
    const carol = behindNat('carol', 2);
    net.run(5000);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBeUndefined();
    expect(alice.endpoint.peer('carol')?.fingerprint).toBe(carol.endpoint.fingerprint);
    expect(alice.endpoint.peer('carol')?.pinned).toBe(false);
  });

  it('a fingerprint given with the address decides outright: the wrong key from that NAT is a stranger, the right one is bob, pinned', () => {
    const net = new FakeNetwork({ seed: 5, conditions: { delay: 10 } });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const bobId = generateIdentity();
    alice.endpoint.addPeer('bob', { addrs: [GIVEN], key: bobId.publicKey }, net.now);
    const nodes = [
      ['bob', 2, generateIdentity()],
      ['bob', 3, bobId],
    ] as const;
    const [impostor, bob] = nodes.map(([nick, n, identity]) => {
      const p = new SimPeer(
        net,
        { address: `10.0.0.${n}`, port: 9000 },
        { nick, identity },
        net.rng,
        SYMMETRIC,
      );
      p.endpoint.addPeer('alice', { addrs: [ALICE] }, net.now);
      net.poke(p.addr);
      return p;
    }) as [SimPeer, SimPeer];
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    net.run(2000);
    const info = alice.endpoint.peer('bob')!;
    expect(info.fingerprint).toBe(fingerprint(bobId.publicKey));
    expect(info.unconfirmed).toBeUndefined();
    expect(alice.endpoint.pinnedKey('bob')?.equals(bobId.publicKey)).toBe(true);
    const other = alice.endpoint
      .peers()
      .find((p) => p.fingerprint === impostor.endpoint.fingerprint);
    expect(other?.nick).toMatch(/^bob-/);
    expect(bob.connected('alice')).toBe(true);
  });

  it('a key the user gives later that differs from the unconfirmed one moves the claimant aside', () => {
    const { net, alice, behindNat } = scene(6);
    const claimant = behindNat('bob', 2);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    const realId = generateIdentity();
    // Not refused as a key mismatch: nothing was pinned.
    alice.endpoint.addPeer('bob', { addrs: [GIVEN], key: realId.publicKey }, net.now);
    net.poke(ALICE);
    const aside = alice.endpoint
      .peers()
      .find((p) => p.fingerprint === claimant.endpoint.fingerprint);
    expect(aside?.nick).toMatch(/^bob-/);
    expect(aside?.pinned).toBe(false);
    expect(aside?.unconfirmed).toBeUndefined();
    expect(alice.endpoint.pinnedKey('bob')?.equals(realId.publicKey)).toBe(true);
    // The real bob, from that NAT, is then bob.
    behindNat('bob', 3, realId);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(fingerprint(realId.publicKey));
  });

  it('the same key given later confirms the claim without a new session', () => {
    const { net, alice, behindNat } = scene(7);
    const bob = behindNat('bob', 2);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    alice.endpoint.addPeer(
      'bob',
      { addrs: [GIVEN], key: bob.endpoint.local.identity.publicKey },
      net.now,
    );
    expect(alice.endpoint.peer('bob')?.unconfirmed).toBeUndefined();
    expect(alice.connected('bob')).toBe(true);
    expect(alice.endpoint.pinnedKey('bob')?.equals(bob.endpoint.local.identity.publicKey)).toBe(
      true,
    );
  });

  it('the address the user gave answering with another key wins over the unconfirmed claim', () => {
    // Public nodes on one IP (no NAT): the claimant on another port, the real bob at the given port.
    const net = new FakeNetwork({ seed: 8, conditions: { delay: 10 } });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const given: Addr = { address: '203.0.113.50', port: 9000 };
    alice.endpoint.addPeer('bob', { addrs: [given] }, net.now);
    net.poke(ALICE);
    const claimant = new SimPeer(
      net,
      { address: given.address, port: 41234 },
      { nick: 'bob' },
      net.rng,
    );
    claimant.endpoint.addPeer('alice', { addrs: [ALICE] }, net.now);
    net.poke(claimant.addr);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    expect(alice.endpoint.peer('bob')?.unconfirmed).toBeDefined();
    // The claimant goes; the real bob comes up at the given address.
    net.detach(claimant.addr);
    const bob = new SimPeer(net, given, { nick: 'bob' }, net.rng);
    // Alice dials the given address again once the session is gone; not a
    // "key changed" (nothing was pinned): the first answer there pins bob.
    expect(
      net.runUntilTrue(
        () => alice.endpoint.peer('bob')?.fingerprint === bob.endpoint.fingerprint,
        120_000,
      ),
    ).toBe(true);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    expect(alice.endpoint.peer('bob')?.unconfirmed).toBeUndefined();
    expect(alice.endpoint.pinnedKey('bob')?.equals(bob.endpoint.local.identity.publicKey)).toBe(
      true,
    );
    expect(alice.endpoint.peer('bob')?.address).toEqual(given);
    expect(alice.events.some((e) => e.type === 'error' && e.code === 'key-mismatch')).toBe(false);
  });
});
