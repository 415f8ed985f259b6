import { describe, expect, it } from 'vitest';
import type { Addr } from '../../source/net/core/address.js';
import type { Session } from '../../source/net/core/conn/session.js';
import { resetToken } from '../../source/net/core/handshake/handshake.js';
import type { Peer } from '../../source/net/core/peers/peer.js';
import { TAG_LENGTH } from '../../source/net/crypto/cipher.js';
import { generateIdentity, type Identity } from '../../source/net/crypto/identity.js';
import { CONTROL_STREAM, encodeIntroduction } from '../../source/net/nat/introduce.js';
import { writePathFrame } from '../../source/net/wire/frames.js';
import {
  DATA_HEADER_LENGTH,
  decodePacket,
  encodeReset,
  PacketType,
  writeDataHeader,
} from '../../source/net/wire/packet.js';
import { FakeNetwork } from '../support/fakenet.js';
import { nameClaim, reflection } from '../support/scenarios/hostile.js';
import { SimPeer } from '../support/simnode.js';

/**
 * Attacks by authenticated peers (strangers are accepted by default) and by
 * on-path observers: each asserts the bound the transport enforces, in
 * datagrams, bytes or records — never a time.
 */

const ALICE = { address: '203.0.113.1', port: 1000 };
const BOB = { address: '203.0.113.2', port: 2000 };
const MALLORY = { address: '203.0.113.66', port: 6666 };
/** A third party that never asked for anything. */
const VICTIM = { address: '203.0.113.99', port: 9999 };

const isInit = (d: Buffer) => d[1] === PacketType.Init;

function introduce(
  from: SimPeer,
  to: string,
  about: { identity: Buffer; nick: string; addrs: Addr[] },
): void {
  from.endpoint.sendMessage([to], encodeIntroduction(about), from.net.now, CONTROL_STREAM);
  from.net.poke(from.addr);
}

/** Mallory, connected to alice as an ordinary stranger. */
function withMallory(seed: number, malloryNick = 'mallory') {
  const net = new FakeNetwork({ seed });
  const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
  const mallory = new SimPeer(net, MALLORY, { nick: malloryNick }, net.rng);
  mallory.add('alice', alice);
  expect(
    net.runUntilTrue(() => alice.endpoint.peers().some((p) => p.state.kind === 'connected'), 5000),
  ).toBe(true);
  return { net, alice, mallory };
}

function countTo(net: FakeNetwork, where: (to: Addr) => boolean): { inits: number; bytes: number } {
  const c = { inits: 0, bytes: 0 };
  net.tap = (d) => {
    if (where(d.to)) {
      c.bytes += d.data.length;
      if (isInit(d.data)) c.inits++;
    }
    return undefined;
  };
  return c;
}

