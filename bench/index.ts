/**
 * `npm run bench [-- --quick] [-- --json]`: measures our transport on
 * loopback (127.0.0.1) beside baselines measured in the same run and prints
 * one table (or, with --json, one JSON document) on stdout. Progress goes to
 * stderr. Times are reported, never asserted: the exit code is 0 unless a
 * figure could not be measured at all (a crash, a hang, a failed transfer).
 *
 * Two-process figures fork workers (bench/workers/*.ts) under tsx so sender
 * and receiver have their own event loops; this process only coordinates.
 */
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { CipherName } from '../source/net/crypto/cipher.js';
import { MAX_PAYLOAD } from '../source/net/session.js';
import { type CryptoCost, measureCrypto } from './ceiling.js';
import { type Config, FULL, QUICK } from './config.js';
import {
  DATAGRAM,
  type KernelUdp,
  latency,
  type OursBulk,
  oursBulk,
  PING_SIZE,
  pct,
  type RawBulkRun,
  rawBulk,
} from './figures.js';
import { oursFirstMessage, rawFirstDatagram } from './handshake.js';
import { killAll, launch } from './ipc.js';
import {
  formatNumber,
  MiB,
  median,
  type Row,
  renderTable,
  row,
  statusRow,
  summarize,
} from './stats.js';
import type { DgramApi } from './workers/dgram.js';
import type { TransportApi } from './workers/transport.js';

const argv = process.argv.slice(2);
const unknown = argv.filter((a) => a !== '--quick' && a !== '--json');
if (unknown.length > 0) {
  console.error(`usage: npm run bench [-- --quick] [-- --json]   (unknown: ${unknown.join(' ')})`);
  process.exit(2);
}
const quick = argv.includes('--quick');
const asJson = argv.includes('--json');
const config: Config = quick ? QUICK : FULL;

const CIPHERS = ['chacha20-poly1305', 'aes-256-gcm'] as const satisfies readonly CipherName[];

const workerFile = (name: string): string =>
  fileURLToPath(new URL(`./workers/${name}.ts`, import.meta.url));

function progress(text: string): void {
  process.stderr.write(`[bench] ${text}\n`);
}

const errorText = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

/** Median of a list of runs by `key`, with min-max for the notes. */
function spread<T>(runs: readonly T[], key: (r: T) => number): { mid: number; range: string } {
  const v = runs.map(key);
  const s = summarize(v);
  return {
    mid: s.p50,
    range: v.length > 1 ? `${formatNumber(s.min)}-${formatNumber(s.max)}` : '',
  };
}

function kernelNote(k: KernelUdp | undefined): string {
  return k ? `kernel rcvbuf drops ${k.rcvbufErrors}` : '';
}

// ---- orchestration --------------------------------------------------------------

const rows: Row[] = [];
const details: Record<string, unknown> = {};
const failures: string[] = [];

function fail(what: string, err: unknown): string {
  const msg = errorText(err);
  failures.push(`${what}: ${msg}`);
  progress(`FAILED ${what}: ${msg}`);
  return msg;
}

