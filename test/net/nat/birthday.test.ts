import { describe, expect, it } from 'vitest';
import type { Transmit } from '../../../source/net/core/endpoint.js';
import { BadPacket } from '../../../source/net/core/errors.js';
import { generateIdentity, type Identity } from '../../../source/net/crypto/identity.js';
import {
  Birthday,
  birthdayRole,
  HARD_STARTS_PER_MINUTE,
  HARD_TTL,
  PROBE_SOCKETS,
  ProbeKind,
  probeToken,
  type SocketCommand,
  SPRAY_MAX,
} from '../../../source/net/nat/birthday.js';
import {
  CONTROL_STREAM,
  decodeControl,
  decodeIntroduction,
  encodeIntroduction,
  encodeNatMapping,
} from '../../../source/net/nat/introduce.js';
import { decodeInvite, encodeInvite } from '../../../source/net/nat/invite.js';
import { decodeStunMessage, encodeBindingResponse } from '../../../source/net/nat/stun-codec.js';
import { encodeProbe, PacketType, WIRE_VERSION } from '../../../source/net/wire/packet.js';
import { type Addr, FakeNetwork, type NatOptions, type SimNode } from '../../support/fakenet.js';
import { Rng } from '../../support/rng.js';
import { SimPeer } from '../../support/simnode.js';

/** Birthday takes its randomness from the caller (no Math.random in the core). */
const seeded = (seed = 7) => {
  const rng = new Rng(seed);
  return () => rng.next();
};

/**
 * Many-port ("birthday") probing on the virtual clock: a fake STUN server on
 * two public addresses tells each node its NAT mapping, and a node's probing
 * sockets are extra fake-network attachments behind its NAT (each gets its
 * own symmetric-NAT mapping, exactly as extra UDP sockets do).
 */

const STUN_SERVERS: Addr[] = [
  { address: '192.0.2.10', port: 3478 },
  { address: '192.0.2.11', port: 3478 },
];

class StunServer implements SimNode {
  private readonly out: { to: Addr; data: Buffer }[] = [];
  handleDatagram(data: Buffer, from: Addr): void {
    try {
      const m = decodeStunMessage(data);
      if (m.class === 'request')
        this.out.push({ to: from, data: encodeBindingResponse(m.transactionId, from) });
    } catch {
      // not STUN
    }
  }
  handleTimeout(): void {}
  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.out.shift();
  }
  nextDeadline(): number | undefined {
    return undefined;
  }
}

/** One probing socket: an attachment of its own behind the node's NAT. */
class ProbeSocket implements SimNode {
  readonly queue: Transmit[] = [];
  constructor(
    readonly owner: Node,
    readonly id: number,
    readonly addr: Addr,
  ) {}
  handleDatagram(data: Buffer, from: Addr, now: number): void {
    this.owner.endpoint.handleDatagram(data, from, now, this.id);
    this.owner.afterCall();
  }
  handleTimeout(): void {}
  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    return this.queue.shift();
  }
  nextDeadline(): number | undefined {
    return undefined;
  }
}

/** A SimPeer whose probing sockets are fake-network attachments of their own. */
class Node extends SimPeer {
  readonly identity: Identity;
  readonly sockets = new Map<number, ProbeSocket>();
  readonly opened = new Set<number>();
  readonly closed = new Set<number>();
  maxOpen = 0;

  constructor(
    net: FakeNetwork,
    addr: Addr,
    nick: string,
    readonly nat?: NatOptions,
  ) {
    const identity = generateIdentity();
    super(net, addr, { nick, identity }, net.rng, nat);
    this.identity = identity;
  }

  startStun(): void {
    this.endpoint.startStun(STUN_SERVERS, this.net.now, { rto: 100 });
    this.net.poke(this.addr);
  }

  /** After a probing socket fed the endpoint: collect what it wants sent. */
  afterCall(): void {
    this.drainEvents();
    this.net.poke(this.addr);
  }

  override pollTransmit(): { to: Addr; data: Buffer } | undefined {
    for (let c = this.endpoint.pollCommand(); c; c = this.endpoint.pollCommand()) this.command(c);
    for (;;) {
      const t = this.endpoint.pollTransmit();
      if (!t || t.via === undefined) return t;
      const s = this.sockets.get(t.via);
      if (!s) throw new Error(`transmit via socket ${t.via}, which is not open`);
      s.queue.push(t);
      this.net.poke(s.addr);
    }
  }

