/**
 * Scale: many peers on one hub socket. One MultiHolepunchSocket (the hub,
 * bench/workers/scale-hub.ts) in its own process; N peers spread over a few
 * worker processes (bench/workers/scale-peers.ts, one socket per peer, all on
 * 127.0.0.1) connect to it. Measured on the hub, in order:
 *
 * 1. memory per idle peer: (heapUsed and RSS with N connected idle peers)
 *    minus (with none), / N, each sampled after forced full GCs;
 * 2. keepalive traffic per idle peer: datagrams and bytes the hub sent and
 *    received (its socket stats) over an idle window, / window / N — only
 *    meaningful when the window spans a few keepalive intervals (15 s);
 * 3. load: every peer sends one small message a second; the hub's CPU
 *    (user + sys) over a steady window after a warm-up, its RSS, event-loop
 *    delay, and the peers' send → ack times.
 *
 * Optionally (`profile`) a further loaded window is recorded with the V8 CPU
 * profiler in the hub (what `node --cpu-prof` records), written as a
 * .cpuprofile and summarised by self time.
 *
 * Run alone: `npx tsx bench/scale.ts [--quick] [--json] [--profile] [--peers N] [--procs P]`.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  KEEPALIVE_INTERVAL,
  SETTLE_PING_INTERVAL,
  SETTLE_PROBES,
  WARMUP_PING_INTERVAL,
  WARMUP_SAMPLES,
} from '../source/net/core/conn/pings.js';
import { killAll, launch, type Worker } from './ipc.js';
import {
  formatNumber,
  MiB,
  type Row,
  renderTable,
  row,
  type Summary,
  sleep,
  statusRow,
  summarize,
} from './stats.js';
import type { HubSample, ProfileSummary, ScaleHubApi } from './workers/scale-hub.js';
import type { ScalePeersApi } from './workers/scale-peers.js';

export interface ScaleConfig {
  mode: 'quick' | 'full';
  /** Peers connected to the hub. */
  peers: number;
  /** Worker processes the peers are spread over. */
  processes: number;
  /** Handshakes each peer worker runs at a time while connecting. */
  connectBatch: number;
  /** Wait after the last peer connected, before the idle samples. */
  settleMs: number;
  /** Idle window for the keepalive traffic figure. */
  idleWindowMs: number;
  /** Each peer sends one message per period. */
  periodMs: number;
  messageSize: number;
  /** Loaded time not counted, then the counted window. */
  warmupMs: number;
  activeWindowMs: number;
  /** Record a CPU profile of the hub over a further loaded window of this length (0: none). */
  profileMs: number;
  /** Where the .cpuprofile goes (default: a fresh temporary directory). */
  profileDir?: string;
}

/**
 * A new session PINGs every 500 ms until it has eight RTT samples, and one
 * whose srtt the connect burst left standing high PINGs up to 40 more times
 * at 250 ms (conn/pings.ts): idle figures are taken after both, as an idle
 * peer's are.
 */
const PAST_WARMUP_MS =
  WARMUP_SAMPLES * WARMUP_PING_INTERVAL + SETTLE_PROBES * SETTLE_PING_INTERVAL + 1000;

export const SCALE_QUICK: ScaleConfig = {
  mode: 'quick',
  peers: 50,
  processes: 2,
  connectBatch: 16,
  settleMs: PAST_WARMUP_MS,
  idleWindowMs: 3000,
  periodMs: 1000,
  messageSize: 32,
  warmupMs: 1000,
  activeWindowMs: 4000,
  profileMs: 0,
};

export const SCALE_FULL: ScaleConfig = {
  mode: 'full',
  peers: 1000,
  processes: 4,
  connectBatch: 16,
  settleMs: PAST_WARMUP_MS,
  // Two keepalive intervals plus a little: every idle session pings at least twice.
  idleWindowMs: 2 * KEEPALIVE_INTERVAL + 2000,
  periodMs: 1000,
  messageSize: 32,
  warmupMs: 3000,
  activeWindowMs: 20_000,
  profileMs: 0,
};

/** The figures' targets (issue #7). */
export const SCALE_TARGETS = {
  bytesPerIdlePeer: 20 * 1024,
  /** Hub CPU, % of one core. */
  hubCpuPct: 100,
};

