/**
 * The handshake-flood scenarios, on a virtual clock: INITs from many spoofed
 * addresses straight into the sans-I/O endpoint, and a real peer connecting
 * over the fake network while such a flood goes on. Used by
 * test/net/flood.test.ts (which asserts) and `npm run chaos` (which prints
 * the same figures).
 */
import { performance } from 'node:perf_hooks';
import { addrKey } from '../../../source/net/core/address.js';
import { Endpoint } from '../../../source/net/core/endpoint.js';
import { generateIdentity } from '../../../source/net/crypto/identity.js';
import { FakeNetwork } from '../fakenet.js';
import { initTemplate } from '../hostile.js';
import { Rng } from '../rng.js';
import { simPair } from '../simnode.js';
import { type Counts, Tally } from './tally.js';

export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export interface FloodFigures {
  inits: number;
  /** Wall-clock ms the endpoint took to process them (measured, never asserted). */
  realMs: number;
  virtualMs: number;
  maxHalfOpen: number;
  halfOpenAfter: number;
  /** Answered statelessly with a cookie. */
  rateLimited: number;
  /** INITs answered with state (a RESP), i.e. not rate-limited and not dropped. */
  answeredWithState: number;
  bytesIn: number;
  bytesOut: number;
  /** bytesOut / bytesIn over all addresses. */
  ratio: number;
  /** The largest bytes-out / bytes-in of any one source address (∞ if we sent to one that sent nothing), and which. */
  worstRatio: number;
  worstAddress: string;
  addressesOver3x: number;
  addresses: number;
  memory: {
    gcForced: boolean;
    samples: number;
    before: MemorySample;
    peak: MemorySample;
    /** After the flood (after a forced gc when available). */
    after: MemorySample;
  };
}

