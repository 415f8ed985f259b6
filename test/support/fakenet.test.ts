import { describe, expect, it } from 'vitest';
import {
  type Addr,
  FakeNetwork,
  type LinkConditions,
  type NatKind,
  type SimNode,
} from './fakenet.js';
import { Rng } from './rng.js';

// ---------------------------------------------------------------------------
// Tiny nodes

interface Received {
  at: number;
  from: Addr;
  data: Buffer;
}

/** Records what it receives; sends what it is told to; optionally echoes. */
class TestNode implements SimNode {
  readonly received: Received[] = [];
  readonly timeouts: number[] = [];
  private outbox: { to: Addr; data: Buffer }[] = [];
  private head = 0;

  /** `echo`: true to echo everything back, or a function choosing the reply (undefined = none). */
  constructor(private readonly echo: boolean | ((data: Buffer) => Buffer | undefined) = false) {}

  send(to: Addr, data: Buffer): void {
    this.outbox.push({ to, data });
  }

  handleDatagram(data: Buffer, from: Addr, now: number): void {
    this.received.push({ at: now, from, data });
    const reply = typeof this.echo === 'function' ? this.echo(data) : this.echo ? data : undefined;
    if (reply !== undefined) this.send(from, reply);
  }

  handleTimeout(now: number): void {
    this.timeouts.push(now);
  }

  pollTransmit(): { to: Addr; data: Buffer } | undefined {
    if (this.head === this.outbox.length) {
      if (this.head > 0) {
        this.outbox = [];
        this.head = 0;
      }
      return undefined;
    }
    return this.outbox[this.head++];
  }

  nextDeadline(): number | undefined {
    return undefined;
  }
}

/** Fires at each of the given absolute deadlines, earliest first. */
class TimerNode implements SimNode {
  readonly fired: number[] = [];
  constructor(private pending: number[]) {
    this.pending = [...pending].sort((a, b) => a - b);
  }
  setDeadlines(d: number[]): void {
    this.pending = [...d].sort((a, b) => a - b);
  }
  handleDatagram(): void {}
  handleTimeout(now: number): void {
    while (this.pending.length > 0 && this.pending[0]! <= now) {
      this.pending.shift();
      this.fired.push(now);
    }
  }
  pollTransmit(): undefined {
    return undefined;
  }
  nextDeadline(): number | undefined {
    return this.pending[0];
  }
}

const pub = (n: number, port = 4000): Addr => ({ address: `203.0.113.${n}`, port });
const priv = (n: number, port = 5000): Addr => ({ address: `10.0.0.${n}`, port });
const seqBuf = (i: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(i);
  return b;
};
const key = (a: Addr): string => `${a.address}:${a.port}`;

// ---------------------------------------------------------------------------

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 8 }, () => a.next());
    const sb = Array.from({ length: 8 }, () => b.next());
    const sc = Array.from({ length: 8 }, () => c.next());
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    expect(new Rng(7).bytes(33)).toEqual(new Rng(7).bytes(33));
    expect(new Rng(7).bytes(33)).toHaveLength(33);
    expect(new Rng(42).seed).toBe(42);
  });

  it('produces values in range with sane statistics', () => {
    const r = new Rng(1);
    let sum = 0;
    let hits = 0;
    const buckets = new Array<number>(10).fill(0);
    let outOfRange = 0;
    const N = 100_000;
    for (let i = 0; i < N; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outOfRange++;
      sum += x;
      const k = r.int(10);
      buckets[k] = (buckets[k] ?? 0) + 1;
      if (r.chance(0.3)) hits++;
    }
    expect(outOfRange).toBe(0);
    expect(sum / N).toBeGreaterThan(0.49);
    expect(sum / N).toBeLessThan(0.51);
    for (const b of buckets) expect(Math.abs(b - N / 10)).toBeLessThan(N / 100);
    expect(Math.abs(hits / N - 0.3)).toBeLessThan(0.01);
    expect(() => r.int(0)).toThrow(RangeError);
  });
});