  private command(c: SocketCommand): void {
    for (const id of c.ids) {
      if (c.kind === 'open') {
        expect(this.opened.has(id)).toBe(false);
        this.opened.add(id);
        const s = new ProbeSocket(this, id, { address: this.addr.address, port: 20_000 + id });
        this.net.attach(s, s.addr, this.nat ? { nat: this.nat } : undefined);
        this.sockets.set(id, s);
      } else {
        const s = this.sockets.get(id);
        expect(s).toBeDefined();
        this.closed.add(id);
        this.sockets.delete(id);
        this.net.detach(s!.addr);
      }
    }
    this.maxOpen = Math.max(this.maxOpen, this.sockets.size);
  }

  /** What a peer needs from our invite code: key, reflexive address first, NAT mapping. */
  invite(): { key: Buffer; addrs: Addr[]; nat: 'endpoint-independent' | 'endpoint-dependent' } {
    const s = this.endpoint.stunSummary();
    const mapped = s?.mapped;
    if (!mapped || s.behaviour === 'unknown') throw new Error('STUN not done');
    return { key: this.identity.publicKey, addrs: [mapped], nat: s.behaviour };
  }

  addByInvite(nick: string, other: Node): void {
    const inv = other.invite();
    this.endpoint.addPeer(nick, { addrs: inv.addrs, key: inv.key, nat: inv.nat }, this.net.now);
    this.net.poke(this.addr);
  }

  state(nick: string) {
    return this.endpoint.peer(nick)?.state;
  }
}

function world(seed: number, aliceNat: NatOptions['kind'], bobNat: NatOptions['kind']) {
  const net = new FakeNetwork({ seed, conditions: { delay: 15, jitter: 4 } });
  for (const s of STUN_SERVERS) net.attach(new StunServer(), s);
  const nat = (kind: NatOptions['kind'], publicAddress: string): NatOptions | undefined =>
    kind === 'none' ? undefined : { kind, publicAddress };
  const alice = new Node(
    net,
    { address: aliceNat === 'none' ? '203.0.113.1' : '10.0.1.2', port: 5000 },
    'alice',
    nat(aliceNat, '198.51.100.1'),
  );
  const bob = new Node(
    net,
    { address: bobNat === 'none' ? '203.0.113.2' : '10.0.2.2', port: 6000 },
    'bob',
    nat(bobNat, '198.51.100.2'),
  );
  alice.startStun();
  bob.startStun();
  net.runUntilTrue(
    () => !!alice.endpoint.stunSummary()?.done && !!bob.endpoint.stunSummary()?.done,
    5000,
  );
  return { net, alice, bob };
}