describe('introductions cannot redirect or rename a friend', () => {
  it('an introduction naming a pinned friend adds bounded candidates and never crowds out its given address', () => {
    const { net, alice, mallory } = withMallory(101);
    const bobId = generateIdentity();
    // Alice knows bob (key and address); bob is offline for now.
    alice.endpoint.addPeer('bob', { addrs: [BOB], key: bobId.publicKey }, net.now);
    net.poke(ALICE);
    const thirdParties = [0, 1, 2, 3].map((i) => ({ address: `203.0.113.${200 + i}`, port: 7000 }));
    const toThird = countTo(net, (to) => thirdParties.some((t) => t.address === to.address));
    let toBob = 0;
    const tapThird = net.tap!;
    net.tap = (d) => {
      if (d.to.address === BOB.address && isInit(d.data)) toBob++;
      return tapThird(d);
    };
    // The same introduction, again and again (an introducer repeating itself).
    for (let i = 0; i < 20; i++) {
      introduce(mallory, 'alice', { identity: bobId.publicKey, nick: 'bob', addrs: thirdParties });
      net.run(6_000);
    }
    // Each introduced address gets LEARNED_ATTEMPTS (5) tries at most; bob's own address keeps being tried.
    expect(toThird.inits).toBeLessThanOrEqual(4 * 5);
    expect(toThird.inits).toBeGreaterThan(0);
    expect(toBob).toBeGreaterThan(8);
    // The real bob comes back where alice was told he is, and is found.
    const bob = new SimPeer(net, BOB, { nick: 'bob', identity: bobId }, net.rng);
    expect(
      net.runUntilTrue(() => alice.connected('bob') && bob.endpoint.peers().length > 0, 30_000),
    ).toBe(true);
    expect(alice.endpoint.peer('bob')?.address).toEqual(BOB);
  });

  it('a stranger who announced a name first is moved aside when the user adds that name', () => {
    const { net, alice, mallory } = withMallory(102, 'bob');
    // Mallory connected first and holds "bob" as a stranger.
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(mallory.endpoint.fingerprint);
    const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
    expect(alice.endpoint.peer('bob')?.pinned).toBe(true);
    const renamed = alice.events.find((e) => e.type === 'peer' && e.change === 'renamed');
    expect(renamed && renamed.type === 'peer' ? renamed.previousNick : undefined).toBe('bob');
    const aside = alice.endpoint
      .peers()
      .find((p) => p.fingerprint === mallory.endpoint.fingerprint);
    expect(aside?.nick).toMatch(/^bob-/);
    expect(aside?.pinned).toBe(false);
    // A private message to bob reaches bob, not mallory.
    alice.send(['bob'], 'for bob only');
    net.run(2000);
    expect(bob.received.map((m) => m.data.toString())).toContain('for bob only');
    expect(mallory.received.map((m) => m.data.toString())).not.toContain('for bob only');
  });

  it('an introduction that names a random key "bob" does not take the name from the user', () => {
    const { net, alice, mallory } = withMallory(103);
    introduce(mallory, 'alice', {
      identity: generateIdentity().publicKey,
      nick: 'bob',
      addrs: [VICTIM],
    });
    net.run(1000);
    expect(alice.endpoint.peer('bob')?.pinned).toBe(false); // a stranger record, for now
    const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
  });

  it('a look-alike name never shows as a name in use: it gets a fingerprint suffix', () => {
    const net = new FakeNetwork({ seed: 104 });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    const fake = new SimPeer(net, MALLORY, { nick: 'b\u043eb' }, net.rng); // Cyrillic о
    fake.add('alice', alice);
    net.run(3000);
    const names = alice.endpoint.peers().map((p) => p.nick);
    expect(names).toContain('bob');
    expect(names.find((n) => n !== 'bob')).toMatch(/^b\u043eb-[a-z2-7]{8}$/);
  });

  it('a stranger announcing our own name shows with a fingerprint suffix, never as us (found in the tmux trial)', () => {
    const net = new FakeNetwork({ seed: 106 });
    const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    const fake = new SimPeer(net, MALLORY, { nick: 'bob' }, net.rng);
    fake.add('bob', bob);
    expect(net.runUntilTrue(() => bob.endpoint.peers().length === 1, 5000)).toBe(true);
    expect(bob.endpoint.peers().map((p) => p.nick)).toEqual([
      expect.stringMatching(/^bob-[a-z2-7]{8}$/),
    ]);
  });
});

describe('invisible characters in an announced nick', () => {
  it('a stranger announcing "bob" plus a Hangul filler (U+3164, blank) shows as bob-<fingerprint>, never as bob', () => {
    const net = new FakeNetwork({ seed: 105 });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.add('bob', bob);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    // Our own code refuses such a nick, so the attacker's Hello carries it by hand.
    const fake = new SimPeer(net, MALLORY, { nick: 'mallory' }, net.rng);
    (fake.endpoint.local as { nick: string }).nick = 'bob\u3164';
    fake.add('alice', alice);
    expect(
      net.runUntilTrue(
        () => alice.endpoint.peers().filter((p) => p.state.kind === 'connected').length === 2,
        5000,
      ),
    ).toBe(true);
    const names = alice.endpoint.peers().map((p) => p.nick);
    // Nothing invisible is kept, and what is left ("bob") is taken: a suffix.
    expect(names.filter((n) => /[\p{Default_Ignorable_Code_Point}\p{Cf}]/u.test(n))).toEqual([]);
    const shown = alice.endpoint.peers().find((p) => p.fingerprint === fake.endpoint.fingerprint);
    expect(shown?.nick).toMatch(/^bob-[a-z2-7]{8}$/);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
  });
});

