/**
 * Deterministic, seeded, in-memory fake network with a virtual clock, for
 * driving sans-I/O endpoints through lossy, reordering, NATted exchanges.
 *
 * Nothing here touches a real socket or the wall clock. Every random decision
 * comes from `rng` (seeded), and events are ordered by (time, sequence), so a
 * given seed plus a given sequence of calls always yields the same trace.
 *
 * Model, in brief:
 * - A datagram handed to the network (a node's `pollTransmit()` result) is
 *   source-translated by the sender's NAT (if any) at send time, shown to
 *   `tap`, then subjected to mtu / blackout / loss / delay / jitter / reorder /
 *   duplication, and queued for delivery.
 * - At delivery time the destination is resolved: a NAT public address goes
 *   through that NAT's mapping and filtering (dropped => `stats.droppedNat`),
 *   a private address is reachable only from the same LAN (same NAT), anything
 *   else must be a public node. Unroutable / detached => `stats.dropped`.
 * - Each node has one timer, rescheduled from `nextDeadline()` after every call
 *   into it. Timer entries are invalidated lazily (generation counter), and a
 *   deadline that moves *later* does not add a heap entry: the early entry
 *   wakes up, notices, and re-queues itself at the real deadline.
 *
 * Accounting invariant once nothing is in flight:
 *   sent + duplicated === delivered + dropped
 * (`droppedMtu` and `droppedNat` are subsets of `dropped`).
 */
import { Rng } from './rng.js';

export interface Addr {
  address: string;
  port: number;
}

/** What a node on the fake network must provide: exactly the sans-I/O endpoint's surface. */
export interface SimNode {
  handleDatagram(data: Buffer, from: Addr, now: number): void;
  handleTimeout(now: number): void;
  /** next datagram to send, or undefined when none; drained until undefined after every call into the node */
  pollTransmit(): { to: Addr; data: Buffer } | undefined;
  /** absolute virtual ms; undefined = no timer */
  nextDeadline(): number | undefined;
}

export interface LinkConditions {
  /** probability a datagram is dropped (0..1) */
  loss?: number;
  /** probability it is delivered twice (the copy with its own delay) */
  duplicate?: number;
  /** base one-way delay ms (default 10) */
  delay?: number;
  /** + uniform [0, jitter) ms (whole ms), which reorders */
  jitter?: number;
  /** extra probability of an additional large delay (2-5x delay) to force reordering */
  reorder?: number;
  /** datagrams larger than this are dropped and counted (default 1500) */
  mtu?: number;
  /** when true, drop everything (toggle mid-test for blackouts) */
  blackout?: boolean;
}

export type NatKind = 'none' | 'full-cone' | 'restricted' | 'port-restricted' | 'symmetric';

export interface NatOptions {
  kind: NatKind;
  publicAddress: string;
  /** ms, default 30_000 */
  mappingTimeout?: number;
}

export interface NetworkStats {
  sent: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  droppedMtu: number;
  droppedNat: number;
}

export interface TapDatagram {
  from: Addr;
  to: Addr;
  data: Buffer;
}

const DEFAULT_DELAY = 10;
const DEFAULT_MTU = 1500;
const DEFAULT_MAPPING_TIMEOUT = 30_000;
const DEFAULT_START_TIME = 1_000_000;
/** More timer fires than this at one virtual instant is a runaway node. */
const MAX_FIRES_PER_INSTANT = 10_000;
/** More datagrams than this from a single drain of `pollTransmit()` is a runaway node. */
const MAX_TRANSMITS_PER_DRAIN = 1_000_000;
const NAT_PORT_MIN = 1024;
const NAT_PORT_SPAN = 65536 - NAT_PORT_MIN;

function keyOf(a: Addr): string {
  return `${a.address}:${a.port}`;
}

function frozenAddr(a: Addr): Addr {
  return Object.freeze({ address: a.address, port: a.port });
}

// ---------------------------------------------------------------------------
// Nodes and NATs

class NodeRec {
  attached = true;
  /** generation of the live timer heap entry; older entries are stale */
  gen = 0;
  /** last value read from nextDeadline() (Infinity = none) */
  deadline = Number.POSITIVE_INFINITY;
  /** time of the live timer heap entry (Infinity = none queued) */
  scheduledAt = Number.POSITIVE_INFINITY;
  fireTime = Number.NaN;
  fireCount = 0;

