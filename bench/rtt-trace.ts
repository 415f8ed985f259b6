/**
 * `npx tsx bench/rtt-trace.ts [--raw] [--trips N]`: where a 1 KiB round trip's
 * time goes. An echo and a pinger process on 127.0.0.1; each timestamps every
 * `dgram` send and 'message' (one clock: same machine) and every GC pause.
 * The median trip and the trips over 1 ms are split into five legs:
 *
 *   A pinger, its call to the first `dgram` send    C echo, receive to reply send
 *   B the kernel and the echo's wake-up             D the way back
 *   E pinger, receive to the resolved promise
 *
 * `--raw` runs the same over bare `dgram` (the baseline's loop). Measurement
 * only, never asserted; the readme's performance section quotes it.
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { MultiHolepunchSocket } from '../source/net/shell/socket.js';
import { median } from './stats.js';

const HOST = '127.0.0.1';
const PING = Buffer.alloc(1024, 1);
/** Trips left out at the start (JIT warm-up). */
const WARMUP = 1000;

interface Trace {
  /** Absolute ms of each 'message' and each send, in order. */
  recv: number[];
  send: number[];
  /** [start, duration] of each GC pause, absolute ms. */
  gc: [number, number][];
  /** [start, end] of each counted trip (pinger only). */
  trips: [number, number][];
}

/** Patches dgram before any socket exists; returns the trace being filled. */
function instrument(): Trace {
  const t: Trace = { recv: [], send: [], gc: [], trips: [] };
  const origin = performance.timeOrigin;
  const proto = dgram.Socket.prototype as unknown as {
    emit: (...a: unknown[]) => boolean;
    send: (...a: unknown[]) => void;
  };
  const emit = proto.emit;
  const send = proto.send;
  proto.emit = function (this: unknown, ...a: unknown[]) {
    if (a[0] === 'message') t.recv.push(origin + performance.now());
    return emit.apply(this, a);
  };
  proto.send = function (this: unknown, ...a: unknown[]) {
    t.send.push(origin + performance.now());
    return send.apply(this, a);
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) t.gc.push([origin + e.startTime, e.duration]);
  }).observe({ entryTypes: ['gc'] });
  return t;
}

async function echo(raw: boolean, out: string): Promise<void> {
  const trace = instrument();
  let close: () => Promise<void>;
  let port: number;
  if (raw) {
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    await new Promise<void>((r) => {
      s.bind(0, HOST, () => r());
    });
    port = s.address().port;
    close = async () => {
      s.close();
    };
  } else {
    const s = await MultiHolepunchSocket.bind({ host: HOST, nick: 'echo' });
    s.addHook((m) => {
      s.send(m.content, { recipient: m.peer }).catch(() => {});
    });
    port = s.localAddress().port;
    close = () => s.close();
  }
  process.send?.({ port });
  process.once('message', async () => {
    await close();
    writeFileSync(out, JSON.stringify(trace));
    process.exit(0);
  });
}

async function ping(raw: boolean, port: number, trips: number, out: string): Promise<void> {
  const trace = instrument();
  let resolve: () => void = () => {};
  let sendOne: () => void;
  let close: () => Promise<void>;
  if (raw) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => {
      s.bind(0, HOST, () => r());
    });
    s.on('message', () => resolve());
    sendOne = () => s.send(PING, port, HOST);
    close = async () => {
      s.close();
    };
  } else {
    const s = await MultiHolepunchSocket.bind({ host: HOST, nick: 'ping' });
    await s.addPeers({ echo: `${HOST}:${port}` });
    await s.waitForPeer('echo');
    s.addHook(() => resolve());
    sendOne = () => {
      s.send(PING, { recipient: 'echo' }).catch(() => {});
    };
    close = () => s.close();
  }
  const origin = performance.timeOrigin;
  for (let i = 0; i < WARMUP + trips; i++) {
    const got = new Promise<void>((r) => {
      resolve = r;
    });
    const t0 = performance.now();
    sendOne();
    await got;
    if (i >= WARMUP) trace.trips.push([origin + t0, origin + performance.now()]);
  }
  await close();
  writeFileSync(out, JSON.stringify(trace));
  process.exit(0);
}

/** The first value in ascending `xs` at or after `t`. */
function firstAfter(xs: readonly number[], t: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return xs[lo] ?? Number.NaN;
}

