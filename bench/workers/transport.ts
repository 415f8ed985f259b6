/**
 * Our transport, one MultiHolepunchSocket per worker process, used only
 * through its public API. Roles: sink (counts and checks delivered
 * messages), source (bulk sender with a bounded number of sends awaiting
 * their ack), echo server and pinger; optionally with a TURN relay
 * (bench/relay.ts). Loopback (127.0.0.1) only.
 */
import { performance } from 'node:perf_hooks';
import type { PeerStats } from '../../source/net/core/endpoint.js';
import type { CipherName } from '../../source/net/crypto/cipher.js';
import { decodeInvite, encodeInvite } from '../../source/net/nat/invite.js';
import type { RelayOption } from '../../source/net/shell/relayuri.js';
import {
  type Message,
  MultiHolepunchSocket,
  type SocketStats,
} from '../../source/net/shell/socket.js';
import { serve } from '../ipc.js';
import { cpuMicros, PingLoop, type PingResult } from './pingloop.js';

const HOST = '127.0.0.1';

let sock: MultiHolepunchSocket | undefined;
let unhook: (() => void) | undefined;
let errors: string[] = [];

function socket(): MultiHolepunchSocket {
  if (!sock) throw new Error('no socket: call open first');
  return sock;
}

function setHook(fn: (m: Message) => void): void {
  unhook?.();
  unhook = socket().addHook(fn);
}

async function closeSocket(): Promise<void> {
  unhook?.();
  unhook = undefined;
  const s = sock;
  sock = undefined;
  await s?.close();
}

/** Deterministic payload: byte j of every message is PATTERN(j), except a 4-byte index up front. */
const pattern = (j: number): number => (j * 131 + 17) & 0xff;

/**
 * Message buffers for the bulk sender, reused once their send is acknowledged
 * (the transport is done with them then), so the sender does not pay for
 * allocating and faulting in a fresh megabyte per message.
 */
const pool: Buffer[] = [];
function takeBuffer(size: number, index: number): Buffer {
  let m = pool.pop();
  if (m?.length !== size) {
    m = Buffer.allocUnsafe(size);
    for (let j = 0; j < size; j++) m[j] = pattern(j);
  }
  if (size >= 4) m.writeUInt32BE(index >>> 0, 0);
  return m;
}

function intact(m: Buffer): boolean {
  // 64 sampled bytes past the index keep the check cheap.
  const step = Math.max(1, Math.floor((m.length - 4) / 64));
  for (let j = 4; j < m.length; j += step) if (m[j] !== pattern(j)) return false;
  return true;
}

// ---- sink -----------------------------------------------------------------------

interface SinkState {
  expectBytes: number;
  messages: number;
  bytes: number;
  /** Bytes delivered after the first message (what the first→last span carried). */
  bytesAfterFirst: number;
  firstAt: number;
  lastAt: number;
  firstCpu: number;
  lastCpu: number;
  outOfOrder: number;
  corrupt: number;
  done: Promise<void>;
  finish: () => void;
}
let sinkState: SinkState | undefined;

export interface Report {
  peer: PeerStats | undefined;
  socket: SocketStats;
  errors: string[];
}

export interface SinkReport extends Report {
  complete: boolean;
  messages: number;
  bytes: number;
  bytesAfterFirst: number;
  spanMs: number;
  /** Receiver CPU over the first→last delivery span, % of one core. */
  cpuPct: number;
  outOfOrder: number;
  corrupt: number;
}

function report(nick?: string): Report {
  const s = socket();
  const peers = s.peers();
  const p = nick ? peers.find((x) => x.nick === nick) : peers[0];
  return { peer: p?.stats, socket: s.stats(), errors: errors.slice(0, 5) };
}

export interface TransportPingResult extends PingResult {
  sendFailures: number;
}