describe('FakeNetwork: basics', () => {
  it('honours the base delay on the virtual clock', () => {
    const net = new FakeNetwork({ seed: 1, conditions: { delay: 25 } });
    expect(net.now).toBe(1_000_000);
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    a.send(ba, Buffer.from('hi'));
    net.poke(aa);
    expect(net.run(24)).toBe(0);
    expect(b.received).toHaveLength(0);
    expect(net.now).toBe(1_000_024);
    expect(net.run(1)).toBe(1);
    expect(b.received).toHaveLength(1);
    expect(b.received[0]!.at).toBe(1_000_025);
    expect(b.received[0]!.from).toEqual(aa);
    expect(b.received[0]!.data.toString()).toBe('hi');
  });

  it('delivers a ping/echo round trip and keeps the accounting invariant', () => {
    const net = new FakeNetwork({ seed: 2 });
    const a = new TestNode();
    const b = new TestNode(true);
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    a.send(ba, Buffer.from('ping'));
    net.poke(aa);
    expect(net.runUntilTrue(() => a.received.length === 1, 1000)).toBe(true);
    expect(net.now).toBe(1_000_020);
    expect(a.received[0]!.from).toEqual(ba);
    const s = net.stats;
    expect(s.sent + s.duplicated).toBe(s.delivered + s.dropped);
  });

  it('copies datagrams: a sender reusing its buffer does not corrupt what is in flight', () => {
    const net = new FakeNetwork({ seed: 3 });
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    const buf = Buffer.from('abc');
    a.send(ba, buf);
    net.poke(aa);
    buf.fill(0);
    net.run(100);
    expect(b.received[0]!.data.toString()).toBe('abc');
  });

  it('runUntilTrue gives up after maxMs with the clock advanced', () => {
    const net = new FakeNetwork({ seed: 4, startTime: 0 });
    expect(net.runUntilTrue(() => false, 500)).toBe(false);
    expect(net.now).toBe(500);
    expect(net.runUntilTrue(() => true, 500)).toBe(true);
    expect(net.now).toBe(500);
  });

  it('drops datagrams to a detached node and to unknown addresses', () => {
    const net = new FakeNetwork({ seed: 5 });
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    net.detach(ba);
    a.send(ba, Buffer.from('x'));
    a.send(pub(99), Buffer.from('y'));
    net.poke(aa);
    net.run(100);
    expect(b.received).toHaveLength(0);
    expect(net.stats).toMatchObject({ sent: 2, delivered: 0, dropped: 2 });
    expect(() => net.poke(ba)).toThrow(/203\.0\.113\.2:4000/);
    expect(() => net.attach(new TestNode(), pub(1))).toThrow(/already attached/);
  });
});

/** A lossy, jittery three-node ping/echo exchange; returns the delivery trace. */
function chatter(seed: number): string[] {
  const trace: string[] = [];
  const conditions: LinkConditions = { loss: 0.1, duplicate: 0.05, jitter: 20, reorder: 0.05 };
  const net = new FakeNetwork({ seed, conditions });
  const nodes = [new TestNode(true), new TestNode(true), new TestNode()];
  const addrs = nodes.map((n, i) => net.attach(n, pub(i + 1)));
  const c = nodes[2]!;
  const ca = addrs[2]!;
  for (let round = 0; round < 50; round++) {
    c.send(addrs[round % 2]!, net.rng.bytes(8));
    net.poke(ca);
    net.run(7);
  }
  net.run(1000);
  for (const [i, n] of nodes.entries()) {
    for (const r of n.received) trace.push(`${r.at} ${key(r.from)}>${i} ${r.data.toString('hex')}`);
  }
  return trace;
}