  constructor(
    readonly node: SimNode,
    /** the node's own (private, if NATted) address; also what LAN peers see */
    readonly addr: Addr,
    readonly key: string,
    readonly nat: Nat | null,
  ) {}
}

class Mapping {
  lastOut = 0;
  /** restricted: IPs sent to; port-restricted: ip:port sent to; otherwise null */
  readonly allowed: Set<string> | null;

  constructor(
    readonly port: number,
    readonly publicAddr: Addr,
    readonly publicKey: string,
    /** private endpoint key (10.0.0.1:5000) of the node that owns it */
    readonly privKey: string,
    /** key of this mapping in Nat.byPrivate */
    readonly mapKey: string,
    /** symmetric only: the one destination (ip:port) allowed back in */
    readonly dest: string,
    kind: NatKind,
  ) {
    this.allowed = kind === 'restricted' || kind === 'port-restricted' ? new Set() : null;
  }
}

class Nat {
  /** private endpoint key -> node behind this NAT (its LAN) */
  readonly lan = new Map<string, NodeRec>();
  readonly byPort = new Map<number, Mapping>();
  /** endpoint-independent: privKey; symmetric: `${privKey}>${destKey}` */
  readonly byPrivate = new Map<string, Mapping>();

  constructor(
    readonly kind: Exclude<NatKind, 'none'>,
    readonly publicAddress: string,
    readonly timeout: number,
    private readonly portRng: Rng,
  ) {}

  private expired(m: Mapping, now: number): boolean {
    return now - m.lastOut >= this.timeout;
  }

  private remove(m: Mapping): void {
    this.byPort.delete(m.port);
    if (this.byPrivate.get(m.mapKey) === m) this.byPrivate.delete(m.mapKey);
  }

  private allocPort(now: number): number {
    for (let attempt = 0; attempt < 1_000_000; attempt++) {
      const port = NAT_PORT_MIN + this.portRng.int(NAT_PORT_SPAN);
      const old = this.byPort.get(port);
      if (old === undefined) return port;
      if (this.expired(old, now)) {
        this.remove(old);
        return port;
      }
    }
    throw new Error(`FakeNetwork: NAT ${this.publicAddress} ran out of public ports`);
  }

  /** Translate an outbound datagram's source; creates or refreshes the mapping. */
  outbound(rec: NodeRec, toAddress: string, toKey: string, now: number): Mapping {
    const mapKey = this.kind === 'symmetric' ? `${rec.key}>${toKey}` : rec.key;
    let m = this.byPrivate.get(mapKey);
    if (m !== undefined && this.expired(m, now)) {
      this.remove(m);
      m = undefined;
    }
    if (m === undefined) {
      const port = this.allocPort(now);
      const publicAddr = Object.freeze({ address: this.publicAddress, port });
      m = new Mapping(
        port,
        publicAddr,
        keyOf(publicAddr),
        rec.key,
        mapKey,
        this.kind === 'symmetric' ? toKey : '',
        this.kind,
      );
      this.byPort.set(port, m);
      this.byPrivate.set(mapKey, m);
    }
    m.lastOut = now;
    if (this.kind === 'restricted') m.allowed?.add(toAddress);
    else if (this.kind === 'port-restricted') m.allowed?.add(toKey);
    return m;
  }

  /** Inbound to publicAddress:port from fromAddress (fromKey); returns the private key to deliver to, or undefined if dropped. */
  inbound(port: number, fromAddress: string, fromKey: string, now: number): string | undefined {
    const m = this.byPort.get(port);
    if (m === undefined) return undefined;
    if (this.expired(m, now)) {
      this.remove(m);
      return undefined;
    }
    switch (this.kind) {
      case 'full-cone':
        return m.privKey;
      case 'restricted':
        return m.allowed?.has(fromAddress) ? m.privKey : undefined;
      case 'port-restricted':
        return m.allowed?.has(fromKey) ? m.privKey : undefined;
      case 'symmetric':
        return m.dest === fromKey ? m.privKey : undefined;
    }
  }
}

// ---------------------------------------------------------------------------
// Event queue: binary min-heap on (time, seq), with pooled event objects.