describe('many-port probing: symmetric ↔ port-restricted', () => {
  it('STUN in the fake network tells a symmetric NAT from a port-restricted one', () => {
    const { alice, bob } = world(1, 'symmetric', 'port-restricted');
    expect(alice.endpoint.stunSummary()?.behaviour).toBe('endpoint-dependent');
    expect(bob.endpoint.stunSummary()?.behaviour).toBe('endpoint-independent');
  });

  it('connects by invite codes over many seeds, through one winning probing socket', () => {
    const times: number[] = [];
    let failures = 0;
    let viaMain = 0;
    for (let seed = 100; seed < 120; seed++) {
      const { net, alice, bob } = world(seed, 'symmetric', 'port-restricted');
      const t0 = net.now;
      alice.addByInvite('bob', bob);
      bob.addByInvite('alice', alice);
      const ok = net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 20_000);
      if (!ok) {
        failures++;
        continue;
      }
      times.push(net.now - t0);
      // Directly: each sees the other's NAT, alice through exactly one of her 256 sockets.
      expect(alice.endpoint.peer('bob')?.address?.address).toBe('198.51.100.2');
      expect(bob.endpoint.peer('alice')?.address?.address).toBe('198.51.100.1');
      expect(alice.maxOpen).toBe(PROBE_SOCKETS);
      net.run(100);
      // Through one of her 256 probing sockets, which alone stays open. Now and
      // then (1 chance in 257 per hit; spray ports come from Math.random) a spray
      // lands on the mapping of alice's main socket itself: the session is then
      // on the main socket and every probing socket closes.
      expect(alice.sockets.size).toBeLessThanOrEqual(1);
      if (alice.sockets.size === 0) viaMain++;
      expect(bob.maxOpen).toBe(0);
      alice.send(['bob'], 'hi bob');
      bob.send(['alice'], 'hi alice');
      expect(
        net.runUntilTrue(() => alice.received.length > 0 && bob.received.length > 0, 5000),
      ).toBe(true);
      // Keepalive holds the winning mapping: still connected a minute later.
      net.run(60_000);
      expect(alice.connected('bob') && bob.connected('alice')).toBe(true);
      alice.send(['bob'], 'still there?');
      expect(net.runUntilTrue(() => bob.received.length > 1, 5000)).toBe(true);
      // Removing the peer releases the last probing socket.
      alice.endpoint.removePeer('bob', net.now);
      net.poke(alice.addr);
      expect(alice.sockets.size).toBe(0);
      expect([...alice.opened].sort()).toEqual([...alice.closed].sort());
    }
    // 2048 sprays into 256 of 64512 ports: 1 − e^(−8.1) ≈ 99.97 % per run.
    expect(failures).toBe(0);
    const mean = times.reduce((a, b) => a + b, 0) / times.length;
    console.log(
      `fakenet: symmetric ↔ port-restricted by invite: ${times.length}/20 connected (${viaMain} on the main socket), mean ${Math.round(mean)} ms, max ${Math.max(...times)} ms`,
    );
  });

  it('connects through an introduction (bob public), both NAT kinds carried by Hello and introduction', () => {
    let ok = 0;
    for (let seed = 200; seed < 205; seed++) {
      const { net, alice, bob } = world(seed, 'symmetric', 'none');
      const carol = new Node(net, { address: '10.0.3.2', port: 7000 }, 'carol', {
        kind: 'port-restricted',
        publicAddress: '198.51.100.3',
      });
      carol.startStun();
      net.run(2000);
      alice.endpoint.addPeer('bob', { addrs: [bob.addr] }, net.now);
      carol.endpoint.addPeer('bob', { addrs: [bob.addr] }, net.now);
      net.poke(alice.addr);
      net.poke(carol.addr);
      if (!net.runUntilTrue(() => alice.connected('carol') && carol.connected('alice'), 20_000))
        continue;
      ok++;
      expect(alice.endpoint.peer('carol')?.address?.address).toBe('198.51.100.3');
      expect(carol.endpoint.peer('alice')?.address?.address).toBe('198.51.100.1');
      net.run(100);
      expect(alice.sockets.size).toBe(1);
    }
    expect(ok).toBe(5);
  });

  it('symmetric ↔ symmetric: no probing, and the failure says why', () => {
    const { net, alice, bob } = world(7, 'symmetric', 'symmetric');
    alice.addByInvite('bob', bob);
    bob.addByInvite('alice', alice);
    net.run(20_000);
    for (const [n, other] of [
      [alice, 'bob'],
      [bob, 'alice'],
    ] as const) {
      const s = n.state(other);
      expect(s?.kind).toBe('unreachable');
      if (s?.kind === 'unreachable')
        expect(s.reason).toContain('both sides are behind symmetric NATs: a relay is needed');
      expect(n.maxOpen).toBe(0);
    }
  });

  it('gives up within its bounds when no spray gets through, closes every socket, and says why', () => {
    const { net, alice, bob } = world(8, 'symmetric', 'port-restricted');
    let sprays = 0;
    const perSecond = new Map<number, number>();
    net.tap = (d) => {
      if (d.data[0] !== WIRE_VERSION || d.data[1] !== PacketType.Probe) return undefined;
      if (d.data[2] === ProbeKind.Spray) {
        sprays++;
        const s = Math.floor(net.now / 1000);
        perSecond.set(s, (perSecond.get(s) ?? 0) + 1);
      }
      return null; // no probe ever gets through
    };
    alice.addByInvite('bob', bob);
    bob.addByInvite('alice', alice);
    net.run(30_000);
    expect(sprays).toBe(SPRAY_MAX);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(260);
    expect(alice.sockets.size).toBe(0);
    expect(alice.closed.size).toBe(PROBE_SOCKETS);
    for (const [n, other] of [
      [alice, 'bob'],
      [bob, 'alice'],
    ] as const) {
      const s = n.state(other);
      expect(s?.kind).toBe('unreachable');
      if (s?.kind === 'unreachable') expect(s.reason).toMatch(/many-port probing .*relay/);
    }
    // Not retried on its own: only a new invite or introduction starts another round.
    sprays = 0;
    net.run(60_000);
    expect(sprays).toBe(0);
  });

  it('close() closes every probing socket', () => {
    const { net, alice, bob } = world(9, 'symmetric', 'port-restricted');
    alice.addByInvite('bob', bob);
    net.run(300);
    expect(alice.sockets.size).toBe(PROBE_SOCKETS);
    alice.endpoint.close(net.now);
    net.poke(alice.addr);
    expect(alice.sockets.size).toBe(0);
  });

  it('drops and counts probes with a wrong token, from the wrong address or on the wrong socket', () => {
    const { net, alice, bob } = world(10, 'symmetric', 'port-restricted');
    alice.addByInvite('bob', bob);
    bob.addByInvite('alice', alice);
    net.run(300);
    const good = probeToken(alice.identity.publicKey, bob.identity.publicKey);
    const before = alice.endpoint.stats.dropped['unknown-session'];
    const [firstId] = alice.sockets.keys();
    const sock = alice.sockets.get(firstId!)!;
    const bobPublic = bob.invite().addrs[0]!;
    // A stranger's token, on a probing socket, from bob's very address.
    alice.endpoint.handleDatagram(
      encodeProbe(ProbeKind.Spray, Buffer.alloc(16, 1)),
      bobPublic,
      net.now,
      sock.id,
    );
    // The right token from another IP.
    alice.endpoint.handleDatagram(
      encodeProbe(ProbeKind.Spray, good),
      { address: '203.0.113.66', port: bobPublic.port },
      net.now,
      sock.id,
    );
    // The right token and address, but on the main socket (the hard side expects its probing sockets).
    alice.endpoint.handleDatagram(encodeProbe(ProbeKind.Spray, good), bobPublic, net.now);
    expect(alice.endpoint.stats.dropped['unknown-session']).toBe(before + 3);
    // A truncated probe is malformed, like any short packet.
    alice.endpoint.handleDatagram(encodeProbe(ProbeKind.Spray, good).subarray(0, 10), bobPublic, 0);
    expect(alice.endpoint.stats.dropped.truncated).toBeGreaterThan(0);
    expect(alice.endpoint.peer('bob')?.state.kind).toBe('connecting');
  });
});