describe('FakeNetwork: determinism', () => {
  it('same seed gives an identical trace, a different seed a different one', () => {
    const t1 = chatter(1234);
    const t2 = chatter(1234);
    const t3 = chatter(1235);
    expect(t1.length).toBeGreaterThan(50);
    expect(t1).toEqual(t2);
    expect(t1).not.toEqual(t3);
  });
});

/** a sends `n` datagrams to b (all at once) under `conditions`; returns b and the network. */
function blast(n: number, conditions: LinkConditions, seed = 99) {
  const net = new FakeNetwork({ seed, conditions });
  const a = new TestNode();
  const b = new TestNode();
  const aa = net.attach(a, pub(1));
  const ba = net.attach(b, pub(2));
  for (let i = 0; i < n; i++) a.send(ba, seqBuf(i));
  net.poke(aa);
  net.run(10_000);
  return { net, a, b, aa, ba };
}

describe('FakeNetwork: link conditions', () => {
  it('loses about the configured fraction', () => {
    const { net, b } = blast(10_000, { loss: 0.2 });
    const rate = 1 - b.received.length / 10_000;
    expect(Math.abs(rate - 0.2)).toBeLessThan(0.02);
    expect(net.stats.dropped).toBe(10_000 - b.received.length);
    expect(net.stats.sent).toBe(10_000);
  });

  it('duplicates about the configured fraction', () => {
    const { net, b } = blast(10_000, { duplicate: 0.25 });
    const dup = net.stats.duplicated;
    expect(Math.abs(dup / 10_000 - 0.25)).toBeLessThan(0.02);
    expect(b.received).toHaveLength(10_000 + dup);
    const seen = new Map<number, number>();
    for (const r of b.received) {
      const i = r.data.readUInt32BE(0);
      seen.set(i, (seen.get(i) ?? 0) + 1);
    }
    expect(seen.size).toBe(10_000);
    expect(Math.max(...seen.values())).toBe(2);
    const s = net.stats;
    expect(s.sent + s.duplicated).toBe(s.delivered + s.dropped);
  });

  it('keeps order without jitter and reorders with jitter or reorder', () => {
    const order = (c: LinkConditions) =>
      blast(1000, c).b.received.map((r) => r.data.readUInt32BE(0));
    const isSorted = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1]! < x);
    const plain = order({});
    expect(plain).toHaveLength(1000);
    expect(isSorted(plain)).toBe(true);
    const jittered = order({ jitter: 30 });
    expect(jittered).toHaveLength(1000);
    expect(isSorted(jittered)).toBe(false);
    const reordered = order({ reorder: 0.1 });
    expect(reordered).toHaveLength(1000);
    expect(isSorted(reordered)).toBe(false);
  });

  it('jitter stays within [delay, delay + jitter)', () => {
    const { b } = blast(2000, { delay: 40, jitter: 15 });
    for (const r of b.received) {
      expect(r.at - 1_000_000).toBeGreaterThanOrEqual(40);
      expect(r.at - 1_000_000).toBeLessThan(55);
    }
  });

  it('drops datagrams above the mtu and counts them', () => {
    const net = new FakeNetwork({ seed: 6, conditions: { mtu: 1200 } });
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    a.send(ba, Buffer.alloc(1200));
    a.send(ba, Buffer.alloc(1201));
    net.poke(aa);
    net.run(100);
    expect(b.received.map((r) => r.data.length)).toEqual([1200]);
    expect(net.stats).toMatchObject({ droppedMtu: 1, dropped: 1, delivered: 1 });
    // default mtu is 1500
    net.conditions = {};
    a.send(ba, Buffer.alloc(1500));
    a.send(ba, Buffer.alloc(1501));
    net.poke(aa);
    net.run(100);
    expect(net.stats.droppedMtu).toBe(2);
    expect(b.received).toHaveLength(2);
  });

  it('blackout drops everything, including what is in flight, until toggled off', () => {
    const net = new FakeNetwork({ seed: 7 });
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    a.send(ba, Buffer.from('in flight'));
    net.poke(aa);
    net.run(5);
    net.conditions.blackout = true;
    a.send(ba, Buffer.from('during'));
    net.poke(aa);
    net.run(100);
    expect(b.received).toHaveLength(0);
    expect(net.stats.dropped).toBe(2);
    net.conditions.blackout = false;
    a.send(ba, Buffer.from('after'));
    net.poke(aa);
    net.run(100);
    expect(b.received.map((r) => r.data.toString())).toEqual(['after']);
  });

  it('per-directed-pair overrides merge over the defaults and can be removed', () => {
    const net = new FakeNetwork({ seed: 8, conditions: { delay: 5 } });
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, pub(1));
    const ba = net.attach(b, pub(2));
    net.setLinkConditions(aa, ba, { loss: 1 });
    net.setLinkConditions(ba, aa, { delay: 50 });
    a.send(ba, Buffer.from('a>b'));
    b.send(aa, Buffer.from('b>a'));
    net.poke(aa);
    net.poke(ba);
    net.run(200);
    expect(b.received).toHaveLength(0);
    expect(a.received.map((r) => r.at - 1_000_000)).toEqual([50]);
    net.setLinkConditions(aa, ba, undefined);
    a.send(ba, Buffer.from('a>b again'));
    net.poke(aa);
    net.run(200);
    expect(b.received.map((r) => r.at - 1_000_200)).toEqual([5]);
  });
});

