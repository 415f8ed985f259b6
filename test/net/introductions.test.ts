import { describe, expect, it } from 'vitest';
import { BadPacket } from '../../source/net/core/errors.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import {
  CONTROL_STREAM,
  decodeIntroduction,
  encodeIntroduction,
} from '../../source/net/nat/introduce.js';
import { PacketType } from '../../source/net/wire/packet.js';
import { FakeNetwork, type NatKind } from '../support/fakenet.js';
import { SimPeer } from '../support/simnode.js';

const BOB = { address: '203.0.113.2', port: 2000 };

/** Bob is public; alice and carol sit behind NATs of the given kinds and only know bob. */
function mesh(
  seed: number,
  aliceNat: NatKind,
  carolNat: NatKind,
  opts: { aliceIntroductions?: boolean } = {},
) {
  const net = new FakeNetwork({ seed, conditions: { delay: 10 } });
  const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
  const alice = new SimPeer(
    net,
    { address: '10.0.1.2', port: 5000 },
    { nick: 'alice', introductions: opts.aliceIntroductions ?? true },
    net.rng,
    { kind: aliceNat, publicAddress: '198.51.100.1' },
  );
  const carol = new SimPeer(net, { address: '10.0.2.2', port: 6000 }, { nick: 'carol' }, net.rng, {
    kind: carolNat,
    publicAddress: '198.51.100.2',
  });
  alice.add('bob', bob);
  carol.add('bob', bob);
  return { net, alice, bob, carol };
}

describe('introductions: joining one member connects you to the mesh', () => {
  it('two port-restricted NATs connect directly after bob introduces them', () => {
    const { net, alice, carol } = mesh(51, 'port-restricted', 'port-restricted');
    expect(
      net.runUntilTrue(() => alice.connected('carol') && carol.connected('alice'), 20_000),
    ).toBe(true);
    // The path is direct: alice talks to carol's NAT, not through bob.
    expect(alice.endpoint.peer('carol')?.address?.address).toBe('198.51.100.2');
    expect(alice.endpoint.peer('carol')?.fingerprint).toBe(carol.endpoint.fingerprint);
    alice.send(['carol'], 'hi carol, directly');
    expect(net.runUntilTrue(() => carol.received.some((m) => m.nick === 'alice'), 5000)).toBe(true);
  });

  it('a symmetric NAT on both sides fails after a few bounded punches, and says why', () => {
    const { net, alice } = mesh(52, 'symmetric', 'symmetric');
    let initsToCarolNat = 0;
    net.tap = (d) => {
      if (d.to.address === '198.51.100.2' && d.data[1] === 1) initsToCarolNat++;
      return undefined;
    };
    net.run(60_000);
    const carol = alice.endpoint.peer('carol');
    expect(carol?.state.kind).toBe('unreachable');
    if (carol?.state.kind === 'unreachable')
      expect(carol.state.reason).toMatch(/introduced by bob.*relay/);
    expect(initsToCarolNat).toBeGreaterThan(0);
    expect(initsToCarolNat).toBeLessThanOrEqual(5);
  });

  it('a node that switched introductions off is neither introduced nor acts on introductions', () => {
    const { net, alice, carol } = mesh(53, 'none', 'none', { aliceIntroductions: false });
    net.run(20_000);
    expect(alice.endpoint.peer('carol')).toBeUndefined();
    expect(carol.endpoint.peer('alice')).toBeUndefined();
  });

  it('decodes only well-formed introductions', () => {
    const intro = {
      identity: Buffer.alloc(32, 7),
      nick: 'carol',
      addrs: [
        { address: '198.51.100.2', port: 6000 },
        { address: '2001:db8::1', port: 7 },
      ],
    };
    expect(decodeIntroduction(encodeIntroduction(intro))).toEqual(intro);
    const bytes = encodeIntroduction(intro);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeIntroduction(bytes.subarray(0, cut))).toThrow(BadPacket);
    }
  });
});

describe('introductions: IPv4-mapped IPv6 targets are judged as the IPv4 address they are', () => {
  it('refuses loopback and private targets spelled ::ffff:7f00:1 and ::ffff:a01:203', () => {
    const net = new FakeNetwork({ seed: 54 });
    const alice = new SimPeer(
      net,
      { address: '203.0.113.1', port: 1000 },
      { nick: 'alice' },
      net.rng,
    );
    const mallory = new SimPeer(
      net,
      { address: '203.0.113.66', port: 6666 },
      { nick: 'mallory' },
      net.rng,
    );
    mallory.add('alice', alice);
    expect(net.runUntilTrue(() => mallory.connected('alice'), 5000)).toBe(true);
    const inits: string[] = [];
    net.tap = (d) => {
      if (d.data[1] === PacketType.Init) inits.push(d.to.address);
      return undefined;
    };
    // 127.0.0.1 and 10.1.2.3, as 16 bytes of family 6: the hex spelling once
    // passed for a global IPv6 address.
    const targets = ['::ffff:7f00:1', '::ffff:a01:203'];
    for (const [i, address] of targets.entries()) {
      const intro = {
        identity: generateIdentity().publicKey,
        nick: `t${i}`,
        addrs: [{ address, port: 22 }],
      };
      mallory.endpoint.sendMessage(['alice'], encodeIntroduction(intro), net.now, CONTROL_STREAM);
      net.poke(mallory.addr);
    }
    net.run(5000);
    expect(alice.endpoint.introductionStats().refusedTargets).toBe(targets.length);
    expect(inits.filter((a) => a !== '203.0.113.66')).toEqual([]);
  });
});