describe('the Birthday core', () => {
  it('roles: only one symmetric side probes; tokens are order-free', () => {
    expect(birthdayRole('endpoint-dependent', 'endpoint-independent')).toBe('hard');
    expect(birthdayRole('endpoint-independent', 'endpoint-dependent')).toBe('easy');
    expect(birthdayRole('endpoint-dependent', 'endpoint-dependent')).toBeUndefined();
    expect(birthdayRole('endpoint-independent', 'endpoint-independent')).toBeUndefined();
    expect(birthdayRole('unknown', 'endpoint-dependent')).toBeUndefined();
    const a = generateIdentity().publicKey;
    const b = generateIdentity().publicKey;
    expect(probeToken(a, b)).toEqual(probeToken(b, a));
    expect(probeToken(a, b)).not.toEqual(probeToken(a, a));
  });

  it('the hard side opens at most HARD_STARTS_PER_MINUTE rounds of sockets a minute, however many peers ask', () => {
    const b = new Birthday(() => {}, seeded());
    const target = { address: '198.51.100.2', port: 4000 };
    let opened = 0;
    let started = 0;
    // Forty introduced peers in one minute, each round ended at once (as a
    // peer that connects another way would), so only the rate limit stops them.
    for (let i = 0; i < 40; i++) {
      const now = i * 1000;
      if (b.start(`k${i}`, 'hard', Buffer.alloc(16, i), target, now)) started++;
      b.end(`k${i}`);
      for (let c = b.pollCommand(); c; c = b.pollCommand())
        if (c.kind === 'open') opened += c.ids.length;
    }
    expect(started).toBe(HARD_STARTS_PER_MINUTE);
    expect(opened).toBe(HARD_STARTS_PER_MINUTE * PROBE_SOCKETS);
    // A minute later the budget is back.
    expect(b.start('later', 'hard', Buffer.alloc(16, 99), target, 61_000)).toBe(true);
  });

  it('the hard side stops after HARD_TTL and at most two attempts hold sockets at once', () => {
    const sent: { via?: number }[] = [];
    const b = new Birthday((t) => sent.push(t), seeded());
    const target = { address: '198.51.100.2', port: 4000 };
    expect(b.start('k1', 'hard', Buffer.alloc(16, 1), target, 0)).toBe(true);
    expect(b.start('k2', 'hard', Buffer.alloc(16, 2), target, 0)).toBe(true);
    expect(b.start('k3', 'hard', Buffer.alloc(16, 3), target, 0)).toBe(false);
    expect(b.openSockets).toBe(2 * PROBE_SOCKETS);
    expect(b.stats()).toMatchObject({ attemptsStarted: 2, socketsOpen: 2 * PROBE_SOCKETS });
    for (let now = 0; now <= HARD_TTL + 100; now += 10) {
      const d = b.nextDeadline();
      if (d !== undefined && d <= now) b.handleTimeout(now, () => false);
    }
    expect(b.openSockets).toBe(0);
    expect(b.stats()).toEqual({
      probesSent: sent.length,
      spraysSent: 0,
      socketsOpen: 0,
      attemptsStarted: 2,
      attemptsSucceeded: 0,
      attemptsFailed: 2,
    });
    expect(b.state('k1')).toBe('failed');
    expect(b.failure('k1')).toMatch(/many-port probing/);
    // Every socket probed, a bounded number of times.
    expect(sent.length).toBeLessThanOrEqual(2 * PROBE_SOCKETS * 4);
    b.reset('k1');
    expect(b.state('k1')).toBeUndefined();
  });
  it('spray rounds are bounded: two at once, four a minute', () => {
    const b = new Birthday(() => {}, seeded());
    const target = { address: '198.51.100.1', port: 4000 };
    const start = (k: number, now: number) =>
      b.start(`e${k}`, 'easy', Buffer.alloc(16, k), target, now);
    expect(start(1, 0)).toBe(true);
    expect(start(2, 0)).toBe(true);
    expect(start(3, 0)).toBe(false);
    b.end('e1');
    b.end('e2');
    expect(start(3, 1000)).toBe(true);
    b.end('e3');
    expect(start(4, 2000)).toBe(true);
    b.end('e4');
    expect(start(5, 3000)).toBe(false);
    expect(start(5, 60_001)).toBe(true);
  });

  it('a hit routes the peer through the winning socket; success keeps only it; a stalled hit fails', () => {
    const sent: { to: Addr; data: Buffer; via?: number }[] = [];
    const commands: SocketCommand[] = [];
    const b = new Birthday((t) => sent.push(t), seeded());
    const drain = () => {
      for (let c = b.pollCommand(); c; c = b.pollCommand()) commands.push(c);
    };
    const easy = { address: '198.51.100.2', port: 4000 };
    const token = Buffer.alloc(16, 5);
    b.start('k', 'hard', token, easy, 0);
    drain();
    const ids = commands[0]!.ids;
    expect(commands[0]!.kind).toBe('open');
    const winner = ids[17]!;
    // A spray on a probing socket from another port of the right IP still counts (it is E).
    expect(b.onProbe(ProbeKind.Spray, token, easy, winner, 100)).toEqual({ key: 'k', addr: easy });
    expect(b.routeFor(easy)).toBe(winner);
    expect(b.routeFor({ ...easy, port: 4001 })).toBeUndefined();
    // The hit is acknowledged from the winning socket, once per spray, a few times at most.
    expect(sent.at(-1)).toMatchObject({ to: easy, via: winner });
    expect(sent.at(-1)!.data[2]).toBe(ProbeKind.Ack);
    expect(b.onProbe(ProbeKind.Spray, token, easy, ids[3]!, 110)).toBe('ok');
    b.connected('k', 200);
    expect(b.stats()).toMatchObject({ attemptsStarted: 1, attemptsSucceeded: 1, socketsOpen: 1 });
    drain();
    expect(commands.at(-1)).toEqual({ kind: 'close', ids: ids.filter((id) => id !== winner) });
    expect(b.openSockets).toBe(1);
    b.end('k');
    drain();
    expect(commands.at(-1)).toEqual({ kind: 'close', ids: [winner] });
    expect(b.openSockets).toBe(0);
    expect(b.hasRoutes).toBe(false);

    // A hit whose handshake never completes frees everything after a while, and says so.
    b.start('j', 'easy', token, easy, 0);
    expect(b.onProbe(ProbeKind.Probe, token, { ...easy, port: 5555 }, undefined, 50)).toEqual({
      key: 'j',
      addr: { ...easy, port: 5555 },
    });
    for (let now = 50; now < 20_000; now += 100) {
      const d = b.nextDeadline();
      if (d !== undefined && d <= now) b.handleTimeout(now, () => false);
    }
    expect(b.state('j')).toBe('failed');
    expect(b.failure('j')).toMatch(/opened a path .* no handshake/);
    expect(b.stats()).toMatchObject({
      attemptsStarted: 2,
      attemptsSucceeded: 1,
      attemptsFailed: 1,
      socketsOpen: 0,
    });
  });
});