describe('FakeNetwork: timers', () => {
  it('fires node timers in deadline order, past deadlines at now', () => {
    const net = new FakeNetwork({ seed: 9, startTime: 1000 });
    const t1 = new TimerNode([1300, 1100, 1500]);
    const t2 = new TimerNode([1200, 1100]);
    const order: string[] = [];
    const wrap = (n: TimerNode, name: string): SimNode => ({
      handleDatagram: () => n.handleDatagram(),
      handleTimeout: (now) => {
        order.push(`${name}@${now}`);
        n.handleTimeout(now);
      },
      pollTransmit: () => n.pollTransmit(),
      nextDeadline: () => n.nextDeadline(),
    });
    const a1 = net.attach(wrap(t1, 't1'), pub(1));
    net.attach(wrap(t2, 't2'), pub(2));
    expect(net.runUntil(1400)).toBe(4);
    expect(order).toEqual(['t1@1100', 't2@1100', 't2@1200', 't1@1300']);
    expect(net.now).toBe(1400);
    // deadline in the past fires immediately; a later deadline replaces an earlier one
    t1.setDeadlines([900, 2000]);
    net.poke(a1);
    net.run(0);
    expect(order.at(-1)).toBe('t1@1400');
    net.runUntil(1999);
    expect(order.at(-1)).toBe('t1@1400');
    net.runUntil(2000);
    expect(order.at(-1)).toBe('t1@2000');
    expect(net.run(10_000)).toBe(0);
  });

  it('a deadline pushed later does not fire early', () => {
    const net = new FakeNetwork({ seed: 10, startTime: 0 });
    let deadline = 100;
    const fired: number[] = [];
    const node: SimNode = {
      handleDatagram: () => {},
      handleTimeout: (now) => {
        fired.push(now);
        deadline = Number.POSITIVE_INFINITY;
      },
      pollTransmit: () => undefined,
      nextDeadline: () => (Number.isFinite(deadline) ? deadline : undefined),
    };
    const addr = net.attach(node, pub(1));
    net.run(50);
    deadline = 300; // e.g. an idle timer refreshed by traffic
    net.poke(addr);
    net.run(100);
    expect(fired).toEqual([]);
    net.run(1000);
    expect(fired).toEqual([300]);
  });

  it('throws, naming the node, when a timer never makes progress', () => {
    const net = new FakeNetwork({ seed: 11 });
    const stuck: SimNode = {
      handleDatagram: () => {},
      handleTimeout: () => {},
      pollTransmit: () => undefined,
      nextDeadline: () => net.now,
    };
    net.attach(stuck, pub(7, 1234));
    expect(() => net.run(10)).toThrow(/203\.0\.113\.7:1234/);
  });
});

