/**
 * Group 9 (issue 17): our transport relayed through a real TURN server
 * (coturn on 127.0.0.1, bench/turnserver.ts) beside the same transport
 * direct, in the same run: 1 KiB ping-pong p50/p99 and bulk throughput.
 *
 * Three pairs of worker processes (bench/workers/transport.ts), each pair
 * one pinger/source and one echo/sink socket: direct (by address), relayed
 * with UDP allocations, and relayed with allocations over TCP (RFC 8656
 * §12.5: what a network that drops UDP gets). A relayed pair exchanges
 * invite codes that carry the relayed candidate only, so the session starts
 * on the relay; each figure is kept only if the session was still relayed
 * (and the direct one still direct) at its end, with no path switch.
 * Ping blocks alternate between the three so load from anything else on
 * the host lands on all alike. Unpinned: coturn is a third process.
 *
 * `npx tsx bench/relay.ts [--quick]` runs this group alone.
 */
import { fileURLToPath } from 'node:url';
import type { CipherName } from '../source/net/crypto/cipher.js';
import type { Config } from './config.js';
import { PING_SIZE } from './figures.js';
import { launch, type Worker } from './ipc.js';
import {
  formatNumber,
  MiB,
  mbPerSecond,
  median,
  type Row,
  row,
  statusRow,
  summarize,
} from './stats.js';
import { BenchTurnServer, turnserverMissing } from './turnserver.js';
import type { Report, TransportApi } from './workers/transport.js';

export const GROUP =
  '9. Relayed through TURN: coturn on 127.0.0.1 beside direct, 2 processes + coturn, unpinned';

const CIPHER: CipherName = 'chacha20-poly1305';
type Via = 'direct' | 'udp' | 'tcp';
const VIAS: readonly Via[] = ['direct', 'udp', 'tcp'];
const RELAYED: readonly Exclude<Via, 'direct'>[] = ['udp', 'tcp'];
const NAME: Record<Via, string> = {
  direct: 'direct',
  udp: 'relayed, TURN over UDP',
  tcp: 'relayed, TURN over TCP',
};

export interface RelayOut {
  rows: Row[];
  details: unknown;
  /** What could not be measured: `what` and why. */
  failed: { what: string; error: string }[];
  /** Left out on purpose (no turnserver here). */
  skipped: string[];
}

interface Pair {
  via: Via;
  tx: Worker<TransportApi>;
  rx: Worker<TransportApi>;
  connectMs: number;
  rtts: number[];
  timeouts: number;
  retransmits: number;
  bulk: { mbps: number; bytes: number; spanMs: number; retransmits: number }[];
  /**
   * Payload bytes the pinger sent through its own allocation and the echo
   * received through its own, by the end of the last bulk run (session
   * totals): which allocations carry the session. Measured, because it
   * varies: on loopback each side can reach the other's relayed address
   * directly, so a session may use one allocation (one crossing of coturn)
   * or both (two: ours, then the peer's).
   */
  relayBytes?: { txSent: number; rxReceived: number };
  /** Set once a figure of this pair could not be measured; its later runs are skipped. */
  error?: string;
}