async function main(): Promise<void> {
  const reps = config.bulkRepeats > 1 ? `, median of ${config.bulkRepeats} alternating runs` : '';
  const G1 = `1. Bulk throughput, 2 processes (MB/s at receiver, first->last delivery${reps})`;
  const G2 = `2. Latency, ${PING_SIZE} B ping-pong, 2 processes, ${config.pings} round trips each, raw/ours alternating in ${config.pingBlocks} blocks`;
  const G3 = `3. Handshake -> first delivered message, IN-PROCESS (both sockets in this process), ${config.pairs} fresh pairs`;
  const G4 = `4. Ceiling per full packet (${MAX_PAYLOAD} B payload in a 1200 B datagram; crypto in-process)`;
  const G5 = '5. Other transports';

  // 4a. Crypto first, in this process while it is otherwise idle.
  const crypto = new Map<CipherName, CryptoCost>();
  progress('crypto: seal/open through createPacketKey');
  for (const c of CIPHERS) {
    try {
      crypto.set(c, measureCrypto(c, config.cryptoRounds, config.cryptoBatch));
    } catch (err) {
      fail(`crypto ${c}`, err);
    }
  }
  details.crypto = Object.fromEntries(crypto);

  progress('starting workers');
  const [dA, dB, tA, tB] = await Promise.all([
    launch<DgramApi>('dgram-a', workerFile('dgram')),
    launch<DgramApi>('dgram-b', workerFile('dgram')),
    launch<TransportApi>('ours-a', workerFile('transport')),
    launch<TransportApi>('ours-b', workerFile('transport')),
  ]);
  const rawRuns: RawBulkRun[] = [];
  const rawAll: RawBulkRun[][] = [];
  let rawError: string | undefined;
  const bulk = new Map<CipherName, OursBulk[]>(CIPHERS.map((c) => [c, []]));
  const bulkError = new Map<CipherName, string>();
  let sendUs: number | undefined;
  try {
    // 1. Bulk: raw, ours chacha, ours aes, repeated.
    for (let rep = 0; rep < config.bulkRepeats; rep++) {
      const of = config.bulkRepeats > 1 ? ` (run ${rep + 1}/${config.bulkRepeats})` : '';
      progress(`raw dgram bulk: ${config.rawBytes / MiB} MiB of ${DATAGRAM} B datagrams${of}`);
      try {
        const r = await rawBulk(config, dA, dB);
        rawRuns.push(r.best);
        rawAll.push(r.runs);
      } catch (err) {
        rawError ??= fail('raw dgram bulk', err);
      }
      for (const c of CIPHERS) {
        if (bulkError.has(c)) continue;
        progress(`ours bulk (${c}): ${config.oursBytes / MiB} MiB${of}`);
        try {
          bulk.get(c)?.push(await oursBulk(config, tA, tB, c));
        } catch (err) {
          bulkError.set(c, fail(`ours bulk ${c}`, err));
        }
      }
    }
    details.rawBulk = rawAll;
    details.oursBulk = Object.fromEntries(bulk);

    // 4b. One dgram send.
    progress('dgram send cost');
    try {
      const { port } = await dB.call('sink', { recvBuffer: 4 * MiB });
      const r = await dA.call('sendCost', {
        port,
        rounds: config.sendRounds,
        burst: config.sendBurst,
        size: DATAGRAM,
      });
      sendUs = median(r.usPerSend);
      details.sendCostUs = summarize(r.usPerSend);
    } catch (err) {
      fail('dgram send cost', err);
    }

    // 2. Latency.
    progress(`ping-pong: ${config.pings} round trips each, raw and ours alternating`);
    const latNames = ['RTT p50', 'RTT p90', 'RTT p99', 'RTT max', 'pinger CPU per round trip'];
    try {
      const { raw, ours } = await latency(config, { tx: dA, rx: dB }, { tx: tA, rx: tB });
      const r = summarize(raw.rtts);
      const o = summarize(ours.rtts);
      details.latency = {
        raw: { summary: r, timeouts: raw.timeouts, cpuUsPerTrip: raw.cpuUsPerTrip },
        ours: { ...ours, rtts: undefined, summary: o },
      };
      const note =
        `raw: ${raw.timeouts} lost; ours: ${ours.timeouts} timeouts, ${ours.retransmits ?? 0} retransmits ` +
        `(${ours.ptoCount ?? 0} PTOs); ${config.pingWarmup} warm-up trips not counted`;
      const over1 = (v: number[]) => formatNumber(pct(v.filter((x) => x > 1).length, v.length));
      rows.push(
        row(G2, 'RTT p50', 'ms', o.p50, 'raw dgram', r.p50, note),
        row(G2, 'RTT p90', 'ms', o.p90, 'raw dgram', r.p90),
        row(
          G2,
          'RTT p99',
          'ms',
          o.p99,
          'raw dgram',
          r.p99,
          `trips > 1 ms: ours ${over1(ours.rtts)}%, raw ${over1(raw.rtts)}%`,
        ),
        row(G2, 'RTT max', 'ms', o.max, 'raw dgram', r.max),
        row(
          G2,
          'pinger CPU per round trip',
          'µs',
          ours.cpuUsPerTrip,
          'raw dgram',
          raw.cpuUsPerTrip,
          'user+system time of the pinging process',
        ),
      );
    } catch (err) {
      const msg = fail('latency', err);
      for (const n of latNames)
        rows.push(statusRow(G2, n, n.startsWith('RTT') ? 'ms' : 'µs', `FAILED: ${msg}`));
    }
  } finally {
    await Promise.all([dA.stop(), dB.stop(), tA.stop(), tB.stop()]);
  }

  // 1. rows (built after the loop so they come first in the table).
  const raw = rawRuns.length > 0 ? spread(rawRuns, (r) => r.mbps) : undefined;
  const rawLast = rawRuns[rawRuns.length - 1];
  const pacedRuns = rawRuns.filter((r) => r.pacedAt !== undefined).length;
  const rawNote = rawLast
    ? [
        `raw: ${formatNumber(rawLast.sentBytes / MiB)} MiB/run`,
        raw?.range ? `range ${raw.range}` : '',
        pacedRuns > 0 ? `${pacedRuns} run(s) paced after >2% loss` : 'unpaced',
        `loss ${rawRuns.map((r) => formatNumber(r.lossPct)).join('/')}%`,
        `CPU tx ${formatNumber(rawLast.senderCpuPct)}% rx ${formatNumber(rawLast.receiverCpuPct)}%`,
      ]
        .filter(Boolean)
        .join(', ')
    : `raw: ${rawError ?? 'not measured'}`;
  const bulkRows: Row[] = [];
  for (const c of CIPHERS) {
    const name = `ours ${c}, ${config.oursBytes / MiB} MiB as 1 MiB msgs, ${config.inFlight} in flight`;
    const runs = bulk.get(c) ?? [];
    const err = bulkError.get(c);
    if (runs.length === 0) {
      bulkRows.push(statusRow(G1, name, 'MB/s', `FAILED: ${err ?? 'no run'}`));
      continue;
    }
    const ours = spread(runs, (r) => r.mbps);
    const last = runs[runs.length - 1]!;
    const p = last.source.peer;
    const notes = [
      c === 'chacha20-poly1305' ? rawNote : '',
      ours.range ? `ours range ${ours.range}` : '',
      p
        ? `ours (last run): ${p.retransmits} retransmits, ${formatNumber(pct(p.packetsLost, p.packetsSent))}% pkts lost, ` +
          `srtt ${formatNumber(p.smoothedRtt)} ms (min ${formatNumber(p.minRtt)}), ` +
          `cwnd ${formatNumber((p.congestionWindow ?? 0) / MiB)} MiB`
        : '',
      `CPU tx ${formatNumber(last.source.cpuPct)}% rx ${formatNumber(last.sink.cpuPct)}%`,
      kernelNote(last.kernel),
      `sender-side ${formatNumber(spread(runs, (r) => r.senderMbps).mid)} MB/s`,
      err ? `a later run FAILED: ${err}` : '',
    ];
    bulkRows.push(
      row(G1, name, 'MB/s', ours.mid, 'raw dgram', raw?.mid, notes.filter(Boolean).join('; ')),
    );
  }
  rows.unshift(...bulkRows);

  // 3. Handshake, in-process, ours and raw alternating.
  progress(`handshake: ${config.pairs} fresh pairs (in-process)`);
  try {
    const ours: number[] = [];
    const base: number[] = [];
    for (let i = 0; i < config.pairs; i++) {
      ours.push(await oursFirstMessage(10_000));
      base.push(await rawFirstDatagram(5_000));
    }
    const o = summarize(ours);
    const b = summarize(base);
    details.handshake = { ours: o, raw: b };
    rows.push(
      row(
        G3,
        'addPeers -> first message p50',
        'ms',
        o.p50,
        'raw 1st datagram',
        b.p50,
        `ours min ${formatNumber(o.min)} / max ${formatNumber(o.max)} ms; raw max ${formatNumber(b.max)} ms`,
      ),
    );
  } catch (err) {
    const msg = fail('handshake', err);
    rows.push(statusRow(G3, 'addPeers -> first message p50', 'ms', `FAILED: ${msg}`));
  }

  // 4. Ceiling rows.
  const send = sendUs;
  for (const c of CIPHERS) {
    const k = crypto.get(c);
    if (!k) {
      rows.push(statusRow(G4, `${c} seal/open`, 'µs', 'FAILED (see below)'));
      continue;
    }
    rows.push(row(G4, `${c} seal`, 'µs', k.sealUs, 'dgram send', send));
    rows.push(row(G4, `${c} open`, 'µs', k.openUs, 'dgram send', send));
  }
  rows.push(
    send === undefined
      ? statusRow(G4, 'dgram send, 1200 B', 'µs', 'FAILED (see below)')
      : row(
          G4,
          'dgram send, 1200 B',
          'µs',
          send,
          '',
          undefined,
          `median of ${config.sendRounds} bursts of ${config.sendBurst}, 2 processes`,
        ),
  );
  const sendOnly = send !== undefined ? MAX_PAYLOAD / send : undefined;
  for (const c of CIPHERS) {
    const k = crypto.get(c);
    if (!k || send === undefined) continue;
    const ceiling = MAX_PAYLOAD / (k.sealUs + k.openUs + send);
    const runs = bulk.get(c) ?? [];
    const achieved = runs.length > 0 ? spread(runs, (r) => r.mbps).mid : undefined;
    rows.push(
      row(
        G4,
        `ceiling ${c} (seal+open+send)`,
        'MB/s',
        ceiling,
        'send only',
        sendOnly,
        achieved !== undefined
          ? `ours bulk reached ${formatNumber(pct(achieved, ceiling))}% of this`
          : '',
      ),
    );
  }

  rows.push(statusRow(G5, 'udx-native', 'MB/s', 'not measured yet (later issue)'));
  rows.push(statusRow(G5, '@hyperswarm/secret-stream', 'MB/s', 'not measured yet (later issue)'));
}

