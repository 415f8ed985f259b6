/**
 * The scenarios that run on a virtual clock (no sockets): the 3-peer mesh over
 * the seeded fake network, and the handshake flood against the sans-I/O
 * endpoint. Both mirror tests in test/net/ but measure instead of asserting.
 */
import { performance } from 'node:perf_hooks';
import { addrKey } from '../../source/net/core/address.js';
import { Endpoint } from '../../source/net/core/endpoint.js';
import { generateIdentity } from '../../source/net/crypto/identity.js';
import { FakeNetwork } from '../../test/support/fakenet.js';
import { initTemplate } from '../../test/support/hostile.js';
import { Rng } from '../../test/support/rng.js';
import { MESH_CONDITIONS, simMesh, simPair } from '../../test/support/simnode.js';
import { count, type ScenarioResult, Tally } from './report.js';

// ---- 3-peer mesh over a hostile fake network ----------------------------------------

/** As test/net/chaos.test.ts: every pair, `perDirection` messages each way, in bursts. */
export function chaosMesh(seed: number, perDirection: number): ScenarioResult {
  const scenario = '3-peer mesh, 30% loss, 5% dup, jitter (virtual clock)';
  const net = new FakeNetwork({ seed, conditions: { ...MESH_CONDITIONS } });
  const names = ['alice', 'bob', 'carol'] as const;
  const nodes = simMesh(net);
  const [_alice, _bob, _carol] = nodes;
  const tally = new Tally();
  const pairs = names.flatMap((from) =>
    names.filter((to) => to !== from).map((to) => [from, to] as const),
  );
  for (let i = 0; i < perDirection; i++)
    for (const [from, to] of pairs) tally.expect(`${from}→${to}`, `${from}→${to}#${i}`);

  const meshStart = net.now;
  const allUp = () =>
    nodes.every((n) => n.endpoint.peers().filter((p) => p.state.kind === 'connected').length === 2);
  if (!net.runUntilTrue(allUp, 60_000)) {
    return {
      scenario,
      ...tally.summary(),
      realMs: undefined,
      timeOf: '-',
      notes: [],
      problems: [`seed ${seed}: the mesh did not come up within 60 s of virtual time`],
    };
  }
  const meshMs = net.now - meshStart;

  const realStart = performance.now();
  const virtualStart = net.now;
  const ids: number[][] = nodes.map(() => []);
  for (let i = 0; i < perDirection; i++) {
    for (const [k, node] of nodes.entries()) {
      for (const to of names) {
        if (to === names[k]) continue;
        ids[k]!.push(node.send([to], `${names[k]}→${to}#${i}`));
      }
    }
    if (i % 100 === 99) net.run(50);
  }
  const want = 2 * perDirection;
  const arrived = net.runUntilTrue(() => nodes.every((n) => n.received.length >= want), 600_000);
  const virtualMs = net.now - virtualStart;
  const realMs = performance.now() - realStart;
  // Late duplicates would surface now.
  net.run(5_000);

  for (const [k, node] of nodes.entries()) {
    for (const m of node.received) {
      const text = m.data.toString();
      // The sender prefix must agree with who the transport says sent it.
      if (!text.startsWith(`${m.nick}→${names[k]}#`)) tally.see(`?${m.nick}:${text}`);
      else tally.see(text);
    }
  }
  const summary = tally.summary();
  let unacked = 0;
  let multiAcked = 0;
  for (const [k, node] of nodes.entries()) {
    for (const id of ids[k]!) {
      const n = node.delivered.get(id)?.length ?? 0;
      if (n === 0) unacked++;
      else if (n > 1) multiAcked++;
    }
  }
  if (unacked > 0) summary.problems.push(`${count(unacked)} never acknowledged to their sender`);
  if (multiAcked > 0) summary.problems.push(`${count(multiAcked)} acknowledged more than once`);
  if (!arrived) summary.problems.push(`seed ${seed}: not everything arrived within 600 s virtual`);
  const totals = nodes
    .flatMap((n) => n.endpoint.peers())
    .reduce(
      (a, p) => ({
        lost: a.lost + p.stats.packetsLost,
        retransmits: a.retransmits + p.stats.retransmits,
      }),
      { lost: 0, retransmits: 0 },
    );
  const s = net.stats;
  return {
    scenario,
    ...summary,
    realMs,
    virtualMs,
    timeOf: 'first send → last message delivered',
    notes: [
      `seed ${seed}`,
      `mesh up after ${meshMs.toFixed(0)} ms virtual`,
      `network dropped ${count(s.dropped)} of ${count(s.sent)} datagrams (${((100 * s.dropped) / Math.max(1, s.sent)).toFixed(1)}%) and duplicated ${count(s.duplicated)}`,
      `transport declared ${count(totals.lost)} packets lost, ${count(totals.retransmits)} retransmits`,
      `${count(ids.flat().length - unacked)} of ${count(ids.flat().length)} sends acknowledged`,
    ],
  };
}