describe('FakeNetwork: inject and tap', () => {
  it('inject delivers a spoofed datagram to a public node', () => {
    const net = new FakeNetwork({ seed: 12, conditions: { loss: 1 } });
    const b = new TestNode();
    const ba = net.attach(b, pub(2));
    const attacker = { address: '198.51.100.66', port: 666 };
    net.inject(Buffer.from('evil'), attacker, ba, 3);
    net.run(2);
    expect(b.received).toHaveLength(0);
    net.run(1);
    expect(b.received).toHaveLength(1);
    expect(b.received[0]!.from).toEqual(attacker);
    expect(b.received[0]!.data.toString()).toBe('evil');
  });

  it('tap sees post-NAT traffic and can tamper or drop', () => {
    const net = new FakeNetwork({ seed: 13 });
    const a = new TestNode();
    const b = new TestNode();
    const aa = net.attach(a, priv(1), {
      nat: { kind: 'full-cone', publicAddress: pub(10).address },
    });
    const ba = net.attach(b, pub(2));
    const seen: string[] = [];
    net.tap = ({ from, to, data }) => {
      seen.push(`${from.address}>${key(to)}:${data.toString()}`);
      if (data.toString() === 'drop me') return null;
      if (data.toString() === 'tamper') return Buffer.from('TAMPERED');
      return undefined;
    };
    for (const s of ['hello', 'drop me', 'tamper']) a.send(ba, Buffer.from(s));
    net.poke(aa);
    net.run(100);
    expect(seen).toEqual([
      '203.0.113.10>203.0.113.2:4000:hello',
      '203.0.113.10>203.0.113.2:4000:drop me',
      '203.0.113.10>203.0.113.2:4000:tamper',
    ]);
    expect(b.received.map((r) => r.data.toString())).toEqual(['hello', 'TAMPERED']);
    expect(b.received[0]!.from.address).toBe('203.0.113.10');
    expect(net.stats).toMatchObject({ sent: 3, delivered: 2, dropped: 1 });
  });
});

// ---------------------------------------------------------------------------
// NATs

const NAT_IP = '203.0.113.100';

/**
 * A behind a NAT of `kind`; public nodes S (.1:4000), T (.2:4000), U (.2:4001).
 * `reach(x)` sends one datagram from x to `target` and reports whether A got it.
 */
function natWorld(kind: NatKind, mappingTimeout?: number) {
  const net = new FakeNetwork({ seed: 77, startTime: 0 });
  const A = new TestNode();
  const nodes = { S: new TestNode(), T: new TestNode(), U: new TestNode() };
  const aAddr = net.attach(A, priv(1), {
    nat: mappingTimeout
      ? { kind, publicAddress: NAT_IP, mappingTimeout }
      : { kind, publicAddress: NAT_IP },
  });
  const addr = {
    S: net.attach(nodes.S, pub(1)),
    T: net.attach(nodes.T, pub(2)),
    U: net.attach(nodes.U, pub(2, 4001)),
  };
  /** A sends to x; returns A's public address as x saw it. */
  const out = (x: keyof typeof nodes): Addr => {
    const before = nodes[x].received.length;
    A.send(addr[x], Buffer.from('out'));
    net.poke(aAddr);
    net.run(50);
    const got = nodes[x].received[before];
    if (got === undefined) throw new Error('outbound datagram not delivered');
    return got.from;
  };
  const reach = (x: keyof typeof nodes, target: Addr): boolean => {
    const before = A.received.length;
    nodes[x].send(target, Buffer.from('in'));
    net.poke(addr[x]);
    net.run(50);
    return A.received.length > before;
  };
  return { net, A, aAddr, out, reach };
}