function memory(): MemorySample {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

/** `inits` random 127.0.0.0/8 address:port pairs; the same address twice shares a slot. */
function sources(rng: Rng, inits: number) {
  const hosts: string[] = new Array(inits);
  const ports = new Uint16Array(inits);
  const slotOf = new Int32Array(inits);
  const slots = new Map<string, number>();
  for (let i = 0; i < inits; i++) {
    const host = `127.${rng.int(256)}.${rng.int(256)}.${1 + rng.int(254)}`;
    const port = 1024 + rng.int(60_000);
    hosts[i] = host;
    ports[i] = port;
    const key = addrKey({ address: host, port });
    let slot = slots.get(key);
    if (slot === undefined) {
      slot = slots.size;
      slots.set(key, slot);
    }
    slotOf[i] = slot;
  }
  const senders = new Uint32Array(inits);
  for (let i = 0; i < inits; i++) senders[i] = rng.u32();
  return { hosts, ports, slotOf, slots, senders };
}

/** Per-address amplification: bytes sent back over bytes received. */
function amplification(slots: Map<string, number>, bytesIn: Float64Array, bytesOut: Float64Array) {
  let worstRatio = 0;
  let worstSlot = -1;
  let over = 0;
  for (let s = 0; s < slots.size; s++) {
    const r = bytesOut[s]! / bytesIn[s]!;
    if (r > worstRatio) {
      worstRatio = r;
      worstSlot = s;
    }
    if (r > 3) over++;
  }
  let worstAddress = '-';
  if (worstSlot >= 0) for (const [k, s] of slots) if (s === worstSlot) worstAddress = k;
  return { worstRatio, worstAddress, over };
}

/**
 * `inits` INITs from random 127.0.0.0/8 address:port pairs, 10,000 a second
 * of virtual time, straight into the endpoint. Per-address accounting lives
 * in arrays allocated before the baseline sample, so the memory figures are
 * the endpoint's.
 */
export function handshakeFlood(seed: number, inits: number): FloodFigures {
  const gc = (globalThis as { gc?: () => void }).gc;
  const victim = new Endpoint({ identity: generateIdentity(), nick: 'alice' });
  const init = initTemplate();
  const { hosts, ports, slotOf, slots, senders } = sources(new Rng(seed), inits);
  const bytesIn = new Float64Array(slots.size);
  const bytesOut = new Float64Array(slots.size);
  let strayOut = 0;

  gc?.();
  const before = memory();
  const peak = { ...before };
  let samples = 1;
  const sample = (): void => {
    const m = memory();
    samples++;
    if (m.rss > peak.rss) peak.rss = m.rss;
    if (m.heapUsed > peak.heapUsed) peak.heapUsed = m.heapUsed;
  };

  const start = 1_000_000;
  let now = start;
  let maxHalfOpen = 0;
  const realStart = performance.now();
  for (let i = 0; i < inits; i++) {
    const d = init(senders[i]!);
    bytesIn[slotOf[i]!]! += d.length;
    victim.handleDatagram(d, { address: hosts[i]!, port: ports[i]! }, now);
    for (let t = victim.pollTransmit(); t; t = victim.pollTransmit()) {
      const slot = slots.get(addrKey(t.to));
      if (slot === undefined) strayOut += t.data.length;
      else bytesOut[slot]! += t.data.length;
    }
    if (victim.halfOpenCount > maxHalfOpen) maxHalfOpen = victim.halfOpenCount;
    now += 0.1; // 10,000 INITs a second
    if (i % 1000 === 0) victim.handleTimeout(now);
    if (i % 250 === 0) sample();
  }
  const realMs = performance.now() - realStart;
  sample();
  const halfOpenAfter = victim.halfOpenCount;
  gc?.();
  const after = memory();

  const totalIn = bytesIn.reduce((a, b) => a + b, 0);
  const totalOut = bytesOut.reduce((a, b) => a + b, strayOut);
  const amp = amplification(slots, bytesIn, bytesOut);
  const st = victim.stats;
  return {
    inits,
    realMs,
    virtualMs: now - start,
    maxHalfOpen,
    halfOpenAfter,
    rateLimited: st.dropped['rate-limited'],
    answeredWithState: st.handshakePackets,
    bytesIn: totalIn,
    bytesOut: totalOut,
    ratio: totalOut / totalIn,
    // Bytes to an address that never sent us anything: unbounded amplification.
    worstRatio: strayOut > 0 ? Number.POSITIVE_INFINITY : amp.worstRatio,
    worstAddress: strayOut > 0 ? 'an address that sent nothing' : amp.worstAddress,
    addressesOver3x: amp.over,
    addresses: slots.size,
    memory: { gcForced: gc !== undefined, samples, before, peak, after },
  };
}

export interface FloodPeerFigures {
  seed: number;
  inits: number;
  /** Cookies alice had sent 2 s into the flood, before bob dialled. */
  rateLimitedBeforeDial: number;
  connected: boolean;
  /** Virtual ms from addPeer to both sides connected. */
  connectMs: number | undefined;
  /** The message arrived within 5 s virtual of being sent. */
  messageArrived: boolean;
  halfOpenAtDelivery: number;
  /** Sampled after every network event, over the whole scenario. */
  maxHalfOpen: number;
  /** Cookies sent over the whole scenario. */
  rateLimited: number;
  /** bob's one message, counted after the rest of the flood played out. */
  counts: Counts;
  /** Wall-clock ms of the whole scenario, flood included. */
  realMs: number;
}

/**
 * `inits` spoofed INITs spread over 10 s of virtual time on the fake network;
 * 2 s in, bob dials alice and sends one message.
 */
export function floodWithRealPeer(seed: number, inits: number): FloodPeerFigures {
  const realStart = performance.now();
  const net = new FakeNetwork({ seed, conditions: { delay: 5 } });
  const { alice, bob } = simPair(net);
  const init = initTemplate();
  for (let i = 0; i < inits; i++) {
    const from = {
      address: `198.51.${net.rng.int(256)}.${1 + net.rng.int(254)}`,
      port: 1024 + net.rng.int(60_000),
    };
    net.inject(init(net.rng.u32()), from, alice.addr, (i * 10_000) / inits);
  }
  let maxHalfOpen = 0;
  /** Samples half-open state after every event; never stops a run by itself. */
  const watching =
    (pred: () => boolean = () => false) =>
    (): boolean => {
      maxHalfOpen = Math.max(maxHalfOpen, alice.endpoint.halfOpenCount);
      return pred();
    };
  net.runUntilTrue(watching(), 2_000);
  const rateLimitedBeforeDial = alice.endpoint.stats.dropped['rate-limited'];
  const tally = new Tally();
  tally.expect('bob→alice', 'made it');
  const t0 = net.now;
  bob.add('alice', alice);
  const connected = net.runUntilTrue(
    watching(() => bob.connected('alice') && alice.connected('bob')),
    10_000,
  );
  const connectMs = connected ? net.now - t0 : undefined;
  let messageArrived = false;
  if (connected) {
    bob.send(['alice'], 'made it');
    messageArrived = net.runUntilTrue(
      watching(() => alice.received.length >= 1),
      5_000,
    );
  }
  const halfOpenAtDelivery = alice.endpoint.halfOpenCount;
  // Let the rest of the flood play out, then look for late duplicates.
  net.runUntilTrue(watching(), 10_000);
  for (const m of alice.received) tally.see(m.nick === 'bob' ? m.data.toString() : '?');
  return {
    seed,
    inits,
    rateLimitedBeforeDial,
    connected,
    connectMs,
    messageArrived,
    halfOpenAtDelivery,
    maxHalfOpen,
    rateLimited: alice.endpoint.stats.dropped['rate-limited'],
    counts: tally.summary(),
    realMs: performance.now() - realStart,
  };
}