describe('reflection through introductions is bounded node-wide', () => {
  it('eight hostile identities flooding introductions at one victim: INITs to it stay within the budget', () => {
    const r = reflection(110);
    expect(r.initsToVictim).toBeLessThanOrEqual(r.budget);
    expect(r.initsToVictim).toBeGreaterThan(0);
    expect(r.refusedDials).toBeGreaterThan(0);
    // Bytes at the victim per byte of introductions the attackers sent.
    expect(r.ratio).toBeLessThan(1.5);
  });

  it('every way of claiming "bob" first fails: announced, introduced, look-alike', () => {
    const n = nameClaim(112);
    expect(n).toMatchObject({
      bobIsReal: true,
      bobPinned: true,
      lookalikes: [],
      messageToRealBob: true,
      messageToClaimant: false,
    });
    expect(n.claimants.length).toBe(3);
  });

  it('refuses introduced targets that are multicast, broadcast, unspecified, link-local, loopback or private elsewhere', () => {
    const { net, alice, mallory } = withMallory(111);
    const refused: Addr[] = [
      { address: '224.0.0.251', port: 5353 },
      { address: '255.255.255.255', port: 9 },
      { address: '0.0.0.0', port: 9 },
      { address: '169.254.169.254', port: 80 },
      { address: '127.0.0.1', port: 22 },
      { address: '10.1.2.3', port: 53 },
      { address: '192.168.1.1', port: 53 },
      { address: '100.64.0.1', port: 53 },
      { address: 'ff02::1', port: 9 },
      { address: 'fe80::1', port: 9 },
      { address: 'fd00::1', port: 9 },
    ];
    const allowed = { address: '198.18.0.5', port: 4000 }; // the NAT lab's range must keep working
    const sent: string[] = [];
    net.tap = (d) => {
      if (isInit(d.data)) sent.push(d.to.address);
      return undefined;
    };
    for (const [i, addr] of [...refused, allowed].entries()) {
      introduce(mallory, 'alice', {
        identity: generateIdentity().publicKey,
        nick: `t${i}`,
        addrs: [addr],
      });
    }
    net.run(5000);
    for (const r of refused) expect(sent).not.toContain(r.address);
    expect(sent).toContain(allowed.address);
    expect(alice.endpoint.introductionStats().refusedTargets).toBe(refused.length);
  });
});

