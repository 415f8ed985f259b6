/**
 * The hub of the scale benchmark: one MultiHolepunchSocket on 127.0.0.1 that
 * many peers (bench/workers/scale-peers.ts) connect to. It only counts what
 * arrives; the parent samples its memory (after a forced GC), CPU time,
 * event-loop delay and datagram counters, and can record a CPU profile of a
 * window through the inspector (the same data `node --cpu-prof` writes).
 *
 * Introductions are off: with them on, the hub would introduce every peer to
 * every other and a star of N peers would become a mesh of N² sessions.
 */
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { type IntervalHistogram, monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { serve } from '../ipc.js';

const HOST = '127.0.0.1';

let sock: MultiHolepunchSocket | undefined;
let messages = 0;
let bytes = 0;
let errors: string[] = [];
let eld: IntervalHistogram | undefined;
let inspector: Session | undefined;

// --expose-gc without a command-line flag: turn the flag on, then fetch
// `gc` from a fresh context, where V8 installs it.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function socket(): MultiHolepunchSocket {
  if (!sock) throw new Error('no socket: call open first');
  return sock;
}

export interface HubSample {
  /** performance.now() in the hub, ms. */
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  cpuUserMicros: number;
  cpuSystemMicros: number;
  datagramsIn: number;
  datagramsOut: number;
  bytesIn: number;
  bytesOut: number;
  connected: number;
  peers: number;
  messages: number;
  messageBytes: number;
  errors: string[];
}

/** One function's share of a CPU profile. */
export interface ProfileEntry {
  /** `name (file:line)`. */
  where: string;
  selfMs: number;
  selfPct: number;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  /** Top functions by self time. */
  top: ProfileEntry[];
  /** Self time by file (or `(native)` / `(gc)` / `(idle)`). */
  byFile: ProfileEntry[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const i = url.indexOf('/work/main/');
  const s = i >= 0 ? url.slice(i + '/work/main/'.length) : url.replace(/^file:\/\//, '');
  return s.replace(/^.*node_modules\//, 'node_modules/');
}

function summarizeProfile(p: CpuProfile, file: string): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // Each sample's time is the delta to the next one (µs).
  for (let i = 0; i < samples.length; i++) {
    const id = samples[i]!;
    const dt = deltas[i + 1] ?? 0;
    self.set(id, (self.get(id) ?? 0) + dt);
  }
  const total = (p.endTime - p.startTime) / 1000;
  const fn = new Map<string, number>();
  const files = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    // Line numbers are left out: under tsx they are those of the transformed code.
    const { functionName, url } = n.callFrame;
    const name = functionName || '(anonymous)';
    const special = name.startsWith('(') && url === '';
    const where = special ? name : `${name} (${shortUrl(url)})`;
    fn.set(where, (fn.get(where) ?? 0) + us / 1000);
    const f = special ? name : shortUrl(url);
    files.set(f, (files.get(f) ?? 0) + us / 1000);
  }
  const rank = (m: Map<string, number>, k: number): ProfileEntry[] =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, k)
      .map(([where, ms]) => ({ where, selfMs: ms, selfPct: total > 0 ? (100 * ms) / total : 0 }));
  return { file, totalMs: total, top: rank(fn, 25), byFile: rank(files, 15) };
}

async function closeSocket(): Promise<void> {
  const s = sock;
  sock = undefined;
  eld?.disable();
  await s?.close();
}

const api = {
  async open(_a: Record<string, never>): Promise<{ port: number }> {
    await closeSocket();
    errors = [];
    sock = await MultiHolepunchSocket.bind({
      host: HOST,
      port: 0,
      nick: 'hub',
      introductions: false,
    });
    sock.on('error', (err) => {
      if (errors.length < 20) errors.push(err.message);
    });
    // A hook takes every message, so nothing piles up in the receive queue.
    sock.addHook((m) => {
      messages++;
      bytes += m.content.length;
    });
    return { port: sock.localAddress().port };
  },

  /** Memory (after `gc` full collections when asked), CPU time and counters. */
  async sample(a: { gc: boolean }): Promise<HubSample> {
    if (a.gc) {
      // Twice, with a turn between: weak callbacks and finalizers run in between.
      gc();
      await new Promise((r) => setImmediate(r));
      gc();
    }
    const m = process.memoryUsage();
    const cpu = process.cpuUsage();
    const s = socket();
    const st = s.stats();
    const peers = s.peers();
    return {
      at: performance.now(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      heapTotal: m.heapTotal,
      external: m.external,
      arrayBuffers: m.arrayBuffers,
      cpuUserMicros: cpu.user,
      cpuSystemMicros: cpu.system,
      datagramsIn: st.datagramsIn,
      datagramsOut: st.datagramsOut,
      bytesIn: st.bytesIn,
      bytesOut: st.bytesOut,
      connected: peers.filter((p) => p.state.kind === 'connected').length,
      peers: peers.length,
      messages,
      messageBytes: bytes,
      errors: errors.slice(0, 5),
    };
  },

  /** Starts (or restarts) the event-loop delay histogram. */
  async eldStart(_a: Record<string, never>): Promise<Record<string, never>> {
    eld?.disable();
    eld = monitorEventLoopDelay({ resolution: 5 });
    eld.enable();
    return {};
  },

  /** Event-loop delay since eldStart, ms. */
  async eldStop(
    _a: Record<string, never>,
  ): Promise<{ p50: number; p99: number; max: number; mean: number }> {
    const h = eld;
    if (!h) throw new Error('eldStart first');
    h.disable();
    eld = undefined;
    return {
      p50: h.percentile(50) / 1e6,
      p99: h.percentile(99) / 1e6,
      max: h.max / 1e6,
      mean: h.mean / 1e6,
    };
  },

  async profileStart(_a: Record<string, never>): Promise<Record<string, never>> {
    inspector = new Session();
    inspector.connect();
    await inspector.post('Profiler.enable');
    await inspector.post('Profiler.setSamplingInterval', { interval: 500 });
    await inspector.post('Profiler.start');
    return {};
  },

  /** Stops the profiler, writes the .cpuprofile to `file` and returns a summary. */
  async profileStop(a: { file: string }): Promise<ProfileSummary> {
    const s = inspector;
    if (!s) throw new Error('profileStart first');
    const { profile } = (await s.post('Profiler.stop')) as { profile: CpuProfile };
    await s.post('Profiler.disable');
    s.disconnect();
    inspector = undefined;
    await writeFile(a.file, JSON.stringify(profile));
    return summarizeProfile(profile, a.file);
  },

  async close(_a: Record<string, never>): Promise<Record<string, never>> {
    await closeSocket();
    return {};
  },
};

export type ScaleHubApi = typeof api;

serve(api, closeSocket);