describe('NAT mapping in invite codes and introductions', () => {
  const intro = {
    identity: Buffer.alloc(32, 7),
    nick: 'carol',
    addrs: [{ address: '198.51.100.2', port: 6000 }],
  };

  it('round-trips, and an old record without it still decodes (as unknown)', () => {
    for (const nat of ['endpoint-independent', 'endpoint-dependent'] as const) {
      expect(decodeIntroduction(encodeIntroduction({ ...intro, nat }))).toEqual({ ...intro, nat });
      const code = encodeInvite({ ...intro, nat });
      expect(code.startsWith('srmudp1:')).toBe(true);
      expect(decodeInvite(code).nat).toBe(nat);
    }
    const old = encodeIntroduction(intro);
    expect(encodeIntroduction({ ...intro, nat: 'unknown' })).toEqual(old);
    expect(decodeIntroduction(old)).toEqual(intro);
    // Trailing bytes after it are reserved and ignored.
    const withNat = encodeIntroduction({ ...intro, nat: 'endpoint-dependent' });
    expect(decodeIntroduction(Buffer.concat([withNat, Buffer.from([9, 9])])).nat).toBe(
      'endpoint-dependent',
    );
  });

  it('a nat-mapping control message round-trips; truncated or bad ones are BadPackets only', () => {
    for (const nat of ['unknown', 'endpoint-independent', 'endpoint-dependent'] as const) {
      const bytes = encodeNatMapping(nat);
      expect(bytes.length).toBe(3);
      expect(decodeControl(bytes)).toEqual({ type: 'nat-mapping', nat });
      // Later bytes are reserved and ignored.
      expect(decodeControl(Buffer.concat([bytes, Buffer.from([1, 2])]))).toEqual({
        type: 'nat-mapping',
        nat,
      });
      for (let cut = 0; cut < bytes.length; cut++)
        expect(() => decodeControl(bytes.subarray(0, cut))).toThrow(BadPacket);
      // Never mistaken for an introduction (invite codes decode only those).
      expect(() => decodeIntroduction(bytes)).toThrow(BadPacket);
    }
    for (const bad of [3, 9, 255])
      expect(() => decodeControl(Buffer.from([1, 2, bad]))).toThrow(BadPacket);
    const withNat = encodeIntroduction({ ...intro, nat: 'endpoint-dependent' });
    expect(decodeControl(withNat)).toEqual({
      type: 'introduce',
      intro: { ...intro, nat: 'endpoint-dependent' },
    });
  });

  it('an unknown control type or version decodes as unknown, not as an error', () => {
    expect(decodeControl(Buffer.from([1, 99]))).toEqual({ type: 'unknown', version: 1, code: 99 });
    expect(decodeControl(Buffer.from([1, 0, 5, 5]))).toEqual({
      type: 'unknown',
      version: 1,
      code: 0,
    });
    expect(decodeControl(Buffer.from([2, 1, 0]))).toEqual({ type: 'unknown', version: 2, code: 1 });
  });

  it('rejects a bad mapping code with BadPacket only', () => {
    const old = encodeIntroduction(intro);
    for (const bad of [3, 7, 255]) {
      expect(() => decodeIntroduction(Buffer.concat([old, Buffer.from([bad])]))).toThrow(BadPacket);
    }
  });
});

