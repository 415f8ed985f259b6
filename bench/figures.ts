/**
 * The two-process figures: each drives a pair of workers (sender, receiver)
 * over IPC and returns raw results; index.ts turns them into table rows.
 */
import { readFileSync } from 'node:fs';
import type { CipherName } from '../source/net/crypto/cipher.js';
import type { Config } from './config.js';
import type { Worker } from './ipc.js';
import { formatNumber, MiB, mbPerSecond } from './stats.js';
import type { TlsPem } from './tlscert.js';
import type { DgramApi } from './workers/dgram.js';
import type { StreamKind, StreamSinkReport, StreamStats, StreamsApi } from './workers/streams.js';
import type { SinkReport, TransportApi } from './workers/transport.js';

export const DATAGRAM = 1200;
export const PING_SIZE = 1024;

export function pct(part: number, whole: number): number {
  return whole > 0 ? (100 * part) / whole : Number.NaN;
}

// ---- kernel counters ------------------------------------------------------------

/** Host-wide UDP counters from /proc/net/snmp (Linux); undefined elsewhere. */
export interface KernelUdp {
  rcvbufErrors: number;
  sndbufErrors: number;
}

export function kernelUdp(): KernelUdp | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const keys = lines[0]?.trim().split(/\s+/) ?? [];
    const values = lines[1]?.trim().split(/\s+/) ?? [];
    const get = (k: string): number => Number(values[keys.indexOf(k)] ?? Number.NaN);
    const r = { rcvbufErrors: get('RcvbufErrors'), sndbufErrors: get('SndbufErrors') };
    return Number.isFinite(r.rcvbufErrors) ? r : undefined;
  } catch {
    return undefined;
  }
}

function kernelDelta(before: KernelUdp | undefined): KernelUdp | undefined {
  const after = kernelUdp();
  if (!before || !after) return undefined;
  return {
    rcvbufErrors: after.rcvbufErrors - before.rcvbufErrors,
    sndbufErrors: after.sndbufErrors - before.sndbufErrors,
  };
}

// ---- raw bulk -------------------------------------------------------------------

export interface RawBulkRun {
  sentBytes: number;
  receivedBytes: number;
  lossPct: number;
  /** Received bytes over the receiver's first→last datagram span. */
  mbps: number;
  senderMbps: number;
  /** Pacing rate in MB/s, when paced. */
  pacedAt: number | undefined;
  /** CPU use while sending / receiving, % of one core. */
  senderCpuPct: number;
  receiverCpuPct: number;
  /** Process CPU (user + system, kernel work included) per datagram sent / received, µs. */
  senderCpuUs: number;
  receiverCpuUs: number;
  /** Datagram size of this run. */
  size: number;
  kernel: KernelUdp | undefined;
}

async function rawBulkRun(
  cfg: Config,
  tx: Worker<DgramApi>,
  rx: Worker<DgramApi>,
  port: number,
  rate: number | undefined,
  size: number,
): Promise<RawBulkRun> {
  const before = kernelUdp();
  const sent = await tx.call(
    'blast',
    {
      port,
      bytes: cfg.rawBytes,
      size,
      yieldEvery: 64,
      ...(rate !== undefined ? { rate } : {}),
    },
    cfg.transferBudgetMs * 2,
  );
  const got = await rx.call('sinkResult', {
    expect: sent.datagrams,
    idleMs: 300,
    maxWaitMs: 5_000,
  });
  return {
    sentBytes: sent.bytes,
    receivedBytes: got.bytes,
    lossPct: pct(sent.datagrams - got.datagrams, sent.datagrams),
    mbps: mbPerSecond(got.bytes, got.spanMs),
    senderMbps: mbPerSecond(sent.bytes, sent.ms),
    pacedAt: rate,
    senderCpuPct: sent.cpuPct,
    receiverCpuPct: got.cpuPct,
    // cpuPct is % of one core over the span: ×10 turns % × ms into µs.
    senderCpuUs: (sent.cpuPct * sent.ms * 10) / sent.datagrams,
    receiverCpuUs: (got.cpuPct * got.spanMs * 10) / got.datagrams,
    size,
    kernel: kernelDelta(before),
  };
}

/**
 * Unpaced blast first (setImmediate every 64 sends). If that loses more than
 * 2 % the sender outran the receiver, so a second run paces at 90 % of what
 * the receiver managed; the run with the better goodput is the baseline.
 */
