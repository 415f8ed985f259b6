import { describe, expect, it } from 'vitest';
import { type Addr, sameAddr, viaRelay } from '../../../source/net/core/address.js';
import type { Transmit } from '../../../source/net/core/config.js';
import type { EndpointEvent } from '../../../source/net/core/events.js';
import type { PeerRegistry } from '../../../source/net/core/peers/registry.js';
import {
  FALLBACK_AFTER_RTOS,
  IDLE_RELEASE_MS,
  Relay,
  type RelayServer,
} from '../../../source/net/core/relay.js';
import { decodeStunMessage, isStun } from '../../../source/net/nat/stun-codec.js';
import { TurnMethod } from '../../../source/net/nat/turn-codec.js';
import { FakeNetwork } from '../../support/fakenet.js';
import { FakeRelay } from '../../support/fakerelay.js';
import { SimPeer } from '../../support/simnode.js';

/**
 * The relay room's seam for TURN over a stream (RFC 8656 §12.5): transmits
 * to a stream relay are marked for the shell, frames come back flagged, a
 * UDP relay that never answers falls back to the same server by stream, and
 * an allocation a session left is released, then allocated again when needed.
 * All on a virtual clock: the room is driven by hand, the fake relay answers.
 */

const RELAY_IP = '198.51.100.1';
const ME: Addr = { address: '192.0.2.1', port: 1000 };

function room() {
  const net = new FakeNetwork({ seed: 7 });
  const server = new FakeRelay(net, RELAY_IP);
  const events: EndpointEvent[] = [];
  const delivered: Buffer[] = [];
  let n = 0;
  const relay = new Relay({
    emit: (e) => events.push(e),
    deliver: (d) => delivered.push(Buffer.from(d)),
    random: (len) => Buffer.alloc(len, ++n % 251),
  });
  const config = (over: Partial<RelayServer> = {}): RelayServer => ({
    server: server.addr,
    username: server.username,
    password: server.password,
    ...over,
  });
  return { server, relay, events, delivered, config };
}

/** The Allocate requests among `ts`. */
function allocates(ts: Transmit[]): Transmit[] {
  return ts.filter(
    (t) => isStun(t.data) && decodeStunMessage(t.data).method === TurnMethod.Allocate,
  );
}

/**
 * Hands every transmit to the fake relay and its answers back, as the shell
 * would: over a stream when the transmit says so. Returns what was sent.
 */
function pump(r: ReturnType<typeof room>, now: number, answer = true): Transmit[] {
  const sent: Transmit[] = [];
  for (let t = r.relay.pollTransmit(); t; t = r.relay.pollTransmit()) {
    sent.push(t);
    if (!answer) continue;
    r.server.handleDatagram(t.data, ME);
    for (let a = r.server.pollTransmit(); a; a = r.server.pollTransmit())
      r.relay.handleDatagram(a.data, r.server.addr, now, t.stream === true);
  }
  return sent;
}

/** Runs the room's deadlines up to `until`; `answerUdp` false drops every UDP transmit (a network that blocks it). */
function runTo(r: ReturnType<typeof room>, from: number, until: number, answerUdp = true) {
  const sent: Transmit[] = [];
  let now = from;
  // A bound on the loop: a room that keeps sending at once fails here instead of hanging.
  for (let turn = 0; ; turn++) {
    if (turn > 100_000) throw new Error('the relay room never went quiet');
    const ts = [];
    for (let t = r.relay.pollTransmit(); t; t = r.relay.pollTransmit()) ts.push(t);
    for (const t of ts) {
      sent.push(t);
      if (!t.stream && !answerUdp) continue;
      r.server.handleDatagram(t.data, ME);
      for (let a = r.server.pollTransmit(); a; a = r.server.pollTransmit())
        r.relay.handleDatagram(a.data, r.server.addr, now, t.stream === true);
    }
    const d = r.relay.nextDeadline();
    if (ts.length > 0) continue;
    if (d === undefined || d > until) break;
    now = Math.max(now, d);
    r.relay.handleTimeout(now);
  }
  return { sent, now };
}

