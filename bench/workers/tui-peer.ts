/**
 * The chat's counterpart in the TUI latency benchmark (bench/tui.ts): one
 * MultiHolepunchSocket on 127.0.0.1 that connects to the chat under test and
 * sends it chat messages (the chat's own JSON envelope, digits only, so no
 * typed marker can appear in them) at a fixed rate, keeping its own clock:
 * every tick sends what is due since the start. It also measures send → ack
 * of lone messages (`probe`): how fast the chat's transport acknowledges,
 * which is what the chat's RTT figure shows from the other side.
 *
 * Started a second time it stands in for the chat instead (`listen`,
 * `chatter`): a plain library socket named as the chat, which the flooding
 * peer connects to and loads the same way, and which sends the same lone
 * messages as the chat's user types: its smoothed RTT is the baseline for the
 * RTT the chat displays.
 */
import { performance } from 'node:perf_hooks';
import { encodeChat } from '../../source/chat/protocol.js';
import { MultiHolepunchSocket } from '../../source/net/shell/socket.js';
import { serve } from '../ipc.js';
import { addToReservoir, median, waitUntil } from '../stats.js';

const HOST = '127.0.0.1';
/** Sends awaiting their ack at most; beyond it the flood waits (the chat is not keeping up). */
const MAX_OUTSTANDING = 20_000;
const MAX_SAMPLES = 50_000;

let sock: MultiHolepunchSocket | undefined;
let target = '';
let errors: string[] = [];

function socket(): MultiHolepunchSocket {
  if (!sock) throw new Error('no socket: call open first');
  return sock;
}

async function closeSocket(): Promise<void> {
  flood?.stop();
  flood = undefined;
  const s = sock;
  sock = undefined;
  await s?.close();
}

interface Flood {
  sent: number;
  acked: number;
  failed: number;
  firstError: string | undefined;
  ackMs: number[];
  seen: number;
  t0: number;
  stop: () => void;
}
let flood: Flood | undefined;

/** The flooder's RTT estimate of the chat (the chat's ack delay is in it). */
export interface PeerRtt {
  smoothedMs: number | undefined;
  minMs: number | undefined;
}

export interface FloodResult {
  sent: number;
  acked: number;
  failed: number;
  firstError?: string;
  /** Messages sent per second over the flood. */
  rate: number;
  /** Send → acknowledged, ms (a uniform sample when there were very many). */
  ackMs: number[];
  rtt: PeerRtt;
  errors: string[];
}

function rtt(): PeerRtt {
  const p = socket()
    .peers()
    .find((x) => x.nick === target);
  return { smoothedMs: p?.stats.smoothedRtt, minMs: p?.stats.minRtt };
}