const EV_DATAGRAM = 0;
const EV_TIMER = 1;

class SimEvent {
  time = 0;
  seq = 0;
  kind = EV_DATAGRAM;
  /** timer: owner; datagram: sender (null when injected) */
  rec: NodeRec | null = null;
  gen = 0;
  data: Buffer | null = null;
  /** source as the receiver sees it (post-NAT) */
  from: Addr | null = null;
  fromKey = '';
  toAddress = '';
  toPort = 0;
  toKey = '';
  /** set when the datagram stays on the sender's private LAN */
  lanNat: Nat | null = null;
  /** injected datagrams bypass link conditions */
  injected = false;
}

class EventHeap {
  private items: SimEvent[] = [];
  private pool: SimEvent[] = [];
  size = 0;

  alloc(): SimEvent {
    return this.pool.pop() ?? new SimEvent();
  }

  release(ev: SimEvent): void {
    ev.rec = null;
    ev.data = null;
    ev.from = null;
    ev.lanNat = null;
    if (this.pool.length < 4096) this.pool.push(ev);
  }

  peek(): SimEvent | undefined {
    return this.size > 0 ? this.items[0] : undefined;
  }

  push(ev: SimEvent): void {
    const items = this.items;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (parent.time < ev.time || (parent.time === ev.time && parent.seq < ev.seq)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = ev;
  }

  pop(): SimEvent | undefined {
    if (this.size === 0) return undefined;
    const items = this.items;
    const top = items[0]!;
    const n = --this.size;
    const last = items[n]!;
    items.length = n; // drop the reference at the tail
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        let child = items[l]!;
        if (r < n) {
          const right = items[r]!;
          if (right.time < child.time || (right.time === child.time && right.seq < child.seq)) {
            c = r;
            child = right;
          }
        }
        if (last.time < child.time || (last.time === child.time && last.seq < child.seq)) break;
        items[i] = child;
        i = c;
      }
      items[i] = last;
    }
    return top;
  }
}

// ---------------------------------------------------------------------------

export class FakeNetwork {
  readonly rng: Rng;
  /** virtual clock, ms */
  now: number;
  /** default for all links; mutable mid-test (fields or the whole object) */
  conditions: LinkConditions;
  stats: NetworkStats = {
    sent: 0,
    delivered: 0,
    dropped: 0,
    duplicated: 0,
    droppedMtu: 0,
    droppedNat: 0,
  };
  /**
   * Optional tap: called for every datagram a node hands to the network
   * (before mtu/loss), with `from` post-NAT and `to` as addressed. Return a
   * Buffer to replace the datagram, `null` to drop it (counted in `dropped`),
   * or undefined to leave it alone. Not called for `inject()`ed datagrams.
   */
  tap?: (d: TapDatagram) => Buffer | null | undefined;

  private readonly queue = new EventHeap();
  private seq = 0;
  private readonly portRng: Rng;
  /** every attached node by its own (private) address key */
  private readonly nodes = new Map<string, NodeRec>();
  /** nodes attached without a NAT, by address key */
  private readonly publicNodes = new Map<string, NodeRec>();
  /** public IP -> NAT */
  private readonly nats = new Map<string, Nat>();
  /** `${fromKey}>${toKey}` -> override */
  private readonly overrides = new Map<string, LinkConditions>();

  constructor(opts: { seed: number; conditions?: LinkConditions; startTime?: number }) {
    this.rng = new Rng(opts.seed);
    // NAT port choice has its own stream so it never perturbs loss/delay draws.
    this.portRng = new Rng((new Rng(opts.seed).u32() ^ 0x6a09e667) >>> 0);
    this.conditions = opts.conditions ?? {};
    this.now = opts.startTime ?? DEFAULT_START_TIME;
  }

