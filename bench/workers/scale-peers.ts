/**
 * Many peers in one process for the scale benchmark: `count`
 * MultiHolepunchSockets on 127.0.0.1 (one UDP port each, so the hub sees
 * `count` distinct peers), each connected to the hub. On `startSending`
 * every peer sends one small message per period to the hub, at a random
 * phase so the load is spread evenly; the worker records each message's
 * send → acknowledged time.
 */
import { performance } from 'node:perf_hooks';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { serve } from '../ipc.js';
import { addToReservoir, waitUntil } from '../stats.js';
import { cpuMicros } from './pingloop.js';

const HOST = '127.0.0.1';
/** Most ack times kept (a uniform sample beyond that). */
const MAX_SAMPLES = 50_000;

let socks: MultiHolepunchSocket[] = [];
let errors: string[] = [];
const timers = new Set<NodeJS.Timeout>();

interface SendState {
  sent: number;
  acked: number;
  failed: number;
  firstError: string | undefined;
  ackMs: number[];
  seen: number;
  cpu0: number;
  t0: number;
}
let sending: SendState | undefined;

function noteError(msg: string): void {
  if (errors.length < 20) errors.push(msg);
}

async function closeAll(): Promise<void> {
  for (const t of timers) clearTimeout(t);
  timers.clear();
  const all = socks;
  socks = [];
  await Promise.all(all.map((s) => s.close().catch(() => undefined)));
}

export interface PeersOpenResult {
  connected: number;
  failed: number;
  ms: number;
  errors: string[];
}

export interface PeersSendResult {
  sent: number;
  acked: number;
  failed: number;
  firstError?: string;
  /** Send → acknowledged, ms (a sample when there were very many). */
  ackMs: number[];
  /** This worker's CPU over the sending window, % of one core. */
  cpuPct: number;
  rss: number;
}

const api = {
  /**
   * Binds `count` sockets and connects each to the hub at `hubPort`,
   * `batch` handshakes at a time (the hub's handshake rate limit treats a
   * burst from one IP as a possible flood).
   */
  async open(a: {
    count: number;
    hubPort: number;
    prefix: string;
    batch: number;
    timeoutMs: number;
  }): Promise<PeersOpenResult> {
    await closeAll();
    errors = [];
    const t0 = performance.now();
    for (let i = 0; i < a.count; i++) {
      const s = await MultiHolepunchSocket.bind({
        host: HOST,
        port: 0,
        nick: `${a.prefix}${i}`,
        introductions: false,
        // Few bytes each: keep 1,000 sockets' kernel buffers modest.
        receiveBufferSize: 256 * 1024,
      });
      s.on('error', (err) => noteError(err.message));
      socks.push(s);
    }
    let connected = 0;
    let failed = 0;
    for (let i = 0; i < socks.length; i += a.batch) {
      const slice = socks.slice(i, i + a.batch);
      await Promise.all(
        slice.map(async (s) => {
          try {
            await s.addPeers({ hub: `${HOST}:${a.hubPort}` });
            await s.waitForPeer('hub', { timeout: a.timeoutMs });
            connected++;
          } catch (err) {
            failed++;
            noteError((err as Error).message);
          }
        }),
      );
    }
    return { connected, failed, ms: performance.now() - t0, errors: errors.slice(0, 5) };
  },

  /** Every peer sends one `size`-byte message per `periodMs`, at a random phase. */
  async startSending(a: { periodMs: number; size: number }): Promise<Record<string, never>> {
    const st: SendState = {
      sent: 0,
      acked: 0,
      failed: 0,
      firstError: undefined,
      ackMs: [],
      seen: 0,
      cpu0: cpuMicros(),
      t0: performance.now(),
    };
    sending = st;
    const payload = Buffer.alloc(a.size, 0x61);
    const sendOne = (s: MultiHolepunchSocket) => {
      if (sending !== st) return;
      const t = performance.now();
      st.sent++;
      s.send(payload, { recipient: 'hub' }).then(
        () => {
          st.acked++;
          const ms = performance.now() - t;
          // A uniform sample of every ack time.
          addToReservoir(st.ackMs, ++st.seen, ms, MAX_SAMPLES);
        },
        (err: Error) => {
          st.failed++;
          st.firstError ??= err.message;
        },
      );
    };
    for (const s of socks) {
      const start = setTimeout(() => {
        timers.delete(start);
        sendOne(s);
        const every = setInterval(() => sendOne(s), a.periodMs);
        timers.add(every);
      }, Math.random() * a.periodMs);
      timers.add(start);
    }
    return {};
  },

  /** Stops sending, waits up to `drainMs` for outstanding acks, and reports. */
  async stopSending(a: { drainMs: number }): Promise<PeersSendResult> {
    const st = sending;
    if (!st) throw new Error('startSending first');
    sending = undefined;
    const ms = performance.now() - st.t0;
    const cpu = cpuMicros() - st.cpu0;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    await waitUntil(() => st.acked + st.failed >= st.sent, a.drainMs);
    return {
      sent: st.sent,
      acked: st.acked,
      failed: st.failed,
      ...(st.firstError !== undefined ? { firstError: st.firstError } : {}),
      ackMs: st.ackMs,
      cpuPct: cpu / 10 / ms,
      rss: process.memoryUsage().rss,
    };
  },

  /** Peers whose hub session is connected right now. */
  async connected(_a: Record<string, never>): Promise<{ connected: number; errors: string[] }> {
    let n = 0;
    for (const s of socks) {
      if (s.peers().some((p) => p.nick === 'hub' && p.state.kind === 'connected')) n++;
    }
    return { connected: n, errors: errors.slice(0, 5) };
  },

  async close(_a: Record<string, never>): Promise<Record<string, never>> {
    await closeAll();
    return {};
  },
};

export type ScalePeersApi = typeof api;

serve(api, closeAll);
