/**
 * `npm run bench:profile [-- --out DIR]`: our bulk transfer and the 1 KiB
 * ping-pong with both worker processes under `node --cpu-prof --heap-prof`
 * (pinned to different CPUs), then a summary of each profile: top self-time
 * functions and top allocation sites. The .cpuprofile / .heapprofile files
 * stay in DIR for Chrome DevTools. Not part of `npm run bench` (profiling
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
import type { TransportApi } from './workers/transport.js';

const outIdx = process.argv.indexOf('--out');
const outDir = resolve(outIdx > 0 ? (process.argv[outIdx + 1] ?? 'prof') : 'prof');
const file = fileURLToPath(new URL('./workers/transport.ts', import.meta.url));
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

function summarizeHeap(path: string): string[] {
  const p = JSON.parse(readFileSync(path, 'utf8')) as { head: ProfileNode };
  const self = new Map<string, number>();
  const walk = (n: ProfileNode): void => {
    self.set(where(n), (self.get(where(n)) ?? 0) + (n.selfSize ?? 0));
    for (const c of n.children ?? []) if (typeof c !== 'number') walk(c);
  };
  walk(p.head);
  return top(self, 20, (v) => `${(v / 1024).toFixed(0)} KiB`);
}

async function profileRun(what: 'bulk' | 'ping'): Promise<void> {
  const dir = join(outDir, what);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--heap-prof', `--heap-prof-dir=${dir}`];
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
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    console.log(`\n== ${what} ${f}`);
    const lines = f.endsWith('.cpuprofile') ? summarizeCpu(p) : summarizeHeap(p);
    console.log(lines.join('\n'));
  }
}

await profileRun('bulk');
await profileRun('ping');
