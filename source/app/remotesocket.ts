import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from 'node:worker_threads';
import type {
  PeerAddress,
  PeerInfo,
  SendOptions,
  SocketEvents,
  SocketStats,
  StunInfo,
} from '../index.js';
import { TransportError, UsageError } from '../index.js';
import {
  type AsyncMethod,
  type AsyncMethods,
  type CallRequest,
  DEFAULT_UNREAD_LIMIT,
  fromWireError,
  ownBytes,
  type PeersSnapshot,
  type Request,
  type SyncMethod,
  type SyncMethods,
  type SyncReply,
  type UnreadLimit,
  type WorkerBindOptions,
  type WorkerMessage,
  type WorkerStart,
} from './workerprotocol.js';

/**
 * The chat's socket, seen from the main thread: a stand-in for
 * MultiHolepunchSocket whose real socket runs in a worker thread
 * (socketworker.ts), so Ink's renders never sit between a datagram's arrival
 * and the moment the transport reads it (RTT samples, ACK timing).
 *
 * - Promise methods are requests with ids, answered by the worker.
 * - The few methods the chat calls synchronously (and whose errors it expects
 *   synchronously: /block, /unblock, /remove, /invite, trust checks) block on
 *   a SharedArrayBuffer flag until the worker answers on a second port; they
 *   are user commands, never per render.
 * - peers(), stats() and stunInfo() read what the worker last pushed: every
 *   peer change and every 250 ms stats tick carries the peers, so the panes
 *   never ask across threads.
 */

/** Longest a synchronous call waits for the worker before giving up, ms. */
export const SYNC_CALL_TIMEOUT_MS = 5000;