// ---- entry ----------------------------------------------------------------------

const startedAt = new Date();
const t0 = performance.now();
const loadBefore = loadavg()[0] ?? Number.NaN;

const watchdog = setTimeout(() => {
  console.error(`[bench] gave up after ${config.watchdogMs / 1000} s: something hung`);
  killAll();
  process.exit(1);
}, config.watchdogMs);
watchdog.unref();

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.exit(130);
  });
}

let crashed = false;
try {
  await main();
} catch (err) {
  crashed = true;
  console.error('[bench] crashed:', err);
} finally {
  killAll();
}

const durationMs = performance.now() - t0;
const loadAfter = loadavg()[0] ?? Number.NaN;
if (asJson) {
  const doc = {
    benchmark: 'srmudp-tui loopback',
    mode: quick ? 'quick' : 'full',
    startedAt: startedAt.toISOString(),
    durationMs,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: cpus().length,
    loadAverage1m: { before: loadBefore, after: loadAfter },
    units: { 'MB/s': '10^6 bytes per second', ms: 'milliseconds', µs: 'microseconds' },
    config,
    rows,
    failures,
    details,
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
} else if (rows.length > 0) {
  const head =
    `srmudp-tui loopback benchmark (${quick ? 'quick' : 'full'}), node ${process.version}, ` +
    `${cpus().length} CPUs, load ${loadBefore.toFixed(2)} -> ${loadAfter.toFixed(2)}, ` +
    `${(durationMs / 1000).toFixed(1)} s\nMB = 10^6 bytes; ours/base = ours / baseline, both measured in this run, loopback 127.0.0.1`;
  process.stdout.write(`${head}\n\n${renderTable(rows)}\n`);
  if (failures.length > 0) {
    process.stdout.write(`\nnot measured:\n${failures.map((f) => `  - ${f}`).join('\n')}\n`);
  }
}

process.exitCode = crashed || failures.length > 0 ? 1 : 0;
// Everything is closed by now; do not let a stray handle keep the run alive.
setTimeout(() => process.exit(), 1000).unref();