export interface ScaleResult {
  config: ScaleConfig;
  connected: number;
  connectFailed: number;
  connectMs: number;
  /** Hub with no peers, and with every peer connected and idle (both after GC). */
  hubEmpty: HubSample;
  hubIdle: HubSample;
  memoryPerIdlePeer: {
    heapUsedBytes: number;
    /** Heap reserved by V8 (used + slack), for comparison with RSS. */
    heapTotalBytes: number;
    /** Buffers outside the JS heap (external + arrayBuffers). */
    externalBytes: number;
    rssBytes: number;
  };
  keepalive: {
    windowMs: number;
    intervalMs: number;
    /** Sent + received by the hub, per idle peer. */
    packetsPerSecondPerPeer: number;
    bytesPerSecondPerPeer: number;
  };
  loaded: {
    windowMs: number;
    /** Hub CPU user + sys, % of one core. */
    hubCpuPct: number;
    hubUserPct: number;
    hubSystemPct: number;
    hubRss: number;
    hubHeapUsed: number;
    messagesPerSecond: number;
    datagramsPerSecond: number;
    hubEventLoopDelayMs: { p50: number; p99: number; max: number; mean: number };
    /** Send → acknowledged at the peers, ms. */
    ackMs: Summary;
    sent: number;
    acked: number;
    failed: number;
    firstError?: string;
    /** Each peer worker's CPU while sending, % of one core, and RSS. */
    peerWorkers: { cpuPct: number; rss: number }[];
  };
  profile?: ProfileSummary;
  targets: { memoryOk: boolean; cpuOk: boolean };
  errors: string[];
}

const workerFile = (name: string): string =>
  fileURLToPath(new URL(`./workers/${name}.ts`, import.meta.url));

function cpuPct(a: HubSample, b: HubSample): { total: number; user: number; sys: number } {
  const wall = b.at - a.at;
  const user = (b.cpuUserMicros - a.cpuUserMicros) / 10 / wall;
  const sys = (b.cpuSystemMicros - a.cpuSystemMicros) / 10 / wall;
  return { total: user + sys, user, sys };
}