  /**
   * Attach a node at a public address (or behind a NAT). Returns the node's own
   * (private) address as it believes it is. Private addresses must be unique
   * across the whole network. Nodes sharing a NAT `publicAddress` share one NAT
   * and one LAN; they reach each other directly by private address.
   */
  attach(node: SimNode, addr: Addr, opts?: { nat?: NatOptions }): Addr {
    const own = frozenAddr(addr);
    const key = keyOf(own);
    if (this.nodes.has(key)) throw new Error(`FakeNetwork: address ${key} already attached`);
    const natOpts = opts?.nat;
    let nat: Nat | null = null;
    if (natOpts !== undefined && natOpts.kind !== 'none') {
      const timeout = natOpts.mappingTimeout ?? DEFAULT_MAPPING_TIMEOUT;
      nat = this.nats.get(natOpts.publicAddress) ?? null;
      if (nat === null) {
        for (const rec of this.publicNodes.values()) {
          if (rec.addr.address === natOpts.publicAddress) {
            throw new Error(
              `FakeNetwork: NAT public address ${natOpts.publicAddress} is already used by public node ${rec.key}`,
            );
          }
        }
        nat = new Nat(natOpts.kind, natOpts.publicAddress, timeout, this.portRng);
        this.nats.set(natOpts.publicAddress, nat);
      } else if (nat.kind !== natOpts.kind || nat.timeout !== timeout) {
        throw new Error(
          `FakeNetwork: NAT ${natOpts.publicAddress} already exists as ${nat.kind}/${nat.timeout}ms`,
        );
      }
      if (own.address === natOpts.publicAddress) {
        throw new Error(`FakeNetwork: private address ${key} equals its NAT's public address`);
      }
    } else if (this.nats.has(own.address)) {
      throw new Error(`FakeNetwork: ${own.address} is a NAT public address; cannot attach ${key}`);
    }
    const rec = new NodeRec(node, own, key, nat);
    this.nodes.set(key, rec);
    if (nat !== null) nat.lan.set(key, rec);
    else this.publicNodes.set(key, rec);
    this.afterCall(rec);
    return own;
  }

  /** Node vanishes (crash); datagrams to it are dropped, its timer never fires again. */
  detach(addr: Addr): void {
    const rec = this.mustGet(addr);
    rec.attached = false;
    this.nodes.delete(rec.key);
    if (rec.nat !== null) rec.nat.lan.delete(rec.key);
    else this.publicNodes.delete(rec.key);
  }

  /**
   * Per-directed-pair override, merged field by field over `conditions`
   * (`undefined` removes it). `from` may be the sender's own address or its
   * post-NAT address; `to` is the destination as addressed on the wire.
   */
  setLinkConditions(from: Addr, to: Addr, c: LinkConditions | undefined): void {
    const k = `${keyOf(from)}>${keyOf(to)}`;
    if (c === undefined) this.overrides.delete(k);
    else this.overrides.set(k, c);
  }

  /**
   * Inject a raw datagram as if sent from `from` (attacker, fuzzing). It skips
   * tap and link conditions and arrives after `delay` ms (default 0), still
   * subject to the destination NAT's filtering.
   */
  inject(data: Buffer, from: Addr, to: Addr, delay = 0): void {
    this.stats.sent++;
    const ev = this.queue.alloc();
    ev.kind = EV_DATAGRAM;
    ev.time = this.now + Math.max(0, delay);
    ev.seq = this.seq++;
    ev.rec = null;
    ev.data = Buffer.from(data);
    ev.from = frozenAddr(from);
    ev.fromKey = keyOf(from);
    ev.toAddress = to.address;
    ev.toPort = to.port;
    ev.toKey = keyOf(to);
    ev.lanNat = null;
    ev.injected = true;
    this.queue.push(ev);
  }

  /**
   * Deliver due datagrams and fire due node timers in time order, up to and
   * including `untilTime`; the clock then reads `untilTime` (it never goes
   * back). Returns the number of events processed.
   */
  runUntil(untilTime: number): number {
    let processed = 0;
    const q = this.queue;
    for (;;) {
      const top = q.peek();
      if (top === undefined || top.time > untilTime) break;
      q.pop();
      if (top.time > this.now) this.now = top.time;
      processed += this.dispatch(top);
      q.release(top);
    }
    if (untilTime > this.now) this.now = untilTime;
    return processed;
  }

  run(ms: number): number {
    return this.runUntil(this.now + ms);
  }

  /**
   * Run until predicate() is true (checked first, then after each event) or
   * `maxMs` of virtual time elapse; returns whether it became true. On success
   * the clock stays at the instant it became true.
   */
  runUntilTrue(predicate: () => boolean, maxMs: number): boolean {
    const limit = this.now + maxMs;
    if (predicate()) return true;
    const q = this.queue;
    for (;;) {
      const top = q.peek();
      if (top === undefined || top.time > limit) break;
      q.pop();
      if (top.time > this.now) this.now = top.time;
      const n = this.dispatch(top);
      q.release(top);
      if (n > 0 && predicate()) return true;
    }
    if (limit > this.now) this.now = limit;
    return predicate();
  }