/** One transmit of the room, when it went. */
interface Sent {
  at: number;
  to: Addr;
  stream: boolean;
  allocate: boolean;
}

/**
 * Runs the room on the virtual clock, the fake relay answering UDP from
 * `udpFrom` and streams from `streamFrom` (a connection still opening drops
 * nothing: its frames wait and are answered then, as a kernel would). Records
 * every transmit with its virtual time.
 */
function race(
  r: ReturnType<typeof room>,
  o: { udpFrom: number; streamFrom?: number; until: number; from?: number },
): Sent[] {
  const log: Sent[] = [];
  const waiting: Transmit[] = [];
  const answer = (t: Transmit, now: number) => {
    r.server.handleDatagram(t.data, ME);
    for (let a = r.server.pollTransmit(); a; a = r.server.pollTransmit())
      r.relay.handleDatagram(a.data, r.server.addr, now, t.stream === true);
  };
  let now = o.from ?? 0;
  const streamFrom = o.streamFrom ?? 0;
  for (let turn = 0; ; turn++) {
    if (turn > 100_000) throw new Error('the relay room never went quiet');
    const ts: Transmit[] = [];
    for (let t = r.relay.pollTransmit(); t; t = r.relay.pollTransmit()) {
      ts.push(t);
      const allocate = allocates([t]).length > 0;
      log.push({ at: now, to: t.to, stream: t.stream === true, allocate });
    }
    // Frames queued on a connection not open yet go out once it is.
    if (now >= streamFrom) ts.push(...waiting.splice(0));
    for (const t of ts) {
      if (t.stream) {
        if (now >= streamFrom) answer(t, now);
        else waiting.push(t);
      } else if (now >= o.udpFrom) answer(t, now);
    }
    if (ts.length > 0) continue;
    let d = r.relay.nextDeadline();
    if (waiting.length > 0 && (d === undefined || streamFrom < d)) d = streamFrom;
    if (d === undefined || d > o.until) break;
    now = Math.max(now, d);
    r.relay.handleTimeout(now);
  }
  return log;
}

