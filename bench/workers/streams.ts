/**
 * Stream baselines, one end per worker process: a plain udx-native stream
 * (reliable, no encryption), @hyperswarm/secret-stream over a udx-native
 * stream (what hyperswarm runs), and node:tls 1.3 over TCP. Each connection
 * has a name so several can be open at once. Roles: sink, source, echo and
 * pinger, used only through each library's public API. Loopback only.
 *
 * Setting up a pair (the parent drives it, see connectStreams in figures.ts):
 * udx / secret: open on both ends -> link on both (the listener first) ->
 * ready on both; tls: open on the listener (a server) -> link on the dialer
 * (tls.connect) -> ready on both.
 */
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import SecretStream from '@hyperswarm/secret-stream';
import UDX from 'udx-native';
import { serve } from '../ipc.js';
import { within } from '../stats.js';
import { cpuMicros, PingLoop, type PingResult } from './pingloop.js';

const HOST = '127.0.0.1';
/** Socket buffers as our transport asks for them (Linux caps them at net.core.*mem_max). */
const SOCKET_BUFFER = 4 * 1024 * 1024;

export type StreamKind = 'udx' | 'secret' | 'tls';

/** What the three kinds have in common once connected. */
interface Duplex {
  write(data: Uint8Array): boolean;
  destroy(err?: Error): void;
  readonly destroyed: boolean;
  on(event: 'data', fn: (chunk: Buffer) => void): unknown;
  once(event: 'drain' | 'close', fn: () => void): unknown;
  off(event: 'drain' | 'close', fn: () => void): unknown;
}

interface Conn {
  kind: StreamKind;
  udx?: { socket: UDX.Socket; raw: UDX.Stream };
  secret?: SecretStream;
  server?: tls.Server;
  accepted?: Promise<tls.TLSSocket>;
  tlsSocket?: tls.TLSSocket;
  /** Dialer: settles on 'secureConnect' (listened for from tls.connect on, so it cannot be missed). */
  secured?: Promise<void>;
  stream?: Duplex;
  /** The current role's data handler. */
  onData: (chunk: Buffer) => void;
  errors: string[];
}

let udx: UDX | undefined;
let nextStreamId = 1;
const conns = new Map<string, Conn>();

function conn(name: string): Conn {
  const c = conns.get(name);
  if (!c) throw new Error(`no connection ${name}: call open first`);
  return c;
}

function stream(c: Conn): Duplex {
  if (!c.stream) throw new Error('not connected: call link and ready first');
  return c.stream;
}

const noteError = (c: Conn) => (err: Error) => {
  if (c.errors.length < 20) c.errors.push(err.message);
};

/** Error listeners are already on (from link / accept): this adds the data dispatch. */
function attach(c: Conn, s: Duplex): void {
  c.stream = s;
  s.on('data', (chunk) => c.onData(chunk));
}

/** Resolves on 'drain', rejects if the stream closes first. */
function drained(s: Duplex): Promise<void> {
  if (s.destroyed) return Promise.reject(new Error('stream closed while writing'));
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      s.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      s.off('drain', onDrain);
      reject(new Error('stream closed while writing'));
    };
    s.once('drain', onDrain);
    s.once('close', onClose);
  });
}

/** Transport counters for the notes. */
export interface StreamStats {
  /** udx: current MTU as libudx counts it (IP packet), average UDP payload sent. */
  mtu?: number;
  avgDatagram?: number;
  retransmits?: number;
  rtoCount?: number;
  fastRecoveries?: number;
  srttMs?: number;
  /** SO_RCVBUF as the kernel reports it (Linux doubles what was asked for). */
  recvBuffer?: number;
  droppedByKernel?: number;
  /** tls: negotiated protocol and cipher suite. */
  protocol?: string;
  cipher?: string;
}

function stats(c: Conn): StreamStats {
  try {
    return readStats(c);
  } catch {
    return {}; // closed under us (an abandoned transfer): the counters are gone
  }
}