  /** Call after invoking a node API directly so its transmits are collected and its timer rescheduled. */
  poke(addr: Addr): void {
    this.afterCall(this.mustGet(addr));
  }

  /** Number of queued events (deliveries in flight plus timer entries, some possibly stale). */
  get pending(): number {
    return this.queue.size;
  }

  // -------------------------------------------------------------------------

  private mustGet(addr: Addr): NodeRec {
    const rec = this.nodes.get(keyOf(addr));
    if (rec === undefined) throw new Error(`FakeNetwork: no node attached at ${keyOf(addr)}`);
    return rec;
  }

  /** Drain a node's transmits and reschedule its timer. */
  private afterCall(rec: NodeRec): void {
    if (!rec.attached) return;
    const node = rec.node;
    let count = 0;
    for (;;) {
      const t = node.pollTransmit();
      if (t === undefined) break;
      if (++count > MAX_TRANSMITS_PER_DRAIN) {
        throw new Error(
          `FakeNetwork: node ${rec.key} keeps returning datagrams from pollTransmit()`,
        );
      }
      this.send(rec, t.to, t.data);
      if (!rec.attached) return;
    }
    const d = node.nextDeadline();
    if (d === undefined || Number.isNaN(d)) {
      rec.deadline = Number.POSITIVE_INFINITY;
      return;
    }
    rec.deadline = d;
    const at = Math.max(d, this.now);
    if (at < rec.scheduledAt && at !== Number.POSITIVE_INFINITY) this.pushTimer(rec, at);
  }

  private pushTimer(rec: NodeRec, at: number): void {
    const ev = this.queue.alloc();
    ev.kind = EV_TIMER;
    ev.time = at;
    ev.seq = this.seq++;
    ev.rec = rec;
    ev.gen = ++rec.gen;
    rec.scheduledAt = at;
    this.queue.push(ev);
  }

  /** Effective override for a datagram from `rec` (may be null) whose wire source is fromKey. */
  private override(
    rec: NodeRec | null,
    fromKey: string,
    toKey: string,
  ): LinkConditions | undefined {
    let o: LinkConditions | undefined;
    if (rec !== null && rec.key !== fromKey) o = this.overrides.get(`${rec.key}>${toKey}`);
    return o ?? this.overrides.get(`${fromKey}>${toKey}`);
  }

  private send(rec: NodeRec, to: Addr, payload: Buffer): void {
    const stats = this.stats;
    stats.sent++;
    const now = this.now;
    const toKey = keyOf(to);
    let from: Addr;
    let fromKey: string;
    let lanNat: Nat | null = null;
    const nat = rec.nat;
    if (nat === null) {
      from = rec.addr;
      fromKey = rec.key;
    } else if (nat.lan.has(toKey)) {
      lanNat = nat;
      from = rec.addr;
      fromKey = rec.key;
    } else {
      const m = nat.outbound(rec, to.address, toKey, now);
      from = m.publicAddr;
      fromKey = m.publicKey;
    }

    // Copy, as a kernel would: the node may reuse its buffer afterwards.
    let data: Buffer = Buffer.from(payload);
    const tap = this.tap;
    if (tap !== undefined) {
      const r = tap({ from, to, data });
      if (r === null) {
        stats.dropped++;
        return;
      }
      if (r !== undefined) data = r;
    }

    const c = this.conditions;
    const o = this.overrides.size > 0 ? this.override(rec, fromKey, toKey) : undefined;
    if (data.length > (o?.mtu ?? c.mtu ?? DEFAULT_MTU)) {
      stats.dropped++;
      stats.droppedMtu++;
      return;
    }
    if (o?.blackout ?? c.blackout) {
      stats.dropped++;
      return;
    }
    const rng = this.rng;
    const loss = o?.loss ?? c.loss ?? 0;
    if (loss > 0 && rng.next() < loss) {
      stats.dropped++;
      return;
    }
    const delay = Math.max(0, o?.delay ?? c.delay ?? DEFAULT_DELAY);
    const jitter = o?.jitter ?? c.jitter ?? 0;
    const reorder = o?.reorder ?? c.reorder ?? 0;
    this.queueDatagram(rec, data, from, fromKey, to, toKey, lanNat, delay, jitter, reorder);
    const dup = o?.duplicate ?? c.duplicate ?? 0;
    if (dup > 0 && rng.next() < dup) {
      stats.duplicated++;
      const copy = Buffer.from(data);
      this.queueDatagram(rec, copy, from, fromKey, to, toKey, lanNat, delay, jitter, reorder);
    }
  }