describe('a NAT mapping STUN finds after connecting', () => {
  /** Alice is behind a symmetric NAT but learns so only after joining bob (public); carol is port-restricted. */
  function lateWorld(seed: number) {
    const net = new FakeNetwork({ seed, conditions: { delay: 15, jitter: 4 } });
    for (const s of STUN_SERVERS) net.attach(new StunServer(), s);
    const alice = new Node(net, { address: '10.0.1.2', port: 5000 }, 'alice', {
      kind: 'symmetric',
      publicAddress: '198.51.100.1',
    });
    const bob = new Node(net, { address: '203.0.113.2', port: 6000 }, 'bob');
    const carol = new Node(net, { address: '10.0.3.2', port: 7000 }, 'carol', {
      kind: 'port-restricted',
      publicAddress: '198.51.100.3',
    });
    bob.startStun();
    carol.startStun();
    alice.endpoint.addPeer('bob', { addrs: [bob.addr] }, net.now);
    net.poke(alice.addr);
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 5000)).toBe(
      true,
    );
    expect(alice.endpoint.stunSummary()).toBeUndefined();
    return { net, alice, bob, carol };
  }

  it('is told to connected peers once, so a later introduction starts many-port probing, which connects', () => {
    for (let seed = 300; seed < 303; seed++) {
      const { net, alice, bob, carol } = lateWorld(seed);
      // Bob records what alice tells him on the control stream.
      const heard: string[] = [];
      const mesh = (
        bob.endpoint as unknown as { mesh: { onNatMapping(p: unknown, nat: string): void } }
      ).mesh;
      const original = mesh.onNatMapping.bind(mesh);
      mesh.onNatMapping = (p, nat) => {
        heard.push(nat);
        original(p, nat);
      };
      alice.startStun();
      expect(net.runUntilTrue(() => !!alice.endpoint.stunSummary()?.done, 5000)).toBe(true);
      expect(alice.endpoint.stunSummary()?.behaviour).toBe('endpoint-dependent');
      net.run(500);
      expect(heard).toEqual(['endpoint-dependent']);

      // Carol joins bob; bob introduces alice (symmetric) and carol (port-restricted).
      carol.endpoint.addPeer('bob', { addrs: [bob.addr] }, net.now);
      net.poke(carol.addr);
      expect(
        net.runUntilTrue(() => alice.connected('carol') && carol.connected('alice'), 20_000),
      ).toBe(true);
      expect(alice.maxOpen).toBe(PROBE_SOCKETS);
      expect(carol.endpoint.peer('alice')?.address?.address).toBe('198.51.100.1');
      net.run(100);
      expect(alice.sockets.size).toBe(1);
      expect(alice.endpoint.probingStats()).toMatchObject({
        attemptsStarted: 1,
        attemptsSucceeded: 1,
        attemptsFailed: 0,
        socketsOpen: 1,
        spraysSent: 0,
      });
      expect(alice.endpoint.probingStats().probesSent).toBeGreaterThanOrEqual(PROBE_SOCKETS);
      const c = carol.endpoint.probingStats();
      expect(c).toMatchObject({ attemptsStarted: 1, attemptsSucceeded: 1, socketsOpen: 0 });
      expect(c.spraysSent).toBeGreaterThan(0);
      // Nothing is repeated later, and bob heard it only once.
      net.run(5000);
      expect(heard).toEqual(['endpoint-dependent']);
    }
  });

  it('an unknown control message or a repeated mapping only counts or updates: the session stays', () => {
    const { net, alice, bob } = lateWorld(310);
    const before = { ...bob.endpoint.stats.dropped };
    const send = (bytes: number[]) =>
      alice.endpoint.sendMessage(['bob'], Buffer.from(bytes), net.now, CONTROL_STREAM);
    send([1, 99, 1, 2, 3]); // a later type
    send([2, 1]); // a later version
    send([1, 2]); // a truncated nat mapping
    for (let i = 0; i < 200; i++) send([...encodeNatMapping('endpoint-independent')]);
    net.poke(alice.addr);
    net.run(2000);
    expect(bob.endpoint.stats.dropped['unknown-type'] - before['unknown-type']).toBe(2);
    expect(bob.endpoint.stats.dropped.protocol - before.protocol).toBe(1);
    expect(bob.connected('alice')).toBe(true);
    expect(alice.connected('bob')).toBe(true);
    // Nothing of it reaches the application; chat still flows.
    expect(bob.received).toEqual([]);
    alice.send(['bob'], 'still here');
    expect(net.runUntilTrue(() => bob.received.length === 1, 2000)).toBe(true);
    expect(bob.endpoint.probingStats().attemptsStarted).toBe(0);
  });
});