export async function rawBulk(
  cfg: Config,
  tx: Worker<DgramApi>,
  rx: Worker<DgramApi>,
  size = DATAGRAM,
): Promise<{ best: RawBulkRun; runs: RawBulkRun[] }> {
  const { port } = await rx.call('sink', { recvBuffer: 4 * MiB });
  const runs = [await rawBulkRun(cfg, tx, rx, port, undefined, size)];
  const first = runs[0]!;
  if (first.lossPct > 2 && Number.isFinite(first.mbps)) {
    runs.push(await rawBulkRun(cfg, tx, rx, port, first.mbps * 0.9, size));
  }
  const best = runs.reduce((a, b) => (b.mbps > a.mbps ? b : a));
  return { best, runs };
}

// ---- our bulk -------------------------------------------------------------------

export interface OursBulk {
  cipher: CipherName;
  /** Path-MTU discovery's ceiling for this run (1200: discovery off, every datagram ≤ 1200 B). */
  maxDatagram: number;
  /** Bytes delivered after the first message over the first→last delivery span. */
  mbps: number;
  senderMbps: number;
  connectMs: number;
  sink: Omit<SinkReport, 'errors'>;
  source: Omit<Awaited<ReturnType<TransportApi['source']>>, 'errors'>;
  /**
   * Process CPU per datagram during the timed transfer, µs: the sender's over
   * every datagram it sent, the receiver's (first→last delivery) over the
   * datagrams it received in that span (its total, scaled by the share of
   * bytes delivered in the span). ACKs each way are part of the cost.
   */
  senderCpuUs: number;
  receiverCpuUs: number;
  kernel: KernelUdp | undefined;
}

export async function oursBulk(
  cfg: Config,
  tx: Worker<TransportApi>,
  rx: Worker<TransportApi>,
  cipher: CipherName,
  maxDatagram = DATAGRAM,
): Promise<OursBulk> {
  const { port } = await rx.call('open', { nick: 'sink', cipher, maxDatagram });
  await tx.call('open', { nick: 'source', cipher, maxDatagram });
  const { ms: connectMs } = await tx.call('connect', { nick: 'sink', port, timeoutMs: 10_000 });
  await rx.call('armSink', { expectBytes: cfg.oursBytes });
  const before = kernelUdp();
  const sourceCall = tx.call(
    'source',
    {
      to: 'sink',
      messages: Math.ceil(cfg.oursBytes / cfg.messageSize),
      messageSize: cfg.messageSize,
      inFlight: cfg.inFlight,
      budgetMs: cfg.transferBudgetMs,
    },
    cfg.transferBudgetMs + 120_000,
  );
  sourceCall.catch(() => {}); // awaited below
  const sink = await rx.call(
    'sinkDone',
    { timeoutMs: cfg.transferBudgetMs },
    cfg.transferBudgetMs + 30_000,
  );
  // An incomplete transfer: closing the sender rejects its pending sends so it returns now.
  if (!sink.complete) await tx.call('close', {});
  const source = await sourceCall;
  const kernel = kernelDelta(before);
  await Promise.all([tx.call('close', {}), rx.call('close', {})]);
  const errors = [...sink.errors, ...source.errors];
  if (!sink.complete) {
    throw new Error(
      `${cipher}: only ${formatNumber(sink.bytes / MiB)} of ${cfg.oursBytes / MiB} MiB ` +
        `arrived within ${cfg.transferBudgetMs} ms (${source.error ?? errors[0] ?? 'no error reported'})`,
    );
  }
  if (sink.corrupt > 0 || sink.outOfOrder > 0) {
    throw new Error(
      `${cipher}: ${sink.corrupt} corrupt and ${sink.outOfOrder} out-of-order messages delivered`,
    );
  }
  const { errors: _e1, ...sinkRest } = sink;
  const { errors: _e2, ...sourceRest } = source;
  return {
    cipher,
    maxDatagram,
    mbps: mbPerSecond(sink.bytesAfterFirst, sink.spanMs),
    senderMbps: mbPerSecond(source.acked * cfg.messageSize, source.ms),
    connectMs,
    sink: sinkRest,
    source: sourceRest,
    senderCpuUs: (source.cpuPct * source.ms * 10) / source.socket.datagramsOut,
    receiverCpuUs:
      (sink.cpuPct * sink.spanMs * 10) /
      ((sink.socket.datagramsIn * sink.bytesAfterFirst) / sink.bytes),
    kernel,
  };
}

// ---- stream baselines (udx-native, secret-stream over udx, node:tls over TCP) ------

export type { StreamKind } from './workers/streams.js';

export const STREAM_NAMES: Record<StreamKind, string> = {
  udx: 'udx-native stream',
  secret: 'secret-stream/udx',
  tls: 'node:tls 1.3/TCP',
};

/** A worker pair for the stream baselines, with the certificate TLS needs (if any). */
export interface StreamPair {
  tx: Worker<StreamsApi>;
  rx: Worker<StreamsApi>;
  pem: TlsPem | undefined;
}