/** Runs the scale benchmark; `log` gets progress lines. */
export async function measureScale(
  config: ScaleConfig,
  log: (text: string) => void = () => {},
): Promise<ScaleResult> {
  const errors: string[] = [];
  const hub = await launch<ScaleHubApi>('scale-hub', workerFile('scale-hub'));
  const workers: Worker<ScalePeersApi>[] = [];
  try {
    const per = Math.ceil(config.peers / config.processes);
    const counts = Array.from({ length: config.processes }, (_, i) =>
      Math.max(0, Math.min(per, config.peers - i * per)),
    ).filter((n) => n > 0);
    workers.push(
      ...(await Promise.all(
        counts.map((_, i) => launch<ScalePeersApi>(`scale-peers-${i}`, workerFile('scale-peers'))),
      )),
    );
    const { port } = await hub.call('open', {});
    await sleep(200);
    const hubEmpty = await hub.call('sample', { gc: true });

    log(`scale: connecting ${config.peers} peers from ${counts.length} processes`);
    const opened = await Promise.all(
      workers.map((w, i) =>
        w.call(
          'open',
          {
            count: counts[i]!,
            hubPort: port,
            prefix: `w${i}p`,
            batch: config.connectBatch,
            timeoutMs: 30_000,
          },
          600_000,
        ),
      ),
    );
    const connected = opened.reduce((s, o) => s + o.connected, 0);
    const connectFailed = opened.reduce((s, o) => s + o.failed, 0);
    const connectMs = Math.max(...opened.map((o) => o.ms));
    for (const o of opened) errors.push(...o.errors);
    log(
      `scale: ${connected} connected, ${connectFailed} failed in ${(connectMs / 1000).toFixed(1)} s`,
    );
    if (connected === 0) throw new Error(`no peer connected: ${errors[0] ?? 'unknown'}`);

    await sleep(config.settleMs);
    const hubIdle = await hub.call('sample', { gc: true });
    const n = hubIdle.connected;
    const memoryPerIdlePeer = {
      heapUsedBytes: (hubIdle.heapUsed - hubEmpty.heapUsed) / n,
      heapTotalBytes: (hubIdle.heapTotal - hubEmpty.heapTotal) / n,
      rssBytes: (hubIdle.rss - hubEmpty.rss) / n,
      externalBytes:
        (hubIdle.external + hubIdle.arrayBuffers - hubEmpty.external - hubEmpty.arrayBuffers) / n,
    };

    log(`scale: idle window ${(config.idleWindowMs / 1000).toFixed(0)} s (keepalive traffic)`);
    const idleA = await hub.call('sample', { gc: false });
    await sleep(config.idleWindowMs);
    const idleB = await hub.call('sample', { gc: false });
    const idleSec = (idleB.at - idleA.at) / 1000;
    const keepalive = {
      windowMs: idleB.at - idleA.at,
      intervalMs: KEEPALIVE_INTERVAL,
      packetsPerSecondPerPeer:
        (idleB.datagramsIn - idleA.datagramsIn + idleB.datagramsOut - idleA.datagramsOut) /
        idleSec /
        n,
      bytesPerSecondPerPeer:
        (idleB.bytesIn - idleA.bytesIn + idleB.bytesOut - idleA.bytesOut) / idleSec / n,
    };

    log(`scale: every peer sends one ${config.messageSize} B message per ${config.periodMs} ms`);
    await Promise.all(
      workers.map((w) =>
        w.call('startSending', { periodMs: config.periodMs, size: config.messageSize }),
      ),
    );
    await sleep(config.warmupMs);
    await hub.call('eldStart', {});
    const loadA = await hub.call('sample', { gc: false });
    await sleep(config.activeWindowMs);
    const loadB = await hub.call('sample', { gc: false });
    const eld = await hub.call('eldStop', {});
    const cpu = cpuPct(loadA, loadB);
    const loadSec = (loadB.at - loadA.at) / 1000;

    let profile: ProfileSummary | undefined;
    if (config.profileMs > 0) {
      const dir = config.profileDir ?? mkdtempSync(join(tmpdir(), 'srmudp-scale-'));
      log(`scale: profiling the hub for ${(config.profileMs / 1000).toFixed(0)} s`);
      await hub.call('profileStart', {});
      await sleep(config.profileMs);
      profile = await hub.call('profileStop', { file: join(dir, 'scale-hub.cpuprofile') });
    }

    const sends = await Promise.all(
      workers.map((w) => w.call('stopSending', { drainMs: 5000 }, 60_000)),
    );
    const ackMs = summarize(sends.flatMap((s) => s.ackMs));
    const firstError = sends.find((s) => s.firstError !== undefined)?.firstError;
    errors.push(...loadB.errors);

    const loaded: ScaleResult['loaded'] = {
      windowMs: loadB.at - loadA.at,
      hubCpuPct: cpu.total,
      hubUserPct: cpu.user,
      hubSystemPct: cpu.sys,
      hubRss: loadB.rss,
      hubHeapUsed: loadB.heapUsed,
      messagesPerSecond: (loadB.messages - loadA.messages) / loadSec,
      datagramsPerSecond:
        (loadB.datagramsIn - loadA.datagramsIn + loadB.datagramsOut - loadA.datagramsOut) / loadSec,
      hubEventLoopDelayMs: eld,
      ackMs,
      sent: sends.reduce((s, x) => s + x.sent, 0),
      acked: sends.reduce((s, x) => s + x.acked, 0),
      failed: sends.reduce((s, x) => s + x.failed, 0),
      ...(firstError !== undefined ? { firstError } : {}),
      peerWorkers: sends.map((s) => ({ cpuPct: s.cpuPct, rss: s.rss })),
    };
    return {
      config,
      connected,
      connectFailed,
      connectMs,
      hubEmpty,
      hubIdle,
      memoryPerIdlePeer,
      keepalive,
      loaded,
      ...(profile ? { profile } : {}),
      targets: {
        // Live memory: what the peers hold in the JS heap and in buffers.
        memoryOk:
          memoryPerIdlePeer.heapUsedBytes + memoryPerIdlePeer.externalBytes <=
          SCALE_TARGETS.bytesPerIdlePeer,
        cpuOk: cpu.total < SCALE_TARGETS.hubCpuPct,
      },
      errors: errors.slice(0, 10),
    };
  } finally {
    await Promise.all([hub.stop(), ...workers.map((w) => w.stop())]);
  }
}

