import { afterEach, describe, expect, it } from 'vitest';
import { MAX_MESSAGE_SIZE } from '../../source/net/core/conn/streamlimits.js';
import type { Endpoint } from '../../source/net/core/endpoint.js';
import { MAX_STREAMS } from '../../source/net/core/peers/peer.js';
import { CONTROL_STREAM } from '../../source/net/nat/introduce.js';
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
    const sends: Promise<void>[] = [];
    // The queue grows only when the socket hands a message to the endpoint:
    // measure it right after every such call (exact, no real-time sampling).
    const endpoint = (alice as unknown as { endpoint: Endpoint }).endpoint;
    const enqueue = endpoint.sendMessage.bind(endpoint);
    let peak = 0;
    let enqueued = 0;
    endpoint.sendMessage = (...args: Parameters<Endpoint['sendMessage']>) => {
      const queued = enqueue(...args);
      enqueued++;
      peak = Math.max(peak, endpoint.queuedBytes('ghost'));
      return queued;
    };
    for (let i = 0; i < 40; i++) sends.push(alice.send(mib, { recipient: 'ghost', timeout: 400 }));
    const results = await Promise.allSettled(sends);
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const reasons = results.map((r) => (r.status === 'rejected' ? String(r.reason) : ''));
    expect(reasons.some((r) => /send queue full/.test(r))).toBe(true);
    expect(reasons.some((r) => /not acknowledged within 400 ms by: ghost/.test(r))).toBe(true);
    // 1 MiB each: at most MAX_QUEUED_PER_PEER / 1 MiB of them fit, plus framing.
    expect(enqueued).toBeGreaterThan(0);
    expect(enqueued).toBeLessThanOrEqual(MAX_QUEUED_PER_PEER / mib.length);
    expect(peak).toBeGreaterThanOrEqual(enqueued * mib.length);
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
  });

  it('every stream an application may open, each with a maximum-size message under loss, fits the reassembly limit', () => {
    const net = new FakeNetwork({ seed: 34, conditions: { loss: 0.1, jitter: 5, delay: 5 } });
    const alice = new SimPeer(net, { address: '203.0.113.1', port: 1 }, { nick: 'alice' }, net.rng);
    const bob = new SimPeer(net, { address: '203.0.113.2', port: 2 }, { nick: 'bob' }, net.rng);
    bob.add('alice', alice);
    expect(net.runUntilTrue(() => alice.connected('bob'), 5000)).toBe(true);
    // MAX_STREAMS counts the transport's own control stream.
    const streams = Array.from({ length: MAX_STREAMS }, (_, i) => i).filter(
      (i) => i !== CONTROL_STREAM,
    );
    const sent = streams.map(() => net.rng.bytes(MAX_MESSAGE_SIZE));
    streams.forEach((stream, i) => {
      bob.endpoint.sendMessage(['alice'], sent[i]!, net.now, stream);
    });
    net.poke(bob.addr);
    expect(net.runUntilTrue(() => alice.received.length === streams.length, 120_000)).toBe(true);
    const got = alice.events.flatMap((e) => (e.type === 'message' ? [[e.stream, e.data]] : []));
    expect(got).toHaveLength(streams.length);
    for (const [stream, data] of got as [number, Buffer][]) {
      expect(data.equals(sent[streams.indexOf(stream)]!)).toBe(true);
    }
    expect(alice.endpoint.stats.dropped.protocol).toBe(0);
    expect(alice.errors()).toEqual([]);
    expect(alice.endpoint.reassemblyBytesHeld).toBe(0);
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