describe('TURN over a stream: the relay room (issue 17 item 2)', () => {
  it('marks a stream relay’s transmits, sends each request once (TCP retransmits), and takes its answers only as stream frames', () => {
    const r = room();
    r.relay.start([r.config({ transport: 'stream' })], 0);
    const first = pump(r, 0, false);
    expect(first).toHaveLength(1);
    expect(first[0]!.stream).toBe(true);
    expect(first[0]!.to).toEqual(r.server.addr);
    // RFC 8489 §6.2.2: no retransmission over a reliable transport; Ti = 39.5 s.
    expect(r.relay.nextDeadline()).toBe(39_500);
    // The server's 401 arriving as a UDP datagram is not the stream relay's.
    r.server.handleDatagram(first[0]!.data, ME);
    const challenge = r.server.pollTransmit()!;
    expect(r.relay.handleDatagram(challenge.data, r.server.addr, 0, false)).toBe(false);
    expect(r.relay.handleDatagram(challenge.data, r.server.addr, 0, true)).toBe(true);
    runTo(r, 0, 1000);
    const st = r.relay.stats();
    expect(st.state).toBe('allocated');
    expect(st.transport).toBe('stream');
    expect(st.relayed?.address).toBe(RELAY_IP);
  });

  it('a broken connection fails the allocation with its reason, in stats and as an error event, no crash', () => {
    const r = room();
    r.relay.start([r.config({ transport: 'stream' })], 0);
    pump(r, 0, false);
    r.relay.linkDown(r.server.addr, 'TCP to 198.51.100.1:3478: connection refused', 5);
    const st = r.relay.stats();
    expect(st.state).toBe('failed');
    expect(st.reason).toMatch(/connection refused/);
    const err = r.events.find((e) => e.type === 'error');
    expect(err?.type === 'error' && err.message).toMatch(/over TCP\/TLS.*connection refused/);
    // Nothing left to send or wait for; a late link-down is harmless.
    expect(r.relay.nextDeadline()).toBeUndefined();
    r.relay.linkDown(r.server.addr, 'again', 6);
    expect(r.relay.stats().reason).toMatch(/connection refused/);
  });

  it('an allocated stream relay whose connection drops loses the allocation (it lives with the connection)', () => {
    const r = room();
    r.relay.start([r.config({ transport: 'stream' })], 0);
    runTo(r, 0, 1000);
    expect(r.relay.ready).toBe(true);
    r.relay.linkDown(r.server.addr, 'TCP: the relay closed the connection', 2000);
    expect(r.relay.ready).toBe(false);
    expect(r.events).toContainEqual(expect.objectContaining({ type: 'relay', state: 'failed' }));
  });

  it('UDP that gets no answer tries the same server and port over a stream after 3 RTOs (1.5 s), not after 39.5 s', () => {
    const r = room();
    r.relay.start([r.config({ fallback: true })], 0);
    const log = race(r, { udpFrom: Number.POSITIVE_INFINITY, until: 120_000 });
    const udp = log.filter((t) => !t.stream && t.allocate);
    const stream = log.filter((t) => t.stream);
    // UDP at 0 and 500; at 1500 (3 RTOs) its third transmission and the first over a stream.
    expect(udp.map((t) => t.at)).toEqual([0, 500, 1500]);
    expect(stream[0]?.at).toBe(FALLBACK_AFTER_RTOS * 500);
    expect(log.findIndex((t) => t.stream)).toBeGreaterThan(
      log.findIndex((t) => !t.stream && t.at === 1500),
    );
    // Same server, same port; 401 then the signed Allocate, both at once.
    expect(stream.every((t) => t.to.address === RELAY_IP && t.to.port === 3478)).toBe(true);
    expect(stream.filter((t) => t.allocate).map((t) => t.at)).toEqual([1500, 1500]);
    const st = r.relay.stats();
    expect(st).toMatchObject({ state: 'allocated', transport: 'stream', reason: undefined });
    // The stream won: UDP stopped retransmitting (3 Allocates, not 7), no error was reported.
    expect(log.filter((t) => !t.stream && t.at > 1500)).toEqual([]);
    expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('a stream that won the race and then lost its connection is what the failure names', () => {
    const r = room();
    r.relay.start([r.config({ fallback: true })], 0);
    race(r, { udpFrom: Number.POSITIVE_INFINITY, until: 5000 });
    expect(r.relay.stats().transport).toBe('stream');
    expect(r.relay.failure()).toBeUndefined();
    r.relay.linkDown(
      r.server.addr,
      'TCP to 198.51.100.1:3478: the relay closed the connection',
      6000,
    );
    expect(r.relay.failure()).toBe(
      '198.51.100.1:3478: refresh failed: TCP to 198.51.100.1:3478: the relay closed the connection',
    );
  });

  it('keeps UDP when it answers late, before the stream allocated: the stream is released once it answers', () => {
    const r = room();
    r.relay.start([r.config({ fallback: true })], 0);
    // UDP answers from its fourth transmission (3.5 s); the stream connection answers only at 5 s.
    const log = race(r, { udpFrom: 3500, streamFrom: 5000, until: 20_000 });
    expect(log.find((t) => t.stream)?.at).toBe(1500);
    const st = r.relay.stats();
    expect(st).toMatchObject({ state: 'allocated', transport: 'udp', reason: undefined });
    expect(r.events.filter((e) => e.type === 'relay' && e.state === 'allocated')).toHaveLength(1);
    // The stream's allocation, made later, was given back (Refresh with LIFETIME 0).
    expect(r.server.released).toBe(1);
    expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
  });

  it('a UDP relay that answers (a 401 counts) is never raced by a stream', () => {
    const r = room();
    r.relay.start([r.config({ fallback: true })], 0);
    const log = race(r, { udpFrom: 0, until: 20_000 });
    expect(log.some((t) => t.stream)).toBe(false);
    expect(r.relay.stats()).toMatchObject({ state: 'allocated', transport: 'udp' });
  });

  it('both silent: one error after the UDP transaction times out, naming both reasons', () => {
    const r = room();
    r.relay.start([r.config({ fallback: true })], 0);
    race(r, {
      udpFrom: Number.POSITIVE_INFINITY,
      streamFrom: Number.POSITIVE_INFINITY,
      until: 3000,
    });
    r.relay.linkDown(r.server.addr, 'TCP to 198.51.100.1:3478: connection refused', 3000);
    // The TCP failure alone reports nothing: UDP is still trying.
    expect(r.events.filter((e) => e.type === 'error')).toEqual([]);
    race(r, {
      udpFrom: Number.POSITIVE_INFINITY,
      streamFrom: Number.POSITIVE_INFINITY,
      until: 120_000,
      from: 3000,
    });
    const st = r.relay.stats();
    expect(st.state).toBe('failed');
    expect(st.reason).toMatch(
      /no answer from the TURN server after 7 transmissions.*over TCP.*connection refused/,
    );
    const errors = r.events.filter((e) => e.type === 'error');
    expect(errors).toHaveLength(1);
    expect(r.relay.nextDeadline()).toBeUndefined();
  });

  it('without fallback the same silence is a failure with its reason (the control)', () => {
    const r = room();
    r.relay.start([r.config()], 0);
    const { sent } = runTo(r, 0, 120_000, false);
    expect(sent.some((t) => t.stream)).toBe(false);
    expect(r.relay.stats().state).toBe('failed');
    expect(r.relay.stats().reason).toMatch(/no answer/);
  });
});

describe('releasing an allocation no session uses (issue 17 item 4)', () => {
  /** Allocated at 0, then one datagram through it at `usedAt`. */
  function used(usedAt: number) {
    const r = room();
    r.relay.start([r.config()], 0);
    let { now } = runTo(r, 0, usedAt);
    now = usedAt;
    expect(r.relay.send(viaRelay({ address: RELAY_IP, port: 50_000 }), Buffer.from('x'), now)).toBe(
      true,
    );
    pump(r, now);
    return { r, now };
  }

  it('keeps it IDLE_RELEASE_MS after its last use, then releases it (Refresh with LIFETIME 0)', () => {
    const { r, now } = used(1000);
    runTo(r, now, now + IDLE_RELEASE_MS - 1);
    expect(r.server.released).toBe(0);
    expect(r.relay.stats().state).toBe('allocated');
    runTo(r, now, now + IDLE_RELEASE_MS);
    expect(r.server.released).toBe(1);
    const st = r.relay.stats();
    expect(st.state).toBe('released');
    expect(st.reason).toMatch(/released after 5 min unused/);
    expect(r.relay.relayed).toBeUndefined();
    // Nothing more to do until a relay is needed: no deadline, no traffic.
    expect(r.relay.nextDeadline()).toBeUndefined();
  });

  it('every use pushes the release back', () => {
    const { r } = used(1000);
    let now = 1000;
    for (let minute = 1; minute <= 12; minute++) {
      ({ now } = runTo(r, now, minute * 60_000));
      now = minute * 60_000;
      r.relay.send(viaRelay({ address: RELAY_IP, port: 50_000 }), Buffer.from('x'), now);
      pump(r, now);
    }
    expect(r.server.released).toBe(0);
    expect(r.relay.stats().state).toBe('allocated');
  });

  it('an allocation no session ever used stays (it is our candidate for peers yet to come)', () => {
    const r = room();
    r.relay.start([r.config()], 0);
    runTo(r, 0, 3 * IDLE_RELEASE_MS);
    expect(r.server.released).toBe(0);
    expect(r.relay.ready).toBe(true);
  });

  it('allocates again when a relay is needed, and counts bytes across both allocations', () => {
    const { r, now } = used(1000);
    const released = runTo(r, now, now + IDLE_RELEASE_MS).now;
    expect(r.relay.stats().state).toBe('released');
    // A session falls back to the relay: the send finds none, and asks for one.
    const later = released + 60_000;
    expect(
      r.relay.send(viaRelay({ address: RELAY_IP, port: 50_000 }), Buffer.from('y'), later),
    ).toBe(false);
    const again = pump(r, later);
    expect(allocates(again).length).toBeGreaterThanOrEqual(1);
    runTo(r, later, later + 1000);
    expect(r.relay.ready).toBe(true);
    expect(r.relay.stats().state).toBe('allocated');
    expect(r.events.filter((e) => e.type === 'relay' && e.state === 'allocated')).toHaveLength(2);
    expect(
      r.relay.send(viaRelay({ address: RELAY_IP, port: 50_000 }), Buffer.from('z'), later),
    ).toBe(true);
    expect(r.relay.stats().bytesSent).toBe(2); // 'x' then 'z'; 'y' found no allocation
    // A dial that wants the relay (need) while allocated changes nothing.
    expect(r.relay.need(later)).toBe(true);
    expect(pump(r, later).filter((t) => allocates([t]).length > 0)).toEqual([]);
  });
});

describe('release after a switch to direct, on the fake net (issue 17 item 4)', {
  timeout: 60_000,
}, () => {
  /** Two port-restricted NATs on one relay, their direct path blocked until `block(false)`. */
  function pair() {
    const net = new FakeNetwork({ seed: 21, conditions: { delay: 10 } });
    const relay = new FakeRelay(net, RELAY_IP);
    const node = (nick: string, n: number) => {
      const p = new SimPeer(net, { address: `10.0.${n}.2`, port: 4000 + n }, { nick }, net.rng, {
        kind: 'port-restricted',
        publicAddress: `203.0.113.${n}`,
      });
      p.endpoint.startRelay(
        [{ server: relay.addr, username: 'user', password: 'secret' }],
        net.now,
      );
      net.poke(p.addr);
      return p;
    };
    const alice = node('alice', 1);
    const bob = node('bob', 2);
    net.runUntilTrue(
      () => !!alice.endpoint.relayedAddress() && !!bob.endpoint.relayedAddress(),
      10_000,
    );
    const pub = (p: SimPeer) => p.endpoint.relayStats().mapped!;
    const key = (p: SimPeer) => p.endpoint.local.identity.publicKey;
    const [aPub, bPub] = [pub(alice), pub(bob)];
    const block = (on: boolean) => {
      const c = on ? { blackout: true } : undefined;
      net.setLinkConditions(alice.addr, bPub, c);
      net.setLinkConditions(bob.addr, aPub, c);
    };
    block(true);
    const ra = alice.endpoint.relayedAddress()!;
    const rb = bob.endpoint.relayedAddress()!;
    alice.endpoint.addPeer('bob', { addrs: [bPub], relayed: [rb], key: key(bob) }, net.now);
    bob.endpoint.addPeer('alice', { addrs: [aPub], relayed: [ra], key: key(alice) }, net.now);
    net.poke(alice.addr);
    net.poke(bob.addr);
    return { net, relay, alice, bob, block, ra, key };
  }

  /** The relayed candidates `of` holds for `nick` (what an invite code or the peer itself said). */
  const relayedOf = (of: SimPeer, nick: string): readonly Addr[] =>
    (of.endpoint as unknown as { registry: PeerRegistry }).registry.get(nick)?.dialing.relayed ??
    [];

  it('keeps the allocation while relayed and for 5 min after going direct, then releases it; a dial that wants the relay allocates again', () => {
    const { net, relay, alice, bob, block, ra } = pair();
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 10_000)).toBe(
      true,
    );
    expect(alice.endpoint.peer('bob')?.stats.path).toBe('relay');
    // Relayed for 6 minutes (keepalives flow through it): never released.
    net.run(6 * 60_000);
    expect(relay.released).toBe(0);
    expect(alice.endpoint.relayStats().state).toBe('allocated');
    block(false);
    expect(
      net.runUntilTrue(() => alice.endpoint.peer('bob')?.stats.path === 'direct', 10_000),
    ).toBe(true);
    const directAt = net.now;
    // Kept a while after the switch (a dying direct path still finds it)...
    net.run(IDLE_RELEASE_MS - 30_000);
    expect(alice.endpoint.relayStats().state).toBe('allocated');
    expect(relay.released).toBe(0);
    // ...then released by both, the session untouched.
    net.runUntilTrue(() => relay.released === 2, 120_000);
    expect(net.now - directAt).toBeGreaterThanOrEqual(IDLE_RELEASE_MS - 30_000);
    expect(alice.endpoint.relayStats().state).toBe('released');
    expect(alice.endpoint.relayedAddress()).toBeUndefined();
    expect(alice.connected('bob') && bob.connected('alice')).toBe(true);
    expect(alice.endpoint.peer('bob')?.stats.path).toBe('direct');
    // A new peer known only by a relayed address: the dial wants the relay, so alice allocates again.
    const carolKey = new SimPeer(net, { address: '192.0.2.9', port: 9 }, { nick: 'carol' }, net.rng)
      .endpoint.local.identity.publicKey;
    alice.endpoint.addPeer(
      'carol',
      { addrs: [], relayed: [{ address: RELAY_IP, port: 60_000 }], key: carolKey },
      net.now,
    );
    net.poke(alice.addr);
    expect(net.runUntilTrue(() => alice.endpoint.relayStats().state === 'allocated', 10_000)).toBe(
      true,
    );
    // A new allocation on the same relay, on a new port (the old one was deleted, RFC 8656 §8).
    expect(alice.endpoint.relayedAddress()?.address).toBe(ra.address);
    expect(alice.endpoint.relayedAddress()?.port).not.toBe(ra.port);
  });

  it('the new relayed address after a release reaches the live session, which falls back to it when direct dies', () => {
    const { net, relay, alice, bob, block, ra, key } = pair();
    expect(net.runUntilTrue(() => alice.connected('bob') && bob.connected('alice'), 10_000)).toBe(
      true,
    );
    block(false);
    expect(
      net.runUntilTrue(() => alice.endpoint.peer('bob')?.stats.path === 'direct', 10_000),
    ).toBe(true);
    expect(net.runUntilTrue(() => relay.released === 2, IDLE_RELEASE_MS + 120_000)).toBe(true);
    // Alice needs the relay again (a peer known only by a relayed address): a new allocation.
    const carol = new SimPeer(net, { address: '192.0.2.9', port: 9 }, { nick: 'carol' }, net.rng);
    alice.endpoint.addPeer(
      'carol',
      { addrs: [], relayed: [{ address: RELAY_IP, port: 60_000 }], key: key(carol) },
      net.now,
    );
    net.poke(alice.addr);
    expect(net.runUntilTrue(() => alice.endpoint.relayedAddress() !== undefined, 10_000)).toBe(
      true,
    );
    const ra2 = alice.endpoint.relayedAddress()!;
    expect(ra2.port).not.toBe(ra.port);
    // Over the live (direct) session bob hears it: it replaces the released one.
    expect(
      net.runUntilTrue(() => relayedOf(bob, 'alice').some((a) => sameAddr(a, ra2)), 5000),
    ).toBe(true);
    expect(relayedOf(bob, 'alice').some((a) => sameAddr(a, ra))).toBe(false);
    // The direct path dies: the session falls back through alice's new allocation, and carries data.
    block(true);
    expect(
      net.runUntilTrue(
        () =>
          alice.endpoint.peer('bob')?.stats.path === 'relay' &&
          bob.endpoint.peer('alice')?.stats.path === 'relay',
        60_000,
      ),
    ).toBe(true);
    bob.send(['alice'], 'through the new allocation');
    expect(
      net.runUntilTrue(
        () => alice.received.some((m) => m.data.toString() === 'through the new allocation'),
        10_000,
      ),
    ).toBe(true);
    expect(alice.connected('bob') && bob.connected('alice')).toBe(true);
  });
});