function readStats(c: Conn): StreamStats {
  if (c.udx) {
    const { raw, socket } = c.udx;
    const packets = raw.packetsTransmitted;
    const dropped = socket.packetsDroppedByKernel;
    return {
      mtu: raw.mtu,
      ...(packets > 0 ? { avgDatagram: raw.bytesTransmitted / packets } : {}),
      retransmits: raw.retransmits,
      rtoCount: raw.rtoCount,
      fastRecoveries: raw.fastRecoveries,
      srttMs: raw.rtt,
      recvBuffer: socket.getRecvBufferSize(),
      // libudx reports 2^64-1 where the platform cannot count drops.
      ...(Number.isSafeInteger(dropped) ? { droppedByKernel: dropped } : {}),
    };
  }
  const t = c.tlsSocket;
  if (t) {
    return {
      protocol: t.getProtocol() ?? '',
      cipher: t.getCipher()?.standardName ?? '',
    };
  }
  return {};
}

async function closeConn(name: string): Promise<void> {
  const c = conns.get(name);
  if (!c) return;
  conns.delete(name);
  c.onData = () => {};
  const s = c.stream;
  if (s && !s.destroyed) {
    const closed = new Promise<void>((resolve) => s.once('close', resolve));
    s.destroy();
    await within(closed, 2000, 'stream close').catch(() => {});
  }
  c.tlsSocket?.destroy();
  if (c.secret && !c.secret.destroyed) c.secret.destroy();
  if (c.udx) {
    if (!c.udx.raw.destroyed) c.udx.raw.destroy();
    await within(c.udx.socket.close(), 2000, 'udx socket close').catch(() => {});
  }
  if (c.server) {
    const server = c.server;
    await within(
      new Promise<void>((resolve) => server.close(() => resolve())),
      2000,
      'tls server close',
    ).catch(() => {});
  }
}

// ---- sink -----------------------------------------------------------------------

interface SinkState {
  expectBytes: number;
  bytes: number;
  chunks: number;
  /** Bytes delivered after the first chunk (what the first→last span carried). */
  bytesAfterFirst: number;
  firstAt: number;
  lastAt: number;
  firstCpu: number;
  lastCpu: number;
  done: Promise<void>;
  finish: () => void;
}
const sinks = new Map<string, SinkState>();

export interface StreamSinkReport {
  complete: boolean;
  bytes: number;
  chunks: number;
  bytesAfterFirst: number;
  spanMs: number;
  /** Receiver CPU over the first→last delivery span, % of one core. */
  cpuPct: number;
  stats: StreamStats;
  errors: string[];
}