/** The result as rows of the bench table (no baseline: targets are in the notes). */
export function scaleRows(r: ScaleResult, group?: string): Row[] {
  const g =
    group ??
    `Scale: ${r.connected} peers on one hub socket (${r.config.processes} peer processes), 127.0.0.1`;
  const kib = (b: number) => b / 1024;
  const m = r.memoryPerIdlePeer;
  const k = r.keepalive;
  const l = r.loaded;
  const short = k.windowMs < 2 * k.intervalMs ? ' (window < 2 keepalive intervals)' : '';
  const rows = [
    row(
      g,
      'connect all peers',
      's',
      r.connectMs / 1000,
      '',
      undefined,
      `${r.connectFailed} failed`,
    ),
    row(
      g,
      'hub memory per idle peer (heap+buffers)',
      'KiB',
      kib(m.heapUsedBytes + m.externalBytes),
      '',
      undefined,
      `target <= 20 KiB; heapUsed ${formatNumber(kib(m.heapUsedBytes))} + external/arrayBuffers ${formatNumber(kib(m.externalBytes))}; after full GC`,
    ),
    row(
      g,
      'hub memory per idle peer (RSS)',
      'KiB',
      kib(m.rssBytes),
      '',
      undefined,
      `after full GC; heapTotal ${formatNumber(kib(m.heapTotalBytes))} KiB/peer (V8 keeps grown heap pages)`,
    ),
    row(
      g,
      'keepalive per idle peer',
      'B/s',
      k.bytesPerSecondPerPeer,
      '',
      undefined,
      `hub sent+received over ${formatNumber(k.windowMs / 1000)} s${short}`,
    ),
    row(g, 'keepalive per idle peer', 'pkt/s', k.packetsPerSecondPerPeer, '', undefined),
    row(
      g,
      `hub CPU, each peer 1 msg/${formatNumber(r.config.periodMs / 1000)} s`,
      '% core',
      l.hubCpuPct,
      '',
      undefined,
      `target < 100; user ${formatNumber(l.hubUserPct)} sys ${formatNumber(l.hubSystemPct)}; ${formatNumber(l.messagesPerSecond)} msg/s in, ${formatNumber(l.datagramsPerSecond)} datagrams/s`,
    ),
    row(g, 'hub RSS under load', 'MiB', l.hubRss / MiB, '', undefined),
    row(
      g,
      'hub event-loop delay p99',
      'ms',
      l.hubEventLoopDelayMs.p99,
      '',
      undefined,
      `max ${formatNumber(l.hubEventLoopDelayMs.max)}`,
    ),
    row(
      g,
      'send -> ack p50 at the peers',
      'ms',
      l.ackMs.p50,
      '',
      undefined,
      `p99 ${formatNumber(l.ackMs.p99)}, max ${formatNumber(l.ackMs.max)}; ${l.acked}/${l.sent} acked, ${l.failed} failed${l.firstError ? ` (${l.firstError})` : ''}`,
    ),
    row(
      g,
      'peer worker CPU (each)',
      '% core',
      summarize(l.peerWorkers.map((w) => w.cpuPct)).p50,
      '',
      undefined,
      `median of ${l.peerWorkers.length}: ${l.peerWorkers.map((w) => formatNumber(w.cpuPct)).join(', ')}; RSS ${l.peerWorkers.map((w) => formatNumber(w.rss / MiB)).join(', ')} MiB`,
    ),
  ];
  if (r.connected < r.config.peers) {
    rows.push(
      statusRow(g, 'peers connected', '', `only ${r.connected} of ${r.config.peers} connected`),
    );
  }
  return rows;
}

function profileText(p: ProfileSummary): string {
  const fmt = (e: { where: string; selfMs: number; selfPct: number }) =>
    `  ${e.selfPct.toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(6)} ms  ${e.where}`;
  return [
    `hub CPU profile over ${(p.totalMs / 1000).toFixed(1)} s (${p.file})`,
    'by file (self time):',
    ...p.byFile.map(fmt),
    'top functions (self time):',
    ...p.top.map(fmt),
  ].join('\n');
}

// ---- standalone -------------------------------------------------------------------

function parseArgs(argv: readonly string[]): { config: ScaleConfig; json: boolean } | string {
  let config: ScaleConfig = argv.includes('--quick') ? { ...SCALE_QUICK } : { ...SCALE_FULL };
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    try {
      if (a === '--quick') continue;
      else if (a === '--json') json = true;
      else if (a === '--profile')
        config = { ...config, profileMs: config.mode === 'quick' ? 3000 : 10_000 };
      else if (a === '--peers') config = { ...config, peers: num() };
      else if (a === '--procs') config = { ...config, processes: num() };
      else if (a === '--idle') config = { ...config, idleWindowMs: num() * 1000 };
      else if (a === '--window') config = { ...config, activeWindowMs: num() * 1000 };
      else return `unknown argument ${a}`;
    } catch (err) {
      return (err as Error).message;
    }
  }
  return { config, json };
}

async function standalone(): Promise<void> {
  const parsed = parseArgs(process.argv.slice(2));
  if (typeof parsed === 'string') {
    console.error(
      `usage: npx tsx bench/scale.ts [--quick] [--json] [--profile] [--peers N] [--procs P] [--idle S] [--window S]\n(${parsed})`,
    );
    process.exit(2);
  }
  const { config, json } = parsed;
  const watchdog = setTimeout(
    () => {
      console.error('scale: watchdog: giving up');
      killAll();
      process.exit(1);
    },
    config.mode === 'quick' ? 120_000 : 900_000,
  );
  watchdog.unref();
  const t0 = performance.now();
  const r = await measureScale(config, (t) => process.stderr.write(`[scale] ${t}\n`));
  const took = (performance.now() - t0) / 1000;
  if (json) {
    console.log(JSON.stringify(r, null, 2));
  } else {
    console.log(renderTable(scaleRows(r)));
    if (r.errors.length > 0) console.log(`errors: ${r.errors.join('; ')}`);
    if (r.profile) console.log(profileText(r.profile));
    console.log(`(${took.toFixed(1)} s)`);
  }
  clearTimeout(watchdog);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  standalone().catch((err: unknown) => {
    console.error('scale:', err instanceof Error ? err.message : err);
    killAll();
    process.exit(1);
  });
}
