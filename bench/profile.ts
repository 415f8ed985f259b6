/**
 * `npm run bench:profile [-- bulk|ping|alloc] [-- --out DIR]`: our bulk
 * transfer and the 1 KiB ping-pong with both worker processes under
 * `node --cpu-prof` (pinned to different CPUs), then each end's top
 * self-time functions; and the ping-pong's allocation sites. The
 * .cpuprofile files stay in DIR for Chrome DevTools. Not part of `npm run bench` (profiling
 * slows everything it watches).
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Config } from './config.js';
import { FULL } from './config.js';
import { oursBulk } from './figures.js';
import { launch } from './ipc.js';
import { pinningUnavailable, place } from './pin.js';
import { MiB } from './stats.js';
import type { AllocApi } from './workers/alloc.js';
import type { TransportApi } from './workers/transport.js';

const outIdx = process.argv.indexOf('--out');
const outDir = resolve(outIdx > 0 ? (process.argv[outIdx + 1] ?? 'prof') : 'prof');
const file = fileURLToPath(new URL('./workers/transport.ts', import.meta.url));
const allocFile = fileURLToPath(new URL('./workers/alloc.ts', import.meta.url));
const cfg: Config = { ...FULL, oursBytes: 64 * MiB };

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  selfSize?: number;
  children?: (number | ProfileNode)[];
}

const where = (n: ProfileNode): string => {
  const f = n.callFrame;
  const url = f.url.replace(/^.*\/(source|node_modules|bench)\//, '$1/');
  return `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
};

function top(totals: Map<string, number>, n: number, unit: (v: number) => string): string[] {
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(
      ([k, v]) => `  ${((100 * v) / all).toFixed(1).padStart(5)}%  ${unit(v).padStart(9)}  ${k}`,
    );
}

function summarizeCpu(path: string): string[] {
  const p = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[] };
  const self = new Map<string, number>();
  for (const n of p.nodes) self.set(where(n), (self.get(where(n)) ?? 0) + (n.hitCount ?? 0));
  return top(self, 25, (v) => `${v} hits`);
}

async function profileRun(what: 'bulk' | 'ping'): Promise<void> {
  const dir = join(outDir, what);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  // 100 µs samples: a datagram costs ~10-30 µs, 1 ms sampling sees too little.
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100'];
  const tx = await launch<TransportApi>(`${what}-tx`, file, flags);
  const rx = await launch<TransportApi>(`${what}-rx`, file, flags);
  try {
    console.log(`${what}: sender pid ${tx.pid}, receiver pid ${rx.pid}`);
    if (pinningUnavailable() === undefined) place(tx, rx, 'different CPUs');
    if (what === 'bulk') {
      await oursBulk({ ...cfg, oursBytes: 16 * MiB }, tx, rx, 'chacha20-poly1305'); // warm-up
      const r = await oursBulk(cfg, tx, rx, 'chacha20-poly1305');
      console.log(`bulk: ${r.mbps.toFixed(1)} MB/s (profiled, slower than unprofiled)`);
    } else {
      const { port } = await rx.call('open', { nick: 'echo', cipher: 'chacha20-poly1305' });
      await rx.call('echo', {});
      await tx.call('open', { nick: 'ping', cipher: 'chacha20-poly1305' });
      await tx.call('connect', { nick: 'echo', port, timeoutMs: 10_000 });
      const r = await tx.call(
        'ping',
        { to: 'echo', count: 20_000, warmup: 500, size: 1024, timeoutMs: 2000 },
        300_000,
      );
      console.log(`ping: ${r.rtts.length} trips, ${r.cpuUsPerTrip.toFixed(1)} µs pinger CPU/trip`);
    }
  } finally {
    await Promise.all([tx.stop(10_000), rx.stop(10_000)]);
  }
  // Thread 0 is the main thread (tsx's loader thread writes the others).
  for (const f of readdirSync(dir).sort()) {
    if (!/\.0\.\d+\.cpuprofile$/.test(f)) continue;
    const role = f.includes(`.${tx.pid}.`) ? 'sender' : 'receiver';
    console.log(`\n== ${what} ${role}: top self time (${f})`);
    console.log(summarizeCpu(join(dir, f)).join('\n'));
  }
}

/**
 * Allocation by site in the in-process ping-pong: the sampling heap profiler
 * with collected objects kept (--heap-prof drops garbage, which is the point).
 */
async function allocationSites(): Promise<void> {
  const w = await launch<AllocApi>('alloc', allocFile, ['--expose-gc']);
  try {
    const sites = await w.call('sites', { trips: 3000, warmup: 2000, size: 1024 }, 300_000);
    console.log('\n== ping-pong, both ends in one process: allocated bytes per round trip by site');
    for (const s of sites) console.log(`  ${s.bytesPerTrip.toFixed(0).padStart(6)}  ${s.site}`);
  } finally {
    await w.stop();
  }
}

const only = process.argv.find((a) => a === 'bulk' || a === 'ping' || a === 'alloc');
if (!only || only === 'bulk') await profileRun('bulk');
if (!only || only === 'ping') await profileRun('ping');
if (!only || only === 'alloc') await allocationSites();