const api = {
  /**
   * udx / secret: binds a udx socket and makes a stream (returns its port and
   * stream id). tls: the listener starts a TLS 1.3 server with `pem`; the
   * dialer does nothing here.
   */
  async open(a: {
    conn: string;
    kind: StreamKind;
    listener: boolean;
    pem?: { key: string; cert: string };
  }): Promise<{ port: number; id: number }> {
    await closeConn(a.conn);
    const c: Conn = { kind: a.kind, onData: () => {}, errors: [] };
    conns.set(a.conn, c);
    if (a.kind === 'tls') {
      if (!a.listener) return { port: 0, id: 0 };
      if (!a.pem) throw new Error('tls listener needs pem');
      const server = tls.createServer({
        key: a.pem.key,
        cert: a.pem.cert,
        minVersion: 'TLSv1.3',
        noDelay: true,
      });
      c.server = server;
      server.on('tlsClientError', noteError(c));
      c.accepted = new Promise((resolve) => {
        server.once('secureConnection', (sock: tls.TLSSocket) => {
          sock.on('error', noteError(c));
          resolve(sock);
        });
      });
      c.accepted.catch(() => {});
      server.listen(0, HOST);
      await once(server, 'listening');
      const addr = server.address();
      if (addr === null || typeof addr === 'string') throw new Error('tls server has no port');
      return { port: addr.port, id: 0 };
    }
    udx ??= new UDX();
    const socket = udx.createSocket();
    socket.bind(0, HOST);
    socket.setRecvBufferSize(SOCKET_BUFFER);
    socket.setSendBufferSize(SOCKET_BUFFER);
    // secret-stream gets a framed raw stream, as hyperdht makes them; plain udx the default.
    const raw = udx.createStream(nextStreamId++, { framed: a.kind === 'secret' });
    c.udx = { socket, raw };
    return { port: socket.address()?.port ?? 0, id: raw.id };
  },

  /** Points this end at the other one (udx / secret), or dials it (tls dialer). */
  async link(a: {
    conn: string;
    port: number;
    id: number;
    initiator: boolean;
    pem?: { key: string; cert: string };
  }): Promise<Record<string, never>> {
    const c = conn(a.conn);
    if (c.kind === 'tls') {
      if (!a.pem) throw new Error('tls dialer needs pem');
      c.tlsSocket = tls.connect({
        host: HOST,
        port: a.port,
        ca: a.pem.cert,
        minVersion: 'TLSv1.3',
      });
      const sock = c.tlsSocket;
      sock.setNoDelay(true);
      sock.on('error', noteError(c));
      c.secured = new Promise<void>((resolve, reject) => {
        sock.once('secureConnect', resolve);
        sock.once('error', reject);
      });
      c.secured.catch(() => {});
      return {};
    }
    const u = c.udx;
    if (!u) throw new Error('udx connection not open');
    u.raw.on('error', noteError(c));
    u.raw.connect(u.socket, a.id, a.port, HOST);
    if (c.kind === 'secret') {
      c.secret = new SecretStream(a.initiator, u.raw);
      c.secret.on('error', noteError(c));
    }
    return {};
  },

  /** Waits for the handshake (secret, tls); then the connection carries data. */
  async ready(a: { conn: string; timeoutMs: number }): Promise<StreamStats> {
    const c = conn(a.conn);
    if (c.kind === 'udx') {
      if (!c.udx) throw new Error('udx connection not open');
      attach(c, c.udx.raw);
    } else if (c.kind === 'secret') {
      const s = c.secret;
      if (!s) throw new Error('secret-stream not linked');
      const ok = await within(s.opened, a.timeoutMs, 'secret-stream handshake');
      if (!ok) throw new Error(`secret-stream handshake failed (${c.errors[0] ?? 'destroyed'})`);
      attach(c, s);
    } else {
      let t = c.tlsSocket;
      if (t && c.secured) {
        await within(c.secured, a.timeoutMs, 'tls handshake');
      } else if (c.accepted) {
        t = await within(c.accepted, a.timeoutMs, 'tls accept');
        c.tlsSocket = t;
      } else throw new Error('tls connection not linked');
      t.setNoDelay(true);
      attach(c, t);
    }
    return stats(c);
  },

  /** Starts counting delivered bytes (call before the source starts). */
  async armSink(a: { conn: string; expectBytes: number }): Promise<Record<string, never>> {
    const c = conn(a.conn);
    let finish = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const st: SinkState = {
      expectBytes: a.expectBytes,
      bytes: 0,
      chunks: 0,
      bytesAfterFirst: 0,
      firstAt: 0,
      lastAt: 0,
      firstCpu: 0,
      lastCpu: 0,
      done,
      finish,
    };
    sinks.set(a.conn, st);
    // A stream that closes will deliver nothing more: report at once instead of at the timeout.
    stream(c).once('close', finish);
    // A plain udx stream delivers one chunk per packet: keep per-chunk work to a clock read
    // (CPU time, a getrusage call, is read only at the first and the completing chunk).
    c.onData = (chunk) => {
      const now = performance.now();
      if (st.chunks === 0) {
        st.firstAt = now;
        st.firstCpu = cpuMicros();
      } else st.bytesAfterFirst += chunk.length;
      st.lastAt = now;
      st.chunks++;
      st.bytes += chunk.length;
      if (st.bytes >= st.expectBytes) {
        st.lastCpu = cpuMicros();
        st.finish();
      }
    };
    return {};
  },

  /** Waits for the armed sink to see every byte (or `timeoutMs`), then reports. */
  async sinkDone(a: { conn: string; timeoutMs: number }): Promise<StreamSinkReport> {
    const c = conn(a.conn);
    const st = sinks.get(a.conn);
    if (!st) throw new Error('sink not armed');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      st.done,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, a.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    c.onData = () => {};
    sinks.delete(a.conn);
    return {
      complete: st.bytes >= st.expectBytes,
      bytes: st.bytes,
      chunks: st.chunks,
      bytesAfterFirst: st.bytesAfterFirst,
      spanMs: st.lastAt - st.firstAt,
      cpuPct:
        st.lastCpu > 0 ? (st.lastCpu - st.firstCpu) / 10 / (st.lastAt - st.firstAt) : Number.NaN,
      stats: stats(c),
      errors: c.errors.slice(0, 5),
    };
  },

  /**
   * Writes `bytes` as `chunk`-byte writes, waiting for 'drain' whenever the
   * stream asks; done once the last write is acknowledged (udx, secret) or
   * handed to the kernel (tls).
   */
  async source(a: { conn: string; bytes: number; chunk: number; budgetMs: number }): Promise<{
    ms: number;
    cpuPct: number;
    stats: StreamStats;
    error?: string;
  }> {
    const c = conn(a.conn);
    const s = stream(c);
    const buf = Buffer.alloc(a.chunk, 0x5a);
    const cpu0 = cpuMicros();
    const t0 = performance.now();
    let failure: string | undefined;
    try {
      for (let sent = 0; sent < a.bytes; sent += a.chunk) {
        if (performance.now() - t0 > a.budgetMs) {
          failure = `stopped after the ${a.budgetMs} ms budget`;
          break;
        }
        const part = a.bytes - sent >= a.chunk ? buf : buf.subarray(0, a.bytes - sent);
        if (!s.write(part)) await drained(s);
      }
      if (failure === undefined) {
        if (c.kind === 'tls') {
          const t = c.tlsSocket;
          if (t && t.writableLength > 0) await drained(s);
        } else {
          const flushed = await (c.secret ?? c.udx?.raw)?.flush();
          if (flushed === false) failure = 'flush failed (stream destroyed)';
        }
      }
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    const ms = performance.now() - t0;
    return {
      ms,
      cpuPct: (cpuMicros() - cpu0) / 10 / ms,
      stats: stats(c),
      ...(failure !== undefined ? { error: failure } : {}),
    };
  },

  /** Writes every delivered chunk straight back. */
  async echo(a: { conn: string }): Promise<Record<string, never>> {
    const c = conn(a.conn);
    const s = stream(c);
    c.onData = (chunk) => {
      s.write(chunk);
    };
    return {};
  },

  /**
   * One `size`-byte ping in flight; RTT is write → the whole echo delivered
   * here. The streams are byte streams, so replies are reassembled by length.
   */
  async ping(a: {
    conn: string;
    count: number;
    warmup: number;
    size: number;
    timeoutMs: number;
  }): Promise<PingResult & { stats: StreamStats; errors: string[] }> {
    const c = conn(a.conn);
    const s = stream(c);
    const loop = new PingLoop();
    let parts: Buffer[] = [];
    let have = 0;
    c.onData = (chunk) => {
      parts.push(chunk);
      have += chunk.length;
      while (have >= a.size) {
        const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts, have);
        loop.onReply(all.readUInt32BE(0));
        const rest = all.subarray(a.size);
        parts = rest.length > 0 ? [rest] : [];
        have = rest.length;
      }
    };
    const template = Buffer.alloc(a.size, 0x33);
    const result = await loop.run(a, (seq) => {
      // A fresh buffer: the stream may still hold the previous one.
      const msg = Buffer.from(template);
      msg.writeUInt32BE(seq, 0);
      s.write(msg);
    });
    c.onData = () => {};
    return { ...result, stats: stats(c), errors: c.errors.slice(0, 5) };
  },

  async close(a: { conn: string }): Promise<Record<string, never>> {
    await closeConn(a.conn);
    return {};
  },
};

export type StreamsApi = typeof api;

serve(api, async () => {
  await Promise.all([...conns.keys()].map((name) => closeConn(name)));
});