const api = {
  /** Binds a fresh socket (new identity) and connects it to the chat at `port` as `nick`. */
  async connect(a: { nick: string; port: number; timeoutMs: number }): Promise<{ ms: number }> {
    await closeSocket();
    errors = [];
    target = a.nick;
    sock = await MultiHolepunchSocket.bind({
      host: HOST,
      port: 0,
      nick: 'Flood',
      introductions: false,
    });
    sock.on('error', (err) => {
      if (errors.length < 20) errors.push(err.message);
    });
    // Whatever the chat sends us is taken and dropped.
    sock.addHook(() => {});
    const t0 = performance.now();
    await sock.addPeers({ [a.nick]: `${HOST}:${a.port}` });
    await sock.waitForPeer(a.nick, { timeout: a.timeoutMs });
    return { ms: performance.now() - t0 };
  },

  /** Starts sending `rate` chat messages a second to the chat. */
  async startFlood(a: { rate: number; tickMs: number }): Promise<Record<string, never>> {
    const s = socket();
    const f: Flood = {
      sent: 0,
      acked: 0,
      failed: 0,
      firstError: undefined,
      ackMs: [],
      seen: 0,
      t0: performance.now(),
      stop: () => clearInterval(timer),
    };
    flood = f;
    const sendOne = () => {
      const n = f.sent++;
      const text = `#${String(n).padStart(7, '0')} 0123456789 0123456789`;
      const t = performance.now();
      s.send(encodeChat({ text, private: false }), { recipient: target, timeout: 60_000 }).then(
        () => {
          f.acked++;
          addToReservoir(f.ackMs, ++f.seen, performance.now() - t, MAX_SAMPLES);
        },
        (err: Error) => {
          f.failed++;
          f.firstError ??= err.message;
        },
      );
    };
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - f.t0) * a.rate) / 1000);
      while (f.sent < due && f.sent - f.acked - f.failed < MAX_OUTSTANDING) sendOne();
    }, a.tickMs);
    return {};
  },

  /** Stops the flood, waits up to `drainMs` for outstanding acks, and reports. */
  async stopFlood(a: { drainMs: number }): Promise<FloodResult> {
    const f = flood;
    if (!f) throw new Error('startFlood first');
    f.stop();
    flood = undefined;
    const ms = performance.now() - f.t0;
    await waitUntil(() => f.acked + f.failed >= f.sent, a.drainMs);
    return {
      sent: f.sent,
      acked: f.acked,
      failed: f.failed,
      ...(f.firstError !== undefined ? { firstError: f.firstError } : {}),
      rate: (f.sent * 1000) / ms,
      ackMs: f.ackMs,
      rtt: rtt(),
      errors: errors.slice(0, 5),
    };
  },

  /** `count` lone messages, `intervalMs` apart: send → ack of each, ms. */
  async probe(a: {
    count: number;
    intervalMs: number;
  }): Promise<{ ackMs: number[]; rtt: PeerRtt }> {
    const s = socket();
    const out: number[] = [];
    for (let i = 0; i < a.count; i++) {
      const t = performance.now();
      await s.send(encodeChat({ text: `#probe ${i}`, private: false }), {
        recipient: target,
        timeout: 10_000,
      });
      out.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, a.intervalMs * (0.5 + Math.random())));
    }
    return { ackMs: out, rtt: rtt() };
  },

  /** Binds a fresh socket named `nick` for a peer to connect to; returns its port. */
  async listen(a: { nick: string }): Promise<{ port: number }> {
    await closeSocket();
    errors = [];
    sock = await MultiHolepunchSocket.bind({
      host: HOST,
      port: 0,
      nick: a.nick,
      introductions: false,
    });
    sock.on('error', (err) => {
      if (errors.length < 20) errors.push(err.message);
    });
    sock.addHook(() => {});
    return { port: sock.localAddress().port };
  },

  /**
   * Sends `count` lone chat messages to `to`, `intervalMs` apart, as the
   * chat's user does in the RTT measurement; returns our RTT estimate of `to`
   * as bench/tui.ts reads the chat's: the median smoothed RTT over the second
   * half of them (read after each) and 600 ms after, and the last min.
   */
  async chatter(a: { to: string; count: number; intervalMs: number }): Promise<PeerRtt> {
    const s = socket();
    target = a.to;
    await s.waitForPeer(a.to, { timeout: 15_000 });
    const readings: number[] = [];
    const read = () => {
      const r = rtt().smoothedMs;
      if (r !== undefined) readings.push(r);
    };
    for (let i = 0; i < a.count; i++) {
      await s.send(encodeChat({ text: `rtt${i}`, private: false }), {
        recipient: a.to,
        timeout: 10_000,
      });
      if (i >= Math.floor(a.count / 2)) read();
      await new Promise((r) => setTimeout(r, a.intervalMs));
    }
    await new Promise((r) => setTimeout(r, 600));
    read();
    return {
      smoothedMs: readings.length > 0 ? median(readings) : undefined,
      minMs: rtt().minMs,
    };
  },

  async rtt(_a: Record<string, never>): Promise<PeerRtt> {
    return rtt();
  },

  async close(_a: Record<string, never>): Promise<Record<string, never>> {
    await closeSocket();
    return {};
  },
};

export type TuiPeerApi = typeof api;

serve(api, closeSocket);