describe('stateless resets and path validation', () => {
  it('never sends a RESET for an index held by a dial (the token would leak to an observer)', () => {
    const net = new FakeNetwork({ seed: 120 });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const eve: Addr = { address: '203.0.113.50', port: 5000 };
    let dialIndex: number | undefined;
    let resetsToEve = 0;
    net.tap = (d) => {
      if (isInit(d.data) && dialIndex === undefined) {
        const p = decodePacket(d.data);
        if (p.type === PacketType.Init) dialIndex = p.sender;
      }
      if (d.to.address === eve.address && d.data[1] === PacketType.Reset) resetsToEve++;
      return undefined;
    };
    // Bob is not there: alice's dial stays open, its index seen in clear on the wire.
    alice.endpoint.addPeer('bob', { addrs: [BOB] }, net.now);
    net.poke(ALICE);
    net.run(100);
    expect(dialIndex).toBeDefined();
    const data = Buffer.alloc(DATA_HEADER_LENGTH + 40);
    writeDataHeader(data, dialIndex!, 7);
    net.inject(data, eve, ALICE);
    // For comparison, an index nobody holds is answered (a restarted peer needs that).
    const other = Buffer.alloc(DATA_HEADER_LENGTH + 40);
    writeDataHeader(other, (dialIndex! + 1) >>> 0, 7);
    net.run(100);
    expect(resetsToEve).toBe(0);
    net.inject(other, eve, ALICE);
    net.run(100);
    expect(resetsToEve).toBe(1);
  });

  it('a RESET with a harvested token, sent from elsewhere, never makes us dial where it came from', () => {
    // Bob dialed alice, so alice has no address of her own for him: after a
    // reset she looks for him at the session's authenticated last path. The
    // reset's source proves nothing (anyone on the path can send one from
    // anywhere, RFC 9000 §10.3 / §21.11), so eve's address must get nothing.
    const net = new FakeNetwork({ seed: 122, conditions: { delay: 5 } });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5000)).toBe(
      true,
    );
    expect(alice.endpoint.peer('bob')?.pinned).toBe(false);
    // The index on alice's DATA to bob, and bob's token for it (an observer's harvest).
    let toBob: number | undefined;
    net.tap = (d) => {
      if (d.data[1] === PacketType.Data && d.to.port === BOB.port) toBob = d.data.readUInt32BE(2);
      return undefined;
    };
    alice.send(['bob'], 'index probe');
    net.run(100);
    expect(toBob).toBeDefined();
    const token = resetToken(bob.endpoint.local, toBob!);
    const eve: Addr = { address: '203.0.113.50', port: 5000 };
    let toEve = 0;
    let initsToBob = 0;
    net.tap = (d) => {
      if (d.to.address === eve.address) toEve++;
      if (d.to.address === BOB.address && isInit(d.data)) initsToBob++;
      return undefined;
    };
    net.inject(encodeReset(toBob!, token), eve, ALICE);
    net.run(1);
    expect(alice.connected('bob')).toBe(false); // a genuine token is a genuine reset
    net.run(30_000);
    // Not one datagram to eve; bob was looked for (and found) where he really is.
    expect(toEve).toBe(0);
    expect(initsToBob).toBeGreaterThan(0);
    expect(alice.connected('bob')).toBe(true);
    expect(alice.endpoint.peer('bob')?.address).toEqual(BOB);
  });

  it('answers one PATH_CHALLENGE per packet, and sends an unvalidated address at most 3x what came from it', () => {
    const { net, alice, mallory } = withMallory(121);
    const spoofed: Addr = { address: '203.0.113.77', port: 7777 };
    const malPeer = (
      mallory.endpoint as unknown as { registry: { get(n: string): Peer } }
    ).registry.get('alice');
    const session = malPeer.current as Session;
    let toSpoofed = 0;
    let bytesToSpoofed = 0;
    net.tap = (d) => {
      if (d.to.address === spoofed.address) {
        toSpoofed++;
        bytesToSpoofed += d.data.length;
      }
      return undefined;
    };
    let bytesIn = 0;
    for (let i = 0; i < 20; i++) {
      const buf = Buffer.alloc(200);
      let pos = DATA_HEADER_LENGTH;
      for (let c = 0; c < 4; c++) pos = writePathFrame(buf, pos, false, Buffer.alloc(8, i * 4 + c));
      const len = pos - DATA_HEADER_LENGTH;
      session.seal(buf, len, net.now);
      const packet = buf.subarray(0, DATA_HEADER_LENGTH + len + TAG_LENGTH);
      bytesIn += packet.length;
      net.inject(packet, spoofed, ALICE);
      net.run(5);
    }
    net.run(3000);
    // Before: 4 responses per packet plus challenges (≈ 4× the datagrams).
    expect(toSpoofed).toBeLessThanOrEqual(20 + 3);
    expect(bytesToSpoofed).toBeLessThanOrEqual(3 * bytesIn);
    expect(alice.endpoint.peer('mallory')?.state.kind).toBe('connected');
  });

  it('one challenge from a spoofed address draws at most 3x its bytes there, retries included (RFC 9000 §8.1)', () => {
    // The response plus our own challenge and its PATH_CHALLENGE_TRIES - 1
    // retries would be 4 datagrams of the same size: the credit stops at 3.
    const { net, alice, mallory } = withMallory(123);
    const spoofed: Addr = { address: '203.0.113.78', port: 7778 };
    const session = (
      mallory.endpoint as unknown as { registry: { get(n: string): Peer } }
    ).registry.get('alice').current as Session;
    let sent = 0;
    let bytesOut = 0;
    net.tap = (d) => {
      if (d.to.address === spoofed.address) {
        sent++;
        bytesOut += d.data.length;
      }
      return undefined;
    };
    const buf = Buffer.alloc(200);
    const len =
      writePathFrame(buf, DATA_HEADER_LENGTH, false, Buffer.alloc(8, 7)) - DATA_HEADER_LENGTH;
    session.seal(buf, len, net.now);
    const packet = buf.subarray(0, DATA_HEADER_LENGTH + len + TAG_LENGTH);
    net.inject(packet, spoofed, ALICE);
    net.run(10_000);
    expect(sent).toBeGreaterThanOrEqual(1); // the response is owed
    expect(bytesOut).toBeLessThanOrEqual(3 * packet.length);
    expect(alice.endpoint.peer('mallory')?.state.kind).toBe('connected');
  });
});

