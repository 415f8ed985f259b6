/**
 * Raw `node:dgram` baseline worker: the same unconnected `send(buf, port,
 * address)` calls our transport makes, with no framing, crypto or recovery.
 * Roles: sink (counts what arrives), blaster, echo server, pinger, and a
 * send-cost probe. Loopback (127.0.0.1) only.
 */
import dgram from 'node:dgram';
import { performance } from 'node:perf_hooks';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { serve } from '../ipc.js';
import { cpuMicros, PingLoop, type PingResult } from './pingloop.js';

const HOST = '127.0.0.1';
const sockets = new Set<dgram.Socket>();

async function open(recvBuffer = 4 * 1024 * 1024): Promise<dgram.Socket> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(0, HOST, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  try {
    sock.setRecvBufferSize(recvBuffer);
    sock.setSendBufferSize(4 * 1024 * 1024);
  } catch {
    // Reported through getRecvBufferSize below.
  }
  sock.on('error', () => {});
  sockets.add(sock);
  return sock;
}

function closeSocket(sock: dgram.Socket): Promise<void> {
  sockets.delete(sock);
  return new Promise((resolve) => {
    try {
      sock.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

// ---- sink -----------------------------------------------------------------------

interface SinkCounters {
  datagrams: number;
  bytes: number;
  firstAt: number;
  lastAt: number;
  /** process.cpuUsage() (user+system µs) at the first datagram. */
  firstCpu: number;
}

let sinkSocket: dgram.Socket | undefined;
const emptySink = (): SinkCounters => ({
  datagrams: 0,
  bytes: 0,
  firstAt: 0,
  lastAt: 0,
  firstCpu: 0,
});
let sink = emptySink();

export interface SinkResult extends SinkCounters {
  /** lastAt - firstAt, ms. */
  spanMs: number;
  /** CPU time over the first→last span as a share of it, % of one core (idle tail excluded). */
  cpuPct: number;
}

// ---- ping -----------------------------------------------------------------------

const api = {
  /** Binds the sink; counting starts at once. */
  async sink(a: { recvBuffer: number }): Promise<{ port: number; recvBuffer: number }> {
    if (sinkSocket) await closeSocket(sinkSocket);
    const sock = await open(a.recvBuffer);
    sinkSocket = sock;
    sock.on('message', (msg) => {
      const now = performance.now();
      if (sink.datagrams === 0) {
        sink.firstAt = now;
        sink.firstCpu = cpuMicros();
      }
      sink.lastAt = now;
      sink.datagrams++;
      sink.bytes += msg.length;
    });
    return { port: sock.address().port, recvBuffer: sock.getRecvBufferSize() };
  },

  /**
   * Waits until `expect` datagrams arrived, or nothing arrived for `idleMs`,
   * or `maxWaitMs` passed; returns the counters and resets them.
   */
  async sinkResult(a: { expect: number; idleMs: number; maxWaitMs: number }): Promise<SinkResult> {
    const started = performance.now();
    let seen = sink.datagrams;
    let seenAt = started;
    for (;;) {
      await new Promise((r) => setTimeout(r, 10));
      const now = performance.now();
      if (sink.datagrams >= a.expect || now - started > a.maxWaitMs) break;
      if (sink.datagrams !== seen) {
        seen = sink.datagrams;
        seenAt = now;
      } else if (now - seenAt > a.idleMs) break;
    }
    const spanMs = sink.lastAt - sink.firstAt;
    const cpuPct = sink.datagrams > 1 ? (cpuMicros() - sink.firstCpu) / 10 / spanMs : Number.NaN;
    const result = { ...sink, spanMs, cpuPct };
    sink = emptySink();
    return result;
  },

  /**
   * Sends `bytes` in `size`-byte datagrams, awaiting setImmediate every
   * `yieldEvery` sends; with `rate` (MB/s) it also paces to that rate.
   */
  async blast(a: {
    port: number;
    bytes: number;
    size: number;
    yieldEvery: number;
    rate?: number;
  }): Promise<{
    datagrams: number;
    bytes: number;
    ms: number;
    sendErrors: number;
    cpuPct: number;
  }> {
    const sock = await open();
    const buf = Buffer.alloc(a.size, 0x5a);
    const count = Math.ceil(a.bytes / a.size);
    let sendErrors = 0;
    let done = 0;
    const onSent = (err: Error | null) => {
      if (err) sendErrors++;
      done++;
    };
    const cpu0 = cpuMicros();
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      sock.send(buf, a.port, HOST, onSent);
      if (i % a.yieldEvery === a.yieldEvery - 1) {
        await nextTurn();
        if (a.rate !== undefined) {
          // bytes / (MB/s) = µs; spin on the event loop (not a timer) for sub-ms precision.
          const due = t0 + ((i + 1) * a.size) / a.rate / 1000;
          while (performance.now() < due) await nextTurn();
        }
      }
    }
    while (done < count) await nextTurn();
    const ms = performance.now() - t0;
    const cpuPct = (cpuMicros() - cpu0) / 10 / ms;
    await closeSocket(sock);
    return { datagrams: count, bytes: count * a.size, ms, sendErrors, cpuPct };
  },

  /** Send cost: median over rounds of (time for a burst of sends to all call back) / burst. */
  async sendCost(a: {
    port: number;
    rounds: number;
    burst: number;
    size: number;
  }): Promise<{ usPerSend: number[] }> {
    const sock = await open();
    const buf = Buffer.alloc(a.size, 0xa5);
    const perSend: number[] = [];
    for (let r = 0; r < a.rounds + 1; r++) {
      let done = 0;
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        const onSent = () => {
          if (++done === a.burst) resolve();
        };
        for (let i = 0; i < a.burst; i++) sock.send(buf, a.port, HOST, onSent);
      });
      const us = ((performance.now() - t0) * 1000) / a.burst;
      if (r > 0) perSend.push(us); // round 0 warms up
      // Let the receiver drain so its buffer never overflows into our timings.
      await new Promise((res) => setTimeout(res, 2));
    }
    await closeSocket(sock);
    return { usPerSend: perSend };
  },

  /** Echoes every datagram back to where it came from. */
  async echo(_a: Record<string, never>): Promise<{ port: number }> {
    const sock = await open();
    sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    return { port: sock.address().port };
  },

  /** One datagram in flight at a time; a lost one (no echo in `timeoutMs`) is counted, not retried. */
  async ping(a: {
    port: number;
    count: number;
    warmup: number;
    size: number;
    timeoutMs: number;
  }): Promise<PingResult> {
    const sock = await open();
    const buf = Buffer.alloc(a.size, 0x33);
    const loop = new PingLoop();
    sock.on('message', (msg) => {
      if (msg.length >= 4) loop.onReply(msg.readUInt32BE(0));
    });
    const result = await loop.run(a, (seq) => {
      buf.writeUInt32BE(seq, 0);
      sock.send(buf, a.port, HOST);
    });
    await closeSocket(sock);
    return result;
  },

  /** Closes every socket this worker opened. */
  async reset(_a: Record<string, never>): Promise<Record<string, never>> {
    await Promise.all([...sockets].map((s) => closeSocket(s)));
    sinkSocket = undefined;
    sink = emptySink();
    return {};
  },
};

export type DgramApi = typeof api;

serve(api, async () => {
  await api.reset({});
});
