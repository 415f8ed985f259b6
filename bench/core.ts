/**
 * Our JavaScript per datagram with no I/O at all: two sans-I/O Endpoints in
 * this process, one bulk-sending 1 MiB messages to the other, datagrams
 * handed across by function call on a virtual clock. Each end's calls are
 * timed separately (one thread, no I/O, so their wall time is CPU time), and
 * divided by the datagrams the sender sent (ACKs back are part of either
 * end's cost, as in the two-process figure). It includes seal / open; subtracting those (measured alone)
 * leaves the core's own cost per datagram, beside which the two-process
 * figure's remainder is the shell (socket.ts, dgram glue, the event loop).
 */
import { performance } from 'node:perf_hooks';
import type { Addr } from '../source/net/core/address.js';
import { Endpoint } from '../source/net/core/endpoint.js';
import { generateIdentity } from '../source/net/crypto/identity.js';
import { MiB } from './stats.js';

export interface CoreCost {
  /** DATA datagrams the sender sent in the timed part, and datagrams (ACKs) back. */
  datagrams: number;
  acks: number;
  /** µs of the sender's / receiver's calls per DATA datagram (crypto included). */
  senderUs: number;
  receiverUs: number;
  bytes: number;
}

const A: Addr = { address: '127.0.0.1', port: 1 };
const B: Addr = { address: '127.0.0.1', port: 2 };
/** Virtual time per datagram carried: 10 µs, about 120 MB/s of 1200-byte datagrams. */
const TICK = 0.01;

/** Moves `bytes` as 1 MiB messages from a to b with at most `inFlight` messages queued. */
export function measureCore(bytes: number, maxDatagramSize = 1200, inFlight = 8): CoreCost {
  let now = 0;
  const mk = (nick: string) =>
    new Endpoint({ identity: generateIdentity(), nick, maxDatagramSize, introductions: false });
  const a = mk('a');
  const b = mk('b');
  a.addPeer('b', { addrs: [B] }, now);
  let tA = 0;
  let tB = 0;
  let counting = false;
  let sent = 0;
  let got = 0;
  let delivered = 0;
  let acked = 0;
  const message = Buffer.alloc(MiB, 0x5a);
  const messages = Math.ceil(bytes / MiB);
  let queued = 0;
  /** Hands one datagram of `from`'s to `to`; false when `from` has none. */
  const step = (from: Endpoint, to: Endpoint, fromAddr: Addr, fromIsA: boolean): boolean => {
    let t0 = performance.now();
    const t = from.pollTransmit(now);
    if (fromIsA) tA += performance.now() - t0;
    else tB += performance.now() - t0;
    if (!t) return false;
    now += TICK;
    if (counting && fromIsA) sent++;
    if (counting && !fromIsA) got++;
    // A socket hands each datagram over in a buffer of its own (dgram does);
    // that copy is I/O, not ours, so it stays outside the timing.
    const data = Buffer.from(new Uint8Array(t.data).buffer);
    t0 = performance.now();
    to.handleDatagram(data, fromAddr, now);
    for (let e = to.pollEvent(); e; e = to.pollEvent()) {
      if (e.type === 'message') delivered++;
      if (e.type === 'delivered') acked++;
    }
    if (fromIsA) tB += performance.now() - t0;
    else tA += performance.now() - t0;
    return true;
  };
  /**
   * One datagram a -> b, then everything b has for a (its ACKs, about one per
   * two packets as in the two-process run), so neither side batches more
   * than it would on a real socket.
   */
  const pump = (): number => {
    let n = 0;
    if (step(a, b, A, true)) n++;
    while (step(b, a, B, false)) n++;
    return n;
  };
  const timers = (): void => {
    const d = Math.min(a.nextDeadline() ?? Infinity, b.nextDeadline() ?? Infinity);
    if (!Number.isFinite(d)) return;
    now = Math.max(now, d);
    let t0 = performance.now();
    a.handleTimeout(now);
    tA += performance.now() - t0;
    t0 = performance.now();
    b.handleTimeout(now);
    tB += performance.now() - t0;
  };
  const drainA = () => {
    for (let e = a.pollEvent(); e; e = a.pollEvent()) if (e.type === 'delivered') acked++;
  };
  // Handshake and an untimed warm-up: a quarter of the transfer, at least
  // 8 MiB (less leaves the optimizing compiler's work inside the timing).
  const warm = Math.max(8, messages >> 2);
  for (let round = 0; round < 2; round++) {
    const total = round === 0 ? warm : messages;
    counting = round === 1;
    delivered = 0;
    acked = 0;
    queued = 0;
    const start = now;
    while (delivered < total) {
      while (queued - acked < inFlight && queued < total && a.connectedNicks().length > 0) {
        const t0 = performance.now();
        a.sendMessage(['b'], message, now);
        tA += performance.now() - t0;
        queued++;
      }
      const moved = pump();
      drainA();
      if (moved === 0) timers();
      if (now - start > 600_000) throw new Error('core transfer stalled');
    }
    if (round === 0) {
      tA = 0;
      tB = 0;
    }
  }
  return {
    datagrams: sent,
    acks: got,
    senderUs: (tA * 1000) / sent,
    receiverUs: (tB * 1000) / sent,
    bytes,
  };
}