// ---- handshake flood ------------------------------------------------------------------

/** A valid-looking INIT (a real Noise message 1) with a chosen sender index. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
}

export interface FloodFigures {
  inits: number;
  /** Wall-clock ms the endpoint took to process them. */
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
  /** The largest bytes-out / bytes-in of any one source address, and which. */
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

/**
 * As the first test in test/net/flood.test.ts: `inits` INITs from random
 * 127.0.0.0/8 address:port pairs, 10,000 a second of virtual time, straight
 * into the endpoint. Per-address accounting lives in arrays allocated before
 * the baseline sample, so the memory figures are the endpoint's.
 */
export function handshakeFlood(seed: number, inits: number): FloodFigures {
  const gc = (globalThis as { gc?: () => void }).gc;
  const rng = new Rng(seed);
  const victim = new Endpoint({ identity: generateIdentity(), nick: 'alice' });
  const init = initTemplate();

  // Sources first: the same address twice shares a slot.
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
    const from = { address: hosts[i]!, port: ports[i]! };
    const d = init(senders[i]!);
    bytesIn[slotOf[i]!]! += d.length;
    victim.handleDatagram(d, from, now);
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

  let totalIn = 0;
  let totalOut = strayOut;
  let worstRatio = 0;
  let worstSlot = -1;
  let over = 0;
  for (let s = 0; s < slots.size; s++) {
    totalIn += bytesIn[s]!;
    totalOut += bytesOut[s]!;
    const r = bytesOut[s]! / bytesIn[s]!;
    if (r > worstRatio) {
      worstRatio = r;
      worstSlot = s;
    }
    if (r > 3) over++;
  }
  let worstAddress = '-';
  if (worstSlot >= 0) for (const [k, s] of slots) if (s === worstSlot) worstAddress = k;
  if (strayOut > 0) {
    // Bytes to an address that never sent us anything: unbounded amplification.
    worstRatio = Number.POSITIVE_INFINITY;
    worstAddress = 'an address that sent nothing';
  }
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
    worstRatio,
    worstAddress,
    addressesOver3x: over,
    addresses: slots.size,
    memory: { gcForced: gc !== undefined, samples, before, peak, after },
  };
}

export interface FloodPeerFigures {
  connected: boolean;
  /** Virtual ms from addPeer to both sides connected. */
  connectMs: number | undefined;
  maxHalfOpen: number;
  rateLimited: number;
}

/**
 * As the second flood test: `inits` spoofed INITs spread over 10 s of virtual
 * time on the fake network; 2 s in, bob dials alice and sends one message.
 */
export function floodWithRealPeer(
  seed: number,
  inits: number,
): { result: ScenarioResult; figures: FloodPeerFigures } {
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
  const watch = (): boolean => {
    const h = alice.endpoint.halfOpenCount;
    if (h > maxHalfOpen) maxHalfOpen = h;
    return false;
  };
  /** `pred`, sampling half-open state after every event. */
  const watching = (pred: () => boolean) => (): boolean => {
    watch();
    return pred();
  };
  net.runUntilTrue(watch, 2_000);
  const tally = new Tally();
  tally.expect('bob→alice', 'made it');
  const t0 = net.now;
  bob.add('alice', alice);
  const connected = net.runUntilTrue(
    watching(() => bob.connected('alice') && alice.connected('bob')),
    10_000,
  );
  const connectMs = connected ? net.now - t0 : undefined;
  if (connected) {
    bob.send(['alice'], 'made it');
    net.runUntilTrue(
      watching(() => alice.received.length >= 1),
      5_000,
    );
  }
  // Let the rest of the flood play out, then look for late duplicates.
  net.runUntilTrue(watch, 10_000);
  for (const m of alice.received) tally.see(m.nick === 'bob' ? m.data.toString() : '?');
  const summary = tally.summary();
  if (!connected) summary.problems.push(`seed ${seed}: bob did not connect within 10 s virtual`);
  const rateLimited = alice.endpoint.stats.dropped['rate-limited'];
  return {
    result: {
      scenario: `real peer during a ${count(inits)}-INIT flood (virtual clock)`,
      ...summary,
      realMs: performance.now() - realStart,
      virtualMs: connectMs,
      timeOf: 'real: the whole scenario (flood included); virtual: addPeer → both sides connected',
      notes: [
        `seed ${seed}`,
        `alice answered ${count(rateLimited)} INITs with a stateless cookie`,
        `max half-open ${count(maxHalfOpen)}`,
      ],
    },
    figures: { connected, connectMs, maxHalfOpen, rateLimited },
  };
}