describe('FakeNetwork: NAT', () => {
  it('nothing reaches a NATted node before it sends, and its private address is unroutable', () => {
    for (const kind of ['full-cone', 'restricted', 'port-restricted', 'symmetric'] as const) {
      const { net, aAddr, reach } = natWorld(kind);
      expect(reach('S', { address: NAT_IP, port: 40000 })).toBe(false);
      expect(net.stats.droppedNat).toBe(1);
      expect(reach('S', aAddr)).toBe(false);
      expect(net.stats.dropped).toBe(2);
    }
  });

  it("kind 'none' is a public node", () => {
    const { out, reach, aAddr } = natWorld('none');
    expect(out('S')).toEqual(aAddr);
    expect(reach('T', aAddr)).toBe(true);
  });

  it('full-cone: after one outbound packet anyone can reach the mapping', () => {
    const { out, reach } = natWorld('full-cone');
    const m = out('S');
    expect(m.address).toBe(NAT_IP);
    expect(out('T')).toEqual(m); // endpoint-independent mapping
    expect(reach('S', m)).toBe(true);
    expect(reach('U', m)).toBe(true);
  });

  it('restricted: only IPs the node has sent to', () => {
    const { out, reach, net } = natWorld('restricted');
    const m = out('S');
    expect(reach('S', m)).toBe(true);
    expect(reach('T', m)).toBe(false);
    expect(reach('U', m)).toBe(false);
    expect(net.stats.droppedNat).toBe(2);
    expect(out('T')).toEqual(m);
    expect(reach('T', m)).toBe(true);
    expect(reach('U', m)).toBe(true); // same IP as T, other port
  });

  it('port-restricted: only exact ip:port the node has sent to', () => {
    const { out, reach } = natWorld('port-restricted');
    const m = out('S');
    expect(reach('S', m)).toBe(true);
    expect(reach('T', m)).toBe(false);
    expect(out('T')).toEqual(m);
    expect(reach('T', m)).toBe(true);
    expect(reach('U', m)).toBe(false); // same IP as T, other port
  });

  it('symmetric: a different public port per destination, each reachable only from it', () => {
    const { out, reach } = natWorld('symmetric');
    const mS = out('S');
    const mT = out('T');
    const mU = out('U');
    expect(mS.address).toBe(NAT_IP);
    expect(new Set([mS.port, mT.port, mU.port]).size).toBe(3);
    expect(out('S')).toEqual(mS); // stable per destination
    expect(reach('S', mS)).toBe(true);
    expect(reach('T', mS)).toBe(false);
    expect(reach('T', mT)).toBe(true);
    expect(reach('U', mT)).toBe(false);
    expect(reach('U', mU)).toBe(true);
  });

  it('mappings expire without outbound traffic and are refreshed by it', () => {
    for (const kind of ['full-cone', 'restricted', 'port-restricted', 'symmetric'] as const) {
      const { out, reach, net } = natWorld(kind, 10_000);
      const m = out('S');
      // keep it alive with outbound traffic every 5 s for 30 s
      for (let i = 0; i < 6; i++) {
        net.run(4_950);
        expect(out('S')).toEqual(m);
      }
      expect(reach('S', m)).toBe(true); // inbound does not refresh
      net.run(10_000);
      const dropsBefore = net.stats.droppedNat;
      expect(reach('S', m)).toBe(false);
      expect(net.stats.droppedNat).toBe(dropsBefore + 1);
      const m2 = out('S');
      expect(m2.port).not.toBe(m.port);
      expect(reach('S', m2)).toBe(true);
      expect(reach('S', m)).toBe(false);
    }
  });

  it('the default mapping timeout is 30 s', () => {
    const { out, reach, net } = natWorld('full-cone');
    const m = out('S');
    net.run(29_000);
    expect(reach('T', m)).toBe(true);
    net.run(1_000);
    expect(reach('T', m)).toBe(false);
  });

  it('nodes sharing a NAT share a LAN and one public address; no hairpinning', () => {
    const net = new FakeNetwork({ seed: 21 });
    const nat = { kind: 'port-restricted' as const, publicAddress: NAT_IP };
    const a = new TestNode(true);
    const b = new TestNode();
    const s = new TestNode(true);
    const aa = net.attach(a, priv(1), { nat });
    const ba = net.attach(b, priv(2), { nat });
    const sa = net.attach(s, pub(1));
    expect(() =>
      net.attach(new TestNode(), priv(3), { nat: { kind: 'symmetric', publicAddress: NAT_IP } }),
    ).toThrow();
    expect(() => net.attach(new TestNode(), { address: NAT_IP, port: 1 })).toThrow();
    // LAN: direct, by private address, echo comes back from a's private address
    b.send(aa, Buffer.from('lan'));
    b.send(sa, Buffer.from('wan'));
    net.poke(ba);
    net.run(100);
    expect(a.received.map((r) => [r.data.toString(), r.from])).toEqual([['lan', ba]]);
    // a's echo over the LAN, s's echo from the internet
    expect(b.received.map((r) => r.from)).toEqual([aa, sa]);
    const bPublic = s.received[0]!.from;
    expect(bPublic.address).toBe(NAT_IP);
    // a learns b's public mapping and tries it: hairpin is not supported
    const dropsBefore = net.stats.droppedNat;
    a.send(bPublic, Buffer.from('hairpin'));
    net.poke(aa);
    net.run(100);
    expect(b.received).toHaveLength(2);
    expect(net.stats.droppedNat).toBe(dropsBefore + 1);
  });

  it('two NATted peers can hole-punch through port-restricted NATs but not symmetric ones', () => {
    const punch = (kindA: NatKind, kindB: NatKind): boolean => {
      const net = new FakeNetwork({ seed: 31, conditions: { delay: 20 } });
      // peers answer a punch to wherever it came from, as a real one would
      const ack = (d: Buffer) => (d.toString() === 'punch' ? Buffer.from('ack') : undefined);
      const a = new TestNode(ack);
      const b = new TestNode(ack);
      const r = new TestNode(); // rendezvous: learns public mappings
      const aa = net.attach(a, priv(1), { nat: { kind: kindA, publicAddress: '203.0.113.50' } });
      const ba = net.attach(b, priv(2), { nat: { kind: kindB, publicAddress: '203.0.113.60' } });
      const ra = net.attach(r, pub(1));
      a.send(ra, Buffer.from('reg'));
      b.send(ra, Buffer.from('reg'));
      net.poke(aa);
      net.poke(ba);
      net.run(100);
      const [aPub, bPub] = [r.received[0]!.from, r.received[1]!.from];
      // both punch at each other's mapping as seen by the rendezvous, several times
      for (let i = 0; i < 3; i++) {
        a.send(bPub, Buffer.from('punch'));
        b.send(aPub, Buffer.from('punch'));
        net.poke(aa);
        net.poke(ba);
        net.run(100);
      }
      return a.received.length > 0 && b.received.length > 0;
    };
    expect(punch('port-restricted', 'port-restricted')).toBe(true);
    expect(punch('restricted', 'full-cone')).toBe(true);
    expect(punch('symmetric', 'full-cone')).toBe(true);
    expect(punch('symmetric', 'port-restricted')).toBe(false);
    expect(punch('symmetric', 'symmetric')).toBe(false);
  });

  it('inject is subject to NAT filtering', () => {
    const { net, out, A } = natWorld('port-restricted');
    const m = out('S');
    net.inject(Buffer.from('spoof'), { address: '198.51.100.1', port: 9 }, m);
    net.run(1);
    expect(A.received).toHaveLength(0);
    net.inject(Buffer.from('spoof as S'), pub(1), m);
    net.run(1);
    expect(A.received.map((r) => r.data.toString())).toEqual(['spoof as S']);
  });
});
