/**
 * Group 2's rows: the 1 KiB ping-pong of raw dgram, ours and the stream
 * baselines, alternating, at one placement of the two ends (issue #16: the
 * same CPU or different CPUs, pinned with taskset; unpinned without it).
 */
import type { Config } from './config.js';
import {
  type LatencyRun,
  latency,
  pct,
  STREAM_NAMES,
  type StreamKind,
  type StreamPair,
} from './figures.js';
import type { Worker } from './ipc.js';
import type { Placement } from './pin.js';
import { formatNumber, type Row, row, statusRow, summarize } from './stats.js';
import type { DgramApi } from './workers/dgram.js';
import type { TransportApi } from './workers/transport.js';

export interface LatencyWorkers {
  dA: Worker<DgramApi>;
  dB: Worker<DgramApi>;
  tA: Worker<TransportApi>;
  tB: Worker<TransportApi>;
  streams: StreamPair;
}

export interface LatencyOut {
  rows: Row[];
  details: unknown;
  /** Figures that could not be measured (failures, not skips). */
  failed: string[];
}

const errorText = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

const brief = (run: LatencyRun) => ({
  summary: summarize(run.rtts),
  timeouts: run.timeouts,
  cpuUsPerTrip: run.cpuUsPerTrip,
});

const met = (ok: boolean): string => (ok ? 'met' : 'NOT met');

export async function latencyRows(
  group: string,
  placement: Placement | undefined,
  config: Config,
  kinds: readonly StreamKind[],
  w: LatencyWorkers,
  tlsSkip: string | undefined,
): Promise<LatencyOut> {
  const at = placement ? `, ${placement}` : ', unpinned';
  const G = `${group}${at}`;
  const rows: Row[] = [];
  const failed: string[] = [];
  const pingKinds = kinds.filter((k) => k !== 'udx');
  try {
    const res = await latency(
      config,
      { tx: w.dA, rx: w.dB },
      { tx: w.tA, rx: w.tB },
      { pair: w.streams, kinds: pingKinds },
    );
    const { raw, ours } = res;
    const r = summarize(raw.rtts);
    const o = summarize(ours.rtts);
    const details = {
      raw: brief(raw),
      ours: { ...ours, rtts: undefined, summary: o },
      ...Object.fromEntries(
        [...res.streams].map(([k, v]) => [
          k,
          'error' in v ? v : { ...brief(v.run), stats: v.stats },
        ]),
      ),
    };
    const note =
      `raw: ${raw.timeouts} lost; ours: ${ours.timeouts} timeouts, ${ours.retransmits ?? 0} retransmits ` +
      `(${ours.ptoCount ?? 0} PTOs); ${config.pingWarmup} warm-up trips not counted`;
    const over1 = (v: number[]) => formatNumber(pct(v.filter((x) => x > 1).length, v.length));
    rows.push(
      row(G, 'RTT p50', 'ms', o.p50, 'raw dgram', r.p50, note),
      row(G, 'RTT p90', 'ms', o.p90, 'raw dgram', r.p90),
      row(
        G,
        'RTT p99',
        'ms',
        o.p99,
        'raw dgram',
        r.p99,
        `trips > 1 ms: ours ${over1(ours.rtts)}%, raw ${over1(raw.rtts)}%`,
      ),
      row(G, 'RTT max', 'ms', o.max, 'raw dgram', r.max),
      row(
        G,
        'pinger CPU per round trip',
        'µs',
        ours.cpuUsPerTrip,
        'raw dgram',
        raw.cpuUsPerTrip,
        'user+system time of the pinging process',
      ),
    );
    for (const [k, v] of res.streams) {
      const name = STREAM_NAMES[k];
      if ('error' in v) {
        const msg = errorText(v.error);
        failed.push(`${name} latency${at}: ${msg}`);
        rows.push(statusRow(G, `RTT p50/p99/max vs ${name}`, 'ms', `FAILED: ${msg}`));
        continue;
      }
      const s = summarize(v.run.rtts);
      const st = v.stats;
      const what =
        k === 'tls'
          ? `${name}: ${st.protocol ?? '?'} ${st.cipher ?? ''}, TCP_NODELAY both ends`
          : `${name}: udx mtu ${st.mtu ?? '?'}`;
      const target = k === 'secret';
      rows.push(
        row(
          G,
          'RTT p50',
          'ms',
          o.p50,
          name,
          s.p50,
          `${target ? `target <= 1.0x: ${met(o.p50 <= s.p50)}; ` : ''}${what}; ${v.run.timeouts} lost; ` +
            `pinger CPU ${formatNumber(v.run.cpuUsPerTrip)} µs/trip`,
        ),
        row(
          G,
          'RTT p99',
          'ms',
          o.p99,
          name,
          s.p99,
          target ? `target <= 1.0x: ${met(o.p99 <= s.p99)}` : '',
        ),
        row(G, 'RTT max', 'ms', o.max, name, s.max),
      );
    }
    if (tlsSkip) rows.push(statusRow(G, `RTT vs ${STREAM_NAMES.tls}`, 'ms', tlsSkip));
    return { rows, details, failed };
  } catch (err) {
    const msg = errorText(err);
    failed.push(`latency${at}: ${msg}`);
    for (const n of ['RTT p50', 'RTT p90', 'RTT p99', 'RTT max', 'pinger CPU per round trip'])
      rows.push(statusRow(G, n, n.startsWith('RTT') ? 'ms' : 'µs', `FAILED: ${msg}`));
    return { rows, details: { error: msg }, failed };
  }
}