describe('the user-given key is checked before anything is pinned', () => {
  it('an impostor at the given address is refused without a pin; the real key then connects with no warning', () => {
    const net = new FakeNetwork({ seed: 130 });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const bobId: Identity = generateIdentity();
    const impostor = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.endpoint.addPeer('bob', { addrs: [BOB], key: bobId.publicKey }, net.now);
    net.poke(ALICE);
    net.run(3000);
    const pins = alice.events.filter((e) => e.type === 'pinned');
    expect(pins.map((e) => (e.type === 'pinned' ? e.fingerprint : ''))).not.toContain(
      impostor.endpoint.fingerprint,
    );
    expect(alice.endpoint.peer('bob')?.state.kind).toBe('key-mismatch');
    // The impostor leaves; bob returns at his address.
    net.detach(BOB);
    const bob = new SimPeer(net, BOB, { nick: 'bob', identity: bobId }, net.rng);
    expect(net.runUntilTrue(() => alice.connected('bob'), 30_000)).toBe(true);
    expect(alice.endpoint.peer('bob')?.fingerprint).toBe(bob.endpoint.fingerprint);
    expect(alice.endpoint.pinnedKey('bob')?.equals(bobId.publicKey)).toBe(true);
  });

  it('after a key mismatch the pinned name is asked again only every 15 s, not on the quick backoff', () => {
    const net = new FakeNetwork({ seed: 132 });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    new SimPeer(net, BOB, { nick: 'bob' }, net.rng); // an impostor where bob should be
    let inits = 0;
    net.tap = (d) => {
      if (d.to.port === BOB.port && isInit(d.data)) inits++;
      return undefined;
    };
    alice.endpoint.addPeer('bob', { addrs: [BOB], key: generateIdentity().publicKey }, net.now);
    net.poke(ALICE);
    net.run(60_000);
    expect(alice.endpoint.peer('bob')?.state.kind).toBe('key-mismatch');
    // The first dial, then one every 15 s: at most 5 in a minute (the backoff would make 9).
    expect(inits).toBeLessThanOrEqual(5);
    expect(inits).toBeGreaterThanOrEqual(4);
  });

  it('removing a peer forgets its pin, so adding the name again at a new key gives no warning', () => {
    const net = new FakeNetwork({ seed: 131 });
    const alice = new SimPeer(net, ALICE, { nick: 'alice' }, net.rng);
    const first = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.add('bob', first);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    expect(alice.endpoint.pinnedKey('bob')).toBeDefined();
    alice.endpoint.removePeer('bob', net.now);
    expect(alice.endpoint.pinnedKey('bob')).toBeUndefined();
    net.run(1000);
    expect(alice.events.some((e) => e.type === 'unpinned' && e.nick === 'bob')).toBe(true);
    net.detach(BOB);
    const second = new SimPeer(net, BOB, { nick: 'bob' }, net.rng);
    alice.add('bob', second);
    expect(net.runUntilTrue(() => alice.connected('bob'), 10_000)).toBe(true);
    expect(alice.errors().filter((e) => e.type === 'error' && e.code === 'key-mismatch')).toEqual(
      [],
    );
  });
});