/** Sets up connection `conn` of `kind` from tx (dialer, initiator) to rx (listener). */
async function connectStreams(
  kind: StreamKind,
  conn: string,
  s: StreamPair,
  timeoutMs: number,
): Promise<{ tx: StreamStats; rx: StreamStats }> {
  const { tx, rx } = s;
  if (kind === 'tls') {
    if (!s.pem) throw new Error('no TLS certificate');
    const { port } = await rx.call('open', { conn, kind, listener: true, pem: s.pem });
    await tx.call('open', { conn, kind, listener: false });
    await tx.call('link', { conn, port, id: 0, initiator: true, pem: s.pem });
  } else {
    const l = await rx.call('open', { conn, kind, listener: true });
    const d = await tx.call('open', { conn, kind, listener: false });
    await rx.call('link', { conn, port: d.port, id: d.id, initiator: false });
    await tx.call('link', { conn, port: l.port, id: l.id, initiator: true });
  }
  const [txStats, rxStats] = await Promise.all([
    tx.call('ready', { conn, timeoutMs }),
    rx.call('ready', { conn, timeoutMs }),
  ]);
  return { tx: txStats, rx: rxStats };
}

export interface StreamBulk {
  kind: StreamKind;
  /** Bytes delivered after the first chunk over the first→last delivery span. */
  mbps: number;
  /** Bytes over the sender's time to the last ack (udx, secret) or kernel hand-off (tls). */
  senderMbps: number;
  sink: Omit<StreamSinkReport, 'errors'>;
  source: { ms: number; cpuPct: number; stats: StreamStats };
  kernel: KernelUdp | undefined;
}

/** `cfg.oursBytes` as `cfg.messageSize` writes from tx to rx over a fresh connection. */
export async function streamBulk(
  cfg: Config,
  s: StreamPair,
  kind: StreamKind,
): Promise<StreamBulk> {
  const conn = `bulk-${kind}`;
  const { tx, rx } = s;
  try {
    await connectStreams(kind, conn, s, 10_000);
    await rx.call('armSink', { conn, expectBytes: cfg.oursBytes });
    const before = kernelUdp();
    const sourceCall = tx.call(
      'source',
      { conn, bytes: cfg.oursBytes, chunk: cfg.messageSize, budgetMs: cfg.transferBudgetMs },
      cfg.transferBudgetMs + 30_000,
    );
    sourceCall.catch(() => {}); // awaited below
    const sink = await rx.call(
      'sinkDone',
      { conn, timeoutMs: cfg.transferBudgetMs },
      cfg.transferBudgetMs + 30_000,
    );
    // An incomplete transfer: closing the sender makes its pending writes fail so it returns now.
    if (!sink.complete) await tx.call('close', { conn });
    const source = await sourceCall;
    const kernel = kind === 'tls' ? undefined : kernelDelta(before);
    if (!sink.complete) {
      throw new Error(
        `only ${formatNumber(sink.bytes / MiB)} of ${cfg.oursBytes / MiB} MiB arrived within ` +
          `${cfg.transferBudgetMs} ms (${source.error ?? sink.errors[0] ?? 'no error reported'})`,
      );
    }
    const { errors: _e, ...sinkRest } = sink;
    return {
      kind,
      mbps: mbPerSecond(sink.bytesAfterFirst, sink.spanMs),
      senderMbps: mbPerSecond(cfg.oursBytes, source.ms),
      sink: sinkRest,
      source: { ms: source.ms, cpuPct: source.cpuPct, stats: source.stats },
      kernel,
    };
  } finally {
    await Promise.all([tx.call('close', { conn }), rx.call('close', { conn })]);
  }
}

// ---- latency --------------------------------------------------------------------

export interface LatencyRun {
  rtts: number[];
  timeouts: number;
  /** Pinger CPU per round trip, µs. */
  cpuUsPerTrip: number;
  /** Ours only. */
  retransmits?: number;
  ptoCount?: number;
  sendFailures?: number;
}

/** A stream baseline's ping-pong: its round trips, or why it could not be measured. */
export type StreamLatency = { run: LatencyRun; stats: StreamStats } | { error: string };

/**
 * Raw, ours and the stream baselines ping-pong in alternating blocks (raw,
 * ours, secret, tls, raw, ours...) so that load from anything else on the
 * host lands on all alike. Raw or ours failing fails the whole figure; a
 * stream baseline failing only drops that baseline (its error is returned).
 */