const errorText = (err: unknown): string =>
  (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';

const workerFile = fileURLToPath(new URL('./workers/transport.ts', import.meta.url));

/** The session must be on the path this pair measures, and have stayed there. */
function checkPath(p: Pair, r: Report, what: string): void {
  const want = p.via === 'direct' ? 'direct' : 'relay';
  const path = r.peer?.path ?? 'none';
  const switches = r.peer?.pathSwitches ?? 0;
  if (path !== want || switches > 0)
    throw new Error(`${what}: session ${path} after ${switches} path switches, not ${want}`);
}

/** Opens the pair's two sockets and connects the pinger to the echo. */
async function connect(p: Pair, turn: BenchTurnServer | undefined): Promise<void> {
  const relays = p.via === 'direct' || !turn ? undefined : turn.relays(p.via);
  const { port } = await p.rx.call('open', {
    nick: 'echo',
    cipher: CIPHER,
    ...(relays ? { relays } : {}),
  });
  await p.rx.call('echo', {});
  await p.tx.call('open', { nick: 'ping', cipher: CIPHER, ...(relays ? { relays } : {}) });
  if (!relays) {
    p.connectMs = (await p.tx.call('connect', { nick: 'echo', port, timeoutMs: 10_000 })).ms;
    return;
  }
  // Both add the other's relayed-only code at once (as the NAT lab's pairs):
  // each side's allocation then permits the other's relayed address (RFC 8656 §9).
  const [ti, ri] = await Promise.all([
    p.tx.call('relayInvite', { timeoutMs: 10_000 }),
    p.rx.call('relayInvite', { timeoutMs: 10_000 }),
  ]);
  const [tc, rc] = await Promise.all([
    p.tx.call('connectInvite', { nick: 'echo', code: ri.code, timeoutMs: 10_000 }),
    p.rx.call('connectInvite', { nick: 'ping', code: ti.code, timeoutMs: 10_000 }),
  ]);
  if (tc.path !== 'relay' || rc.path !== 'relay')
    throw new Error(`connected ${tc.path} / ${rc.path}, not through the relay`);
  p.connectMs = tc.ms;
}

async function pingBlock(p: Pair, count: number, warmup: number): Promise<void> {
  const r = await p.tx.call(
    'ping',
    { to: 'echo', count, warmup, size: PING_SIZE, timeoutMs: 2000 },
    300_000,
  );
  if (r.aborted)
    throw new Error(`ping: round trips kept timing out (${r.errors[0] ?? 'no error'})`);
  checkPath(p, r, 'ping');
  p.rtts.push(...r.rtts);
  p.timeouts += r.timeouts;
  p.retransmits = r.peer?.retransmits ?? 0;
}

/** `cfg.oursBytes` as `cfg.messageSize` messages, pinger → echo, `cfg.inFlight` awaiting their ack. */
async function bulkRun(p: Pair, cfg: Config, bytes = cfg.oursBytes): Promise<void> {
  await p.rx.call('armSink', { expectBytes: bytes });
  const sourceCall = p.tx.call(
    'source',
    {
      to: 'echo',
      messages: Math.ceil(bytes / cfg.messageSize),
      messageSize: cfg.messageSize,
      inFlight: cfg.inFlight,
      budgetMs: cfg.transferBudgetMs,
    },
    cfg.transferBudgetMs + 120_000,
  );
  sourceCall.catch(() => {}); // awaited below
  const sink = await p.rx.call(
    'sinkDone',
    { timeoutMs: cfg.transferBudgetMs },
    cfg.transferBudgetMs + 30_000,
  );
  // An incomplete transfer: closing the sender rejects its pending sends so it returns now.
  if (!sink.complete) await p.tx.call('close', {});
  const source = await sourceCall;
  if (!sink.complete)
    throw new Error(
      `bulk: ${formatNumber(sink.bytes / MiB)} of ${bytes / MiB} MiB arrived ` +
        `(${source.error ?? sink.errors[0] ?? 'no error reported'})`,
    );
  if (sink.corrupt > 0 || sink.outOfOrder > 0)
    throw new Error(`bulk: ${sink.corrupt} corrupt, ${sink.outOfOrder} out of order`);
  checkPath(p, source, 'bulk');
  if (bytes !== cfg.oursBytes) return; // the untimed warm-up
  p.relayBytes = {
    txSent: source.socket.relay?.bytesSent ?? 0,
    rxReceived: sink.socket.relay?.bytesReceived ?? 0,
  };
  p.bulk.push({
    mbps: mbPerSecond(sink.bytesAfterFirst, sink.spanMs),
    bytes: sink.bytes,
    spanMs: sink.spanMs,
    retransmits: source.peer?.retransmits ?? 0,
  });
}

/** Allocations the session's data went through: 1 when one side's carried (nearly) nothing. */
function crossings(b: { txSent: number; rxReceived: number }): number {
  const most = Math.max(b.txSent, b.rxReceived);
  return most === 0 ? 0 : Math.round((b.txSent + b.rxReceived) / most);
}

/** Runs `step` unless the pair already failed; a failure marks it. */
async function guarded(p: Pair, step: () => Promise<void>): Promise<void> {
  if (p.error !== undefined) return;
  try {
    await step();
  } catch (err) {
    p.error = errorText(err);
  }
}

function rowsOf(pairs: ReadonlyMap<Via, Pair>, cfg: Config): Row[] {
  const direct = pairs.get('direct')!;
  const d = direct.error === undefined ? summarize(direct.rtts) : undefined;
  const dBulk = direct.bulk.length > 0 ? median(direct.bulk.map((b) => b.mbps)) : undefined;
  const base = direct.error === undefined ? 'direct' : `direct FAILED: ${direct.error}`;
  const rows: Row[] = [];
  for (const via of RELAYED) {
    const p = pairs.get(via)!;
    const rtt = `RTT, ${PING_SIZE} B ping-pong, ${NAME[via]}`;
    const bulk = `throughput, ${cfg.oursBytes / MiB} MiB as 1 MiB msgs, ${NAME[via]}`;
    if (p.error !== undefined && p.rtts.length === 0) {
      rows.push(statusRow(GROUP, `${rtt} p50`, 'ms', `FAILED: ${p.error}`));
    } else {
      const s = summarize(p.rtts);
      rows.push(
        row(
          GROUP,
          `${rtt} p50`,
          'ms',
          s.p50,
          base,
          d?.p50,
          `${s.n} trips (${p.timeouts} lost, ${p.retransmits} retransmits), direct ${direct.rtts.length}; ` +
            `connect through the relay ${formatNumber(p.connectMs)} ms (direct ${formatNumber(direct.connectMs)} ms)`,
        ),
        row(GROUP, `${rtt} p99`, 'ms', s.p99, base, d?.p99, `max ${formatNumber(s.max)} ms`),
      );
    }
    if (p.bulk.length === 0) {
      rows.push(statusRow(GROUP, bulk, 'MB/s', `FAILED: ${p.error ?? 'no run'}`));
      continue;
    }
    const mbps = p.bulk.map((b) => b.mbps);
    const last = p.bulk[p.bulk.length - 1]!;
    rows.push(
      row(
        GROUP,
        bulk,
        'MB/s',
        median(mbps),
        base,
        dBulk,
        [
          `at receiver, first->last delivery, ${cfg.inFlight} in flight`,
          mbps.length > 1
            ? `median of ${mbps.length}, range ${mbps.map(formatNumber).join('/')}`
            : '',
          `${last.retransmits} retransmits (last run)`,
          p.relayBytes
            ? `session totals through the pinger's allocation ${formatNumber(p.relayBytes.txSent / MiB)} MiB sent, through the echo's ${formatNumber(p.relayBytes.rxReceived / MiB)} MiB received: each datagram crossed coturn ${crossings(p.relayBytes)}x`
            : '',
          p.error ? `a later run FAILED: ${p.error}` : '',
        ]
          .filter(Boolean)
          .join('; '),
      ),
    );
  }
  return rows;
}

/** The group: rows (or one SKIPPED row without turnserver), details, failures. */
export async function measureRelay(
  cfg: Config,
  progress: (text: string) => void,
): Promise<RelayOut> {
  const missing = turnserverMissing();
  if (missing)
    return {
      rows: [statusRow(GROUP, 'relayed RTT and throughput', '', `SKIPPED: ${missing}`)],
      details: { skipped: missing },
      failed: [],
      skipped: [`relayed figures: ${missing}`],
    };
  const turn = new BenchTurnServer();
  const pairs = new Map<Via, Pair>();
  try {
    progress('relay: starting coturn on 127.0.0.1 and 3 pairs of workers');
    await turn.start();
    const launched = await Promise.all(
      VIAS.map(async (via): Promise<Pair> => {
        const [tx, rx] = await Promise.all([
          launch<TransportApi>(`relay-${via}-a`, workerFile),
          launch<TransportApi>(`relay-${via}-b`, workerFile),
        ]);
        return {
          via,
          tx,
          rx,
          connectMs: Number.NaN,
          rtts: [],
          timeouts: 0,
          retransmits: 0,
          bulk: [],
        };
      }),
    );
    for (const p of launched) pairs.set(p.via, p);
    for (const p of launched) await guarded(p, () => connect(p, turn));
    const perBlock = Math.ceil(cfg.pings / cfg.pingBlocks);
    progress(`relay: ping-pong, ${cfg.pings} round trips each, alternating direct / UDP / TCP`);
    for (let b = 0; b < cfg.pingBlocks; b++) {
      const count = Math.min(perBlock, cfg.pings - b * perBlock);
      if (count <= 0) break;
      for (const p of launched)
        await guarded(p, () => pingBlock(p, count, b === 0 ? cfg.pingWarmup : 0));
    }
    // One untimed transfer each first (as group 1): steady state, not V8 compiling.
    progress(`relay: bulk warm-up, ${cfg.warmupBytes / MiB} MiB untimed each`);
    for (const p of launched) await guarded(p, () => bulkRun(p, cfg, cfg.warmupBytes));
    for (let rep = 0; rep < cfg.bulkRepeats; rep++) {
      progress(`relay: bulk ${cfg.oursBytes / MiB} MiB each (run ${rep + 1}/${cfg.bulkRepeats})`);
      for (const p of launched) await guarded(p, () => bulkRun(p, cfg));
    }
    const failed = launched.flatMap((p) =>
      p.error === undefined ? [] : [{ what: `relay group, ${NAME[p.via]}`, error: p.error }],
    );
    const details = Object.fromEntries(
      launched.map((p) => [
        p.via,
        {
          connectMs: p.connectMs,
          rtt: summarize(p.rtts),
          timeouts: p.timeouts,
          retransmits: p.retransmits,
          bulk: p.bulk,
          ...(p.error ? { error: p.error } : {}),
        },
      ]),
    );
    return { rows: rowsOf(pairs, cfg), details, failed, skipped: [] };
  } catch (err) {
    const msg = errorText(err);
    return {
      rows: [statusRow(GROUP, 'relayed RTT and throughput', '', `FAILED: ${msg}`)],
      details: { error: msg },
      failed: [{ what: 'relay group', error: msg }],
      skipped: [],
    };
  } finally {
    await Promise.all([...pairs.values()].flatMap((p) => [p.tx.stop(), p.rx.stop()]));
    await turn.stop();
  }
}

// Alone: `npx tsx bench/relay.ts [--quick]` prints this group's table.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { FULL, QUICK } = await import('./config.js');
  const { renderTable } = await import('./stats.js');
  const { killAll } = await import('./ipc.js');
  const cfg = process.argv.includes('--quick') ? QUICK : FULL;
  try {
    const out = await measureRelay(cfg, (t) => process.stderr.write(`[bench] ${t}\n`));
    process.stdout.write(`${renderTable(out.rows)}\n`);
    for (const f of out.failed) process.stdout.write(`not measured: ${f.what}: ${f.error}\n`);
    for (const s of out.skipped) process.stdout.write(`skipped: ${s}\n`);
    process.exitCode = out.failed.length > 0 ? 1 : 0;
  } finally {
    killAll();
  }
}