const LEGS = ['A', 'B', 'C', 'D', 'E'] as const;
type Leg = (typeof LEGS)[number];

function analyse(p: Trace, e: Trace, raw: boolean): string[] {
  const overlaps = (gc: [number, number][], s: number, end: number) =>
    gc.some(([g, d]) => g < end && g + d > s);
  const rows = p.trips.map(([s, end]) => {
    const ps = firstAfter(p.send, s);
    const er = firstAfter(e.recv, ps);
    const es = firstAfter(e.send, er);
    const pr = firstAfter(p.recv, es);
    const legs: Record<Leg, number> = {
      A: ps - s,
      B: er - ps,
      C: es - er,
      D: pr - es,
      E: end - pr,
    };
    return { rtt: end - s, legs, gc: overlaps(p.gc, s, end) || overlaps(e.gc, s, end) };
  });
  const us = (ms: number) => `${(ms * 1000).toFixed(0)} µs`;
  const legLine = (set: typeof rows) =>
    LEGS.map((k) => `${k} ${us(median(set.map((r) => r.legs[k])))}`).join(', ');
  const slow = rows.filter((r) => r.rtt > 1);
  const dominant: Record<Leg, number> = { A: 0, B: 0, C: 0, D: 0, E: 0 };
  for (const r of slow.filter((x) => !x.gc)) {
    const k = LEGS.reduce((a, b) => (r.legs[a] >= r.legs[b] ? a : b));
    dominant[k]++;
  }
  const pct = (n: number) => `${((n / rows.length) * 100).toFixed(2)} %`;
  return [
    `${raw ? 'raw dgram' : 'srmudp'}: ${rows.length} round trips of ${PING.length} B, median ${us(median(rows.map((r) => r.rtt)))}`,
    `  median legs: ${legLine(rows)}`,
    `  over 1 ms: ${slow.length} (${pct(slow.length)}); ${slow.filter((r) => r.gc).length} overlap a GC pause ` +
      `(pinger ${p.gc.length}, echo ${e.gc.length} pauses in the run)`,
    `  the rest, by longest leg: ${LEGS.map((k) => `${k} ${dominant[k]}`).join(', ')}`,
  ];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const raw = args.includes('--raw');
  const role = args[args.indexOf('--role') + 1];
  const out = args[args.indexOf('--out') + 1] ?? '';
  if (args.includes('--role')) {
    if (role === 'echo') return echo(raw, out);
    return ping(
      raw,
      Number(args[args.indexOf('--port') + 1]),
      Number(args[args.indexOf('--trips') + 1]),
      out,
    );
  }
  const tripsAt = args.indexOf('--trips');
  const trips = tripsAt >= 0 ? Number(args[tripsAt + 1]) : 20_000;
  const unknown = args.filter(
    (a, i) => a !== '--raw' && a !== '--trips' && !(tripsAt >= 0 && i === tripsAt + 1),
  );
  if (!(Number.isInteger(trips) && trips > 0) || unknown.length > 0) {
    console.error('usage: npx tsx bench/rtt-trace.ts [--raw] [--trips N]');
    process.exit(2);
  }
  const dir = mkdtempSync(join(tmpdir(), 'srmudp-rtt-'));
  const self = fileURLToPath(import.meta.url);
  const child = (extra: string[]) =>
    fork(self, [...(raw ? ['--raw'] : []), ...extra], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, SRMUDP_STUN: 'none' },
    });
  try {
    const echoOut = join(dir, 'echo.json');
    const pingOut = join(dir, 'ping.json');
    const e = child(['--role', 'echo', '--out', echoOut]);
    const { port } = await new Promise<{ port: number }>((r) =>
      e.once('message', (m) => r(m as { port: number })),
    );
    const p = child([
      '--role',
      'ping',
      '--port',
      String(port),
      '--trips',
      String(trips),
      '--out',
      pingOut,
    ]);
    await new Promise((r) => p.once('exit', r));
    const echoExited = new Promise((r) => e.once('exit', r));
    e.send('stop');
    await echoExited;
    const read = (f: string) => JSON.parse(readFileSync(f, 'utf8')) as Trace;
    console.log(analyse(read(pingOut), read(echoOut), raw).join('\n'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