export async function latency(
  cfg: Config,
  d: { tx: Worker<DgramApi>; rx: Worker<DgramApi> },
  t: { tx: Worker<TransportApi>; rx: Worker<TransportApi> },
  streams: { pair: StreamPair; kinds: readonly StreamKind[] },
): Promise<{ raw: LatencyRun; ours: LatencyRun; streams: Map<StreamKind, StreamLatency> }> {
  const { tx: stx, rx: srx } = streams.pair;
  const live = new Map<StreamKind, { run: LatencyRun; stats: StreamStats }>();
  const dead = new Map<StreamKind, string>();
  const conn = (k: StreamKind) => `ping-${k}`;
  const drop = async (k: StreamKind, err: unknown): Promise<void> => {
    live.delete(k);
    dead.set(k, (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '');
    await Promise.all([
      stx.call('close', { conn: conn(k) }),
      srx.call('close', { conn: conn(k) }),
    ]).catch(() => {});
  };
  for (const k of streams.kinds) {
    try {
      await connectStreams(k, conn(k), streams.pair, 10_000);
      await srx.call('echo', { conn: conn(k) });
      live.set(k, { run: { rtts: [], timeouts: 0, cpuUsPerTrip: 0 }, stats: {} });
    } catch (err) {
      await drop(k, err);
    }
  }
  const { port: rawPort } = await d.rx.call('echo', {});
  const { port } = await t.rx.call('open', { nick: 'echo', cipher: 'chacha20-poly1305' });
  await t.rx.call('echo', {});
  await t.tx.call('open', { nick: 'ping', cipher: 'chacha20-poly1305' });
  await t.tx.call('connect', { nick: 'echo', port, timeoutMs: 10_000 });
  const raw: LatencyRun = { rtts: [], timeouts: 0, cpuUsPerTrip: 0 };
  const ours: LatencyRun = { rtts: [], timeouts: 0, cpuUsPerTrip: 0, sendFailures: 0 };
  let trips = 0;
  const perBlock = Math.ceil(cfg.pings / cfg.pingBlocks);
  try {
    for (let b = 0; b < cfg.pingBlocks; b++) {
      const count = Math.min(perBlock, cfg.pings - b * perBlock);
      if (count <= 0) break;
      const warmup = b === 0 ? cfg.pingWarmup : 0;
      const r = await d.tx.call(
        'ping',
        { port: rawPort, count, warmup, size: PING_SIZE, timeoutMs: 1000 },
        300_000,
      );
      if (r.aborted) throw new Error(`raw ping: ${r.timeouts} lost, gave up`);
      raw.rtts.push(...r.rtts);
      raw.timeouts += r.timeouts;
      raw.cpuUsPerTrip += r.cpuUsPerTrip * count;
      const o = await t.tx.call(
        'ping',
        { to: 'echo', count, warmup, size: PING_SIZE, timeoutMs: 2000 },
        300_000,
      );
      if (o.aborted) {
        throw new Error(
          `ours ping: round trips kept timing out (${o.errors[0] ?? 'no error reported'})`,
        );
      }
      ours.rtts.push(...o.rtts);
      ours.timeouts += o.timeouts;
      ours.cpuUsPerTrip += o.cpuUsPerTrip * count;
      trips += count;
      ours.sendFailures = (ours.sendFailures ?? 0) + o.sendFailures;
      // Peer totals are cumulative over the session: the last block's are the run's.
      ours.retransmits = o.peer?.retransmits ?? 0;
      ours.ptoCount = o.peer?.ptoCount ?? 0;
      for (const [k, st] of [...live]) {
        try {
          const r = await stx.call(
            'ping',
            { conn: conn(k), count, warmup, size: PING_SIZE, timeoutMs: 2000 },
            300_000,
          );
          if (r.aborted) {
            throw new Error(`round trips kept timing out (${r.errors[0] ?? 'no error reported'})`);
          }
          st.run.rtts.push(...r.rtts);
          st.run.timeouts += r.timeouts;
          st.run.cpuUsPerTrip += r.cpuUsPerTrip * count;
          st.stats = r.stats;
        } catch (err) {
          await drop(k, err);
        }
      }
    }
  } finally {
    await Promise.all([
      t.tx.call('close', {}),
      t.rx.call('close', {}),
      d.rx.call('reset', {}),
      ...[...live.keys()].flatMap((k) => [
        stx.call('close', { conn: conn(k) }),
        srx.call('close', { conn: conn(k) }),
      ]),
    ]);
  }
  raw.cpuUsPerTrip /= trips;
  ours.cpuUsPerTrip /= trips;
  const out = new Map<StreamKind, StreamLatency>();
  for (const k of streams.kinds) {
    const st = live.get(k);
    if (st) {
      st.run.cpuUsPerTrip /= trips;
      out.set(k, st);
    } else out.set(k, { error: dead.get(k) ?? 'not measured' });
  }
  return { raw, ours, streams: out };
}