const api = {
  /** Binds a fresh socket (closing the previous one). */
  async open(a: {
    nick: string;
    cipher: CipherName;
    /** Path-MTU discovery's ceiling (1200 = off); default the library's. */
    maxDatagram?: number;
    /** TURN relays (a coturn on loopback): see relayInvite. */
    relays?: RelayOption[];
  }): Promise<{ port: number }> {
    await closeSocket();
    errors = [];
    sock = await MultiHolepunchSocket.bind({
      host: HOST,
      port: 0,
      nick: a.nick,
      cipher: a.cipher,
      ...(a.maxDatagram !== undefined ? { maxDatagramSize: a.maxDatagram } : {}),
      ...(a.relays ? { relays: a.relays } : {}),
    });
    sock.on('error', (err) => {
      if (errors.length < 100) errors.push(err.message);
    });
    return { port: sock.localAddress().port };
  },

  /** addPeers + waitForPeer; returns how long it took. */
  async connect(a: { nick: string; port: number; timeoutMs: number }): Promise<{ ms: number }> {
    const s = socket();
    const t0 = performance.now();
    await s.addPeers({ [a.nick]: `${HOST}:${a.port}` });
    await s.waitForPeer(a.nick, { timeout: a.timeoutMs });
    return { ms: performance.now() - t0 };
  },

  /**
   * Once the relay allocation settles: our invite code with the relayed
   * candidate only (no direct address), so a peer that dials it goes
   * through the relay; throws if the allocation failed.
   */
  async relayInvite(a: { timeoutMs: number }): Promise<{ code: string; relayed: string }> {
    const s = socket();
    const t0 = performance.now();
    const state = () => s.stats().relay?.state ?? 'none';
    while (['idle', 'allocating'].includes(state()) && performance.now() - t0 < a.timeoutMs)
      await new Promise((r) => setTimeout(r, 10));
    const r = s.stats().relay;
    if (r?.state !== 'allocated' || r.relayed === undefined)
      throw new Error(`relay ${r?.state ?? 'none'}: ${r?.reason ?? 'no reason given'}`);
    const invite = decodeInvite(s.invite());
    return { code: encodeInvite({ ...invite, addrs: [] }), relayed: r.relayed };
  },

  /** addPeers by invite code, then waitForPeer; how long it took and the session's path. */
  async connectInvite(a: {
    nick: string;
    code: string;
    timeoutMs: number;
  }): Promise<{ ms: number; path: string }> {
    const s = socket();
    const t0 = performance.now();
    await s.addPeers({ [a.nick]: a.code });
    const p = await s.waitForPeer(a.nick, { timeout: a.timeoutMs });
    return { ms: performance.now() - t0, path: p.stats.path };
  },

  /** Starts counting delivered messages (call before the source starts). */
  async armSink(a: { expectBytes: number }): Promise<Record<string, never>> {
    let finish = () => {};
    const done = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const st: SinkState = {
      expectBytes: a.expectBytes,
      messages: 0,
      bytes: 0,
      bytesAfterFirst: 0,
      firstAt: 0,
      lastAt: 0,
      firstCpu: 0,
      lastCpu: 0,
      outOfOrder: 0,
      corrupt: 0,
      done,
      finish,
    };
    sinkState = st;
    setHook((m) => {
      const now = performance.now();
      const len = m.content.length;
      const cpu = cpuMicros();
      if (st.messages === 0) {
        st.firstAt = now;
        st.firstCpu = cpu;
      } else st.bytesAfterFirst += len;
      st.lastAt = now;
      st.lastCpu = cpu;
      if (len >= 4 && m.content.readUInt32BE(0) !== st.messages) st.outOfOrder++;
      if (!intact(m.content)) st.corrupt++;
      st.messages++;
      st.bytes += len;
      if (st.bytes >= st.expectBytes) st.finish();
    });
    return {};
  },

  /** Waits for the armed sink to see every byte (or `timeoutMs`), then reports. */
  async sinkDone(a: { timeoutMs: number }): Promise<SinkReport> {
    const st = sinkState;
    if (!st) throw new Error('sink not armed');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      st.done,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, a.timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    unhook?.();
    unhook = undefined;
    return {
      ...report(),
      complete: st.bytes >= st.expectBytes,
      messages: st.messages,
      bytes: st.bytes,
      bytesAfterFirst: st.bytesAfterFirst,
      spanMs: st.lastAt - st.firstAt,
      cpuPct: (st.lastCpu - st.firstCpu) / 10 / (st.lastAt - st.firstAt),
      outOfOrder: st.outOfOrder,
      corrupt: st.corrupt,
    };
  },

  /**
   * Sends `messages` × `messageSize` to `to`, keeping at most `inFlight`
   * sends awaiting their ack. Stops early (and says why) on the first failure
   * or once `budgetMs` has passed.
   */
  async source(a: {
    to: string;
    messages: number;
    messageSize: number;
    inFlight: number;
    budgetMs: number;
  }): Promise<
    Report & { sent: number; acked: number; ms: number; cpuPct: number; error?: string }
  > {
    const s = socket();
    const pending = new Set<Promise<void>>();
    let acked = 0;
    let sent = 0;
    let failure: string | undefined;
    // Fill the pool before the clock starts.
    const warm = Array.from({ length: a.inFlight + 1 }, () => takeBuffer(a.messageSize, 0));
    pool.push(...warm);
    const cpu0 = cpuMicros();
    const t0 = performance.now();
    for (let i = 0; i < a.messages && failure === undefined; i++) {
      if (performance.now() - t0 > a.budgetMs) {
        failure = `stopped after the ${a.budgetMs} ms budget`;
        break;
      }
      const buf = takeBuffer(a.messageSize, i);
      const p: Promise<void> = s
        .send(buf, { recipient: a.to, timeout: 60_000 })
        .then(
          () => {
            acked++;
            pool.push(buf);
          },
          (err: Error) => {
            failure ??= err.message;
          },
        )
        .finally(() => pending.delete(p));
      pending.add(p);
      sent++;
      if (pending.size >= a.inFlight) await Promise.race(pending);
    }
    await Promise.all(pending);
    const ms = performance.now() - t0;
    return {
      ...report(a.to),
      sent,
      acked,
      ms,
      cpuPct: (cpuMicros() - cpu0) / 10 / ms,
      ...(failure !== undefined ? { error: failure } : {}),
    };
  },

  /** Sends every delivered message straight back to its sender. */
  async echo(_a: Record<string, never>): Promise<Record<string, never>> {
    const s = socket();
    setHook((m) => {
      s.send(m.content, { recipient: m.peer }).catch((err: Error) => {
        if (errors.length < 100) errors.push(`echo: ${err.message}`);
      });
    });
    return {};
  },

  /** One message in flight; RTT is send() → the echo delivered here (not the ack). */
  async ping(a: {
    to: string;
    count: number;
    warmup: number;
    size: number;
    timeoutMs: number;
  }): Promise<TransportPingResult & Report> {
    const s = socket();
    const loop = new PingLoop();
    setHook((m) => {
      if (m.content.length >= 4) loop.onReply(m.content.readUInt32BE(0));
    });
    const buf = Buffer.alloc(a.size, 0x33);
    let sendFailures = 0;
    const result = await loop.run(a, (seq) => {
      // A fresh buffer: the transport may still hold the previous one until acked.
      const msg = Buffer.from(buf);
      msg.writeUInt32BE(seq, 0);
      s.send(msg, { recipient: a.to, timeout: 30_000 }).catch(() => {
        sendFailures++;
      });
    });
    unhook?.();
    unhook = undefined;
    return { ...result, sendFailures, ...report(a.to) };
  },

  async close(_a: Record<string, never>): Promise<Record<string, never>> {
    await closeSocket();
    return {};
  },
};

export type TransportApi = typeof api;

serve(api, closeSocket);