interface Pending {
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * The worker beside this file: compiled JS from dist/, or TypeScript when the
 * chat runs from source (tsx, vitest). A worker does not reliably inherit the
 * parent's loader, so from source a small bootstrap registers tsx in the
 * worker first, then imports the worker module.
 */
function startWorker(workerData: WorkerStart, transferList: MessagePort[]): Worker {
  if (!import.meta.url.endsWith('.ts')) {
    return new Worker(new URL('./socketworker.js', import.meta.url), { workerData, transferList });
  }
  const file = new URL('./socketworker.ts', import.meta.url).href;
  // tsx's ESM API by path: require.resolve would pick its CommonJS build.
  const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
  const api = pathToFileURL(join(dirname(pkg), 'dist/esm/api/index.mjs')).href;
  const boot = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(file)}); });`;
  return new Worker(boot, { eval: true, workerData, transferList });
}

export class RemoteSocket extends EventEmitter<SocketEvents> {
  readonly fingerprint: string;
  private readonly worker: Worker;
  private readonly syncPort: MessagePort;
  private readonly syncFlag: Int32Array;
  private readonly address: { address: string; port: number };
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private nextSeq = 1;
  private read = { messages: 0, bytes: 0, scheduled: false };
  private snapshot: PeersSnapshot;
  private lastStats: SocketStats;
  private lastStun: StunInfo | undefined;
  private closing: Promise<void> | undefined;
  private dead: Error | undefined;

  private constructor(
    worker: Worker,
    syncPort: MessagePort,
    syncFlag: Int32Array,
    ready: Extract<WorkerMessage, { type: 'ready' }>,
  ) {
    super();
    this.worker = worker;
    this.syncPort = syncPort;
    this.syncFlag = syncFlag;
    this.fingerprint = ready.fingerprint;
    this.address = ready.localAddress;
    this.snapshot = ready.snapshot;
    this.lastStats = ready.stats;
    this.lastStun = ready.stunInfo;
    worker.on('message', (m: WorkerMessage) => this.onMessage(m));
    worker.on('error', (err) => this.die(err));
    worker.on('exit', () => this.die(new Error('socket worker exited')));
  }

  /**
   * Binds a MultiHolepunchSocket in a new worker. Rejects as bind() would
   * (a UsageError for a busy port or a bad identity file), and ends the worker.
   */
  static override bind(
    opts: WorkerBindOptions,
    unread: UnreadLimit = DEFAULT_UNREAD_LIMIT,
  ): Promise<RemoteSocket> {
    const channel = new MessageChannel();
    const flag = new SharedArrayBuffer(4);
    const start: WorkerStart = { bind: opts, unread, syncPort: channel.port2, syncFlag: flag };
    const worker = startWorker(start, [channel.port2]);
    return new Promise((resolve, reject) => {
      const fail = (err: Error) => {
        cleanup();
        channel.port1.close();
        void worker.terminate();
        reject(err);
      };
      const onMessage = (m: WorkerMessage) => {
        if (m.type === 'bind-failed') fail(fromWireError(m.error));
        else if (m.type === 'ready') {
          cleanup();
          resolve(new RemoteSocket(worker, channel.port1, new Int32Array(flag), m));
        }
      };
      const onError = (err: Error) => fail(err);
      const onExit = (code: number) => fail(new Error(`socket worker exited (${code}) at start`));
      const cleanup = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
    });
  }

  // ---- what the worker pushes -----------------------------------------------------

  private take(s: PeersSnapshot): void {
    // Replies and events travel on two ports: keep the newest.
    if (s.version > this.snapshot.version) this.snapshot = s;
  }

  private onMessage(m: WorkerMessage): void {
    switch (m.type) {
      case 'messages':
        for (const h of m.list) {
          this.markRead(h.content.byteLength);
          const c = h.content;
          const content = Buffer.from(c.buffer, c.byteOffset, c.byteLength);
          this.emit('message', { content, peer: h.peer, timestamp: h.timestamp, stream: h.stream });
        }
        return;
      case 'peer':
        this.take(m.snapshot);
        this.emit('peer', m.peer, m.change);
        return;
      case 'stun':
        this.lastStun = m.info;
        this.emit('stun', m.info);
        return;
      case 'stats':
        this.take(m.snapshot);
        this.lastStats = m.stats;
        this.emit('stats', m.stats);
        return;
      case 'error':
        this.emit('error', fromWireError(m.error) as TransportError);
        return;
      case 'reply': {
        this.take(m.snapshot);
        if (m.stats) this.lastStats = m.stats;
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve();
        else p.reject(fromWireError(m.error));
        return;
      }
      case 'ready':
      case 'bind-failed':
        return;
    }
  }

  /**
   * Tells the worker, once per turn of this thread, how much it handed over
   * has been read: what it may hand over next (see UnreadLimit).
   */
  private markRead(bytes: number): void {
    this.read.messages++;
    this.read.bytes += bytes;
    if (this.read.scheduled) return;
    this.read.scheduled = true;
    setImmediate(() => {
      const { messages, bytes } = this.read;
      this.read = { messages: 0, bytes: 0, scheduled: false };
      if (!this.dead && !this.closing)
        this.worker.postMessage({ type: 'read', messages, bytes } as Request);
    });
  }

  /** The worker is gone: every waiting call fails, and the chat hears it once. */
  private die(err: Error): void {
    if (this.dead) return;
    this.dead = err;
    for (const p of this.pending.values()) p.reject(new TransportError(err.message, 'socket'));
    this.pending.clear();
    this.syncPort.close();
    if (!this.closing) {
      this.emit('error', new TransportError(`socket worker failed: ${err.message}`, 'socket'));
    }
  }

  // ---- calls ----------------------------------------------------------------------

  /** Why no call can be made now, as the socket itself would say it. */
  private unusable(): Error | undefined {
    // After close() the real socket refuses calls as the caller's mistake.
    if (this.closing) return new UsageError('socket is closed');
    if (this.dead) return new TransportError(`socket worker gone: ${this.dead.message}`, 'socket');
    return undefined;
  }

  private request<M extends AsyncMethod>(method: M, args: AsyncMethods[M]): Promise<void> {
    const no = this.unusable();
    if (no) return Promise.reject(no);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'call', id, method, args } as CallRequest);
    });
  }

  /** A synchronous call: blocks this thread until the worker answers (user commands only). */
  private syncCall<M extends SyncMethod>(method: M, args: SyncMethods[M]): unknown {
    const no = this.unusable();
    if (no) throw no;
    const seq = this.nextSeq++;
    Atomics.store(this.syncFlag, 0, 0);
    this.syncPort.postMessage({ type: 'sync', seq, method, args });
    const deadline = performance.now() + SYNC_CALL_TIMEOUT_MS;
    let reply: SyncReply | undefined;
    while (!reply) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TransportError(`socket worker did not answer ${method} in time`, 'timeout');
      }
      Atomics.wait(this.syncFlag, 0, 0, left);
      Atomics.store(this.syncFlag, 0, 0);
      // Skip answers to calls that gave up earlier.
      for (
        let got = receiveMessageOnPort(this.syncPort);
        got;
        got = receiveMessageOnPort(this.syncPort)
      ) {
        const r = got.message as SyncReply;
        if (r.seq === seq) reply = r;
      }
    }
    this.take(reply.snapshot);
    if (reply.stats) this.lastStats = reply.stats;
    if (!reply.ok) throw fromWireError(reply.error);
    return reply.value;
  }

  send(content: string | Uint8Array, opts: SendOptions = {}): Promise<void> {
    const bytes = typeof content === 'string' ? Buffer.from(content) : content;
    return this.request('send', [ownBytes(bytes), opts]);
  }

  addPeers(peers: Record<string, PeerAddress>): Promise<void> {
    return this.request('addPeers', [peers]);
  }

  trustNewKey(nick: string): Promise<void> {
    return this.request('trustNewKey', [nick]);
  }

  startStun(servers: string[], rto?: number): Promise<void> {
    return this.request('startStun', rto === undefined ? [servers] : [servers, rto]);
  }

  /** See MultiHolepunchSocket.keepIdentityFile. */
  keepIdentityFile(): Promise<void> {
    return this.request('keepIdentityFile', []);
  }

  removePeer(nick: string): void {
    this.syncCall('removePeer', [nick]);
  }

  block(nickOrFingerprint: string): void {
    this.syncCall('block', [nickOrFingerprint]);
  }

  unblock(fingerprint: string): void {
    this.syncCall('unblock', [fingerprint]);
  }

  isBlocked(fingerprint: string): boolean {
    return this.syncCall('isBlocked', [fingerprint]) === true;
  }

  pinnedFingerprint(nick: string): string | undefined {
    const v = this.syncCall('pinnedFingerprint', [nick]);
    return typeof v === 'string' ? v : undefined;
  }

  invite(opts: { addresses?: boolean } = {}): string {
    return String(this.syncCall('invite', [opts]));
  }

  peers(): PeerInfo[] {
    return this.snapshot.peers;
  }

  stats(): SocketStats {
    return this.lastStats;
  }

  stunInfo(): StunInfo | undefined {
    return this.lastStun;
  }

  localAddress(): { address: string; port: number } {
    return { ...this.address };
  }

  /** Closes the socket in the worker (CLOSE frames sent), then ends the worker. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const closed = this.dead ? Promise.resolve() : this.request('close', []);
    this.closing = (async () => {
      try {
        await closed;
      } finally {
        this.syncPort.close();
        await this.worker.terminate();
      }
    })();
    return this.closing;
  }
}