  private queueDatagram(
    rec: NodeRec,
    data: Buffer,
    from: Addr,
    fromKey: string,
    to: Addr,
    toKey: string,
    lanNat: Nat | null,
    delay: number,
    jitter: number,
    reorder: number,
  ): void {
    const rng = this.rng;
    let d = delay;
    if (jitter > 0) d += Math.floor(rng.next() * jitter);
    if (reorder > 0 && rng.next() < reorder) {
      d += Math.floor(Math.max(delay, 1) * (2 + 3 * rng.next()));
    }
    const ev = this.queue.alloc();
    ev.kind = EV_DATAGRAM;
    ev.time = this.now + d;
    ev.seq = this.seq++;
    ev.rec = rec;
    ev.data = data;
    ev.from = from;
    ev.fromKey = fromKey;
    ev.toAddress = to.address;
    ev.toPort = to.port;
    ev.toKey = toKey;
    ev.lanNat = lanNat;
    ev.injected = false;
    this.queue.push(ev);
  }

  /** Process one popped event; returns 1 if it counted as an event, 0 if it was a stale/idle timer entry. */
  private dispatch(ev: SimEvent): number {
    if (ev.kind === EV_TIMER) return this.fireTimer(ev);
    return this.deliver(ev);
  }

  private fireTimer(ev: SimEvent): number {
    const rec = ev.rec!;
    if (!rec.attached || ev.gen !== rec.gen) return 0;
    rec.scheduledAt = Number.POSITIVE_INFINITY;
    const now = this.now;
    if (rec.deadline > now) {
      // The deadline moved later since this entry was queued: re-arm.
      if (rec.deadline !== Number.POSITIVE_INFINITY) this.pushTimer(rec, rec.deadline);
      return 0;
    }
    if (rec.fireTime === now) {
      if (++rec.fireCount > MAX_FIRES_PER_INSTANT) {
        throw new Error(
          `FakeNetwork: runaway timer at node ${rec.key}: fired more than ${MAX_FIRES_PER_INSTANT} times at virtual time ${now} (nextDeadline() keeps returning <= now)`,
        );
      }
    } else {
      rec.fireTime = now;
      rec.fireCount = 1;
    }
    rec.node.handleTimeout(now);
    this.afterCall(rec);
    return 1;
  }

  private deliver(ev: SimEvent): number {
    const stats = this.stats;
    const sender = ev.rec;
    if (!ev.injected) {
      // A blackout also kills what is already in flight.
      const o = this.overrides.size > 0 ? this.override(sender, ev.fromKey, ev.toKey) : undefined;
      if (o?.blackout ?? this.conditions.blackout) {
        stats.dropped++;
        return 1;
      }
    }
    let target: NodeRec | undefined;
    if (ev.lanNat !== null) {
      target = ev.lanNat.lan.get(ev.toKey);
    } else {
      const nat = this.nats.get(ev.toAddress);
      if (nat !== undefined) {
        // No hairpinning: traffic from behind a NAT to that NAT's own public address dies.
        const privKey =
          sender !== null && sender.nat === nat
            ? undefined
            : nat.inbound(ev.toPort, ev.from!.address, ev.fromKey, this.now);
        if (privKey === undefined) {
          stats.dropped++;
          stats.droppedNat++;
          return 1;
        }
        target = nat.lan.get(privKey);
      } else {
        target = this.publicNodes.get(ev.toKey);
      }
    }
    if (target === undefined) {
      stats.dropped++;
      return 1;
    }
    stats.delivered++;
    target.node.handleDatagram(ev.data!, ev.from!, this.now);
    this.afterCall(target);
    return 1;
  }
}
